"""How fast this machine runs Python right now: a fixed workload, timed before and after a run.

The targets in milliseconds of CPU (per join, per token) are absolute, and a shared machine's
speed moves between days (1.5-3x here): the same tree measured 1.3 ms per join one day and 3.5 ms
another. Two runs' absolute figures compare only with this figure beside them; the ratios against
the tutorial and bare, measured in the same run, need no such help.
"""

from __future__ import annotations

import json
import time

# Dicts, strings, JSON and method calls: roughly what a server's request path does.
_ROUNDS = 20_000


def _workload() -> int:
    total = 0
    for number in range(_ROUNDS):
        event = {"type": "join", "room": f"room-{number % 50}", "after_seq": number}
        text = json.dumps(event)
        total += len(json.loads(text)["room"]) + len(text.split(","))
    return total


def python_speed_ms(repeats: int = 5) -> float:
    """The fastest of ``repeats`` timings of the fixed workload, in milliseconds of process CPU
    time (lower is a faster machine)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        _workload()
        best = min(best, time.process_time() - started)
    return best * 1000
