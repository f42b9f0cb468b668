"""A tiny progress bar on stderr (no dependency): `label [#######.......] 7/14`.

On a terminal the bar redraws in place; otherwise (a log file, CI) each stage prints one final line."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Stages in sequence; each `stage(label, total)` starts a new bar. Disabled: does nothing."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None, width: int = 28) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._label = ""
        self._total = 0
        self._done = 0
        self._last = 0.0
        self._open = False
        isatty = getattr(self.stream, "isatty", None)
        self._tty = bool(isatty and isatty())

    def stage(self, label: str, total: int) -> None:
        self.close()
        self._label, self._total, self._done = label, max(total, 1), 0
        self._open = True
        self._draw(force=True)

    def advance(self, n: int = 1) -> None:
        self._done = min(self._total, self._done + n)
        self._draw(force=self._done == self._total)

    def close(self) -> None:
        if self._open and self.enabled:
            self._write()
            self.stream.write("\n")
            self.stream.flush()
        self._open = False

    def _draw(self, *, force: bool) -> None:
        if not self.enabled or not self._open or not self._tty:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        self._write()

    def _write(self) -> None:
        filled = int(self.width * self._done / self._total)
        bar = "#" * filled + "." * (self.width - filled)
        start = "\r" if self._tty else ""
        self.stream.write(f"{start}{self._label:<24} [{bar}] {self._done}/{self._total}")
        self.stream.flush()
