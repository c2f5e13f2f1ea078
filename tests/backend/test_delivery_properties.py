"""Property: whatever the interleaving of sends, dropped connections and rejoins, a client that
follows the protocol (outbox until acked, rejoin with after_seq, dedupe by seq) ends up showing
exactly the room log, every message once, in order, and the log holds each sent message once.

Runs against the real consumer (communicator, in-memory layer, test database)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backchannel.asgi import application
from chat.models import Message, Presence, Room
from chat.runtime import reset_runtime
from tests.backend.sockets import token_for
from tests.selection import examples

ROOM = "prop"
RECEIVE_TIMEOUT_SECS = 3
QUIET_SECS = 0.02
STEPS = st.lists(
    st.tuples(st.integers(min_value=0, max_value=2), st.sampled_from(["send", "resend", "drop", "reconnect", "drain"])),
    min_size=1,
    max_size=25,
)


@dataclass
class ModelClient:
    """The client side of the protocol, minimal: what the JS client and tests/chaos client do."""

    number: int
    token: str
    shown: dict[int, str] = field(default_factory=dict)  # seq -> client_id
    outbox: dict[str, str] = field(default_factory=dict)  # client_id -> text, until acked
    acked: set[str] = field(default_factory=set)
    sent_count: int = 0
    socket: WebsocketCommunicator | None = None
    joined: bool = False  # the current socket's `joined` has arrived

    async def connect(self) -> None:
        self.socket = WebsocketCommunicator(application, "/ws/", headers=[(b"origin", b"http://localhost:1313")])
        assert (await self.socket.connect(timeout=RECEIVE_TIMEOUT_SECS))[0]
        assert (await self.socket.receive_json_from(timeout=RECEIVE_TIMEOUT_SECS))["type"] == "ready"
        await self.socket.send_json_to({"type": "auth", "token": self.token})
        assert (await self.socket.receive_json_from(timeout=RECEIVE_TIMEOUT_SECS))["type"] == "authenticated"
        join = {"type": "join", "room": ROOM}
        if self.shown:
            join["after_seq"] = max(self.shown)
        await self.socket.send_json_to(join)
        # Wait for what the protocol promises rather than for a quiet moment, which a loaded
        # machine can fake: the `joined`, then the ack of every message of the outbox.
        await self.receive_until(lambda: self.joined)
        for client_id, text in list(self.outbox.items()):
            await self.socket.send_json_to({"type": "send", "room": ROOM, "text": text, "client_id": client_id})
        await self.receive_until(lambda: not self.outbox)

    async def receive_until(self, done) -> None:
        while not done():
            self.apply(await self.socket.receive_json_from(timeout=RECEIVE_TIMEOUT_SECS))

    async def drop(self) -> None:
        self.joined = False
        if self.socket is not None:
            # Whatever was in flight to this client is lost with the connection.
            await self.socket.disconnect()
            self.socket = None

    async def send(self) -> None:
        self.sent_count += 1
        client_id = f"c{self.number}-{self.sent_count}"
        self.outbox[client_id] = f"text {client_id}"
        if self.socket is not None:
            await self.socket.send_json_to(
                {"type": "send", "room": ROOM, "text": self.outbox[client_id], "client_id": client_id}
            )

    async def resend(self) -> None:
        """A duplicate of the latest message, as a second tab or a replayed outbox would send it."""
        if self.socket is not None and self.sent_count:
            client_id = f"c{self.number}-{self.sent_count}"
            await self.socket.send_json_to(
                {"type": "send", "room": ROOM, "text": f"text {client_id}", "client_id": client_id}
            )

    async def drain(self) -> None:
        if self.socket is None:
            return
        while not await self.socket.receive_nothing(timeout=QUIET_SECS):
            self.apply(await self.socket.receive_json_from(timeout=RECEIVE_TIMEOUT_SECS))

    def apply(self, event: dict) -> None:
        match event["type"]:
            case "joined":
                self.joined = True
                if not event["resumed"]:
                    self.shown.clear()
                for message in event["history"]:
                    self.shown[message["seq"]] = message["client_id"]
            case "message":
                # Before `joined` answers a re-join, a live message may come ahead of the history
                # that fills the seqs before it (the widget holds it, timeline.js): not a gap.
                gap = self.joined and bool(self.shown) and event["seq"] > max(self.shown) + 1
                self.shown[event["seq"]] = event["client_id"]
                if gap:
                    raise AssertionError("the in-memory layer never drops, so no gap is expected live")
            case "ack":
                self.outbox.pop(event["client_id"], None)
                self.acked.add(event["client_id"])
            case "presence":
                pass  # others come and go; not what this property is about
            case "error":
                raise AssertionError(f"unexpected error event {event}")
            case _:
                raise AssertionError(f"unexpected event {event}")


async def run_scenario(steps: list[tuple[int, str]]) -> tuple[list[ModelClient], list[tuple[int, str]]]:
    clients = [ModelClient(number, token_for(f"c{number}")) for number in range(3)]
    for client in clients:
        await client.connect()
    for number, action in steps:
        client = clients[number]
        match action:
            case "send":
                await client.send()
            case "resend":
                await client.resend()
            case "drop":
                await client.drop()
            case "reconnect":
                await client.drop()
                await client.connect()
            case "drain":
                await client.drain()
    # Recovery: everyone reconnects (resending its outbox), then everyone catches up once more.
    for client in clients:
        await client.drop()
        await client.connect()
    for client in clients:
        await client.drain()
        await client.drop()
        await client.connect()
        await client.drain()
        await client.drop()
    log = [
        (seq, client_id)
        async for seq, client_id in Message.objects.filter(room__name=ROOM)
        .order_by("seq")
        .values_list("seq", "client_id")
    ]
    return clients, log


@pytest.fixture
def roomy_limits(settings):
    """The property is about delivery, not abuse limits: a scenario may send and resend fast."""
    settings.BACKCHANNEL_MESSAGE_BURST = 10_000
    settings.BACKCHANNEL_FRAME_BURST = 10_000
    settings.BACKCHANNEL_DUPLICATE_WINDOW_SECS = 0


@pytest.mark.django_db(transaction=True)
@settings(max_examples=examples(12), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_every_client_ends_up_showing_exactly_the_log(roomy_limits, steps):
    # Examples share the database and the process: each starts from an empty log, no one online,
    # fresh limits and an empty channel layer. The layer matters: Hypothesis seeds `random` alike
    # for every example, so channel names repeat, and a name could inherit a queue left over from
    # a socket of an earlier example.
    Room.objects.all().delete()
    Presence.objects.all().delete()
    reset_runtime()
    async_to_sync(get_channel_layer().flush)()
    clients, log = async_to_sync(run_scenario)(steps)

    assert [seq for seq, _ in log] == list(range(1, len(log) + 1)), "the log has gaps"
    stored_ids = [client_id for _, client_id in log]
    assert len(stored_ids) == len(set(stored_ids)), "a message was stored twice"
    for client in clients:
        assert sorted(client.shown.items()) == log, f"client {client.number} shows something else than the log"
        assert client.outbox == {}, f"client {client.number} still has unacked messages"
        sent_ids = {f"c{client.number}-{n}" for n in range(1, client.sent_count + 1)}
        assert sent_ids <= set(stored_ids), "a sent message is missing from the log"
        assert sent_ids == client.acked
