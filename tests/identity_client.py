"""Getting identity tokens from a running backend the way the widget does (tests' own client).

``fetch_token`` asks for a challenge, solves the proof of work with ``chat.challenge.solve`` and
posts the name: the real HTTP path, so live-server tests exercise it. Live backends started by
tests use ``TEST_IDENTITY_ENV``: a cheap proof of work and a roomy token-request rate, because
one test machine plays many visitors from one address.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable

import websockets

from chat.challenge import solve
from scripts.processes import TEST_IDENTITY_ENV, UNLIMITED_MESSAGES_ENV  # noqa: F401 - re-exported for the tests


class IdentityRefused(Exception):
    def __init__(self, status: int, error: dict) -> None:
        super().__init__(f"HTTP {status}: {error}")
        self.status = status
        self.error = error


def post_json(url: str, body: dict, *, origin: str | None = None, timeout_secs: float = 10) -> dict:
    headers = {"Content-Type": "application/json"}
    if origin:
        headers["Origin"] = origin
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_secs) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise IdentityRefused(error.code, json.load(error).get("error", {})) from None


def fetch_token(backend_http_url: str, name: str, *, previous_token: str | None = None) -> dict:
    """``{token, name, visitor, staff, expires_in_secs}`` for a new visitor called ``name``."""
    base = backend_http_url.rstrip("/")
    with urllib.request.urlopen(f"{base}/api/identity/challenge/", timeout=10) as response:
        challenge = json.load(response)
    body = {
        "name": name,
        "challenge": challenge["challenge"],
        "nonce": solve(challenge["challenge"], challenge["difficulty_bits"]),
    }
    if previous_token:
        body["token"] = previous_token
    return post_json(f"{base}/api/identity/", body)


def fetch_staff_token(backend_http_url: str, username: str, password: str) -> dict:
    return post_json(
        f"{backend_http_url.rstrip('/')}/api/identity/staff/", {"username": username, "password": password}
    )


REPLY_TIMEOUT_SECS = 10


async def next_event(ws, kind: str, where: Callable[[dict], bool] = lambda event: True) -> dict:
    """The next server event of type ``kind`` (that ``where`` accepts), skipping the others."""
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT_SECS))
        if event["type"] == kind and where(event):
            return event


async def enter_rooms(port: int, name: str, rooms: list[str], *, origin: str):
    """A visitor on the live backend at 127.0.0.1:``port``: a token for ``name``, a socket from
    ``origin``, authenticated and joined to ``rooms``. Returns the open socket."""
    identity = await asyncio.to_thread(fetch_token, f"http://127.0.0.1:{port}", name)
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/", origin=origin)
    await next_event(ws, "ready")
    await ws.send(json.dumps({"type": "auth", "token": identity["token"]}))
    await next_event(ws, "authenticated")
    for room in rooms:
        await ws.send(json.dumps({"type": "join", "room": room}))
        await next_event(ws, "joined", lambda event, room=room: event.get("room") == room)
    return ws
