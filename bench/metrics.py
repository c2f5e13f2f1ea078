"""One run's figures, computed from what the client processes and /proc reported. Pure.

Every key names its unit. "Deliveries" are message copies received by members (the sender's
own copy included); CPU per delivery divides the CPU the processes used from "go" to the end of
the drain by them, so idle waiting costs nothing and a server that drops messages gets no
credit for the work it skipped.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

from bench.config import CLIENT_BOUND_CORE_FRACTION
from bench.load import ConnectReport, DeliveryReport, SendReport
from bench.stats import cpu_us_per, memory_per_connection_kib, summarize


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds used during the traffic window, by role."""

    server_secs: float
    redis_secs: float | None  # None without a redis-server
    client_secs: tuple[float, ...]  # per client process


def connect_figures(reports: list[ConnectReport], members_planned: int) -> dict[str, object]:
    connect_ms = summarize(secs * 1000 for report in reports for secs in report.connect_secs)
    failures: dict[str, int] = {}
    for report in reports:
        for reason, count in report.failures.items():
            failures[reason] = failures.get(reason, 0) + count
    connected = sum(report.connected for report in reports)
    started_ns = min((report.started_ns for report in reports), default=0)
    finished_ns = max((report.finished_ns for report in reports), default=0)
    total_secs = (finished_ns - started_ns) / 1e9 if reports else None
    return {
        "members_planned": members_planned,
        "members_connected": connected,
        "connect_failures": sum(failures.values()),
        "connect_failure_reasons": failures,
        "connect_p50_ms": connect_ms.p50,
        "connect_p99_ms": connect_ms.p99,
        "connect_total_secs": total_secs,
        "joins_per_sec": connected / total_secs if total_secs else None,
        # The load generator's share of the machine while members connect: on a 2-core machine the
        # server's threads and the client processes take turns on the same cores.
        "connect_client_cores": sum(report.cpu_secs for report in reports) / total_secs if total_secs else None,
    }


def memory_figures(*, rss_idle_kib: int, rss_connected_kib: int, connected: int) -> dict[str, object]:
    return {
        "rss_idle_kib": rss_idle_kib,
        "rss_connected_kib": rss_connected_kib,
        "memory_per_conn_kib": memory_per_connection_kib(rss_idle_kib, rss_connected_kib, connected),
    }


def merge_latencies_ms(reports: list[DeliveryReport], field_name: str = "latencies_us") -> list[float]:
    """Every client's latencies (array('q') of µs, as bytes) as one list of milliseconds."""
    values: list[float] = []
    for report in reports:
        latencies = array("q")
        latencies.frombytes(getattr(report, field_name))
        values.extend(latency / 1000 for latency in latencies)
    return values


def delivery_figures(
    *, sent: SendReport, reports: list[DeliveryReport], cpu: CpuUse, go_ns: int, members_connected: int
) -> dict[str, object]:
    deliveries = sum(report.deliveries for report in reports)
    unique = sum(report.unique_deliveries for report in reports)
    last_ns = max((r.last_delivery_ns for r in reports if r.last_delivery_ns is not None), default=None)
    # Active time: from the first send to the last delivery (the drain's idle tail excluded).
    have_times = last_ns is not None and sent.first_send_ns is not None
    active_secs = (last_ns - sent.first_send_ns) / 1e9 if have_times else None
    busy_secs = (last_ns - go_ns) / 1e9 if last_ns is not None else None
    latency = summarize(merge_latencies_ms(reports))
    ack = summarize(merge_latencies_ms(reports, "ack_latencies_us"))
    errors: dict[str, int] = {}
    for report in reports:
        for code, count in report.errors.items():
            errors[code] = errors.get(code, 0) + count
    client_core = [secs / busy_secs for secs in cpu.client_secs] if busy_secs else []
    send_span_ns = (sent.last_send_ns or 0) - (sent.first_send_ns or 0)
    return {
        "sent": sent.sent,
        # Below the plan's rate: the sender (not the server) fell behind its schedule.
        "send_rate_per_sec": (sent.sent - 1) * 1e9 / send_span_ns if sent.sent > 1 and send_span_ns > 0 else None,
        "expected_deliveries": sent.sent * members_connected,
        "deliveries": deliveries,
        "unique_deliveries": unique,
        "lost": sum(report.lost for report in reports),
        "duplicated": sum(report.duplicates for report in reports),
        "out_of_order": sum(report.out_of_order for report in reports),
        "deliveries_per_sec": unique / active_secs if active_secs else None,
        "latency_p50_ms": latency.p50,
        "latency_p95_ms": latency.p95,
        "latency_p99_ms": latency.p99,
        "latency_max_ms": latency.max,
        "ack_p50_ms": ack.p50,
        "ack_p99_ms": ack.p99,
        "server_cpu_us_per_delivery": cpu_us_per(cpu.server_secs, deliveries),
        # What one message costs the server whatever the room size (storing it, for ours).
        "server_cpu_us_per_message": cpu_us_per(cpu.server_secs, sent.sent),
        "redis_cpu_us_per_delivery": cpu_us_per(cpu.redis_secs, deliveries),
        "client_cpu_us_per_delivery": cpu_us_per(sum(cpu.client_secs), deliveries),
        "server_cpu_cores": cpu.server_secs / busy_secs if busy_secs else None,
        "client_cpu_max_core": max(client_core) if client_core else None,
        "client_bound": bool(client_core) and max(client_core) > CLIENT_BOUND_CORE_FRACTION,
        "errors": errors,
        "send_failures": sent.send_failures,
        "window_evictions": sent.window_evictions,
        "members_closed": sum(report.members_closed for report in reports),
        "drain_complete": all(report.complete for report in reports),
        "drain_secs": max((report.drain_secs for report in reports), default=None),
    }
