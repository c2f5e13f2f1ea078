"""The Redis operations scenario of `make bench` (issue 19): two daphne processes over one private
redis-server, as a scaled-out deployment runs.

1. **Mass leave**: N members (2,000; 500 with --quick) in rooms of 10, spread over both processes,
   close their sockets at once. Each leave publishes a presence update; observers on the second
   process count the ones that land. Layer errors = pool errors in the servers' logs
   (``MaxConnectionsError`` and kin) + ``backchannel_layer_publish_errors_total`` from /metrics.
   Target: 0.
2. **Redis restart**: one member on each process; Redis is killed and started again on its port
   (empty). The figure is the time from Redis answering PING to the first live frame the second
   process's member receives, with the first member sending every 50 ms. Target: 2 s.

The same checks run smaller in tests/redis/test_pool_and_recovery.py (500 sockets, bound 5 s).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import websockets

from bench.config import SITE_ORIGIN
from bench.identity import mint_token
from bench.servers import SERVER_START_TIMEOUT_SECS, ours_env
from scripts.processes import free_port, kill_process, progress, start_daphne, start_redis, stop_process, wait_port_free

VISITORS_PER_ROOM = 10
ROOMS_PER_OBSERVER = 10  # MAX_ROOMS_PER_SOCKET
CONNECTS_IN_FLIGHT = 32
REPLY_TIMEOUT_SECS = 30.0
UPDATES_DEADLINE_SECS = 60.0
RECOVERY_TARGET_SECS = 2.0
RECOVERY_GIVE_UP_SECS = 45.0
REDIS_DOWN_SECS = 1.0
SEND_EVERY_SECS = 0.05
PUBLISH_ERRORS_METRIC = "backchannel_layer_publish_errors_total"
POOL_ERRORS = ("MaxConnectionsError", "Too many connections", "No connection available")


@dataclass
class RedisOpsResult:
    members: int
    presence_updates_expected: int
    presence_updates_landed: int
    landed_secs: float
    pool_errors_logged: int
    publish_errors: int
    recovery_secs: float | None  # None: no live frame within RECOVERY_GIVE_UP_SECS

    @property
    def layer_errors(self) -> int:
        return self.pool_errors_logged + self.publish_errors


async def _next_event(ws, kind: str, where=lambda event: True) -> dict:
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT_SECS))
        if event["type"] == kind and where(event):
            return event


async def _member(port: int, token: str, rooms: list[str]):
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/", origin=SITE_ORIGIN, ping_interval=None,
                                  max_queue=None, open_timeout=REPLY_TIMEOUT_SECS)  # fmt: skip
    await _next_event(ws, "ready")
    await ws.send(json.dumps({"type": "auth", "token": token}))
    await _next_event(ws, "authenticated")
    for room in rooms:
        await ws.send(json.dumps({"type": "join", "room": room}))
        await _next_event(ws, "joined", lambda event, room=room: event["room"] == room)
    return ws


def _metric(port: int, token: str, name: str) -> float:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise RuntimeError(f"/metrics on port {port} has no {name}")


async def _mass_leave(ports: list[int], tokens: list[str], members: int) -> tuple[int, int, float]:
    room_count = members // VISITORS_PER_ROOM
    rooms = [f"leave-{n}" for n in range(room_count)]
    observers = []
    for n, start in enumerate(range(0, room_count, ROOMS_PER_OBSERVER)):
        watched = rooms[start : start + ROOMS_PER_OBSERVER]
        observers.append(await _member(ports[1], tokens[VISITORS_PER_ROOM + n], watched))
    gate = asyncio.Semaphore(CONNECTS_IN_FLIGHT)

    async def one(index: int, room: str, token: str):
        async with gate:
            return await _member(ports[index % 2], token, [room])

    progress(f"bench redis-ops: connecting {members} members over 2 processes")
    crowd = await asyncio.gather(*(one(r * VISITORS_PER_ROOM + v, room, tokens[v])
                                   for r, room in enumerate(rooms) for v in range(VISITORS_PER_ROOM)))  # fmt: skip
    for observer in observers:  # what they were told of the arrivals
        while True:
            try:
                await asyncio.wait_for(observer.recv(), 1.0)
            except TimeoutError:
                break
    left: set[tuple[str, str]] = set()
    all_landed = asyncio.Event()

    async def watch(observer) -> None:
        while True:
            event = json.loads(await observer.recv())
            change = event.get("change") if event["type"] == "presence" else None
            if change and change["kind"] == "left":
                left.add((event["room"], change["person"]["visitor"]))
                if len(left) == members:
                    all_landed.set()

    watchers = [asyncio.ensure_future(watch(observer)) for observer in observers]
    progress(f"bench redis-ops: {members} members leave at once")
    started = time.monotonic()
    await asyncio.gather(*(ws.close() for ws in crowd))
    try:
        await asyncio.wait_for(all_landed.wait(), UPDATES_DEADLINE_SECS)
    except TimeoutError:
        pass
    landed_secs = time.monotonic() - started
    for watcher in watchers:
        watcher.cancel()
    for observer in observers:
        await observer.close()
    return members, len(left), landed_secs


async def _recovery(ports: list[int], tokens: list[str], restart) -> float | None:
    sender = await _member(ports[0], tokens[0], ["recovery"])
    listener = await _member(ports[1], tokens[1], ["recovery"])
    answering_at = await asyncio.to_thread(restart)
    heard = asyncio.ensure_future(_next_event(listener, "message"))
    number = 0
    while not heard.done() and time.monotonic() - answering_at < RECOVERY_GIVE_UP_SECS:
        number += 1
        await sender.send(json.dumps({"type": "send", "room": "recovery", "text": f"after {number}",
                                      "client_id": f"after-{number}"}))  # fmt: skip
        await asyncio.wait({heard}, timeout=SEND_EVERY_SECS)
    recovered = heard.done() and not heard.cancelled() and heard.exception() is None
    secs = time.monotonic() - answering_at if recovered else None
    heard.cancel()
    await sender.close()
    await listener.close()
    return secs


def run_redis_ops(*, work_dir: Path, log_dir: Path, template_db: Path, members: int) -> RedisOpsResult:
    work_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template_db, work_dir / "bench.sqlite3")
    redis_port = free_port()
    state = {"redis": start_redis(port=redis_port, data_dir=work_dir / "redis")}
    metrics_token = secrets.token_urlsafe(32)
    env = {**ours_env(work_dir=work_dir, redis_url=f"redis://127.0.0.1:{redis_port}/0"), "METRICS_TOKEN": metrics_token}
    daphnes, ports, logs = [], [], []
    try:
        for index in range(2):
            port, log_path = free_port(), log_dir / f"redis-ops-ours-p{index}.log"
            daphnes.append(start_daphne(port=port, env=env, log_path=log_path, timeout_secs=SERVER_START_TIMEOUT_SECS))
            ports.append(port)
            logs.append(log_path)
        http = f"http://127.0.0.1:{ports[0]}"
        observers = members // VISITORS_PER_ROOM // ROOMS_PER_OBSERVER + 1
        tokens = [mint_token(http, f"redis-ops-{n}") for n in range(VISITORS_PER_ROOM + observers)]
        expected, landed, landed_secs = asyncio.run(_mass_leave(ports, tokens, members))
        time.sleep(1.0)  # let the last publishes finish before counting
        pool_errors = sum(path.read_text(errors="replace").count(error) for path in logs for error in POOL_ERRORS)
        publish_errors = int(sum(_metric(port, metrics_token, PUBLISH_ERRORS_METRIC) for port in ports))

        def restart() -> float:
            progress("bench redis-ops: restarting redis-server")
            kill_process(state["redis"], what="redis-server")
            wait_port_free(redis_port, what="redis-server")
            time.sleep(REDIS_DOWN_SECS)
            state["redis"] = start_redis(port=redis_port, data_dir=work_dir / "redis")
            return time.monotonic()  # start_redis returns once it answers PING

        recovery_secs = asyncio.run(_recovery(ports, tokens, restart))
    finally:
        for daphne in daphnes:
            stop_process(daphne, what="daphne")
        stop_process(state["redis"], what="redis-server")
    return RedisOpsResult(members, expected, landed, landed_secs, pool_errors, publish_errors, recovery_secs)


def render(result: RedisOpsResult) -> str:
    """The markdown section for results.md."""
    errors_ok = result.layer_errors == 0 and result.presence_updates_landed == result.presence_updates_expected
    recovered = result.recovery_secs is not None and result.recovery_secs <= RECOVERY_TARGET_SECS
    shown = "never" if result.recovery_secs is None else f"{result.recovery_secs:.2f} s"
    return "\n".join([
        "## Redis operations (2 processes + Redis)",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        f"| no layer errors when {result.members:,} members leave at once | {result.layer_errors} layer errors "
        f"({result.pool_errors_logged} pool errors logged, {result.publish_errors} failed publishes); "
        f"{result.presence_updates_landed}/{result.presence_updates_expected} presence updates landed in "
        f"{result.landed_secs:.1f} s | {'PASS' if errors_ok else 'MISS'} |",
        f"| live delivery within {RECOVERY_TARGET_SECS:g} s of a restarted Redis answering | {shown} | "
        f"{'PASS' if recovered else 'MISS'} |",
        "",
    ])  # fmt: skip


def as_json(result: RedisOpsResult) -> dict:
    return {**asdict(result), "layer_errors": result.layer_errors, "recovery_target_secs": RECOVERY_TARGET_SECS}
