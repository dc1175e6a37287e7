"""A one-line progress bar on stderr: the demo's long steps should visibly move, with no extra dependency."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """`with Progress("label", total) as bar: bar.advance()`; redraws at most ten times a second."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None, width: int = 30) -> None:
        self.label, self.total, self.width = label, max(total, 1), width
        self.stream = stream or sys.stderr
        self.done = 0
        self._drawn = 0.0
        self._live = self.stream.isatty()  # in a log (CI), one line at the end instead of redraws

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def advance(self, n: int = 1) -> None:
        self.done = min(self.done + n, self.total)
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self._live and not (force and self.done >= self.total):
            return
        now = time.monotonic()
        if not force and now - self._drawn < 0.1 and self.done < self.total:
            return
        self._drawn = now
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        end = "\n" if force and self.done >= self.total else ""
        start = "\r" if self._live else ""
        self.stream.write(f"{start}  {self.label:<34} [{bar}] {self.done}/{self.total}{end}")
        self.stream.flush()

    def __exit__(self, *exc: object) -> None:
        self.done = self.total if exc[0] is None else self.done
        self._draw(force=True)
        if self.done < self.total:
            self.stream.write("\n")
