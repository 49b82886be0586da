"""Honest timing: warm-up runs excluded (and reported), device synchronised, median and tails.

``measure(fn, warmup, repeats, sync)`` calls ``fn`` ``warmup`` times untimed (first-call allocation,
kernel selection, caches), then ``repeats`` times timed with ``time.perf_counter``, calling ``sync``
(e.g. ``torch.cuda.synchronize``) before reading the clock so asynchronous devices are charged for
their work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Timing:
    """Wall-clock seconds of repeated calls."""

    warmup: int
    """Untimed calls made first."""
    times_s: list[float]
    """Seconds of each timed call."""

    @property
    def median_s(self) -> float:
        return float(np.median(self.times_s))

    def percentile_s(self, q: float) -> float:
        return float(np.percentile(self.times_s, q))

    def rate(self, items_per_call: int) -> float:
        """Items (frames) per second at the median call time."""
        return items_per_call / self.median_s

    def summary(self, items_per_call: int = 1) -> dict:
        return {"warmup": self.warmup, "repeats": len(self.times_s), "median_s": self.median_s,
                "p50_s": self.percentile_s(50), "p99_s": self.percentile_s(99),
                "min_s": min(self.times_s), "per_second": self.rate(items_per_call)}


def measure(fn: Callable[[], object], warmup: int = 1, repeats: int = 5,
            sync: Callable[[], object] | None = None) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed ones (``sync`` before clock reads)."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return Timing(warmup, times)
