"""Two daphne processes over one private redis-server, as production scales out.

- **A mass leave**: 500 sockets on one process close at once. Every disconnect publishes a
  presence update (and releases its address's socket count in Redis) at the same moment; redis-py's
  default pool of 100 raised ``MaxConnectionsError`` for the excess and those updates were lost.
  With the waiting pool (chat.redis_pool) nothing fails and every update reaches the members
  on the other process.
- **A Redis restart**: two members on the two processes; Redis is killed and started again on
  the same port (empty: every group forgotten). Live delivery must resume within seconds of
  Redis answering (the fan-out re-joins on reconnect), not at the 30 s membership renewal; the
  pooled connections the restart killed are retried, never surfaced as publish errors.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest
import websockets

from scripts.processes import (
    backend_env,
    free_port,
    kill_process,
    migrate,
    start_daphne,
    start_redis,
    stop_process,
    wait_port_free,
)
from tests.identity_client import TEST_IDENTITY_ENV, UNLIMITED_MESSAGES_ENV, enter_rooms, fetch_token, next_event

pytestmark = pytest.mark.redis

SITE_ORIGIN = "http://127.0.0.1:1313"
METRICS_TOKEN = "pool-and-recovery-" + "t" * 40
# 500 sockets leaving together: 50 rooms of 10 visitors, each socket the only one of its visitor in
# its room, so each leave is a presence update of its own (rooms stay under the people-list limit).
LEAVE_ROOMS = 50
VISITORS_PER_ROOM = 10
ROOMS_PER_OBSERVER = 10  # MAX_ROOMS_PER_SOCKET
CONNECTS_IN_FLIGHT = 32
UPDATES_DEADLINE_SECS = 20
# Live delivery after a Redis restart: the target is 2 s (`make bench` prints it against that);
# this bound leaves room for a loaded 2-core machine and is still far under the 30 s renewal.
RECOVERY_BOUND_SECS = 5.0
SEND_EVERY_SECS = 0.05
POOL_ERRORS = ("MaxConnectionsError", "Too many connections", "No connection available")


def layer_errors(port: int) -> float:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    request.add_header("Authorization", f"Bearer {METRICS_TOKEN}")
    with urllib.request.urlopen(request, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("backchannel_layer_publish_errors_total "):
                return float(line.split()[1])
    raise AssertionError("/metrics has no backchannel_layer_publish_errors_total")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("pool")
    redis_port = free_port()
    redis = start_redis(port=redis_port, data_dir=work_dir / "redis")
    env = backend_env({
        "SECRET_KEY": "pool-" + "k" * 50,
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_ORIGINS": SITE_ORIGIN,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "DATABASE_URL": f"sqlite:///{work_dir / 'db.sqlite3'}",
        "METRICS_TOKEN": METRICS_TOKEN,
        **TEST_IDENTITY_ENV,
        **UNLIMITED_MESSAGES_ENV,
    })  # fmt: skip
    migrate(env)
    ports = [free_port(), free_port()]
    logs = [work_dir / f"daphne-{port}.log" for port in ports]
    daphnes = []
    state = {"redis": redis}
    try:
        for port, log in zip(ports, logs, strict=True):
            daphnes.append(start_daphne(port=port, env=env, log_path=log))
        yield {"ports": ports, "logs": logs, "redis_port": redis_port, "work_dir": work_dir, "state": state}
    finally:
        for daphne in daphnes:
            stop_process(daphne, what="daphne")
        stop_process(state["redis"], what="redis-server")


async def mass_leave(ports: list[int]) -> dict:
    leaving_port, observing_port = ports
    tokens = [
        (await asyncio.to_thread(fetch_token, f"http://127.0.0.1:{leaving_port}", f"Leaver {n}"))["token"]
        for n in range(VISITORS_PER_ROOM)
    ]
    rooms = [f"leave-{n}" for n in range(LEAVE_ROOMS)]
    observers = [
        await enter_rooms(observing_port, f"Watcher {n}", rooms[start : start + ROOMS_PER_OBSERVER], origin=SITE_ORIGIN)
        for n, start in enumerate(range(0, LEAVE_ROOMS, ROOMS_PER_OBSERVER))
    ]
    gate = asyncio.Semaphore(CONNECTS_IN_FLIGHT)

    async def member(token: str, room: str):
        async with gate:
            ws = await websockets.connect(f"ws://127.0.0.1:{leaving_port}/ws/", origin=SITE_ORIGIN,
                                          ping_interval=None, max_queue=None)  # fmt: skip
            await next_event(ws, "ready")
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await next_event(ws, "authenticated")
            await ws.send(json.dumps({"type": "join", "room": room}))
            await next_event(ws, "joined")
            return ws

    crowd = await asyncio.gather(*(member(token, room) for room in rooms for token in tokens))
    # Drain what the observers were told of the arrivals.
    for observer in observers:
        while True:
            try:
                await asyncio.wait_for(observer.recv(), 1.0)
            except TimeoutError:
                break
    left: dict[str, set[str]] = {room: set() for room in rooms}
    expected = LEAVE_ROOMS * VISITORS_PER_ROOM
    all_landed = asyncio.Event()

    async def watch(observer) -> None:
        while True:
            event = json.loads(await observer.recv())
            change = event.get("change") if event["type"] == "presence" else None
            if change and change["kind"] == "left":
                left[event["room"]].add(change["person"]["visitor"])
                if sum(map(len, left.values())) == expected:
                    all_landed.set()

    started = time.monotonic()
    watchers = [asyncio.ensure_future(watch(observer)) for observer in observers]
    await asyncio.gather(*(ws.close() for ws in crowd))
    try:
        await asyncio.wait_for(all_landed.wait(), UPDATES_DEADLINE_SECS)
    except TimeoutError:
        pass
    landed_after_secs = time.monotonic() - started
    for watcher in watchers:
        watcher.cancel()
    for observer in observers:
        await observer.close()
    return {"updates": sum(map(len, left.values())), "expected": expected, "secs": landed_after_secs}


def test_a_mass_leave_loses_no_presence_update(cluster):
    ports = cluster["ports"]
    result = asyncio.run(mass_leave(ports))
    logs = [path.read_text(errors="replace") for path in cluster["logs"]]
    pool_errors = sum(log.count(error) for log in logs for error in POOL_ERRORS)
    publish_errors = sum(layer_errors(port) for port in ports)
    print(
        f"mass leave of {result['expected']} sockets: {result['updates']} presence updates landed in "
        f"{result['secs']:.1f} s; pool errors logged: {pool_errors}; layer publish errors: {publish_errors:.0f}"
    )
    assert pool_errors == 0, "\n".join(line for log in logs for line in log.splitlines() if "onnection" in line)[-3000:]
    assert publish_errors == 0
    assert result["updates"] == result["expected"]


async def first_live_frame_after_restart(ports: list[int], restart) -> dict:
    sender = await enter_rooms(ports[0], "Sender", ["recovery"], origin=SITE_ORIGIN)
    listener = await enter_rooms(ports[1], "Listener", ["recovery"], origin=SITE_ORIGIN)
    await sender.send(json.dumps({"type": "send", "room": "recovery", "text": "before", "client_id": "before"}))
    await next_event(listener, "message", lambda event: event["text"] == "before")

    answering_at = await asyncio.to_thread(restart)
    errors_at_restart = await asyncio.to_thread(lambda: sum(layer_errors(port) for port in ports))
    heard = asyncio.ensure_future(next_event(listener, "message", lambda event: event["text"].startswith("after")))
    number = 0
    while not heard.done():
        number += 1
        await sender.send(json.dumps({"type": "send", "room": "recovery", "text": f"after {number}",
                                      "client_id": f"after-{number}"}))  # fmt: skip
        await asyncio.wait({heard}, timeout=SEND_EVERY_SECS)
        if time.monotonic() - answering_at > 30:
            heard.cancel()
            break
    live_after_secs = time.monotonic() - answering_at if heard.done() and not heard.cancelled() else None
    # Then steady traffic: every message live, on connections the restart left stale in the pools.
    for extra in range(20):
        text = f"steady {extra}"
        send = {"type": "send", "room": "recovery", "text": text, "client_id": f"steady-{extra}"}
        await sender.send(json.dumps(send))
        await next_event(listener, "message", lambda event, text=text: event["text"] == text)
    errors_after = await asyncio.to_thread(lambda: sum(layer_errors(port) for port in ports))
    await sender.close()
    await listener.close()
    return {"secs": live_after_secs, "errors_since_restart": errors_after - errors_at_restart}


def test_live_delivery_resumes_within_seconds_of_a_redis_restart(cluster):
    state, port = cluster["state"], cluster["redis_port"]

    def restart() -> float:
        kill_process(state["redis"], what="redis-server")
        wait_port_free(port, what="redis-server")
        time.sleep(1.0)  # down for a moment: the processes notice
        state["redis"] = start_redis(port=port, data_dir=cluster["work_dir"] / "redis")
        return time.monotonic()  # start_redis returns once it answers PING

    result = asyncio.run(first_live_frame_after_restart(cluster["ports"], restart))
    shown = "never" if result["secs"] is None else f"{result['secs']:.2f} s"
    print(
        f"first live frame {shown} after Redis answered again (target 2 s, bound {RECOVERY_BOUND_SECS:g} s); "
        f"publish errors after it answered: {result['errors_since_restart']:.0f}"
    )
    assert result["secs"] is not None and result["secs"] <= RECOVERY_BOUND_SECS, shown
    assert result["errors_since_restart"] == 0, "stale pooled connections surfaced as publish errors"
