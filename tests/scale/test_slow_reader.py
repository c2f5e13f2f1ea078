"""A reader that cannot keep up (a phone on a bad link) must neither slow its room down nor make
the server hold an unbounded backlog for it: past SLOW_SOCKET_BUFFER_BYTES the server drops the
connection (backchannel.serve), and the reader comes back where it left off."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
import websockets

from scripts.processes import free_port, loopback_backend_env, migrate, start_daphne, stop_process
from tests.identity_client import fetch_token

pytestmark = pytest.mark.scale

SITE_ORIGIN = "http://127.0.0.1:1313"
SLOW_SOCKET_BUFFER_BYTES = 64 * 1024
MESSAGES = 1200
TEXT_CHARS = 1900  # near MAX_TEXT_CHARS: ~2.3 MB for the room in all, far past the budget
REPLY_TIMEOUT_SECS = 10
# The reader's kernel receive buffer: tiny, so the backlog builds up on the server's side.
SLOW_READER_RCVBUF_BYTES = 4096


@pytest.fixture(scope="module")
def backend_port(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("slow-reader")
    env = {
        **loopback_backend_env(SITE_ORIGIN, data_dir / "db.sqlite3"),
        "SLOW_SOCKET_BUFFER_BYTES": str(SLOW_SOCKET_BUFFER_BYTES),
    }
    migrate(env)
    port = free_port()
    process = start_daphne(port=port, env=env, log_path=data_dir / "daphne.log")
    yield port
    stop_process(process, what="daphne")


async def member(port: int, name: str, *, after_seq: int | None = None, **connect_options):
    identity = await asyncio.to_thread(fetch_token, f"http://127.0.0.1:{port}", name)
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/", origin=SITE_ORIGIN, **connect_options)
    await until(ws, "ready")
    await ws.send(json.dumps({"type": "auth", "token": identity["token"]}))
    await until(ws, "authenticated")
    join = {"type": "join", "room": "busy"} | ({"after_seq": after_seq} if after_seq is not None else {})
    await ws.send(json.dumps(join))
    ws.joined = await until(ws, "joined")
    return ws


async def until(ws, kind: str) -> dict:
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT_SECS))
        if event["type"] == kind:
            return event


def socket_with_small_receive_buffer(port: int) -> socket.socket:
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_READER_RCVBUF_BYTES)
    raw.connect(("127.0.0.1", port))
    return raw


async def scenario(port: int) -> dict:
    sender = await member(port, "Sender")
    reader = await member(port, "Reader")
    # websockets stops reading the socket once max_queue frames wait unread: with nobody calling
    # recv(), this visitor reads nothing more, like a stalled phone.
    slow = await member(port, "Slowpoke", sock=socket_with_small_receive_buffer(port), max_queue=1)

    started = time.monotonic()
    reader_latest = 0

    async def read_all() -> None:
        nonlocal reader_latest
        while reader_latest < MESSAGES:
            event = json.loads(await asyncio.wait_for(reader.recv(), REPLY_TIMEOUT_SECS))
            if event["type"] == "message":
                reader_latest = event["seq"]

    reading = asyncio.create_task(read_all())
    window = asyncio.Semaphore(16)

    async def acks() -> None:
        for _ in range(MESSAGES):
            await until(sender, "ack")
            window.release()

    acking = asyncio.create_task(acks())
    for number in range(MESSAGES):
        await window.acquire()
        text = f"{number:05d} " + "x" * (TEXT_CHARS - 6)
        await sender.send(json.dumps({"type": "send", "room": "busy", "text": text, "client_id": f"m{number}"}))
    await asyncio.wait_for(acking, 120)
    await asyncio.wait_for(reading, 60)
    room_secs = time.monotonic() - started

    # Now the slow reader reads what reached it: a part, then the end of its connection.
    shown = 0
    close_code = None
    try:
        while True:
            event = json.loads(await asyncio.wait_for(slow.recv(), REPLY_TIMEOUT_SECS))
            if event["type"] == "message":
                shown = event["seq"]
    except websockets.ConnectionClosed as closed:
        close_code = closed.rcvd.code if closed.rcvd else 1006
    except TimeoutError:
        close_code = None  # still open, silent: the server is holding its backlog

    # It comes back where it left off, as the widget does, and sees the room's latest seq.
    back = await member(port, "Slowpoke", after_seq=shown)
    for ws in (sender, reader, back):
        await ws.close()
    return {
        "room_secs": room_secs,
        "reader_latest": reader_latest,
        "slow_shown": shown,
        "close_code": close_code,
        "rejoined_latest_seq": back.joined["latest_seq"],
    }


def test_a_stalled_reader_is_dropped_and_the_room_goes_on(backend_port):
    result = asyncio.run(scenario(backend_port))
    assert result["reader_latest"] == MESSAGES, "the room's other members got everything"
    assert result["close_code"] == 1006, "the server dropped the stalled socket"
    assert 0 < result["slow_shown"] < MESSAGES, result
    assert result["rejoined_latest_seq"] == MESSAGES
