"""The process's fan-out (chat.fanout): one layer channel and one layer read per message, however
many local sockets are in the room; memberships kept true through leaves and layer amnesia."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from channels.layers import InMemoryChannelLayer, get_channel_layer

from chat import sanction_cache
from chat.broadcast import LayerMessage, room_frame
from chat.fanout import Fanout
from chat.rooms import group_name_for
from chat.runtime import runtime
from tests.backend.sockets import connected

pytestmark = pytest.mark.asyncio

MEMBERS = 6


def layer_channels_in(group: str) -> list[str]:
    return list(get_channel_layer().groups.get(group, {}))


@pytest.mark.django_db(transaction=True)
async def test_a_room_message_is_read_from_the_layer_once_and_written_to_every_member(monkeypatch):
    layer = get_channel_layer()
    reads: list[str] = []
    real_receive = layer.receive

    async def counted_receive(channel: str) -> dict:
        message = await real_receive(channel)
        reads.append(message["type"])
        return message

    monkeypatch.setattr(layer, "receive", counted_receive)
    async with AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(connected(f"Member{number}")) for number in range(MEMBERS)]
        for socket in sockets:
            await socket.join("lobby")
        # However many sockets, the layer knows one member of the room's group: this process.
        assert len(layer_channels_in(group_name_for("lobby"))) == 1
        assert layer_channels_in(group_name_for("lobby"))[0].startswith("fanout.")
        for number, socket in enumerate(sockets):
            await socket.take(*["presence"] * (MEMBERS - 1 - number))  # the later arrivals
        reads.clear()

        sent = await sockets[0].say("lobby", "hello all")
        for socket in sockets[1:]:
            assert await socket.expect("message") == sent
        assert reads == ["room.frame"], "one layer read for the whole room"


@pytest.mark.django_db(transaction=True)
async def test_the_fanout_channel_gets_the_deep_queue_the_settings_give_it(settings):
    # A burst over the layer's default capacity (100) would be dropped without a word.
    async with connected("Ann") as ann:
        await ann.join("lobby")
        channel = runtime().loop().fanout.channel
        assert get_channel_layer().get_capacity(channel) == settings.FANOUT_QUEUE_MESSAGES > 100


@pytest.mark.django_db(transaction=True)
async def test_the_process_leaves_the_group_with_its_last_member():
    async with connected("Ann") as ann, connected("Bob") as bob:
        await ann.join("lobby")
        await bob.join("lobby")
        await ann.send(type="leave", room="lobby")
        await ann.expect("left")
        assert len(layer_channels_in(group_name_for("lobby"))) == 1, "Bob is still here"
        await bob.send(type="leave", room="lobby")
        await bob.expect("left")
        assert layer_channels_in(group_name_for("lobby")) == []
        assert runtime().loop().fanout.local_count(group_name_for("lobby")) == 0


# --- The fan-out on its own, with the in-memory layer and stand-in members ----------------------


class Recorder:
    """A stand-in socket that remembers the frames it was handed."""

    def __init__(self, socket_id: str, *, broken: bool = False, synchronous: bool = False) -> None:
        self.socket_id = socket_id
        self.frames: list[str] = []
        self.broken = broken
        self.synchronous = synchronous  # writes in deliver_now, as a consumer under our daphne does

    def deliver_now(self, message: LayerMessage) -> bool:
        if not self.synchronous:
            return False
        self.record(message)
        return True

    async def deliver(self, message: LayerMessage) -> None:
        assert not self.synchronous, "delivered twice: deliver_now had written it"
        self.record(message)

    def record(self, message: LayerMessage) -> None:
        if self.broken:
            raise ConnectionError("this socket's transport is gone")
        self.frames.append(message["frame"])


async def eventually(condition, timeout_secs: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_secs
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_failing_member_does_not_keep_the_frame_from_the_others():
    layer = InMemoryChannelLayer()
    fanout = Fanout(layer)
    members = [Recorder("a"), Recorder("b", broken=True), Recorder("c")]
    for member in members:
        await fanout.subscribe(group_name_for("lobby"), member)
    await layer.group_send(group_name_for("lobby"), room_frame("lobby", '{"type":"message"}'))
    await eventually(lambda: members[0].frames and members[2].frames)
    assert members[0].frames == members[2].frames == ['{"type":"message"}']
    fanout.stop()


async def test_members_that_write_at_once_and_members_that_await_each_get_every_frame_once_in_order():
    layer = InMemoryChannelLayer()
    fanout = Fanout(layer)
    members = [Recorder(f"m{number}", synchronous=number % 2 == 0, broken=number == 2) for number in range(6)]
    for member in members:
        await fanout.subscribe(group_name_for("lobby"), member)
    frames = [f'{{"type":"message","seq":{seq}}}' for seq in range(1, 4)]
    for frame in frames:
        await layer.group_send(group_name_for("lobby"), room_frame("lobby", frame))
    working = [member for member in members if not member.broken]
    await eventually(lambda: all(len(member.frames) == len(frames) for member in working))
    assert all(member.frames == frames for member in working)
    assert members[2].frames == []  # a broken socket that writes at once starves nobody either
    fanout.stop()


async def test_a_skipped_socket_gets_nothing_and_other_rooms_hear_nothing():
    layer = InMemoryChannelLayer()
    fanout = Fanout(layer)
    typist, reader, elsewhere = Recorder("typist"), Recorder("reader"), Recorder("elsewhere")
    await fanout.subscribe(group_name_for("lobby"), typist)
    await fanout.subscribe(group_name_for("lobby"), reader)
    await fanout.subscribe(group_name_for("garden"), elsewhere)
    await layer.group_send(group_name_for("lobby"), room_frame("lobby", "typing", skip_socket="typist"))
    await eventually(lambda: reader.frames)
    await asyncio.sleep(0.05)
    assert (typist.frames, reader.frames, elsewhere.frames) == ([], ["typing"], [])
    fanout.stop()


async def test_memberships_come_back_after_the_layer_forgot_them():
    # A Redis restart without persistence forgets every group and says nothing.
    layer = InMemoryChannelLayer()
    fanout = Fanout(layer, renew_interval_secs=0.05)
    member = Recorder("a")
    await fanout.subscribe(group_name_for("lobby"), member)
    await layer.flush()
    await asyncio.sleep(0.2)  # a few renewals
    await layer.group_send(group_name_for("lobby"), room_frame("lobby", "after the restart"))
    await eventually(lambda: member.frames)
    assert member.frames == ["after the restart"]
    fanout.stop()


async def test_reading_goes_on_after_the_layer_fails_for_a_while():
    layer = InMemoryChannelLayer()
    failures = 3
    real_receive = layer.receive

    async def flaky_receive(channel: str) -> dict:
        nonlocal failures
        if failures:
            failures -= 1
            raise ConnectionError("Redis is restarting")
        return await real_receive(channel)

    layer.receive = flaky_receive
    fanout = Fanout(layer)
    member = Recorder("a")
    await fanout.subscribe(group_name_for("lobby"), member)
    await layer.group_send(group_name_for("lobby"), room_frame("lobby", "still here"))
    await eventually(lambda: member.frames, timeout_secs=5)
    assert member.frames == ["still here"]
    fanout.stop()


async def test_racing_joins_and_leaves_leave_the_layer_in_step_with_the_members():
    layer = InMemoryChannelLayer()
    fanout = Fanout(layer)
    group = group_name_for("lobby")
    members = [Recorder(f"m{number}") for number in range(20)]

    async def come_and_go(member: Recorder, stays: bool) -> None:
        await fanout.subscribe(group, member)
        await asyncio.sleep(0)
        if not stays:
            await fanout.unsubscribe(group, member)

    await asyncio.gather(*(come_and_go(member, stays=False) for member in members))
    assert layer.groups.get(group, {}) == {}
    await asyncio.gather(*(come_and_go(member, stays=number == 7) for number, member in enumerate(members)))
    assert list(layer.groups[group]) == [fanout.channel]
    assert fanout.local_count(group) == 1
    fanout.stop()


def room_groups(layer: InMemoryChannelLayer) -> list[str]:
    """The layer's groups but the one every fan-out joins to hear of sanctions (chat.sanction_cache)."""
    return [group for group in layer.groups if group != sanction_cache.GROUP]


