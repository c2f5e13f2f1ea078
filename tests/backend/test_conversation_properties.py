"""Property: whatever the interleaving of sends (replies among them), edits, deletions, reactions,
dropped connections and rejoins, version-3 clients that follow the protocol (outboxes until
acked, resume with after_seq and after_rev, apply a message state only when its rev is not older)
end up showing exactly the database's current state of every message.

Runs against the real consumer (communicator, in-memory layer, test database), as
test_delivery_properties.py does for version 2."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backchannel.asgi import application
from chat.events import message_event_for
from chat.models import Message, Presence, Room
from chat.protocol import REACTION_EMOJI
from chat.runtime import reset_runtime
from tests.backend.sockets import token_for
from tests.selection import examples

ROOM = "prop3"
RECEIVE_TIMEOUT_SECS = 3
QUIET_SECS = 0.02
ACTIONS = ["send", "reply", "edit", "delete", "react", "resend", "drop", "reconnect", "drain"]
STEPS = st.lists(
    st.tuples(st.integers(min_value=0, max_value=2), st.sampled_from(ACTIONS), st.integers(0, 1000)),
    min_size=1,
    max_size=25,
)
# Refusals a change may meet in a fair run: someone else's message, a message deleted meanwhile.
EXPECTED_REFUSALS = {"not_author", "not_found"}


@dataclass
class ModelClient:
    number: int
    token: str
    visitor: str = ""
    shown: dict[int, dict] = field(default_factory=dict)  # seq -> the message's latest state seen
    rev: int = 0  # every change up to this rev is applied
    outbox: dict[str, dict] = field(default_factory=dict)  # client_id -> a frame, until answered
    count: int = 0
    socket: WebsocketCommunicator | None = None
    joined: bool = False

    async def connect(self) -> None:
        self.socket = WebsocketCommunicator(
            application, "/ws/?protocol=3", headers=[(b"origin", b"http://localhost:1313")]
        )
        assert (await self.socket.connect(timeout=RECEIVE_TIMEOUT_SECS))[0]
        assert (await self.socket.receive_json_from(timeout=RECEIVE_TIMEOUT_SECS))["protocol"] == 3
        await self.socket.send_json_to({"type": "auth", "token": self.token})
        self.visitor = (await self.socket.receive_json_from(timeout=RECEIVE_TIMEOUT_SECS))["visitor"]
        join = {"type": "join", "room": ROOM}
        if self.shown:
            join |= {"after_seq": max(self.shown), "first_seq": min(self.shown), "after_rev": self.rev}
        await self.socket.send_json_to(join)
        await self.receive_until(lambda: self.joined)
        for frame in list(self.outbox.values()):  # messages first, in the order written, then changes
            await self.socket.send_json_to(frame)
        await self.receive_until(lambda: not self.outbox)

    async def receive_until(self, done) -> None:
        while not done():
            self.apply(await self.socket.receive_json_from(timeout=RECEIVE_TIMEOUT_SECS))

    async def drop(self) -> None:
        self.joined = False
        if self.socket is not None:
            await self.socket.disconnect()
            self.socket = None

    async def queue(self, frame: dict) -> None:
        self.count += 1
        frame["client_id"] = f"c{self.number}-{self.count}"
        self.outbox[frame["client_id"]] = frame
        if self.socket is not None:
            await self.socket.send_json_to(frame)

    async def act(self, action: str, pick: int) -> None:
        live = sorted(seq for seq, message in self.shown.items() if not message["deleted"])
        mine = [seq for seq in live if self.shown[seq]["visitor"] == self.visitor]
        match action:
            case "send":
                await self.queue({"type": "send", "room": ROOM, "text": f"text {self.number}-{self.count}"})
            case "reply" if live:
                frame = {"type": "send", "room": ROOM, "text": f"reply {self.number}-{self.count}"}
                await self.queue(frame | {"reply_to": live[pick % len(live)]})
            case "edit" if live:
                # Mostly one's own messages; now and then someone else's (refused: not_author).
                seq = mine[pick % len(mine)] if mine and pick % 4 else live[pick % len(live)]
                await self.queue({"type": "edit", "room": ROOM, "seq": seq, "text": f"edit {pick}"})
            case "delete" if mine and pick % 3 == 0:
                await self.queue({"type": "delete", "room": ROOM, "seq": mine[pick % len(mine)]})
            case "react" if live:
                emoji = REACTION_EMOJI[pick % len(REACTION_EMOJI)]
                frame = {"type": "react", "room": ROOM, "seq": live[pick % len(live)], "emoji": emoji}
                await self.queue(frame | {"on": pick % 5 != 0})
            case "resend" if self.socket is not None and self.count:
                # The latest frame again, as a second tab or a replayed outbox would send it.
                last = f"c{self.number}-{self.count}"
                frame = self.outbox.get(last)
                if frame is not None:
                    await self.socket.send_json_to(frame)
            case "drop":
                await self.drop()
            case "reconnect":
                await self.drop()
                await self.connect()
            case "drain":
                await self.drain()

    async def drain(self) -> None:
        if self.socket is None:
            return
        while not await self.socket.receive_nothing(timeout=QUIET_SECS):
            self.apply(await self.socket.receive_json_from(timeout=RECEIVE_TIMEOUT_SECS))

    def show(self, message: dict) -> None:
        """A message's state, unless an as new or newer one is shown (duplicates, reordering)."""
        shown = self.shown.get(message["seq"])
        if shown is None or message["rev"] >= shown["rev"]:
            self.shown[message["seq"]] = message

    def apply(self, event: dict) -> None:
        match event["type"]:
            case "joined":
                self.joined = True
                if not event["resumed"]:
                    self.shown.clear()
                for message in [*event["history"], *event.get("changes", [])]:
                    self.show(message)
                self.rev = max(self.rev, event["latest_rev"])
            case "message":
                self.show(event)
            case "changed":
                self.show(event["message"])
                if event["rev"] <= self.rev + 1:  # a gap waits for the next resume to be filled
                    self.rev = max(self.rev, event["rev"])
            case "ack":
                self.outbox.pop(event["client_id"], None)
            case "error" if event.get("code") in EXPECTED_REFUSALS and event.get("client_id") in self.outbox:
                assert self.outbox.pop(event["client_id"])["type"] != "send" or event["code"] == "not_found"
            case "presence":
                pass
            case _:
                raise AssertionError(f"unexpected event {event}")


