"""Line-based progress for long steps: SageMaker and CloudWatch show lines, not bars."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints ``label: done/total (pct) rate`` at most every ``every`` seconds and at the end."""

    def __init__(self, label: str, total: int, every: float = 2.0, stream: TextIO | None = None):
        self.label, self.total, self.every = label, total, every
        self.stream = stream or sys.stdout
        self.done = 0
        self.started = self._last = time.monotonic()

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if self.done >= self.total or now - self._last >= self.every:
            self._last = now
            self._print(now)

    def _print(self, now: float) -> None:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        rate = self.done / max(now - self.started, 1e-9)
        print(f"{self.label}: {self.done}/{self.total} ({pct:.0f}%) {rate:,.0f}/s", file=self.stream, flush=True)
