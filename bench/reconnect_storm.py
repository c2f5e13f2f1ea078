"""The reconnect storm of `make bench` (issue 19): a platform restart sends every page back at once.

One daphne process ("ours", SQLite) with N members (5,000; 1,000 with --quick) in one room, each
showing the room's first messages. The server gets SIGTERM (a deploy, a dyno restart: it closes
every socket with 1012 after their leave) and a successor starts on the same port with the same
database and secret. Every member reconnects as the widget does (a jittered delay, then again
while the port refuses), authenticates with its token and joins with ``after_seq`` (the end of
the unbroken run of seqs it shows). More messages are posted once the successor answers.

Figures: seconds from SIGTERM to the last member re-joined with ``resumed: true`` (target 15 s),
the same from the successor answering, server CPU per re-join (process CPU time from /proc, not
wall time), and what was lost: members that do not end with exactly every seq of the room.
Members are spread over client processes (``multiprocessing`` "spawn", one asyncio loop each,
``CONNECT_CONCURRENCY`` handshakes in flight per process, as in the join storm).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import websockets

from bench.config import CONNECT_CONCURRENCY, SITE_ORIGIN, TOKEN_FETCH_THREADS, TOKEN_POOL_SIZE
from bench.identity import mint_token_pool
from bench.procstat import total_cpu_secs
from bench.servers import SERVER_START_TIMEOUT_SECS, ours_env
from scripts.processes import free_port, progress, start_daphne, stop_process, wait_port_free

ROOM = "storm"
MESSAGES_BEFORE = 20  # shown by every member before the restart
MESSAGES_AFTER = 20  # posted once the successor answers, while members come back
TARGET_SECS = 15.0
CLIENT_PROCESSES = 2
REPLY_TIMEOUT_SECS = 30.0
PHASE_TIMEOUT_SECS = 120.0
# The widget waits a little before reconnecting after a 1012, and retries a refused connect.
RECONNECT_JITTER_SECS = (0.05, 1.0)
RETRY_SECS = (0.2, 0.5)
MESSAGE_PREFIX = '"type":"message"'  # how a `message` frame starts (compact JSON, type first)


@dataclass
class ReconnectStormResult:
    members: int
    connected_before: int
    rejoined: int
    resumed: int  # re-joins answered with `resumed: true`
    complete: int  # members showing exactly seqs 1..last at the end
    expected_seqs: int
    stop_secs: float  # SIGTERM until the old process exited
    secs_from_sigterm: float | None  # until the last member re-joined and resumed
    secs_from_answering: float | None
    server_cpu_ms_per_rejoin: float | None

    @property
    def lost(self) -> int:
        return self.members - self.complete


# --- Client processes ------------------------------------------------------------------------------


class Member:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.seqs: set[int] = set()
        self.connects = 0
        self.rejoined_at: float | None = None  # monotonic (CLOCK_MONOTONIC: one clock for all)
        self.resumed = False

    def shown_through(self) -> int:
        end = 0
        while end + 1 in self.seqs:
            end += 1
        return end

    async def run(self, gate: asyncio.Semaphore, connected: asyncio.Event, counter: list[int], total: int) -> None:
        while True:
            try:
                async with gate:
                    ws = await self._join()
                counter[0] += 1
                if counter[0] == total:
                    connected.set()
                try:
                    async for raw in ws:
                        # Only messages matter here; presence events (a list of up to 100 people
                        # each, one per arrival) would make the load generator the bottleneck.
                        if MESSAGE_PREFIX in raw[:40]:
                            event = json.loads(raw)
                            if event["type"] == "message" and event.get("room") == ROOM:
                                self.seqs.add(event["seq"])
                finally:
                    await ws.close()
            except (OSError, TimeoutError, websockets.WebSocketException, KeyError, ValueError):
                await asyncio.sleep(random.uniform(*RETRY_SECS))
                continue
            await asyncio.sleep(random.uniform(*RECONNECT_JITTER_SECS))  # closed (1012): back soon

    async def _join(self):
        ws = await websockets.connect(self.url, origin=SITE_ORIGIN, ping_interval=None, max_queue=None,
                                      open_timeout=REPLY_TIMEOUT_SECS, compression=None)  # fmt: skip
        try:
            await _next(ws, "ready")
            await ws.send(json.dumps({"type": "auth", "token": self.token}))
            await _next(ws, "authenticated")
            join: dict = {"type": "join", "room": ROOM}
            shown = self.shown_through()
            if self.connects:
                join["after_seq"] = shown
            await ws.send(json.dumps(join))
            joined = await _next(ws, "joined")
        except BaseException:
            await ws.close()
            raise
        history = {event["seq"] for event in joined["history"]}
        if joined["resumed"]:
            self.seqs |= history
        else:
            self.seqs = history
        if self.connects:
            self.rejoined_at = time.monotonic()
            self.resumed = bool(joined["resumed"])
        self.connects += 1
        return ws


async def _next(ws, kind: str) -> dict:
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT_SECS))
        if event["type"] == kind:
            return event
        if event["type"] == "error":
            raise ValueError(f"error instead of {kind}: {event}")


async def _worker(url: str, tokens: list[str], commands, results) -> None:
    members = [Member(url, token) for token in tokens]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    connected, counter = asyncio.Event(), [0]
    tasks = [asyncio.ensure_future(member.run(gate, connected, counter, len(members))) for member in members]
    try:
        await asyncio.wait_for(connected.wait(), PHASE_TIMEOUT_SECS)
    except TimeoutError:
        pass
    results.put(("connected", counter[0]))
    while True:
        command, argument = await asyncio.to_thread(commands.get)
        if command == "exit":
            break
        deadline = time.monotonic() + PHASE_TIMEOUT_SECS
        if command == "have":  # every member shows seqs 1..argument
            while time.monotonic() < deadline and any(m.seqs != set(range(1, argument + 1)) for m in members):
                await asyncio.sleep(0.1)
            results.put(("have", sum(m.seqs == set(range(1, argument + 1)) for m in members)))
        elif command == "rejoined":  # every member re-joined since the restart
            while time.monotonic() < deadline and any(m.rejoined_at is None for m in members):
                await asyncio.sleep(0.1)
            times = [m.rejoined_at for m in members if m.rejoined_at is not None]
            results.put(("rejoined", (len(times), sum(m.resumed for m in members), max(times, default=None))))
    for task in tasks:
        task.cancel()


def worker_main(url: str, tokens: list[str], commands, results) -> None:
    asyncio.run(_worker(url, tokens, commands, results))


# --- The run ----------------------------------------------------------------------------------------


async def _post(url: str, token: str, first: int, count: int) -> None:
    """Post ``count`` messages (and wait for their acks) as a member of its own."""
    ws = await websockets.connect(url, origin=SITE_ORIGIN, ping_interval=None, open_timeout=REPLY_TIMEOUT_SECS)
    try:
        await _next(ws, "ready")
        await ws.send(json.dumps({"type": "auth", "token": token}))
        await _next(ws, "authenticated")
        await ws.send(json.dumps({"type": "join", "room": ROOM}))
        await _next(ws, "joined")
        for number in range(first, first + count):
            await ws.send(json.dumps({"type": "send", "room": ROOM, "text": f"m{number}", "client_id": f"m{number}"}))
            await _next(ws, "ack")
    finally:
        await ws.close()


def run_reconnect_storm(*, work_dir: Path, log_dir: Path, template_db: Path, members: int) -> ReconnectStormResult:
    work_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template_db, work_dir / "bench.sqlite3")
    env = ours_env(work_dir=work_dir, redis_url=None)  # one SECRET_KEY for both: tokens stay valid
    port = free_port()
    url, http = f"ws://127.0.0.1:{port}/ws/", f"http://127.0.0.1:{port}"
    server = start_daphne(port=port, env=env, log_path=log_dir / "reconnect-storm-ours-before.log",
                          timeout_secs=SERVER_START_TIMEOUT_SECS)  # fmt: skip
    context = multiprocessing.get_context("spawn")
    workers, queues, results = [], [], context.Queue()
    try:
        tokens = mint_token_pool(http, min(TOKEN_POOL_SIZE, members) + 1, threads=TOKEN_FETCH_THREADS)
        poster, tokens = tokens[0], tokens[1:]
        asyncio.run(_post(url, poster, 1, MESSAGES_BEFORE))
        shares = [[tokens[i % len(tokens)] for i in range(members) if i % CLIENT_PROCESSES == w]
                  for w in range(CLIENT_PROCESSES)]  # fmt: skip
        progress(f"bench reconnect-storm: connecting {members} members")
        for share in shares:
            commands = context.Queue()
            process = context.Process(target=worker_main, args=(url, share, commands, results), daemon=True)
            process.start()
            workers.append(process)
            queues.append(commands)

        def gather(kind: str) -> list:
            found = []
            while len(found) < len(workers):
                got_kind, value = results.get(timeout=PHASE_TIMEOUT_SECS + 30)
                assert got_kind == kind, (got_kind, kind)
                found.append(value)
            return found

        def tell(command: str, argument: int = 0) -> None:
            for commands in queues:
                commands.put((command, argument))

        connected_before = sum(gather("connected"))
        tell("have", MESSAGES_BEFORE)
        gather("have")
        progress(f"bench reconnect-storm: {connected_before} members joined; SIGTERM to the server")
        sigterm_at = time.monotonic()
        stop_process(server, what="daphne")
        stop_secs = time.monotonic() - sigterm_at
        wait_port_free(port, what="daphne")
        server = start_daphne(port=port, env=env, log_path=log_dir / "reconnect-storm-ours-after.log",
                              timeout_secs=SERVER_START_TIMEOUT_SECS)  # fmt: skip
        answering_at = time.monotonic()
        cpu_before = total_cpu_secs([server.pid])
        progress(f"bench reconnect-storm: the successor answers {answering_at - sigterm_at:.1f} s after SIGTERM")
        asyncio.run(_post(url, poster, MESSAGES_BEFORE + 1, MESSAGES_AFTER))
        tell("rejoined")
        rejoins = gather("rejoined")
        cpu = total_cpu_secs([server.pid]) - cpu_before
        rejoined = sum(count for count, _, _ in rejoins)
        resumed = sum(count for _, count, _ in rejoins)
        last = max((at for _, _, at in rejoins if at is not None), default=None)
        total = MESSAGES_BEFORE + MESSAGES_AFTER
        tell("have", total)
        complete = sum(gather("have"))
        tell("exit")
    finally:
        stop_process(server, what="daphne")
        for process in workers:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    all_back = rejoined == members and last is not None
    return ReconnectStormResult(
        members=members, connected_before=connected_before, rejoined=rejoined, resumed=resumed, complete=complete,
        expected_seqs=total, stop_secs=stop_secs,
        secs_from_sigterm=last - sigterm_at if all_back else None,
        secs_from_answering=last - answering_at if all_back else None,
        server_cpu_ms_per_rejoin=cpu * 1000 / rejoined if rejoined else None,
    )  # fmt: skip


def render(result: ReconnectStormResult) -> str:
    """The markdown section for results.md."""
    took = result.secs_from_sigterm
    ok = took is not None and took <= TARGET_SECS and result.resumed == result.members and result.lost == 0
    shown = "not all back" if took is None else f"{took:.1f} s"
    answering = "n/a" if result.secs_from_answering is None else f"{result.secs_from_answering:.1f} s"
    cpu = "n/a" if result.server_cpu_ms_per_rejoin is None else f"{result.server_cpu_ms_per_rejoin:.2f} ms"
    return "\n".join([
        "## Reconnect storm (SIGTERM restart, one process)",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        f"| {result.members:,} members re-joined and resumed within {TARGET_SECS:g} s of SIGTERM, nothing lost | "
        f"{shown} ({answering} after the successor answered; the old process took {result.stop_secs:.1f} s to "
        f"stop); {result.rejoined:,} re-joined, {result.resumed:,} resumed, {result.lost:,} missing a message of "
        f"{result.expected_seqs} | {'PASS' if ok else 'MISS'} |",
        "",
        f"Server CPU per re-join (connect + auth + resuming join; process CPU time): {cpu}.",
        "",
    ])  # fmt: skip


def as_json(result: ReconnectStormResult) -> dict:
    return {**asdict(result), "lost": result.lost, "target_secs": TARGET_SECS}
