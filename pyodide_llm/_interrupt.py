"""The notebook's Stop button: stop this kernel's generations within a token, keep the model.

Why a channel of our own: a JupyterLite kernel runs Pyodide in a Web Worker, and
JupyterLite's interrupt (toolbar stop button, ``I, I``) only cancels the cells still
queued on the page's side; nothing reaches the running cell (jupyterlite#459). The
site's ``js/jupyterlite-interrupt.js`` (added to the pages by the JupyterLite recipe)
forwards each interrupt on the origin's BroadcastChannel ``pyodide_llm-interrupt`` as
``{type: "interrupt", kernel, sessions}``; every generation of ours that is streaming
in the interrupted kernel is cancelled, and its stream raises
:class:`~pyodide_llm.GenerationCancelled` (code ``interrupted``) once the engine has
stopped, which the kernel's IPython prints as one line. A kernel that raises
``KeyboardInterrupt`` itself (an interrupt buffer) is handled by the stream too.

This module is the browser-free part (which streams, which kernel); the channel is
``_browser/interrupt.py``.
"""

from __future__ import annotations

import importlib
import sys
import weakref
from collections.abc import Mapping
from typing import Any, Protocol

from ._env import IN_PYODIDE, browser

CHANNEL = "pyodide_llm-interrupt"
MESSAGE = "generation interrupted: the engine stopped, the model is still loaded"


class Interruptible(Protocol):
    def interrupt(self) -> bool:
        """Stop now (a cancel to the engine); true if something was running."""


_active: weakref.WeakSet[Any] = weakref.WeakSet()
_listening = False


def register(stream: Interruptible) -> None:
    """Track a generation that has started; start listening for interrupts on first use."""
    global _listening
    _active.add(stream)
    if not _listening and IN_PYODIDE:
        _listening = True
        try:
            browser("the Stop button").listen_channel(CHANNEL, on_message)
            install_ipython_handler()
        except Exception:  # no BroadcastChannel (an old worker scope): interrupts simply do not arrive
            pass


def unregister(stream: Interruptible) -> None:
    _active.discard(stream)


def current_session() -> str | None:
    """The Jupyter session (the notebook's client id) of the cell running now, in a JupyterLite kernel."""
    kernel = getattr(sys.modules.get("pyodide_kernel"), "kernel_instance", None)
    parent = getattr(kernel, "_parent_header", None)
    try:
        session = parent["header"]["session"] if parent is not None else None
    except (KeyError, TypeError):
        return None
    return str(session) if session else None


def for_this_kernel(message: Mapping[str, Any], session: str | None) -> bool:
    """Whether an interrupt message is meant for this kernel.

    Every kernel of the origin hears the channel; one names the notebook sessions of
    the kernel it interrupts. Without names on either side (another front end, a
    kernel that is not JupyterLite's) it is taken as meant for us.
    """
    if message.get("type") != "interrupt":
        return False
    sessions = message.get("sessions") or []
    return not sessions or session is None or session in sessions


def on_message(message: Mapping[str, Any]) -> int:
    """Interrupt every running generation if ``message`` is for this kernel; how many were running."""
    if not for_this_kernel(message, current_session()):
        return 0
    return sum(1 for stream in list(_active) if stream.interrupt())


def install_ipython_handler() -> None:
    """Show an interrupted generation as one line in IPython, not a traceback through the package."""
    try:  # by name: IPython is the kernel's, never a dependency of ours (nor installed where mypy runs)
        ipython: Any = importlib.import_module("IPython")
    except ImportError:
        return
    shell = ipython.get_ipython()
    if shell is None:
        return
    from ._errors import GenerationCancelled

    def short(self: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> list[str]:
        # IPython hands a custom exception to this handler instead of showing it, and drops what
        # it returns (run_code): the handler shows it, the same way showtraceback would.
        if getattr(value, "code", None) == "interrupted":
            stb = [MESSAGE]  # the whole "traceback" the notebook shows
        else:
            stb = list(self.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset))
        self._showtraceback(etype, value, stb)
        return stb

    shell.set_custom_exc((GenerationCancelled,), short)