class ReconnectingLayer(InMemoryChannelLayer):
    """An in-memory layer that, like chat.redis_layer, tells listeners when it reconnected."""

    def __init__(self) -> None:
        super().__init__()
        self.reconnect_listeners = []

    def add_reconnect_listener(self, listener) -> None:
        self.reconnect_listeners.append(listener)

    def restart(self) -> None:
        """What a Redis restart without persistence looks like: groups gone, then a reconnect."""
        self.groups.clear()
        for listener in self.reconnect_listeners:
            listener()


async def test_a_reconnect_rejoins_every_group_at_once_not_at_the_renewal():
    layer = ReconnectingLayer()
    fanout = Fanout(layer, renew_interval_secs=3600)  # the renewal would never come in this test
    member = Recorder("a")
    await fanout.subscribe(group_name_for("lobby"), member)
    await fanout.subscribe(group_name_for("garden"), member)
    layer.restart()
    await eventually(lambda: len(room_groups(layer)) == 2, timeout_secs=1)
    await layer.group_send(group_name_for("garden"), room_frame("garden", "back"))
    await eventually(lambda: member.frames, timeout_secs=1)
    assert member.frames == ["back"]
    fanout.stop()


async def test_a_reconnect_during_a_rejoin_rejoins_once_more():
    layer = ReconnectingLayer()
    fanout = Fanout(layer, renew_interval_secs=3600)
    member = Recorder("a")
    await fanout.subscribe(group_name_for("lobby"), member)
    real_group_add = layer.group_add
    restarted_midway = False

    async def group_add_then_restart(group: str, channel: str) -> None:
        nonlocal restarted_midway
        await real_group_add(group, channel)
        if not restarted_midway:  # the Redis it just re-joined on goes away again
            restarted_midway = True
            layer.restart()

    layer.group_add = group_add_then_restart
    layer.restart()
    await eventually(lambda: restarted_midway and room_groups(layer), timeout_secs=1)
    assert room_groups(layer) == [group_name_for("lobby")]
    fanout.stop()
