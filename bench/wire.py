"""How a benchmark member speaks to each server: open and join, frame a message, read a frame.

- "ours": protocol v2 (ARCHITECTURE.md): `ready`, `auth` -> `authenticated`, `join` ->
  `joined`; `send` with a unique `client_id`; `message` events carry `text`, `ack`/`error` go to
  the sender only; other events (`presence`, ...) are counted as nothing.
- "plain" (tutorial and bare): the tutorial's `{"message": text}` both ways; joined once open.

Every connection is loopback only, without compression (so each server pays for framing, not
zlib) and without client keepalive pings (daphne pings the clients; they answer).
"""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import ClientConnection, connect

from bench.config import SITE_ORIGIN

HANDSHAKE_STEP_TIMEOUT_SECS = 30.0
MAX_FRAME_BYTES = 1 << 20

# What read_frame makes of a frame: (kind, value, client_id)
MESSAGE = "message"
ACK = "ack"
ERROR = "error"
OTHER = "other"


class HandshakeFailed(Exception):
    """The server refused a step of the join (the message names the step and the answer)."""


def dialect_for(server_kind: str) -> str:
    return "ours" if server_kind == "ours" else "plain"


async def open_socket(url: str) -> ClientConnection:
    return await connect(
        url,
        origin=SITE_ORIGIN,  # ours refuses any other (HTTP 403); the baselines ignore it
        compression=None,
        ping_interval=None,
        proxy=None,  # never through a proxy from the environment: 127.0.0.1 only
        open_timeout=HANDSHAKE_STEP_TIMEOUT_SECS,
        close_timeout=1,
        max_size=MAX_FRAME_BYTES,
    )


async def _wait_for(ws: ClientConnection, wanted: str, step: str) -> dict:
    """The next event of type ``wanted``, skipping others (presence, ...); an error fails the step."""
    while True:
        raw = await asyncio.wait_for(ws.recv(), HANDSHAKE_STEP_TIMEOUT_SECS)
        event = json.loads(raw)
        if event.get("type") == wanted:
            return event
        if event.get("type") == "error":
            raise HandshakeFailed(f"{step}: error {event.get('code')}")


async def join(url: str, *, dialect: str, room: str, token: str | None) -> ClientConnection:
    """An open socket that is a member of ``room`` (authenticated and joined, for ours)."""
    ws = await open_socket(url)
    try:
        if dialect == "ours":
            await _wait_for(ws, "ready", "ready")
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await _wait_for(ws, "authenticated", "auth")
            await ws.send(json.dumps({"type": "join", "room": room}))
            await _wait_for(ws, "joined", "join")
    except BaseException:
        ws.transport.abort()
        raise
    return ws


def send_frame(dialect: str, *, room: str, text: str, client_id: str) -> str:
    if dialect == "ours":
        return json.dumps({"type": "send", "room": room, "text": text, "client_id": client_id})
    return json.dumps({"message": text})


def read_frame(dialect: str, raw: str | bytes) -> tuple[str, str | None, str | None]:
    """``(kind, value, client_id)``: MESSAGE and its text, ACK or ERROR (value = code), or OTHER."""
    try:
        event = json.loads(raw)
    except ValueError:
        return OTHER, None, None
    if not isinstance(event, dict):
        return OTHER, None, None
    if dialect != "ours":
        text = event.get("message")
        return (MESSAGE, text, None) if isinstance(text, str) else (OTHER, None, None)
    kind = event.get("type")
    if kind == "message":
        return MESSAGE, event.get("text"), event.get("client_id")
    if kind == "ack":
        return ACK, None, event.get("client_id")
    if kind == "error":
        return ERROR, str(event.get("code")), event.get("client_id")
    return OTHER, None, None
