"""One channel-layer reader per process: every frame for local sockets arrives here once.

The Channels tutorial gives each socket its own layer channel in the room's group, so a room
message costs one layer delivery and one handler dispatch (with a worker-thread round trip) per
member; its CPU cost grows with the member count. Here a process joins each group once, for all
of its sockets in that group, reads each message once and hands the already-encoded frame to
every local member. Per member, what is left is writing the frame to the socket.

The fan-out keeps the layer's group memberships true to its local members and renews them every
``RENEW_INTERVAL_SECS``: channels-redis forgets groups after ``group_expiry`` and after a Redis
restart without persistence, without telling anyone. Members that missed frames meanwhile see a
higher ``latest_seq`` in their next ``pong`` and rejoin (ARCHITECTURE.md, delivery guarantees).

A Redis restart is also seen directly: the reader's blocking receive fails. From then on the
fan-out tries every ``RESUBSCRIBE_POLL_SECS`` to re-join all of its groups, and reads again, so
live delivery resumes within about that long of Redis answering (not at the next renewal, up to
30 s later; measured in tests/redis/test_redis_recovery.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from channels.layers import BaseChannelLayer

from chat import metrics, page_cache, sanction_cache
from chat.broadcast import ROOM_FRAME, LayerMessage

logger = logging.getLogger(__name__)

# The process's layer channel is named "fanout.…"; settings give "fanout.*" a deep queue
# (FANOUT_QUEUE_MESSAGES), because one channel carries all of a process's room traffic.
CHANNEL_PREFIX = "fanout"
RENEW_INTERVAL_SECS = 30.0
# While the layer is down: how often the reader tries again, and the group re-join is tried.
# Each try against a Redis that is down costs one refused connection; short enough that live
# delivery is back well within 2 s of Redis answering.
RECEIVE_RETRY_FIRST_SECS = 0.1
RECEIVE_RETRY_MAX_SECS = 0.5
RESUBSCRIBE_POLL_SECS = 0.25
ROOM_GROUP_PREFIX = "room."  # chat.rooms.group_name_for: the groups counted as joined rooms


class Member(Protocol):
    """A local socket: ``deliver`` and ``deliver_now`` must not raise and must not wait on the
    network. ``deliver_now`` writes without a coroutine when it can (True) or declines (False:
    the fan-out awaits ``deliver``); for a room frame to every member of a big room, the
    coroutines were a third of the process's cost per delivery."""

    socket_id: str

    def deliver_now(self, message: LayerMessage) -> bool: ...

    async def deliver(self, message: LayerMessage) -> None: ...


