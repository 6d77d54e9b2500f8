"""Turning the engine's token bytes into text pieces: UTF-8 safety and stop strings.

Why in Python: a token may carry half of a multi-byte character, and a stop
string may span several tokens; both need a little holdback, and both must be
testable on the host without a browser.
"""

from __future__ import annotations

import codecs


class TextAssembler:
    """Feed token bytes, get text pieces that never split a character or show a stop string.

    Parameters
    ----------
    stop
        Strings that end the generation; the text up to (not including) the first
        match is emitted and :attr:`stopped` becomes True.
    """

    def __init__(self, stop: tuple[str, ...] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stop = tuple(stop)
        self._hold = max((len(s) for s in self._stop), default=1) - 1
        self._pending = ""
        self.stopped = False

    def feed(self, data: bytes) -> str:
        """Add one token's bytes; return the text that is now safe to show ('' if none)."""
        if self.stopped:
            return ""
        self._pending += self._decoder.decode(data)
        return self._release(final=False)

    def flush(self) -> str:
        """End of generation: return whatever is still held back."""
        if self.stopped:
            return ""
        self._pending += self._decoder.decode(b"", final=True)
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        if self._stop:
            hits = [i for i in (self._pending.find(s) for s in self._stop) if i >= 0]
            if hits:
                out = self._pending[: min(hits)]
                self._pending = ""
                self.stopped = True
                return out
        if final or not self._stop:
            out, self._pending = self._pending, ""
            return out
        # Hold back the longest tail that could still be the start of a stop string.
        keep = 0
        for s in self._stop:
            for n in range(min(len(s) - 1, len(self._pending)), 0, -1):
                if self._pending.endswith(s[:n]):
                    keep = max(keep, n)
                    break
        cut = len(self._pending) - keep
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out
