"""A test client for the chat socket: channels' WebsocketCommunicator on the real ASGI app (Origin
check included), the in-memory channel layer and the test database; no network.

Tokens are minted in-process with ``chat.identity.issue_token`` (the test SECRET_KEY), so a test
can be anyone, staff included, and can date a token in the past.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from backchannel.asgi import application
from chat.identity import Identity, issue_token, staff_visitor_id

SITE_ORIGIN = b"http://localhost:1313"
# Small timeouts keep the suite fast; the in-memory layer answers in microseconds.
REPLY_TIMEOUT_SECS = 3.0
SILENCE_TIMEOUT_SECS = 0.05

_client_ids = itertools.count(1)
_visitors = itertools.count(1)


def token_for(name: str = "Ann", *, visitor: str | None = None, staff: bool = False, age_secs: float = 0) -> str:
    """A token for ``name`` (its own visitor id unless one is given), issued ``age_secs`` ago."""
    identity = Identity(visitor=visitor or f"v{next(_visitors)}-{name.lower()}", name=name, staff=staff)
    return issue_token(identity, now=time.time() - age_secs)


def staff_token_for(name: str = "Mod", *, age_secs: float = 0) -> tuple[str, User]:
    """A staff token for a new staff user (a token alone does not make staff: the server checks the
    account behind it), and the user, for a test to demote."""
    user = User.objects.create_user(f"{name.lower()}-{next(_visitors)}", is_staff=True)
    identity = Identity(visitor=staff_visitor_id(user.pk), name=name, staff=True)
    return issue_token(identity, now=time.time() - age_secs), user


class Socket:
    """One WebSocket: send frames, read events in order, notice when the server closes it."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.ready: dict = {}
        self.me: dict = {}  # the `authenticated` event: name, visitor, staff

    async def send(self, **event: object) -> None:
        await self.communicator.send_json_to(event)

    async def send_raw(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.communicator.send_to(text_data=text_data, bytes_data=bytes_data)

    async def next(self) -> dict:
        """The next event; fails when none arrives in time or the socket is closed instead."""
        return await self.communicator.receive_json_from(timeout=REPLY_TIMEOUT_SECS)

    async def until(self, *kinds: str) -> list[dict]:
        """Every event up to and including the first of each wanted type (in arrival order). An
        unwanted `error` fails at once, with the error, rather than after a timeout."""
        events: list[dict] = []
        while not all(any(event["type"] == kind for event in events) for kind in kinds):
            events.append(await self.next())
            assert events[-1]["type"] != "error" or "error" in kinds, events[-1]
        return events

    async def expect(self, kind: str) -> dict:
        """The first event of ``kind``; events of other types before it are dropped."""
        return of_type(await self.until(kind), kind)[0]

    async def error(self) -> dict:
        event = await self.next()
        assert event["type"] == "error", event
        return event

    async def silent(self) -> bool:
        """True when nothing arrives for a moment."""
        return await self.communicator.receive_nothing(timeout=SILENCE_TIMEOUT_SECS)

    async def take(self, *kinds: str) -> list[dict]:
        """The next events, which must be of these types in this order (e.g. others' arrivals)."""
        events = [await self.next() for _ in kinds]
        assert [event["type"] for event in events] == list(kinds), events
        return events

    async def close_code(self) -> int:
        """The code the server closed the socket with (fails on a frame or a timeout instead)."""
        output = await self.communicator.receive_output(timeout=REPLY_TIMEOUT_SECS)
        assert output["type"] == "websocket.close", output
        return output.get("code", 1000)

    async def auth(self, token: str) -> dict:
        await self.send(type="auth", token=token)
        self.me = await self.next()
        assert self.me["type"] == "authenticated", self.me
        return self.me

    async def join(self, room: str, *, after_seq: int | None = None, arrives: bool = True, **fields: object) -> dict:
        """Join and return `joined`. ``arrives``: this visitor was not in the room yet, so the room
        (this socket included) is told so: that presence event is read here too. ``fields``:
        version 3's (after_rev, first_seq)."""
        event: dict[str, object] = {"type": "join", "room": room, **fields}
        if after_seq is not None:
            event["after_seq"] = after_seq
        await self.send(**event)
        joined = await self.next()
        assert joined["type"] == "joined", joined
        if arrives:
            presence = await self.next()
            assert presence["type"] == "presence" and presence["change"]["kind"] == "joined", presence
            assert presence["change"]["person"]["visitor"] == self.me["visitor"], presence
        return joined

    async def post(self, room: str, text: str, client_id: str | None = None) -> str:
        """Send a message; its client_id. The answers are left to the test."""
        client_id = client_id or f"c{next(_client_ids)}"
        await self.send(type="send", room=room, text=text, client_id=client_id)
        return client_id

    async def say(self, room: str, text: str) -> dict:
        """Send a message that must be accepted; the sender's own `message` event of it (other
        events that arrive meanwhile, e.g. others' messages, are dropped)."""
        client_id = await self.post(room, text)
        own, acked = None, False
        while own is None or not acked:
            event = await self.next()
            assert event["type"] != "error", event
            if event["type"] == "ack" and event["client_id"] == client_id:
                acked = True
            elif event["type"] == "message" and event["client_id"] == client_id:
                own = event
        return own


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [event for event in events if event["type"] == kind]


def communicator_for(
    *, ip: str | None = None, origin: bytes = SITE_ORIGIN, protocol: int | None = None
) -> WebsocketCommunicator:
    """``protocol``: the version to ask for (``/ws/?protocol=3``); None asks for none (version 2)."""
    path = "/ws/" if protocol is None else f"/ws/?protocol={protocol}"
    communicator = WebsocketCommunicator(application, path, headers=[(b"origin", origin)])
    if ip is not None:
        # daphne fills scope["client"]; the communicator does not. The app is created lazily, on
        # the first frame, so the scope can still be completed here.
        communicator.scope["client"] = [ip, 40000 + next(_client_ids)]
    return communicator


@asynccontextmanager
async def opened(*, ip: str | None = None, protocol: int | None = None) -> AsyncIterator[Socket]:
    """A socket after its handshake and `ready`, not authenticated."""
    socket = Socket(communicator_for(ip=ip, protocol=protocol))
    accepted, _ = await socket.communicator.connect(timeout=REPLY_TIMEOUT_SECS)
    assert accepted
    socket.ready = await socket.next()
    assert socket.ready["type"] == "ready", socket.ready
    try:
        yield socket
    finally:
        # A receive that timed out has already stopped the app; its own failure is the one to see.
        if not socket.communicator.future.done():
            await socket.communicator.disconnect()


@asynccontextmanager
async def connected(
    name: str = "Ann",
    *,
    token: str | None = None,
    staff: bool = False,
    ip: str | None = None,
    protocol: int | None = None,
) -> AsyncIterator[Socket]:
    """An authenticated socket, as ``name`` (a fresh visitor) or as the identity in ``token``."""
    if token is None:
        token = (await sync_to_async(staff_token_for)(name))[0] if staff else token_for(name)
    async with opened(ip=ip, protocol=protocol) as socket:
        await socket.auth(token)
        yield socket
