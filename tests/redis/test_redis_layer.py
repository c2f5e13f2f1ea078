"""The Redis channel layer with real parts: a private redis-server, real daphne processes,
real WebSocket clients on loopback."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets

from scripts.processes import backend_env, free_port, migrate, progress, start_daphne, start_redis, stop_process

SITE_ORIGIN = "http://127.0.0.1:1313"
# Longer than redis-py 8's default 5 s socket timeout and every platform's idle cut-off we know
# (Heroku: 55 s): an idle socket must still receive after this long.
IDLE_SECS = 120
REPLY_TIMEOUT_SECS = 5

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    try:
        port = free_port()
        process = start_redis(port=port, data_dir=tmp_path_factory.mktemp("redis"))
    except Exception as error:  # noqa: BLE001 - turned into a loud failure with the cause
        pytest.fail(str(error), pytrace=False)
    yield f"redis://127.0.0.1:{port}/0"
    stop_process(process, what="redis-server")


@pytest.fixture(scope="module")
def backends(redis_url, tmp_path_factory):
    """Two daphne processes sharing one Redis layer and one SQLite database."""
    data_dir = tmp_path_factory.mktemp("backend")
    env = backend_env({
        "SECRET_KEY": "redis-test-" + "k" * 50,
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_ORIGINS": SITE_ORIGIN,
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{data_dir / 'db.sqlite3'}",
    })
    migrate(env)
    ports = [free_port(), free_port()]
    processes = [start_daphne(port=port, env=env, log_path=data_dir / f"daphne-{port}.log") for port in ports]
    yield ports
    for process in processes:
        stop_process(process, what="daphne")


async def open_member(port: int, room: str, name: str):
    socket = await websockets.connect(f"ws://127.0.0.1:{port}/ws/", origin=SITE_ORIGIN)
    assert json.loads(await socket.recv())["type"] == "ready"
    await socket.send(json.dumps({"type": "join", "room": room, "name": name}))
    assert json.loads(await asyncio.wait_for(socket.recv(), REPLY_TIMEOUT_SECS))["type"] == "joined"
    return socket


async def next_message(socket) -> dict:
    while True:
        event = json.loads(await asyncio.wait_for(socket.recv(), REPLY_TIMEOUT_SECS))
        if event["type"] == "message":
            return event


def test_healthz_reaches_redis(backends):
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{backends[0]}/healthz") as response:
        assert json.load(response) == {"database": "ok", "channel_layer": "ok", "status": "ok"}


def test_a_message_crosses_backend_processes(backends):
    async def scenario():
        ann = await open_member(backends[0], "across", "Ann")
        bob = await open_member(backends[1], "across", "Bob")
        await ann.send(
            json.dumps({"type": "send", "room": "across", "text": "from process one", "client_id": "across-1"})
        )
        received = await next_message(bob)
        assert (received["author"], received["text"]) == ("Ann", "from process one")
        await ann.close()
        await bob.close()

    asyncio.run(scenario())


@pytest.mark.slow
def test_an_idle_socket_still_receives_after_two_minutes(backends):
    async def scenario():
        # websockets' own keepalive pings are off: the test is about the server side staying up
        # with nothing at all happening on the socket (daphne still pings on its own).
        listener = await websockets.connect(f"ws://127.0.0.1:{backends[0]}/ws/", origin=SITE_ORIGIN, ping_interval=None)
        assert json.loads(await listener.recv())["type"] == "ready"
        await listener.send(json.dumps({"type": "join", "room": "idle", "name": "Idle"}))
        assert json.loads(await listener.recv())["type"] == "joined"

        started = time.monotonic()
        while (idle := time.monotonic() - started) < IDLE_SECS:
            progress(f"idle socket test: {idle:.0f}/{IDLE_SECS} s")
            await asyncio.sleep(min(20, IDLE_SECS - idle))

        sender = await open_member(backends[0], "idle", "Sender")
        await sender.send(json.dumps({"type": "send", "room": "idle", "text": "still there?", "client_id": "idle-1"}))
        received = await next_message(listener)
        assert received["text"] == "still there?"
        # And the idle socket can still talk, not only listen.
        await listener.send(json.dumps({"type": "send", "room": "idle", "text": "yes", "client_id": "idle-2"}))
        assert [(await next_message(sender))["text"] for _ in range(2)] == ["still there?", "yes"]
        await listener.close()
        await sender.close()

    asyncio.run(scenario())
