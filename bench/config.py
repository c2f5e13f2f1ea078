"""What a benchmark run does: the scenarios, their sizes and durations, quick and full.

Plain data, no behaviour: run.py picks a plan, scenarios.py carries it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The site origin every handshake to "ours" carries (ours refuses any other with HTTP 403).
SITE_ORIGIN = "http://127.0.0.1:1313"
ROOM = "bench"
SERVERS = ("ours", "tutorial", "bare")

BENCH_ENV = {
    # Every member comes from 127.0.0.1: the per-address socket cap must not refuse them.
    "MAX_SOCKETS_PER_IP": "100000",
    # Tokens are minted before the timed phase; proof of work would only slow that down.
    "IDENTITY_POW_BITS": "0",
    # Thousands of members connect through a bounded number of concurrent handshakes.
    "AUTH_TIMEOUT_SECS": "60",
}
# Distinct visitors minted over HTTP; members reuse them round-robin (several tabs of one person).
TOKEN_POOL_SIZE = 200
TOKEN_FETCH_THREADS = 8
# The token cost is measured over this many tokens of each kind (without, then with the CORS
# preflight), after this many unmeasured (a new process's first requests import and connect):
# /proc counts CPU time in 10 ms ticks, so a hundred tokens of about 1 ms could read 10 % off.
TOKEN_MEASURED_PER_KIND = 300
TOKEN_WARM_UP = 20

# Concurrent handshakes per client process: daphne's listen backlog is 50, and more in flight
# only makes each member's connect time longer without making the total shorter.
CONNECT_CONCURRENCY = 16
# Client processes for rooms of at least this many members (one asyncio loop cannot keep up).
MULTI_CLIENT_MIN_MEMBERS = 1000
DEFAULT_CLIENT_PROCESSES = 2
# A client process above this share of one core is probably what limits the measurement.
CLIENT_BOUND_CORE_FRACTION = 0.9


# The join storm (issue 19): every member connects (ours: ready, auth, join, joined) as fast as
# the load generator's handshakes in flight allow, into one room; nothing is sent. Its figures
# are joins/s, connect p99 and server CPU per join (process CPU time from /proc, not wall time).
JOIN_STORM = "join-storm"
JOIN_STORM_TITLE = "Join storm (connect + auth + join into one room)"
JOIN_TARGET_PER_SEC = 1000
JOIN_TARGET_CPU_MS = 1.0
JOIN_TARGET_P99_MS = 200
TOKEN_TARGET_CPU_MS = 1.0

# Big rooms (issue 19): server CPU per delivery at 1000 members, saturating, at most this many
# times bare's in the same run, and at least this many times below the tutorial's; idle memory per
# connection ((RSS_N - RSS_0) / N) at most this, at the largest single-process run measured.
FANOUT_TARGET_MEMBERS = 1000
FANOUT_TARGET_MAX_VS_BARE = 1.5
FANOUT_TARGET_MIN_TUTORIAL_OVER_OURS = 10
IDLE_MEMORY_TARGET_KIB = 20


@dataclass(frozen=True)
class Traffic:
    """How the sender sends: a bounded window as fast as deliveries return, or a fixed rate."""

    mode: str  # "saturate" | "rate" | "none" (connect only: the idle-memory run)
    duration_secs: float = 0.0
    window: int = 16  # saturate: messages sent and not yet seen back by the sender
    rate_per_sec: float = 0.0  # rate: messages per second
    drain_timeout_secs: float = 10.0  # after the sender stops, wait at most this long ...
    drain_idle_secs: float = 3.0  # ... or until nothing arrived for this long


@dataclass(frozen=True)
class Scenario:
    key: str  # "saturate", "rate", "multi", "idle", "join-storm"
    title: str
    members: tuple[int, ...]  # one run per size
    traffic: Traffic
    server_processes: int = 1  # 2: two daphne processes behind one private redis-server
    servers: tuple[str, ...] = SERVERS


@dataclass(frozen=True)
class Plan:
    name: str  # "quick" | "full"
    scenarios: tuple[Scenario, ...]
    connect_timeout_secs: float
    # Sizes whose (RSS_N - RSS_0) / N is reported as idle memory per connection.
    memory_sizes: tuple[int, ...] = field(default=(1000,))


def quick_plan() -> Plan:
    return Plan(
        name="quick",
        connect_timeout_secs=60,
        memory_sizes=(1000,),
        scenarios=(
            Scenario("saturate", "Saturating sender (window of 16)", (10, 100, 1000),
                     Traffic("saturate", duration_secs=3, window=16, drain_timeout_secs=10, drain_idle_secs=1.5)),
            Scenario("rate", "500 members, 20 msg/s", (500,),
                     Traffic("rate", duration_secs=5, rate_per_sec=20, drain_timeout_secs=6, drain_idle_secs=1.5)),
            Scenario("multi", "2 processes + Redis, 5 msg/s", (1000,),
                     Traffic("rate", duration_secs=4, rate_per_sec=5, drain_timeout_secs=6, drain_idle_secs=1.5),
                     server_processes=2, servers=("ours", "tutorial")),
            Scenario(JOIN_STORM, JOIN_STORM_TITLE, (1000,), Traffic("none")),
        ),
    )  # fmt: skip


def full_plan() -> Plan:
    return Plan(
        name="full",
        connect_timeout_secs=180,
        memory_sizes=(1000, 5000),
        scenarios=(
            Scenario("saturate", "Saturating sender (window of 16)", (10, 100, 1000, 2000),
                     Traffic("saturate", duration_secs=6, window=16, drain_timeout_secs=20)),
            Scenario("rate", "500 members, 20 msg/s", (500,),
                     Traffic("rate", duration_secs=10, rate_per_sec=20, drain_timeout_secs=20)),
            Scenario("multi", "2 processes + Redis, 5 msg/s", (5000,),
                     Traffic("rate", duration_secs=10, rate_per_sec=5, drain_timeout_secs=30),
                     server_processes=2, servers=("ours", "tutorial")),
            Scenario("idle", "Idle sockets (memory)", (5000,), Traffic("none")),
            Scenario(JOIN_STORM, JOIN_STORM_TITLE, (1000, 5000), Traffic("none")),
        ),
    )  # fmt: skip
