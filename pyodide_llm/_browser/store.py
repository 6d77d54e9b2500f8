"""The model cache of this origin (js/store.mjs), seen from Python, and the browser's storage figures."""

from __future__ import annotations

from typing import Any

import js

from .._errors import LLMError, error_from_reply
from .files import module


def js_error(e: Exception, default_code: str) -> LLMError:
    """Our exception for a JS Error thrown by store.mjs (which carries a protocol ``code``)."""
    err = getattr(e, "js_error", None)
    return error_from_reply({"code": getattr(err, "code", None) or default_code,
                             "message": getattr(err, "message", None) or str(e)})


async def open_store(kind: str | bool = "auto") -> Any:
    """The JS model store (store.mjs) of this origin, or None when there is no browser storage.

    ``kind`` is ``LLM.load``'s ``cache`` argument or ``"auto"``/``"opfs"``/``"cache-api"``.
    """
    store_mod = await module("js/store.mjs")
    try:
        return await store_mod.openStore("auto" if kind in (True, "revalidate") else kind)
    except Exception as e:  # a JS Error with a protocol code
        raise js_error(e, "unsupported_environment") from None


async def storage_estimate() -> dict[str, int]:
    """``navigator.storage.estimate()``: bytes this site uses and may use."""
    est = (await js.navigator.storage.estimate()).to_py()
    return {"usage": int(est.get("usage", 0)), "quota": int(est.get("quota", 0))}