async def run_scenario(steps: list[tuple[int, str, int]]) -> tuple[list[ModelClient], dict[int, dict]]:
    clients = [ModelClient(number, token_for(f"c{number}")) for number in range(3)]
    for client in clients:
        await client.connect()
    for number, action, pick in steps:
        await clients[number].act(action, pick)
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
    current = await sync_to_async(
        lambda: {m.seq: message_event_for(m, 3) for m in Message.objects.filter(room__name=ROOM).select_related("room")}
    )()
    return clients, current


@pytest.fixture
def roomy_limits(settings):
    settings.BACKCHANNEL_MESSAGE_BURST = 10_000
    settings.BACKCHANNEL_FRAME_BURST = 10_000
    settings.BACKCHANNEL_DUPLICATE_WINDOW_SECS = 0


@pytest.mark.django_db(transaction=True)
@settings(max_examples=examples(6), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_every_version_3_client_ends_up_showing_the_current_state_of_every_message(roomy_limits, steps):
    Room.objects.all().delete()
    Presence.objects.all().delete()
    reset_runtime()
    async_to_sync(get_channel_layer().flush)()
    clients, current = async_to_sync(run_scenario)(steps)

    room = Room.objects.filter(name=ROOM).first()
    revs = sorted(room.changes.values_list("rev", flat=True)) if room else []
    assert revs == list(range(1, len(revs) + 1)), "the rev log has gaps"
    for client in clients:
        assert client.outbox == {}, f"client {client.number} still has unanswered frames"
        assert client.shown == current, f"client {client.number} shows something else than the database"
