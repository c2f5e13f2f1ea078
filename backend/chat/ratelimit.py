"""Token buckets: ``burst`` actions at once, then ``per_sec`` sustained. Pure: time is a parameter.

Buckets live in the process that enforces them; ``BucketMap`` keeps one per key (identity, IP
address, socket) and forgets the least recently used beyond ``max_keys``, so memory stays bounded
however many keys an attacker invents (a forgotten bucket comes back full, which only errs
towards letting a quiet key through).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

# Refill arithmetic in floats lands a hair under a whole token (0.1 s at 10/s is 0.999...): without
# this slack a client waiting exactly the time it was told would be refused once more.
_EPSILON = 1e-9


@dataclass
class TokenBucket:
    burst: int
    per_sec: float
    tokens: float = field(init=False)
    updated_at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self, now: float) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until one is available."""
        if self.updated_at is not None:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated_at) * self.per_sec)
        self.updated_at = now
        if self.tokens >= 1.0 - _EPSILON:
            self.tokens = max(0.0, self.tokens - 1.0)
            return 0.0
        return (1.0 - self.tokens) / self.per_sec


class BucketMap:
    def __init__(self, *, burst: int, per_sec: float, max_keys: int = 100_000) -> None:
        self.burst = burst
        self.per_sec = per_sec
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._max_keys = max_keys

    def take(self, key: str, now: float) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.burst, self.per_sec)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now)

    def __len__(self) -> int:
        return len(self._buckets)


class Counter:
    """Open things per key (sockets per IP address); a key at zero is dropped."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def add(self, key: str) -> int:
        self._counts[key] = self._counts.get(key, 0) + 1
        return self._counts[key]

    def remove(self, key: str) -> None:
        left = self._counts.get(key, 0) - 1
        if left > 0:
            self._counts[key] = left
        else:
            self._counts.pop(key, None)

    def __getitem__(self, key: str) -> int:
        return self._counts.get(key, 0)

    def items(self) -> list[tuple[str, int]]:
        return list(self._counts.items())
