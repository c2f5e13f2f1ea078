"""The chat socket. Thin: it parses frames (protocol.py), enforces the per-socket limits, calls
services and selectors, and writes the frames the process's fan-out (fanout.py) hands it.
Rules live in those modules, not here."""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from typing import Literal

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import DatabaseError
from django.utils import timezone

from backchannel.websocket_limits import MAX_MESSAGE_BYTES
from chat import broadcast, changes, metrics, moderation, presence, sanction_cache, selectors, services
from chat.broadcast import LayerMessage, frame_for, publish, room_frame
from chat.conf import conf
from chat.db import db_call
from chat.events import (
    change_frames,
    changed_event_for,
    encode_json,
    encode_with_encoded,
    fit_encoded,
    message_event_for,
    message_frames,
    newest_that_fit,
    presence_dict,
    presence_event,
)
from chat.identity import (
    Identity,
    TokenError,
    VerifiedToken,
    issue_token,
    needs_refresh,
    verify_token,
    visitor_tag,
)
from chat.limits import socket_frame_bucket
from chat.models import Sanction
from chat.outbox import BOUNDED_WRITES_SCOPE_KEY, WRITE_TEXT_NOW_SCOPE_KEY, SocketOutbox
from chat.protocol import (
    Auth,
    CloseCode,
    Delete,
    Edit,
    ErrorCode,
    Join,
    JoinedEvent,
    Leave,
    Limits,
    LoadOlder,
    Ping,
    PongEvent,
    ProtocolError,
    React,
    Send,
    ServerEvent,
    Typing,
    encode_event,
    error_event,
    mute_state,
    negotiated_protocol,
    parse_client_event,
    ready_event,
)
from chat.rooms import group_name_for, ip_group_for, visitor_group_for
from chat.runtime import runtime

logger = logging.getLogger(__name__)

# How often one process sweeps presence rows left behind by dead processes (on some socket's ping).
PRESENCE_SWEEP_INTERVAL_SECS = 30.0
PresenceChange = tuple[Literal["joined", "left"], presence.Person]
STAFF_REVOKED_MESSAGE = "this account is no longer staff; sign in again"
# RFC 6455: the close a client reconnects after as usual (then without the refused token).
NORMAL_CLOSURE = 1000
# RFC 6455: "message too big", for a frame over MAX_MESSAGE_BYTES.
MESSAGE_TOO_BIG = 1009
# What the consumer hears when its socket is dropped as a slow reader (1006: no close was exchanged).
DROPPED_DISCONNECT = {"type": "websocket.disconnect", "code": 1006}


# Socket ids: this process's random tag and a count, unique across processes and restarts (the
# presence table holds every process's rows) without a uuid4 per socket (a getrandom call and a
# UUID object: a quarter of `connect`'s own CPU in a join storm).
_PROCESS_SOCKET_TAG = secrets.token_hex(8)
_socket_numbers = itertools.count(1)


def next_socket_id() -> str:
    return f"socket.{_PROCESS_SOCKET_TAG}.{next(_socket_numbers)}"


def over_message_limit(text_data: str | None, bytes_data: bytes | None) -> bool:
    if text_data is not None:  # a character is at most 4 bytes: most frames need no encoding to tell
        return len(text_data) * 4 > MAX_MESSAGE_BYTES and len(text_data.encode()) > MAX_MESSAGE_BYTES
    return len(bytes_data or b"") > MAX_MESSAGE_BYTES


