"""One benchmark run: a fresh server, its members connected, traffic, drain, figures, stop.

Every run starts its own server (and its own Redis), so no run inherits another's backlog,
database rows or memory; the order of work is

  start server -> (ours) mint tokens -> one warm-up member joins and leaves -> RSS_0
  -> client processes connect the members -> RSS_N -> "go" -> sender stops -> drain -> CPU
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import wire
from bench.config import (
    CONNECT_CONCURRENCY,
    MULTI_CLIENT_MIN_MEMBERS,
    ROOM,
    TOKEN_FETCH_THREADS,
    TOKEN_MEASURED_PER_KIND,
    TOKEN_POOL_SIZE,
    TOKEN_WARM_UP,
    Scenario,
)
from bench.identity import mint_measured_token_pool
from bench.load import ClientPool, LoadFailed, WorkerSpec, split_members
from bench.metrics import CpuUse, connect_figures, delivery_figures, memory_figures
from bench.procstat import cpu_secs, total_cpu_secs, total_rss_kib
from bench.servers import RunningServer, start_server
from bench.stats import cpu_us_per
from scripts.processes import ServerFailed, progress

# After the last member joined: let the server finish what the joins started (presence
# updates, buffers) before reading its memory.
SETTLE_SECS = 0.5
PROGRESS_EVERY_SECS = 2.0
# Slack on top of a phase's own duration before the parent gives up on the clients.
PHASE_SLACK_SECS = 30.0


@dataclass
class RunContext:
    work_dir: Path
    log_dir: Path
    template_db: Path | None
    client_processes: int  # for rooms of MULTI_CLIENT_MIN_MEMBERS or more
    connect_timeout_secs: float


@dataclass
class RunRecord:
    scenario: str
    server: str
    members: int
    server_processes: int
    client_processes: int
    metrics: dict[str, object] = field(default_factory=dict)
    error: str | None = None
    log_problem_lines: int = 0
    log_problem_samples: list[str] = field(default_factory=list)
    wall_secs: float = 0.0


def client_processes_for(members: int, configured: int) -> int:
    return max(1, configured) if members >= MULTI_CLIENT_MIN_MEMBERS else 1


async def _warm_up(url: str, dialect: str, token: str | None) -> None:
    ws = await wire.join(url, dialect=dialect, room=ROOM, token=token)
    await ws.close()


def warm_up(server: RunningServer, token: str | None) -> None:
    """One member joins and leaves, so RSS_0 already holds what the first connection loads lazily
    (modules, the database connection) and memory per connection is only per connection."""
    for url in server.ws_urls:
        asyncio.run(_warm_up(url, wire.dialect_for(server.kind), token))
    time.sleep(0.3)


class ProgressLine:
    def __init__(self, what: str, total: int) -> None:
        self.what, self.total, self.last_printed = what, total, 0.0

    def __call__(self, connected: int, failed: int) -> None:
        now = time.monotonic()
        if now - self.last_printed >= PROGRESS_EVERY_SECS or connected + failed >= self.total:
            failures = f", {failed} failed" if failed else ""
            progress(f"{self.what}: connecting {connected}/{self.total}{failures}")
            self.last_printed = now


def run_one(kind: str, scenario: Scenario, members: int, context: RunContext) -> RunRecord:
    clients = client_processes_for(members, context.client_processes)
    record = RunRecord(scenario.key, kind, members, scenario.server_processes, clients)
    what = f"{kind} / {scenario.key} / {members} members"
    label = f"{scenario.key}-{members}"
    began = time.monotonic()
    progress(f"{what}: starting {'two server processes and Redis' if scenario.server_processes > 1 else 'the server'}")
    server: RunningServer | None = None
    pool: ClientPool | None = None
    try:
        server = start_server(
            kind,
            work_dir=context.work_dir / f"{label}-{kind}",
            log_dir=context.log_dir,
            label=label,
            processes=scenario.server_processes,
            template_db=context.template_db,
        )
        tokens: list[str | None] = [None]
        if kind == "ours":
            progress(f"{what}: minting {TOKEN_WARM_UP + 2 * TOKEN_MEASURED_PER_KIND} identity tokens")
            # Per token, server CPU time from /proc: a challenge (GET) and the token request
            # (POST); and with the CORS preflight a first visit's browser sends between them.
            minted = mint_measured_token_pool(
                server.http_base,
                measured_per_kind=TOKEN_MEASURED_PER_KIND,
                warm_up=TOKEN_WARM_UP,
                threads=TOKEN_FETCH_THREADS,
                server_cpu_secs=lambda: total_cpu_secs(server.server_pids),
            )
            tokens = list(minted.tokens[: min(TOKEN_POOL_SIZE, members)])  # members share these
            record.metrics["token_server_cpu_ms"] = minted.cpu_ms_per_token
            record.metrics["token_with_preflight_server_cpu_ms"] = minted.cpu_ms_per_token_with_preflight
        warm_up(server, tokens[0])
        rss_idle_kib = total_rss_kib(server.server_pids)

        run_id = secrets.token_hex(4)
        shares = split_members(members, urls=server.ws_urls, tokens=tokens, clients=clients)
        pool = ClientPool([
            WorkerSpec(worker_index=index, dialect=wire.dialect_for(kind), room=ROOM, run_id=run_id,
                       members=tuple(share), has_sender=index == 0, connect_concurrency=CONNECT_CONCURRENCY,
                       connect_timeout_secs=context.connect_timeout_secs)
            for index, share in enumerate(shares) if share
        ])  # fmt: skip
        server_cpu_before_connect = total_cpu_secs(server.server_pids)
        pool.start()
        connects = pool.wait_connected(
            timeout_secs=context.connect_timeout_secs + PHASE_SLACK_SECS, on_progress=ProgressLine(what, members)
        )
        record.metrics.update(connect_figures(connects, members))
        connect_cpu_secs = total_cpu_secs(server.server_pids) - server_cpu_before_connect
        connect_cpu_us = cpu_us_per(connect_cpu_secs, int(record.metrics["members_connected"]))
        record.metrics["connect_server_cpu_ms_per_member"] = None if connect_cpu_us is None else connect_cpu_us / 1000
        total_secs = record.metrics.get("connect_total_secs")
        if isinstance(total_secs, float) and total_secs > 0:
            record.metrics["connect_server_cores"] = connect_cpu_secs / total_secs
        if not connects[0].sender_connected:
            raise LoadFailed("the sender could not connect")
        time.sleep(SETTLE_SECS)
        connected = int(record.metrics["members_connected"])
        record.metrics.update(
            memory_figures(
                rss_idle_kib=rss_idle_kib, rss_connected_kib=total_rss_kib(server.server_pids), connected=connected
            )
        )
        traffic = scenario.traffic
        if traffic.mode != "none":  # a connect-only run ends here; the clients go when told to exit
            progress(f"{what}: {connected} members joined; sending ({traffic.mode}, {traffic.duration_secs:g} s)")
            before = _cpu_now(server, pool)
            go_ns = time.perf_counter_ns()
            pool.tell_all("go", traffic)
            sent = pool.wait_sent(timeout_secs=traffic.duration_secs + PHASE_SLACK_SECS)
            if sent.error:
                raise LoadFailed(f"the sender failed: {sent.error}")
            progress(f"{what}: {sent.sent} messages sent; draining")
            pool.tell_all("expect", sent.sent)
            reports = pool.wait_results(timeout_secs=traffic.drain_timeout_secs + PHASE_SLACK_SECS)
            after = _cpu_now(server, pool)
            cpu = CpuUse(
                server_secs=after[0] - before[0],
                redis_secs=None if server.redis is None else after[1] - before[1],
                client_secs=tuple(end - start for start, end in zip(before[2], after[2], strict=True)),
            )
            record.metrics.update(
                delivery_figures(sent=sent, reports=reports, cpu=cpu, go_ns=go_ns, members_connected=connected)
            )
            _say_result(what, record.metrics)
    except (ServerFailed, LoadFailed, OSError) as error:
        record.error = f"{type(error).__name__}: {error}"
        progress(f"{what}: FAILED: {record.error}")
    finally:
        if server is not None:
            server.stop()  # first: daphne closes its sockets itself, faster than reacting to each drop
            record.log_problem_lines, record.log_problem_samples = server.log_problems()
        if pool is not None:
            pool.close()
    record.wall_secs = time.monotonic() - began
    return record


def _cpu_now(server: RunningServer, pool: ClientPool) -> tuple[float, float, list[float]]:
    redis_pid = server.redis_pid
    return (
        total_cpu_secs(server.server_pids),
        (cpu_secs(redis_pid) or 0.0) if redis_pid is not None else 0.0,
        [cpu_secs(pid) or 0.0 for pid in pool.pids],
    )


def _say_result(what: str, metrics: dict[str, object]) -> None:
    def show(key: str, spec: str) -> str:
        value = metrics.get(key)
        return "n/a" if value is None else format(value, spec)

    progress(
        f"{what}: {metrics['unique_deliveries']}/{metrics['expected_deliveries']} delivered, "
        f"lost {metrics['lost']}, {show('deliveries_per_sec', ',.0f')} deliveries/s, "
        f"p99 {show('latency_p99_ms', '.1f')} ms, server {show('server_cpu_us_per_delivery', '.1f')} µs/delivery"
        + (" (client-bound)" if metrics.get("client_bound") else "")
    )