class Fanout:
    def __init__(self, layer: BaseChannelLayer, *, renew_interval_secs: float = RENEW_INTERVAL_SECS) -> None:
        self.layer = layer
        self.renew_interval_secs = renew_interval_secs
        self.members: dict[str, dict[str, Member]] = {}  # group -> socket id -> member
        self.joined: set[str] = set()  # groups the layer has our channel in
        self.channel: str | None = None
        self.lock = asyncio.Lock()  # one membership change at a time, so add/discard never reorder
        self.tasks: list[asyncio.Task] = []
        self.resubscribing: asyncio.Task | None = None  # re-joining every group after an outage
        self.resubscribe_wanted = False
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop it runs on, once started
        # In the `sanctions` group (chat.sanction_cache): this process hears of every sanction
        # written anywhere, so it may keep the ones in force. False while that is not sure.
        self.hears_sanctions = False

    # --- Membership ---------------------------------------------------------------------------

    async def subscribe(self, group: str, member: Member) -> None:
        if group not in self.members and group.startswith(ROOM_GROUP_PREFIX):
            metrics.joined_rooms.inc()
        self.members.setdefault(group, {})[member.socket_id] = member
        await self._sync(group)

    async def unsubscribe(self, group: str, member: Member) -> None:
        local = self.members.get(group)
        if local is not None:
            local.pop(member.socket_id, None)
            if not local:
                del self.members[group]
                if group.startswith(ROOM_GROUP_PREFIX):
                    metrics.joined_rooms.dec()
        await self._sync(group)

    def local_count(self, group: str) -> int:
        return len(self.members.get(group, ()))

    async def _sync(self, group: str) -> None:
        """Make the layer's view of ``group`` match whether we have local members in it."""
        async with self.lock:
            await self._start()
            wanted = group in self.members
            try:
                if wanted and group not in self.joined:
                    await self.layer.group_add(group, self.channel)
                    self.joined.add(group)
                elif not wanted and group in self.joined:
                    self.joined.discard(group)
                    await self.layer.group_discard(group, self.channel)
            except Exception:  # noqa: BLE001 - the renewal below retries; sockets stay open meanwhile
                logger.exception("updating the layer membership of %s failed; retrying in the next renewal", group)

    async def start(self) -> None:
        """Read the layer (and hear of sanctions) before any socket subscribes (the token endpoint)."""
        if self.channel is None:
            async with self.lock:
                await self._start()

    async def _start(self) -> None:
        if self.channel is not None:
            return
        self.loop = asyncio.get_running_loop()
        self.channel = await self.layer.new_channel(CHANNEL_PREFIX)
        listen = getattr(self.layer, "add_reconnect_listener", None)  # chat.redis_layer; not in memory
        if listen is not None:
            listen(self._resubscribe_when_back)
        self.tasks = [asyncio.create_task(self._read_forever()), asyncio.create_task(self._renew_forever())]
        try:
            await self._hear_sanctions()
        except Exception:  # noqa: BLE001 - nothing is cached until a renewal gets it in
            logger.exception("joining the layer group %s failed; retrying in the next renewal", sanction_cache.GROUP)

    async def _hear_sanctions(self) -> None:
        await self.layer.group_add(sanction_cache.GROUP, self.channel)
        if not self.hears_sanctions:
            self.hears_sanctions = True
            sanction_cache.listening(True)

    def _may_have_missed_sanctions(self) -> None:
        if self.hears_sanctions:
            self.hears_sanctions = False
            sanction_cache.listening(False)  # and forgets what it kept

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.renew_interval_secs)
            try:
                await self._rejoin_all()
            except Exception:  # noqa: BLE001 - the layer is down; try them all again next time
                logger.exception("renewing the layer memberships failed")

    async def _rejoin_all(self) -> None:
        """Add our channel to every group we have members in (raises on the first failure)."""
        async with self.lock:
            for group in list(self.members):
                await self.layer.group_add(group, self.channel)
                self.joined.add(group)
            await self._hear_sanctions()

    def _resubscribe_when_back(self) -> None:
        """The layer failed under the reader, or a connection to Redis was made again: a restarted
        Redis has forgotten every group. Re-join them as soon as it answers, in a task of its own
        (the reader keeps retrying meanwhile). A signal during a re-join makes it run once more:
        the Redis it re-joined on may be the one that just went away."""
        if asyncio.get_running_loop() is not self.loop:
            return  # a reconnect on another loop's pool (tests run several): that loop's fan-out sees it
        # Sanctions written meanwhile were announced to nobody here: forget them all, keep none
        # until the re-join below is through.
        self._may_have_missed_sanctions()
        self.resubscribe_wanted = True
        if self.resubscribing is None or self.resubscribing.done():
            self.resubscribing = asyncio.create_task(self._resubscribe_until_done())

    async def _resubscribe_until_done(self) -> None:
        started = time.monotonic()
        while self.resubscribe_wanted:
            self.resubscribe_wanted = False
            try:
                await self._rejoin_all()
            except Exception:  # noqa: BLE001 - still down: one refused connection, then wait
                self.resubscribe_wanted = True
                await asyncio.sleep(RESUBSCRIBE_POLL_SECS)
        metrics.layer_resubscribes.inc()
        logger.info("channel layer: re-joined %d groups in %.2f s", len(self.members), time.monotonic() - started)

    # --- Delivery -----------------------------------------------------------------------------

    async def _read_forever(self) -> None:
        retry_secs = RECEIVE_RETRY_FIRST_SECS
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except Exception:  # noqa: BLE001 - e.g. Redis restarting: wait and read again
                if retry_secs == RECEIVE_RETRY_FIRST_SECS:  # the first failure of an outage, in full
                    logger.exception("reading the channel layer failed; retrying every %.1f s", RECEIVE_RETRY_MAX_SECS)
                self._resubscribe_when_back()
                await asyncio.sleep(retry_secs)
                retry_secs = min(retry_secs * 2, RECEIVE_RETRY_MAX_SECS)
                continue
            retry_secs = RECEIVE_RETRY_FIRST_SECS
            await self.dispatch(message)

    async def dispatch(self, message: LayerMessage) -> None:
        """Hand one layer message to each local member of its group (but the one it skips)."""
        if message["type"] == sanction_cache.CHANGED:
            sanction_cache.clear()
            return
        if message["type"] == ROOM_FRAME and not message.get("log_unchanged"):
            page_cache.forget(message["group"])  # a post, change, deletion or prune in that room
        local = self.members.get(message["group"])
        if not local:
            return
        skip = message.get("skip_socket")
        # A copy: a member may leave (and change the dict) while the frame is being written.
        delivered = 0
        for socket_id, member in list(local.items()):
            if socket_id != skip:
                try:
                    if not member.deliver_now(message):
                        await member.deliver(message)
                    delivered += 1
                except Exception:  # noqa: BLE001 - one broken socket must not starve the rest
                    logger.exception("delivering to socket %s failed", socket_id)
        if message["type"] == ROOM_FRAME:
            metrics.deliveries.inc(delivered)

    def stop(self) -> None:
        self._may_have_missed_sanctions()
        if self.resubscribing is not None:
            self.tasks.append(self.resubscribing)
        for task in self.tasks:
            loop = task.get_loop()
            if not loop.is_closed():
                loop.call_soon_threadsafe(task.cancel)  # tests call this from outside the loop
        self.tasks = []