class ChatConsumer(AsyncWebsocketConsumer):
    # No layer channel per socket: the process's fan-out reads the layer once for all of them
    # (chat.fanout), and __call__ below reads only the socket.
    channel_layer = None

    async def __call__(self, scope, receive, send) -> None:
        # On a server whose send waits for the peer (uvicorn, gunicorn's uvicorn workers), frames go
        # through a bounded queue of their own (chat.outbox), so no member ever waits for another;
        # our daphne launcher bounds each socket itself and is written to directly.
        self.outbox: SocketOutbox | None = None
        # Room frames written synchronously, when the server offers it (backchannel.serve).
        self.write_text_now: Callable[[str], bool] | None = scope.get(WRITE_TEXT_NOW_SCOPE_KEY)
        if not scope.get(BOUNDED_WRITES_SCOPE_KEY):
            self.outbox = SocketOutbox(send, limit_bytes=conf.SLOW_SOCKET_BUFFER_BYTES)
            # Set when the socket falls SLOW_SOCKET_BUFFER_BYTES behind its outbox (an Event and
            # its deque, ~1 KB: only the sockets with an outbox have one).
            self.dropped = asyncio.Event()
            receive = self.receive_unless_dropped(receive)
        # channels' AsyncConsumer.__call__ without its await_many_dispatch, which reads even one
        # source through a task of its own and asyncio.wait (a task, a future, a set and three
        # coroutine frames held per idle socket, and a task made per frame received).
        self.scope = scope
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    def receive_unless_dropped(self, receive):
        """``receive``, which answers a disconnect once the socket is dropped: the peer may never
        send another frame, and its consumer must still leave its rooms and end."""

        async def next_message() -> dict:
            if self.dropped.is_set():
                return DROPPED_DISCONNECT
            receiving = asyncio.ensure_future(receive())
            dropping = asyncio.ensure_future(self.dropped.wait())
            done, _ = await asyncio.wait({receiving, dropping}, return_when=asyncio.FIRST_COMPLETED)
            if receiving in done:
                dropping.cancel()
                return receiving.result()
            receiving.cancel()
            return DROPPED_DISCONNECT

        return next_message

    async def dispatch(self, message: dict) -> None:
        # channels runs close_old_connections in a worker thread before every handler: a thread
        # round trip per frame. Our handlers touch the database only through
        # chat.db.db_call, which drops broken connections itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for ASGI message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message: dict) -> None:
        # channels' own also runs close_old_connections on the database thread after every
        # disconnect: a trip per closing socket, in line behind every join and message (5,000
        # sockets closed by a restart waited ~9 s), which also closed the connection that thread
        # keeps (CONN_MAX_AGE is 0). Our database calls go through chat.db, which drops broken
        # connections itself. No groups to leave: consumers have no layer channel.
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def connect(self) -> None:
        metrics.open_sockets.inc()  # its disconnect always follows (channels calls it for every socket)
        self.socket_id = next_socket_id()  # presence rows and skip lists name sockets by it
        # Asked for in the URL (/ws/?protocol=3); without it today's version 2, exactly.
        self.protocol = negotiated_protocol(self.scope.get("query_string", b""))
        self.fanout = runtime().loop().fanout
        self.identity: Identity | None = None
        self.token: VerifiedToken | None = None
        self.joined_rooms: set[str] = set()
        self.limits = Limits(max_text_chars=conf.MAX_TEXT_CHARS, max_frame_bytes=conf.MAX_FRAME_BYTES)
        self.frames = socket_frame_bucket(self.scope)  # control frames count too (backchannel.serve)
        self.strikes = 0  # rate_limited refusals in a row
        self.last_typing: dict[str, float] = {}
        self.closing = False
        self.auth_timer: asyncio.Task | None = None
        self.staff_watch: asyncio.Task | None = None
        client = self.scope.get("client") or (None, None)
        self.ip: str | None = client[0]
        self.holds_socket_slot = False  # counted against its address (on every process with Redis)
        await self.accept()
        if self.ip is not None:
            tally = runtime().loop().socket_tally()
            self.holds_socket_slot = await tally.acquire(self.ip, limit=conf.MAX_SOCKETS_PER_IP)
            await self.fanout.subscribe(ip_group_for(self.ip), self)
            if not self.holds_socket_slot:
                message = f"at most {conf.MAX_SOCKETS_PER_IP} sockets per address"
                await self.refuse(ProtocolError(ErrorCode.TOO_MANY_SOCKETS, message), CloseCode.TOO_MANY_SOCKETS)
                return
            # This process's copy of the sanctions in force (chat.sanction_cache): the database
            # only when the address is not in it, or before refusing it.
            now = timezone.now()
            known, ban = sanction_cache.cached_address_ban(ip=self.ip, now=now)
            if not known or ban is not None:
                ban = await db_call(sanction_cache.address_ban)(ip=self.ip, now=now)
            if ban is not None:
                await self.refuse(ProtocolError(ErrorCode.BANNED, moderation.describe(ban)), CloseCode.BANNED)
                return
        await self.send_event(
            ready_event(
                max_text_chars=conf.MAX_TEXT_CHARS,
                max_rooms=conf.MAX_ROOMS_PER_SOCKET,
                history_limit=conf.HISTORY_LIMIT,
                resume_limit=conf.RESUME_LIMIT,
                auth_timeout_secs=conf.AUTH_TIMEOUT_SECS,
                typing_interval_secs=conf.TYPING_INTERVAL_SECS,
                protocol=self.protocol,
                edit_window_secs=conf.EDIT_WINDOW_SECS,
            )
        )
        self.start_auth_timer()

    def start_auth_timer(self) -> None:
        self.auth_timer = asyncio.create_task(self.close_unless_reading())

    async def close_unless_reading(self) -> None:
        """Close a socket that has neither authenticated nor a room to read at the deadline
        (``auth_timeout_secs`` after the handshake, or after a reader left its last room): a
        reader may stay without a name, an idle socket may not hold one of its address's slots."""
        await asyncio.sleep(conf.AUTH_TIMEOUT_SECS)
        if self.identity is None and not self.joined_rooms and not self.closing:
            message = f"send 'auth' or 'join' within {conf.AUTH_TIMEOUT_SECS:g} s"
            await self.refuse(ProtocolError(ErrorCode.AUTH_TIMEOUT, message), CloseCode.AUTH_TIMEOUT)

    async def disconnect(self, code: int) -> None:
        metrics.open_sockets.dec()
        self.closing = True
        if self.outbox is not None:
            self.outbox.stop()  # the peer is gone: what is queued for it is moot
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        if self.staff_watch is not None:
            self.staff_watch.cancel()
        if self.ip is not None:
            if self.holds_socket_slot:
                self.holds_socket_slot = False
                await runtime().loop().socket_tally().release(self.ip)
            await self.fanout.unsubscribe(ip_group_for(self.ip), self)
        if self.identity is not None:
            await self.fanout.unsubscribe(visitor_group_for(self.identity.visitor), self)
        for room in self.joined_rooms:
            await self.fanout.unsubscribe(group_name_for(room), self)
        if self.joined_rooms and not runtime().left_together:  # on shutdown, chat.shutdown did it
            departures = await db_call(presence.leave_all)(channel_name=self.socket_id)
            for departure in departures:
                await self.announce_departure(departure)
        self.joined_rooms.clear()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return  # frames that were in flight when we decided to close
        if over_message_limit(text_data, bytes_data):
            # Over what any of our launchers accepts (daphne drops such a frame before it reaches
            # us; uvicorn takes up to its --ws-max-size): close at once, as daphne would.
            self.closing = True
            await self.close(MESSAGE_TOO_BIG)
            return
        try:
            wait = self.frames.take(time.monotonic())
            if wait:
                metrics.rate_limit_refusals.labels("frames").inc()
                raise ProtocolError(ErrorCode.RATE_LIMITED, "too many frames; slow down", retry_after_secs=wait)
            event = parse_client_event(text_data, bytes_data, self.limits, self.protocol)
            # Before `auth` a socket may read (join, leave, load_older, ping): ARCHITECTURE.md
            # "Reading without a name". Writing needs a name: post and typing require one.
            match event:
                case Auth():
                    await self.authenticate(event)
                case Join():
                    await self.join(event)
                case Leave():
                    await self.leave(event)
                case Send():
                    await self.post(event)
                case Typing():
                    await self.typing(event)
                case LoadOlder():
                    await self.load_older(event)
                case Ping():
                    await self.pong()
                case Edit():
                    await self.edit(event)
                case Delete():
                    await self.delete(event)
                case React():
                    await self.react(event)
                case _:  # parse_client_event returns only the types above
                    raise AssertionError(f"unhandled client event {event!r}")
            self.strikes = 0
        except DatabaseError:
            logger.exception("a database error while handling a frame")
            await self.send_event(
                error_event(ProtocolError(ErrorCode.SERVER_ERROR, "the server could not do that now; try again"))
            )
        except ProtocolError as error:
            await self.send_event(error_event(error))
            if error.code == ErrorCode.RATE_LIMITED:
                self.strikes += 1
                if self.strikes >= conf.FLOOD_STRIKES:
                    self.closing = True
                    await self.close(CloseCode.FLOODING)
            elif error.code == ErrorCode.BANNED:
                self.closing = True
                await self.close(CloseCode.BANNED)

    async def authenticate(self, event: Auth) -> None:
        if self.identity is not None:
            raise ProtocolError(ErrorCode.ALREADY_AUTHENTICATED, "this socket is already authenticated")
        try:
            token = verify_token(event.token, now=time.time(), max_age_secs=conf.TOKEN_TTL_SECS)
        except TokenError as error:
            raise ProtocolError(ErrorCode(error.problem), error.message) from None
        if token.identity.staff and not await db_call(selectors.is_staff_account)(visitor=token.identity.visitor):
            raise ProtocolError(ErrorCode.BAD_TOKEN, STAFF_REVOKED_MESSAGE)
        now = timezone.now()
        in_force = sanction_cache.cached_in_force(visitor=token.identity.visitor, ip=self.ip, now=now)
        if in_force is None or in_force:  # not in the copy, or a ban or mute: the database says
            in_force = await db_call(sanction_cache.read_in_force)(visitor=token.identity.visitor, ip=self.ip, now=now)
        if Sanction.Kind.BAN in in_force:
            raise ProtocolError(ErrorCode.BANNED, moderation.describe(in_force[Sanction.Kind.BAN]))
        mute = in_force.get(Sanction.Kind.MUTE)
        self.identity, self.token = token.identity, token
        if self.identity.staff:
            self.staff_watch = asyncio.create_task(self.watch_staff_account())
        if self.auth_timer is not None:
            self.auth_timer.cancel()
            self.auth_timer = None  # a cancelled task keeps its exception, traceback and frames
        await self.fanout.subscribe(visitor_group_for(self.identity.visitor), self)
        await self.send_event(
            {
                "type": "authenticated",
                "name": self.identity.name,
                "visitor": self.identity.visitor,
                "staff": self.identity.staff,
                "tag": visitor_tag(self.identity.visitor),
                # A reloaded page learns of its mute before the visitor writes (null: not muted).
                "muted": None if mute is None else mute_state(reason=mute.reason, until=mute.until),
            }
        )
        await self.refresh_token_if_due()
        # A reader who picked a name: from now on a person in every room it reads, announced as if
        # it had joined them just now.
        for room in sorted(self.joined_rooms):
            await self.enter_presence(room)

    async def refresh_token_if_due(self) -> None:
        now = time.time()
        if self.token is None or not needs_refresh(self.token, now=now, ttl_secs=conf.TOKEN_TTL_SECS):
            return
        if self.token.identity.staff and not await self.staff_account_holds():
            return  # a demoted account gets no fresh staff token
        self.token = VerifiedToken(self.token.identity, int(now))
        await self.send_event(
            {
                "type": "token",
                "token": issue_token(self.token.identity, now=now),
                "expires_in_secs": conf.TOKEN_TTL_SECS,
            }
        )

    async def watch_staff_account(self) -> None:
        """Re-check a staff socket's account every STAFF_RECHECK_SECS: a token proves a sign-in,
        and an account demoted (or deactivated, or deleted) since must not keep staff powers on
        a socket that stays open for hours, nor whatever the client does (it may never ping)."""
        while not self.closing:
            await asyncio.sleep(conf.STAFF_RECHECK_SECS)
            try:
                if not await self.staff_account_holds():
                    return
            except DatabaseError:  # the next round tries again
                logger.exception("checking staff account %s failed", self.identity.visitor if self.identity else "?")

    async def staff_account_holds(self) -> bool:
        """False, after telling the client (bad_token) and closing the socket, when the account
        behind this staff identity is no longer active staff. The client signs in again."""
        if self.identity is None or await db_call(selectors.is_staff_account)(visitor=self.identity.visitor):
            return True
        if not self.closing:
            logger.info("closing a socket of %s: the account is no longer staff", self.identity.visitor)
            await self.refuse(ProtocolError(ErrorCode.BAD_TOKEN, STAFF_REVOKED_MESSAGE), NORMAL_CLOSURE)
        return False

    async def join(self, event: Join) -> None:
        started = time.perf_counter()  # join latency: until `joined` is written (metrics.join_seconds)
        if event.room not in self.joined_rooms and len(self.joined_rooms) >= conf.MAX_ROOMS_PER_SOCKET:
            raise ProtocolError(
                ErrorCode.TOO_MANY_ROOMS, f"one socket joins at most {conf.MAX_ROOMS_PER_SOCKET} rooms", event.room
            )
        # Subscribe before reading the log: a message posted in between arrives live (and may
        # also be in the history; clients drop the repeat by seq) rather than not at all.
        await self.fanout.subscribe(group_name_for(event.room), self)
        fresh = event.room not in self.joined_rooms  # no presence row of this socket there yet
        self.joined_rooms.add(event.room)
        # One trip to the database thread, shared with the joins that queued meanwhile
        # (chat.join_batch): the presence row, then what `joined` shows (its presence snapshot
        # includes this socket).
        batcher = runtime().loop().join_batcher
        arrived, view = await batcher.enter_and_view(
            room_name=event.room,
            channel_name=self.socket_id,
            identity=self.identity,
            now=timezone.now(),
            ip=self.ip,
            fresh=fresh,
            after_seq=event.after_seq,
            history_limit=conf.HISTORY_LIMIT,
            resume_limit=conf.RESUME_LIMIT,
            presence_list_limit=conf.PRESENCE_LIST_LIMIT,
            protocol=self.protocol,
            after_rev=event.after_rev,
            first_seq=event.first_seq,
        )
        runtime().presence.online_counts[event.room] = view.presence.online_count
        entry = view.catch_up.page_entry  # the room's latest page, shared by this process's joins
        history_json: str | None  # `history` as the frame carries it, when encoded already
        if entry is not None:
            fitted = entry.events.get(self.protocol)
            if fitted is None:
                page = [message_event_for(message, self.protocol) for message in view.catch_up.messages]
                kept, cut, kept_json = fit_encoded(page, conf.PAGE_BUDGET_BYTES)
                fitted = entry.events[self.protocol] = kept, cut
                entry.events_json[self.protocol] = kept_json if kept_json is not None else encode_json(kept)
            messages, repairs, changed = [], [], []
            history, trimmed = fitted
            history_json = entry.events_json[self.protocol]  # once per page, not per join
        else:
            messages = [message_event_for(message, self.protocol) for message in view.catch_up.messages]
            # Version 2: tombstones before after_seq, first in history; version 3: the messages
            # the client shows that changed since its after_rev, in `changes`.
            repairs = [message_event_for(message) for message in view.catch_up.repairs]
            changed = [message_event_for(message, 3) for message in view.catch_up.changes]  # version 3 only
            history, trimmed, history_json = fit_encoded(changed + repairs + messages, conf.PAGE_BUDGET_BYTES)
        if trimmed and (repairs or changed):
            # Tombstones and changes before after_seq belong only in a resume; a page cut short
            # is a new view.
            history, _ = newest_that_fit(messages, conf.PAGE_BUDGET_BYTES)
            history_json = None
        elif changed:
            history = history[len(changed) :]
            history_json = None
        # A resume too big for one frame becomes the latest page that fits: the client replaces
        # its view (deleted messages and all) and can load older pages, as when the gap is over
        # resume_limit.
        resumed = view.catch_up.resumed and not trimmed
        joined: JoinedEvent = {
            "type": "joined",
            "room": event.room,
            "latest_seq": view.catch_up.latest_seq,
            "resumed": resumed,
            "history": history,
            "has_older": view.catch_up.has_older or trimmed,
            "locked": view.locked,
            "slow_mode_secs": view.slow_mode_secs,
            "presence": presence_dict(view.presence),
        }
        if self.protocol >= 3:
            joined["latest_rev"] = view.catch_up.latest_rev
            if resumed:
                joined["changes"] = changed
        if history_json is None:
            await self.send_event(joined)
        else:
            rest = {key: value for key, value in joined.items() if key != "history"}
            await self.write(encode_with_encoded(rest, "history", history_json))
        metrics.join_seconds.observe(time.perf_counter() - started)
        if arrived:  # announced with the snapshot `joined` carries, read after this socket's row
            await self.announce_presence(event.room, self.arrival(), snapshot=view.presence)

    async def enter_presence(self, room: str) -> None:
        """The authenticated socket's row in ``room`` (its reader's row until now) names it."""
        arrived = await db_call(presence.enter)(
            room=room, channel_name=self.socket_id, identity=self.identity, now=timezone.now(), ip=self.ip
        )
        # Not an arrival (the person reads there in another tab too): one reader fewer all the same.
        await self.announce_presence(room, self.arrival() if arrived else None)

    def arrival(self) -> PresenceChange | None:
        """This socket's arrival, as a presence change; None for a reader (nobody the room lists)."""
        if self.identity is None:
            return None
        return "joined", presence.Person(self.identity.visitor, self.identity.name, self.identity.staff)

    async def leave(self, event: Leave) -> None:
        self.require_joined(event.room)
        await self.fanout.unsubscribe(group_name_for(event.room), self)
        self.joined_rooms.discard(event.room)
        await self.send_event({"type": "left", "room": event.room})
        if self.identity is None and not self.joined_rooms and (self.auth_timer is None or self.auth_timer.done()):
            # A reader that reads nothing any more is an idle socket again: it gets the same deadline.
            self.start_auth_timer()
        departure = await db_call(presence.leave)(room=event.room, channel_name=self.socket_id)
        if departure is not None:
            await self.announce_departure(departure)

    async def announce_departure(self, departure: presence.Departure) -> None:
        change: PresenceChange | None = None if departure.person is None else ("left", departure.person)
        await self.announce_presence(departure.room, change)

    async def announce_presence(
        self, room: str, change: PresenceChange | None, *, snapshot: presence.Snapshot | None = None
    ) -> None:
        """Tell the room who is there after ``change`` (None: only its readers changed).
        ``snapshot``: the caller's own, taken after its change in the same trip to the database
        (a join's): announced as it is, with no second read. Over the list limit its update is a
        count-only one, so while those are throttled (below) there is nothing to send (a join
        storm in a big room announces once per interval)."""
        crowded = snapshot is not None and snapshot.people is None
        if (crowded or change is None) and self.count_update_throttled(room):
            return
        if snapshot is None:
            snapshot = await db_call(presence.snapshot)(room=room, list_limit=conf.PRESENCE_LIST_LIMIT)
        runtime().presence.online_counts[room] = snapshot.online_count
        if snapshot.people is None or change is None:
            # A count update at most every interval, not one per arrival: in a big room, and for
            # readers, who may come and go with every page view of a popular page.
            if self.count_update_throttled(room):
                return
            runtime().presence.last_count_update_mono[room] = time.monotonic()
        await publish(room_frame(room, encode_event(presence_event(room, snapshot, change)), log_unchanged=True))

    @staticmethod
    def count_update_throttled(room: str) -> bool:
        """This process sent the room a count-only update less than the interval ago."""
        last = runtime().presence.last_count_update_mono.get(room, -1e9)
        return time.monotonic() - last < conf.PRESENCE_COUNT_INTERVAL_SECS

    async def post(self, event: Send) -> None:
        identity = self.require_identity(event.room, event.client_id)
        self.require_joined(event.room, client_id=event.client_id)
        wait = runtime().limits.message_wait_secs(visitor=identity.visitor, ip=self.ip, now=time.monotonic())
        if wait:
            metrics.rate_limit_refusals.labels("messages").inc()
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                "too many messages; slow down",
                event.room,
                event.client_id,
                retry_after_secs=wait,
            )
        try:
            result = await db_call(services.post_message)(
                room_name=event.room,
                identity=identity,
                text=event.text,
                client_id=event.client_id,
                ip=self.ip,
                reply_to=event.reply_to,
            )
        except services.PostRefused as refusal:
            raise ProtocolError(
                refusal.code, refusal.message, event.room, event.client_id, retry_after_secs=refusal.retry_after_secs
            ) from None
        except DatabaseError:
            logger.exception("storing a message in room %s failed", event.room)
            raise ProtocolError(
                ErrorCode.SERVER_ERROR, "the message could not be stored; send it again", event.room, event.client_id
            ) from None
        # Encoded once here (once per protocol version); every member's consumer writes the frame
        # of its version as it is.
        frame, frame_v3 = message_frames(result.message)
        if result.created:
            metrics.messages_stored.inc()
            await publish(room_frame(event.room, frame, frame_v3=frame_v3))
        else:
            # A resend of a stored message: only the sender needs it again (it may have missed it).
            await self.write(frame_v3 if self.protocol >= 3 else frame)
        await self.send_event(
            {"type": "ack", "room": event.room, "client_id": event.client_id, "seq": result.message.seq}
        )

    async def edit(self, event: Edit) -> None:
        identity = self.require_identity(event.room, event.client_id)
        await self.change(
            event.room, event.client_id, changes.edit_message, identity=identity, seq=event.seq, text=event.text,
            ip=self.ip,
        )  # fmt: skip

    async def delete(self, event: Delete) -> None:
        identity = self.require_identity(event.room, event.client_id)
        if identity.staff and not await self.staff_account_holds():
            return  # demoted since the token: closed, and no moderator's delete
        await self.change(event.room, event.client_id, changes.delete_message, identity=identity, seq=event.seq)

    async def react(self, event: React) -> None:
        identity = self.require_identity(event.room, event.client_id)
        await self.change(
            event.room, event.client_id, changes.react, identity=identity, seq=event.seq, emoji=event.emoji,
            on=event.on, ip=self.ip,
        )  # fmt: skip

    async def change(self, room: str, client_id: str, service, **arguments) -> None:
        """Make one change to a message (``service``, of chat.changes): the room's pages learn of
        it, the sender gets its ack. Changes share the message buckets."""
        self.require_joined(room, client_id=client_id)
        assert self.identity is not None
        wait = runtime().limits.message_wait_secs(visitor=self.identity.visitor, ip=self.ip, now=time.monotonic())
        if wait:
            metrics.rate_limit_refusals.labels("messages").inc()
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "too many changes; slow down", room, client_id, retry_after_secs=wait
            )
        try:
            result = await db_call(service)(room_name=room, client_id=client_id, **arguments)
        except changes.ChangeRefused as refusal:
            raise ProtocolError(refusal.code, refusal.message, room, client_id) from None
        except DatabaseError:
            logger.exception("storing a change in room %s failed", room)
            raise ProtocolError(
                ErrorCode.SERVER_ERROR, "the change could not be stored; send it again", room, client_id
            ) from None
        if result.applied:
            for frame, frame_v3 in change_frames(result.kind, result.messages):
                await publish(room_frame(room, frame, frame_v3=frame_v3))
        elif result.message is not None:
            # A repeat, or a change that changed nothing: the sender may have missed the state.
            # Not one of the rev's parts (parts 0): it must not count towards the rev.
            await self.send_event(changed_event_for(result.message, parts=0))
        await self.send_event({"type": "ack", "room": room, "client_id": client_id, "rev": result.rev})

    async def typing(self, event: Typing) -> None:
        identity = self.require_identity(event.room)
        self.require_joined(event.room)
        now = time.monotonic()
        if now - self.last_typing.get(event.room, -1e9) < conf.TYPING_INTERVAL_SECS:
            return  # throttled: the others already know
        self.last_typing[event.room] = now
        if runtime().presence.online_counts.get(event.room, 0) > conf.PRESENCE_LIST_LIMIT:
            return  # nobody can follow who types in a crowd; it would only cost bandwidth
        frame = encode_event(
            {
                "type": "typing",
                "room": event.room,
                "visitor": identity.visitor,
                "name": identity.name,
                "tag": visitor_tag(identity.visitor),
            }
        )
        await publish(room_frame(event.room, frame, skip_socket=self.socket_id, log_unchanged=True))

    async def load_older(self, event: LoadOlder) -> None:
        self.require_joined(event.room)
        page = await db_call(selectors.messages_before)(
            room_name=event.room, before_seq=event.before_seq, limit=conf.HISTORY_LIMIT
        )
        # The messages nearest before_seq that fit in one frame; the client asks again for the rest.
        messages, trimmed = newest_that_fit(
            [message_event_for(message, self.protocol) for message in page.messages], conf.PAGE_BUDGET_BYTES
        )
        await self.send_event(
            {
                "type": "older",
                "room": event.room,
                "messages": messages,
                "has_older": page.has_older or trimmed,
            }
        )

    async def pong(self) -> None:
        rooms = sorted(self.joined_rooms)
        pong: PongEvent = {"type": "pong", "rooms": await db_call(selectors.latest_seqs)(room_names=rooms)}
        if self.protocol >= 3:
            pong["revs"] = await db_call(selectors.latest_revs)(room_names=rooms)
        await self.send_event(pong)
        await self.refresh_token_if_due()
        if self.joined_rooms:
            await db_call(presence.touch)(channel_name=self.socket_id, now=timezone.now())
        await self.sweep_presence_if_due()

    async def sweep_presence_if_due(self) -> None:
        now = time.monotonic()
        throttles = runtime().presence
        if now - throttles.last_sweep_mono < PRESENCE_SWEEP_INTERVAL_SECS:
            return
        throttles.last_sweep_mono = now
        departures = await db_call(presence.sweep_stale)(now=timezone.now(), stale_secs=conf.PRESENCE_STALE_SECS)
        for departure in departures:
            await self.announce_departure(departure)

    # --- Frames from the fan-out ---------------------------------------------------------------

    def deliver_now(self, message: LayerMessage) -> bool:
        """A room frame written without a coroutine when the server can (chat.fanout tries this
        first, for every member): True once handled, False to ``deliver`` it instead."""
        write_text_now = self.write_text_now
        if write_text_now is None or message["type"] != broadcast.ROOM_FRAME:
            return False
        frame = frame_for(message, self.protocol)
        return not frame or write_text_now(frame)

    async def deliver(self, message: LayerMessage) -> None:
        """A layer message for one of this socket's groups (chat.fanout calls this)."""
        match message["type"]:
            case broadcast.ROOM_FRAME:  # the same str for every member of a version, written as it is
                frame = frame_for(message, self.protocol)
                if frame:
                    await self.write(frame)
            case broadcast.MODERATION_NOTICE:  # a moderator acted on this visitor or address
                if self.closing or (self.identity is not None and self.identity.staff):
                    return  # staff are never sanctioned, not even by a ban of an address they share
                await self.write(message["frame"])
                if message.get("close_code"):
                    self.closing = True
                    await self.close(message["close_code"])
            case unknown:
                raise ValueError(f"no delivery for layer message type {unknown!r}")

    # --- Helpers ------------------------------------------------------------------------------

    def require_identity(self, room: str, client_id: str | None = None) -> Identity:
        """The socket's identity; a reader (no `auth` yet) may not write."""
        if self.identity is None:
            message = "pick a name first: send 'auth' with your token"
            raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, message, room, client_id)
        return self.identity

    def require_joined(self, room: str, client_id: str | None = None) -> None:
        if room not in self.joined_rooms:
            raise ProtocolError(ErrorCode.NOT_JOINED, "join the room first", room, client_id)

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        if self.outbox is None:
            await super().close(code, reason)
        else:  # after the frames queued before it (a refusal's error event)
            self.outbox.put_close(code or NORMAL_CLOSURE)

    def drop_slow_reader(self) -> None:
        """The reader fell SLOW_SOCKET_BUFFER_BYTES behind: its queued frames are gone and its
        consumer ends as if it had disconnected. The client reconnects and resumes from its seq."""
        logger.warning(
            "dropping %s (%s): its reader fell SLOW_SOCKET_BUFFER_BYTES (%d) behind; it will resume on reconnect",
            self.socket_id, self.ip, conf.SLOW_SOCKET_BUFFER_BYTES,
        )  # fmt: skip
        metrics.slow_reader_drops.inc()
        self.closing = True
        self.dropped.set()

    async def refuse(self, error: ProtocolError, close_code: int) -> None:
        """Tell the client why, then close: for refusals the socket cannot recover from."""
        self.closing = True
        await self.send_event(error_event(error))
        await self.close(close_code)

    async def send_event(self, event: ServerEvent) -> None:
        await self.write(encode_event(event))

    async def write(self, frame: str) -> None:
        """Write one encoded frame. Straight to the server (``base_send``), or to the socket's
        outbox when the server's send may wait: for a room message this runs once per member,
        and channels' ``send`` layers add nothing here."""
        if self.outbox is not None:
            if not self.outbox.put_text(frame) and not self.dropped.is_set():
                self.drop_slow_reader()
            return
        try:
            await self.base_send({"type": "websocket.send", "text": frame})
        except Exception:  # noqa: BLE001 - autobahn raises Disconnected or PayloadExceededError
            # The client has gone and daphne has not said so yet. Raising would end this consumer
            # before disconnect() runs, leaking its address's socket slot, its presence rows and
            # its group memberships (django/channels#1466); the disconnect that follows cleans up.
            logger.debug("a frame to %s could not be sent; the socket is closing", self.socket_id)
            self.closing = True
