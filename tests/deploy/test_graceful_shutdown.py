"""A deploy or a restart (SIGTERM) tells visitors to come back instead of cutting them off.

Real daphne (`python -m backchannel.serve`, the Procfile's command) with members in a room: on
SIGTERM each socket is closed with 1012 "service restart" (daphne alone drops them: 1006), the
consumers finish their leave (no one is left "online" in the database for 90 s), a message sent
just before the signal is stored, and the process exits promptly with status 0. With hundreds of
sockets in a room, every disconnect handler (presence leave, the room told) finishes within
SHUTDOWN_GRACE_SECS: daphne cancels none of them.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time

import pytest
import websockets

from scripts.processes import backend_env, free_port, migrate, start_daphne, stop_process
from tests.identity_client import TEST_IDENTITY_ENV, UNLIMITED_MESSAGES_ENV, enter_rooms, next_event

pytestmark = [pytest.mark.deploy, pytest.mark.live]

SITE_ORIGIN = "http://127.0.0.1:1313"
ROOM = "lobby"
MEMBERS = ["Ada", "Ben", "Cy"]
SHUTDOWN_GRACE_SECS = 5
RECEIVE_TIMEOUT_SECS = 10
SERVICE_RESTART_CLOSE_CODE = 1012
# Enough sockets that their disconnect handlers, run one after another, used to outlast the grace
# ("Killed 500 pending application instances"); a few seconds to connect on a loaded 2-core machine.
CROWD_SOCKETS = 400
CONNECTS_IN_FLIGHT = 32


async def close_code_after_sigterm(port: int, daphne) -> dict:
    members = [await enter_rooms(port, name, [ROOM], origin=SITE_ORIGIN) for name in MEMBERS]
    await members[0].send(json.dumps({"type": "send", "room": ROOM, "text": "last words", "client_id": "last-1"}))
    daphne.send_signal(signal.SIGTERM)
    signalled_at = time.monotonic()
    codes = []
    for ws in members:
        try:
            while True:  # the rest of the room's traffic, then the close
                await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS)
        except websockets.ConnectionClosed as closed:
            codes.append(closed.rcvd.code if closed.rcvd else 1006)
    return {"codes": codes, "closed_after_secs": time.monotonic() - signalled_at, "signalled_at": signalled_at}


def test_sigterm_closes_sockets_with_service_restart_and_lets_consumers_finish(tmp_path):
    database = tmp_path / "db.sqlite3"
    env = backend_env({
        "SECRET_KEY": "shutdown-" + "k" * 50,
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_ORIGINS": SITE_ORIGIN,
        "DATABASE_URL": f"sqlite:///{database}",
        "SHUTDOWN_GRACE_SECS": str(SHUTDOWN_GRACE_SECS),
        **TEST_IDENTITY_ENV,
        **UNLIMITED_MESSAGES_ENV,
    })  # fmt: skip
    migrate(env)
    port = free_port()
    log_path = tmp_path / "daphne.log"
    daphne = start_daphne(port=port, env=env, log_path=log_path)
    try:
        result = asyncio.run(close_code_after_sigterm(port, daphne))
        exit_status = daphne.wait(timeout=SHUTDOWN_GRACE_SECS + 10)
        exited_after_secs = time.monotonic() - result["signalled_at"]
    finally:
        stop_process(daphne, what="daphne")

    log = log_path.read_text(errors="replace")
    assert result["codes"] == [SERVICE_RESTART_CLOSE_CODE] * len(MEMBERS), log[-2000:]
    assert exit_status == 0, log[-2000:]
    assert exited_after_secs < SHUTDOWN_GRACE_SECS, f"exited {exited_after_secs:.1f} s after SIGTERM"
    assert "shutdown: closed 3 sockets with 1012" in log
    with sqlite3.connect(database) as db:
        online = db.execute("SELECT name FROM chat_presence WHERE room_name = ?", (ROOM,)).fetchall()
        stored = db.execute(
            "SELECT text FROM chat_message JOIN chat_room ON chat_room.id = room_id WHERE chat_room.name = ?", (ROOM,)
        ).fetchall()
    assert online == [], "every consumer finished its leave before the process exited"
    assert stored == [("last words",)]


async def crowd_then_sigterm(port: int, daphne, sockets: int) -> dict:
    """``sockets`` readers in one room (each with a presence row), then SIGTERM; every close code."""
    url = f"ws://127.0.0.1:{port}/ws/"
    gate = asyncio.Semaphore(CONNECTS_IN_FLIGHT)

    async def reader():
        async with gate:
            ws = await websockets.connect(url, origin=SITE_ORIGIN, ping_interval=None, max_queue=None)
            await next_event(ws, "ready")
            await ws.send(json.dumps({"type": "join", "room": ROOM}))
            await next_event(ws, "joined")
            return ws

    crowd = await asyncio.gather(*(reader() for _ in range(sockets)))
    daphne.send_signal(signal.SIGTERM)
    signalled_at = time.monotonic()

    async def close_code(ws) -> int:
        try:
            while True:
                await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_SECS)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else 1006

    codes = await asyncio.gather(*(close_code(ws) for ws in crowd))
    return {"codes": codes, "signalled_at": signalled_at}


def test_sigterm_with_hundreds_of_sockets_lets_every_disconnect_finish(tmp_path):
    database = tmp_path / "db.sqlite3"
    env = backend_env({
        "SECRET_KEY": "shutdown-" + "k" * 50,
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_ORIGINS": SITE_ORIGIN,
        "DATABASE_URL": f"sqlite:///{database}",
        "SHUTDOWN_GRACE_SECS": str(SHUTDOWN_GRACE_SECS),
        **TEST_IDENTITY_ENV,
        **UNLIMITED_MESSAGES_ENV,
    })  # fmt: skip
    migrate(env)
    port = free_port()
    log_path = tmp_path / "daphne.log"
    daphne = start_daphne(port=port, env=env, log_path=log_path)
    try:
        result = asyncio.run(crowd_then_sigterm(port, daphne, CROWD_SOCKETS))
        exit_status = daphne.wait(timeout=SHUTDOWN_GRACE_SECS + 10)
        exited_after_secs = time.monotonic() - result["signalled_at"]
    finally:
        stop_process(daphne, what="daphne")

    log = log_path.read_text(errors="replace")
    print(f"shutdown with {CROWD_SOCKETS} sockets: exited {exited_after_secs:.2f} s after SIGTERM")
    print("\n".join(line for line in log.splitlines() if "shutdown:" in line or "pending application" in line))
    assert result["codes"] == [SERVICE_RESTART_CLOSE_CODE] * CROWD_SOCKETS, log[-2000:]
    assert exit_status == 0, log[-2000:]
    assert "Killed 0 pending application instances" in log, "daphne cancelled disconnect handlers:\n" + log[-2000:]
    assert f"shutdown: closed {CROWD_SOCKETS} sockets with 1012" in log
    assert exited_after_secs < SHUTDOWN_GRACE_SECS + 2, f"exited {exited_after_secs:.1f} s after SIGTERM"
    with sqlite3.connect(database) as db:
        (online,) = db.execute("SELECT COUNT(*) FROM chat_presence").fetchone()
    assert online == 0, f"{online} sockets still 'online' after the process exited"
