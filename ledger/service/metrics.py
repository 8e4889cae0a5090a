"""What the gateway counts for `/metrics`: submissions, batches, their sizes and anchoring
latency, errors by stable code. Bounded: the last 10,000 values of each series are kept."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["Metrics"]

_KEPT = 10_000


@dataclass
class Metrics:
    submissions: int = 0
    batches: int = 0
    batch_sizes: deque[int] = field(default_factory=lambda: deque(maxlen=_KEPT))
    anchor_latency: deque[float] = field(default_factory=lambda: deque(maxlen=_KEPT))
    errors: dict[str, int] = field(default_factory=dict)

    def count_error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1
