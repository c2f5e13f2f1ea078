"""The Redis channel layer with real parts: a private redis-server, real daphne processes,
real WebSocket clients on loopback. Messages, presence and moderation cross processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest
import websockets

from scripts.processes import (
    BACKEND_DIR,
    backend_env,
    free_port,
    migrate,
    progress,
    start_daphne,
    stop_process,
)
from tests.identity_client import TEST_IDENTITY_ENV, fetch_token

SITE_ORIGIN = "http://127.0.0.1:1313"
# Longer than redis-py 8's default 5 s socket timeout and than two of the fan-out's 30 s group
# renewals: an idle socket must still receive after this long. (A platform router's idle cut-off,
# Heroku's 55 s, is the daphne ping's to prevent, not Redis's: tests/deploy covers it.)
IDLE_SECS = 65
REPLY_TIMEOUT_SECS = 5

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def backend_env_vars(redis_url, tmp_path_factory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("backend")
    env = backend_env(
        {
            "SECRET_KEY": "redis-test-" + "k" * 50,
            "SECURE_SSL_REDIRECT": "0",
            "ALLOWED_ORIGINS": SITE_ORIGIN,
            "REDIS_URL": redis_url,
            "DATABASE_URL": f"sqlite:///{data_dir / 'db.sqlite3'}",
            **TEST_IDENTITY_ENV,
        }
    )
    migrate(env)
    return env


@pytest.fixture(scope="module")
def backends(backend_env_vars, tmp_path_factory):
    """Two daphne processes sharing one Redis layer and one SQLite database."""
    log_dir = tmp_path_factory.mktemp("logs")
    ports = [free_port(), free_port()]
    processes = [
        start_daphne(port=port, env=backend_env_vars, log_path=log_dir / f"daphne-{port}.log") for port in ports
    ]
    yield ports
    for process in processes:
        stop_process(process, what="daphne")


async def open_member(port: int, room: str, name: str, **connect_options):
    """A visitor: a token over HTTP from that process, then auth and join on its socket."""
    identity = await asyncio.to_thread(fetch_token, f"http://127.0.0.1:{port}", name)
    socket = await websockets.connect(f"ws://127.0.0.1:{port}/ws/", origin=SITE_ORIGIN, **connect_options)
    assert json.loads(await socket.recv())["type"] == "ready"
    await socket.send(json.dumps({"type": "auth", "token": identity["token"]}))
    assert (await next_event(socket, "authenticated"))["name"] == name
    await socket.send(json.dumps({"type": "join", "room": room}))
    await next_event(socket, "joined")
    socket.visitor = identity["visitor"]
    return socket


async def next_event(socket, kind: str, *, where=lambda event: True) -> dict:
    """The next event of type ``kind`` (and matching ``where``), skipping others."""
    while True:
        event = json.loads(await asyncio.wait_for(socket.recv(), REPLY_TIMEOUT_SECS))
        if event["type"] == kind and where(event):
            return event


async def next_message(socket) -> dict:
    return await next_event(socket, "message")


def presence_change(event: dict) -> tuple[str, str] | None:
    change = event.get("change")
    return (change["kind"], change["person"]["name"]) if change else None


def run_moderation(env: dict[str, str], code: str) -> None:
    """Moderate from a third process (as the admin would on any backend process)."""
    script = f"from chat import moderation\nfrom chat.models import *\n{code}"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=BACKEND_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


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
        # The token must outlive the idle time: the default TTL is an hour.
        identity = fetch_token(f"http://127.0.0.1:{backends[0]}", "Idle")
        await listener.send(json.dumps({"type": "auth", "token": identity["token"]}))
        await next_event(listener, "authenticated")
        await listener.send(json.dumps({"type": "join", "room": "idle"}))
        await next_event(listener, "joined")

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


def test_presence_is_the_same_on_both_processes(backends):
    async def scenario():
        ann = await open_member(backends[0], "lounge", "Ann")
        bob = await open_member(backends[1], "lounge", "Bob")
        # Ann (process one) hears that Bob (process two) came in, with the whole list.
        arrival = await next_event(ann, "presence", where=lambda event: presence_change(event) == ("joined", "Bob"))
        assert [person["name"] for person in arrival["people"]] == ["Ann", "Bob"]
        assert arrival["online_count"] == 2

        # Typing crosses processes too, and is not echoed to the typist.
        await bob.send(json.dumps({"type": "typing", "room": "lounge"}))
        typing = await next_event(ann, "typing")
        assert (typing["name"], typing["visitor"]) == ("Bob", bob.visitor)

        await bob.close()
        departure = await next_event(ann, "presence", where=lambda event: presence_change(event) == ("left", "Bob"))
        assert [person["name"] for person in departure["people"]] == ["Ann"]
        await ann.close()

    asyncio.run(scenario())


def test_moderation_reaches_sockets_on_every_process(backends, backend_env_vars):
    async def scenario():
        ann = await open_member(backends[0], "moderated", "Ann")
        eve = await open_member(backends[1], "moderated", "Eve")
        await eve.send(json.dumps({"type": "send", "room": "moderated", "text": "spam spam", "client_id": "eve-1"}))
        spam = await next_message(ann)

        # Deleted by a third process: gone for Ann on process one.
        await asyncio.to_thread(
            run_moderation,
            backend_env_vars,
            "moderation.delete_message(message=Message.objects.get(client_id='eve-1'), by='mod')",
        )
        deleted = await next_event(ann, "deleted")
        assert deleted == {"type": "deleted", "room": "moderated", "seq": spam["seq"]}

        # Banned: Eve's socket on process two is told why and closed with 4003.
        await asyncio.to_thread(
            run_moderation,
            backend_env_vars,
            f"moderation.impose(kind=Sanction.Kind.BAN, visitor={eve.visitor!r}, reason='spam')",
        )
        notice = await next_event(eve, "moderated")
        assert (notice["action"], notice["reason"]) == ("banned", "spam")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(eve.recv(), REPLY_TIMEOUT_SECS)
        assert closed.value.rcvd.code == 4003

        # A locked room is read-only on every process.
        await asyncio.to_thread(
            run_moderation,
            backend_env_vars,
            "moderation.set_room_state(room=Room.objects.get(name='moderated'), locked=True, slow_mode_secs=0)",
        )
        state = await next_event(ann, "room_state")
        assert state["locked"] is True
        await ann.send(json.dumps({"type": "send", "room": "moderated", "text": "hello?", "client_id": "ann-1"}))
        assert (await next_event(ann, "error"))["code"] == "room_locked"
        await ann.close()

    asyncio.run(scenario())
