"""Pure arithmetic of the benchmark: message payloads, per-receiver delivery tallies, percentiles.

No I/O and no clocks here, so every function has a unit test (bench/test_bench_units.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PAYLOAD_SEPARATOR = ":"


def make_payload(run_id: str, msg_no: int, sent_ns: int) -> str:
    """The text of message ``msg_no``: ``<run-id>:<msg-no>:<send time in ns>``."""
    return f"{run_id}{PAYLOAD_SEPARATOR}{msg_no}{PAYLOAD_SEPARATOR}{sent_ns}"


def parse_payload(text: str, run_id: str) -> tuple[int, int] | None:
    """``(msg_no, sent_ns)`` of a payload from this run, or None for anything else."""
    parts = text.split(PAYLOAD_SEPARATOR)
    if len(parts) != 3 or parts[0] != run_id:
        return None
    try:
        return int(parts[1]), int(parts[2])
    except ValueError:
        return None


class ReceiverTally:
    """What one member received, by message number: copies, order, and so what it lost.

    A bytearray of copy counts (saturating at 255) keeps 5,000 members x thousands of messages
    in a few megabytes; "out of order" is a first copy whose number is below the highest seen.
    """

    __slots__ = ("copies", "duplicates", "highest", "out_of_order", "unique")

    def __init__(self) -> None:
        self.copies = bytearray()
        self.unique = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.highest = -1

    def record(self, msg_no: int) -> bool:
        """Count one arrival of ``msg_no``; True when it is the first copy."""
        if msg_no < 0:
            return False
        if msg_no >= len(self.copies):
            self.copies.extend(bytes(max(msg_no + 1 - len(self.copies), len(self.copies))))
        count = self.copies[msg_no]
        if count:
            self.duplicates += 1
            if count < 255:
                self.copies[msg_no] = count + 1
            return False
        self.copies[msg_no] = 1
        self.unique += 1
        if msg_no < self.highest:
            self.out_of_order += 1
        else:
            self.highest = msg_no
        return True

    def lost(self, sent: int) -> int:
        """Messages 0 .. sent-1 that never arrived."""
        received = sum(1 for count in self.copies[:sent] if count)
        return sent - received

    def has_all(self, sent: int) -> bool:
        # The sender numbers its messages 0 .. sent-1, so `sent` distinct ones are all of them.
        return self.unique >= sent


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (``fraction`` in 0..1) of already sorted values; None when empty."""
    if not sorted_values:
        return None
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within 0..1, not {fraction}")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class Summary:
    """p50/p95/p99/max of a sample, in the sample's unit; None when it is empty."""

    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


def summarize(values: Iterable[float]) -> Summary:
    ordered = sorted(values)
    return Summary(
        count=len(ordered),
        p50=percentile(ordered, 0.50),
        p95=percentile(ordered, 0.95),
        p99=percentile(ordered, 0.99),
        max=ordered[-1] if ordered else None,
    )


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the quotient is undefined."""
    if numerator is None or denominator is None:
        return None
    if denominator == 0:
        return None if numerator == 0 else math.inf
    return numerator / denominator


def cpu_us_per(cpu_secs: float | None, count: int) -> float | None:
    """CPU microseconds per event (a delivery, a message sent); None with nothing to divide by."""
    if cpu_secs is None or count <= 0:
        return None
    return cpu_secs * 1e6 / count


def memory_per_connection_kib(rss_before_kib: int, rss_after_kib: int, connections: int) -> float | None:
    """(RSS_N - RSS_0) / N in KiB; None for no connections."""
    if connections <= 0:
        return None
    return (rss_after_kib - rss_before_kib) / connections
