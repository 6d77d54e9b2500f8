"""JSON schemas for ``json_schema=``: from a dict, a dataclass, a ``TypedDict`` or a pydantic model.

Why here and not in the engine: the engine turns a JSON schema into a grammar
with llama.cpp's own converter (``json_schema_to_grammar``, what llama-server
uses); Python only has to say what schema a class means, and to turn the parsed
output back into that class. pydantic is used when the caller passes a pydantic
model (it is never imported otherwise, and never required).

Types a class may use: ``str``, ``int``, ``float``, ``bool``, ``None``,
``list[T]``, ``tuple[T, ...]``, ``dict[str, T]``, ``Literal[...]``, ``Enum``
subclasses, ``T | None`` / ``Optional[T]``, unions, and nested dataclasses or
``TypedDict``\\ s. A field with a default is optional. Anything else is a
``TypeError`` naming the field.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

_SCALARS: dict[Any, dict[str, Any]] = {str: {"type": "string"}, int: {"type": "integer"},
                                       float: {"type": "number"}, bool: {"type": "boolean"},
                                       type(None): {"type": "null"}}


class Schema:
    """A JSON schema and, when it came from a class, how to build that class from a parsed value.

    Attributes
    ----------
    schema
        The JSON schema (a dict) sent to the engine.
    target
        The class given (dataclass, ``TypedDict``, pydantic model), or ``None`` for a plain schema.
    """

    def __init__(self, schema: dict[str, Any], target: type | None = None) -> None:
        self.schema = schema
        self.target = target

    def text(self) -> str:
        """The schema as JSON text, as the engine's ``sampling.json_schema`` takes it."""
        return json.dumps(self.schema, separators=(",", ":"), sort_keys=False)

    def build(self, value: Any) -> Any:
        """The parsed JSON ``value`` as the target class (the value itself for a plain schema)."""
        if self.target is None:
            return value
        return build_typed(self.target, value)


def to_schema(spec: Any) -> Schema:
    """``json_schema=``'s value as a :class:`Schema`.

    Raises
    ------
    TypeError
        ``spec`` is neither a dict nor a supported class, or a field's type has no JSON schema.
    ValueError
        A dict schema that is not JSON (e.g. holds a set or a function).
    """
    if isinstance(spec, Mapping):
        try:
            return Schema(json.loads(json.dumps(spec)))
        except (TypeError, ValueError) as e:
            raise ValueError(f"json_schema must be JSON (a dict of JSON values): {e}") from None
    if isinstance(spec, type):
        if hasattr(spec, "model_json_schema") and hasattr(spec, "model_validate"):  # pydantic v2
            return Schema(spec.model_json_schema(), spec)
        if dataclasses.is_dataclass(spec) or typing.is_typeddict(spec):
            return Schema(_object_schema(spec), spec)
    raise TypeError(f"json_schema must be a JSON Schema dict, a dataclass, a TypedDict or a pydantic model class, "
                    f"not {spec!r}")


def _object_schema(cls: type) -> dict[str, Any]:
    try:
        hints = get_type_hints(cls)
    except Exception as e:  # a forward reference that does not resolve
        raise TypeError(f"cannot read the type hints of {cls.__name__}: {e}") from None
    if dataclasses.is_dataclass(cls):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        required = [n for n, f in fields.items()
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        names = list(fields)
    else:
        names = list(hints)
        required = [n for n in names if n in getattr(cls, "__required_keys__", set(names))]
    props = {n: type_schema(hints[n], f"{cls.__name__}.{n}") for n in names}
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def type_schema(hint: Any, where: str) -> dict[str, Any]:
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [m.value for m in hint]}
    if isinstance(hint, type) and (dataclasses.is_dataclass(hint) or typing.is_typeddict(hint)):
        return _object_schema(hint)
    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        return {"anyOf": [type_schema(a, where) for a in args]}
    if origin in (list, set, frozenset) and len(args) == 1:
        return {"type": "array", "items": type_schema(args[0], where)}
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return {"type": "array", "items": type_schema(args[0], where)}
    if origin is tuple and args:
        return {"type": "array", "prefixItems": [type_schema(a, where) for a in args],
                "minItems": len(args), "maxItems": len(args)}
    if origin is dict and len(args) == 2 and args[0] is str:
        return {"type": "object", "additionalProperties": type_schema(args[1], where)}
    raise TypeError(f"{where}: the type {hint!r} has no JSON schema; use str, int, float, bool, None, list, "
                    "dict[str, ...], Literal, an Enum, a union of those, or a nested dataclass/TypedDict")


def build_typed(hint: Any, value: Any) -> Any:
    """``value`` (parsed JSON that matches the schema of ``hint``) as ``hint``'s Python type."""
    if isinstance(hint, type):
        if hasattr(hint, "model_validate") and hasattr(hint, "model_json_schema"):
            return hint.model_validate(value)
        if issubclass(hint, enum.Enum):
            return hint(value)
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            hints = get_type_hints(hint)
            return hint(**{k: build_typed(hints[k], v) for k, v in value.items() if k in hints})
        if typing.is_typeddict(hint) and isinstance(value, dict):
            hints = get_type_hints(hint)
            return {k: build_typed(hints[k], v) if k in hints else v for k, v in value.items()}
        return value
    origin, args = get_origin(hint), get_args(hint)
    if origin in (list, set, frozenset) and args and isinstance(value, list):
        return origin(build_typed(args[0], v) for v in value)
    if origin is tuple and args and isinstance(value, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(build_typed(args[0], v) for v in value)
        return tuple(build_typed(a, v) for a, v in zip(args, value, strict=False))
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        return {k: build_typed(args[1], v) for k, v in value.items()}
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:  # the first member the value fits
            if a is not type(None):
                try:
                    return build_typed(a, value)
                except (TypeError, ValueError):
                    continue
    return value
