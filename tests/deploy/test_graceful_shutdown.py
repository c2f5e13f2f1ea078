"""A deploy or a restart (SIGTERM) tells visitors to come back instead of cutting them off.

Real daphne (`python -m backchannel.serve`, the Procfile's command) with members in a room: on
SIGTERM each socket is closed with 1012 "service restart" (daphne alone drops them: 1006), the
consumers finish their leave (no one is left "online" in the database for 90 s), a message sent
just before the signal is stored, and the process exits promptly with status 0.
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
from tests.identity_client import TEST_IDENTITY_ENV, UNLIMITED_MESSAGES_ENV, enter_rooms

pytestmark = pytest.mark.deploy

SITE_ORIGIN = "http://127.0.0.1:1313"
ROOM = "lobby"
MEMBERS = ["Ada", "Ben", "Cy"]
SHUTDOWN_GRACE_SECS = 5
RECEIVE_TIMEOUT_SECS = 10
SERVICE_RESTART_CLOSE_CODE = 1012


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
