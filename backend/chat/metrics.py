"""What an operator watches, per process, in Prometheus's text format (``/metrics``, chat.metrics_view).

The instruments live in a registry of their own (not prometheus-client's global one): what
``/metrics`` shows is exactly this list, plus the process's own CPU, memory and open files. Every
figure is this process's: Prometheus scrapes each process (or the platform's router picks one per
scrape) and sums them. Counters only grow; ``rate()`` turns them into per-second figures.

Updating one is a lock and an addition: cheap enough for the delivery path, where the fan-out adds
a room message's member count once, not once per member.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

registry = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=registry)  # process_cpu_seconds_total, process_resident_memory_bytes, ...

open_sockets = Gauge(
    "backchannel_open_sockets", "WebSockets open on this process (readers and named visitors).", registry=registry
)
joined_rooms = Gauge(
    "backchannel_joined_rooms", "Rooms with at least one member socket on this process.", registry=registry
)
messages_stored = Counter(
    "backchannel_messages_stored", "Room messages stored (posted and acked) by this process's sockets.",
    registry=registry,
)  # fmt: skip
deliveries = Counter(
    "backchannel_deliveries", "Room frames written to this process's member sockets by the fan-out.",
    registry=registry,
)  # fmt: skip
# From the `join` frame to the `joined` answer written (presence row, history page, room state).
JOIN_SECONDS_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
join_seconds = Histogram(
    "backchannel_join_seconds", "Time to answer a join, from the frame to the joined event written.",
    buckets=JOIN_SECONDS_BUCKETS, registry=registry,
)  # fmt: skip
slow_reader_drops = Counter(
    "backchannel_slow_reader_drops",
    "Sockets dropped because their reader fell SLOW_SOCKET_BUFFER_BYTES behind (they resume on reconnect).",
    registry=registry,
)
layer_publish_errors = Counter(
    "backchannel_layer_publish_errors",
    "Channel-layer publishes that failed (the frame missed live delivery; pages catch up from the log).",
    registry=registry,
)
layer_resubscribes = Counter(
    "backchannel_layer_resubscribes",
    "Times the fan-out re-joined its groups after the channel layer came back from an outage.",
    registry=registry,
)
# Which bucket refused: "messages" (per identity or address), "frames" (per socket, text frames),
# "control_frames" (pings and pongs past the socket's frame bucket).
RATE_LIMITS = ("messages", "frames", "control_frames")
rate_limit_refusals = Counter(
    "backchannel_rate_limit_refusals", "Frames refused by a rate limit (rate_limited, or a ping left unanswered).",
    ["limit"], registry=registry,
)  # fmt: skip
for _limit in RATE_LIMITS:
    rate_limit_refusals.labels(_limit)  # every series present from the start, at 0
