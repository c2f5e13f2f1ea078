"""CPU time and resident memory of a process, read from Linux's /proc.

/proc/<pid>/stat's utime and stime cover every thread of the process (daphne's sync_to_async
worker threads included); they count in clock ticks of ``SC_CLK_TCK`` (100 per second here, so
each reading is good to 10 ms: measure windows of seconds, not milliseconds).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

CLOCK_TICKS_PER_SEC = os.sysconf("SC_CLK_TCK")
# Fields of /proc/<pid>/stat after the ")" that closes the command name (which may hold spaces).
UTIME_FIELD = 11  # field 14 of proc(5), counted from the state field (3) as 0
STIME_FIELD = 12


def parse_stat_cpu_ticks(stat_text: str) -> int:
    """utime + stime, in clock ticks, from the text of /proc/<pid>/stat."""
    after_name = stat_text[stat_text.rindex(")") + 2 :].split()
    return int(after_name[UTIME_FIELD]) + int(after_name[STIME_FIELD])


def parse_status_rss_kib(status_text: str) -> int:
    """VmRSS in KiB from the text of /proc/<pid>/status (0 for a zombie, which has none)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_secs(pid: int) -> float | None:
    """CPU seconds (user + system) the process has used so far; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return parse_stat_cpu_ticks(stat.read()) / CLOCK_TICKS_PER_SEC
    except (FileNotFoundError, ProcessLookupError):
        return None


def rss_kib(pid: int) -> int | None:
    """Resident set size in KiB; None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return parse_status_rss_kib(status.read())
    except (FileNotFoundError, ProcessLookupError):
        return None


def total_cpu_secs(pids: Iterable[int]) -> float:
    return sum(cpu_secs(pid) or 0.0 for pid in pids)


def total_rss_kib(pids: Iterable[int]) -> int:
    return sum(rss_kib(pid) or 0 for pid in pids)
