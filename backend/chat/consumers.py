"""The chat socket. Thin: it parses frames (protocol.py), calls services and selectors, and
relays room events from the channel layer. Rules live in those modules, not here."""

from __future__ import annotations

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import DatabaseError

from chat import selectors, services
from chat.conf import conf
from chat.events import message_event_for
from chat.protocol import (
    ErrorCode,
    Join,
    Leave,
    Limits,
    LoadOlder,
    Ping,
    ProtocolError,
    Send,
    ServerEvent,
    encode_event,
    error_event,
    parse_client_event,
    ready_event,
)
from chat.rooms import group_name_for

logger = logging.getLogger(__name__)

# Channel-layer event type for a room message; channels routes it to `room_message` below.
ROOM_MESSAGE_EVENT = "room.message"


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        # room name -> the display name this socket posts under in that room
        self.joined_rooms: dict[str, str] = {}
        self.limits = Limits(max_text_chars=conf.MAX_TEXT_CHARS, max_frame_bytes=conf.MAX_FRAME_BYTES)
        await self.accept()
        await self.send_event(
            ready_event(
                max_text_chars=conf.MAX_TEXT_CHARS,
                max_rooms=conf.MAX_ROOMS_PER_SOCKET,
                history_limit=conf.HISTORY_LIMIT,
                resume_limit=conf.RESUME_LIMIT,
            )
        )

    async def disconnect(self, code: int) -> None:
        for room in self.joined_rooms:
            await self.channel_layer.group_discard(group_name_for(room), self.channel_name)
        self.joined_rooms.clear()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            event = parse_client_event(text_data, bytes_data, self.limits)
            match event:
                case Join():
                    await self.join(event)
                case Leave():
                    await self.leave(event)
                case Send():
                    await self.post(event)
                case LoadOlder():
                    await self.load_older(event)
                case Ping():
                    await self.pong()
                case _:  # parse_client_event returns only the types above
                    raise AssertionError(f"unhandled client event {event!r}")
        except ProtocolError as error:
            await self.send_event(error_event(error))

    async def join(self, event: Join) -> None:
        if event.room not in self.joined_rooms and len(self.joined_rooms) >= conf.MAX_ROOMS_PER_SOCKET:
            raise ProtocolError(
                ErrorCode.TOO_MANY_ROOMS, f"one socket joins at most {conf.MAX_ROOMS_PER_SOCKET} rooms", event.room
            )
        # Subscribe before reading the log: a message posted in between arrives live (and may
        # also be in the history; clients drop the repeat by seq) rather than not at all.
        await self.channel_layer.group_add(group_name_for(event.room), self.channel_name)
        self.joined_rooms[event.room] = event.name
        catch_up = await database_sync_to_async(selectors.catch_up)(
            room_name=event.room,
            after_seq=event.after_seq,
            history_limit=conf.HISTORY_LIMIT,
            resume_limit=conf.RESUME_LIMIT,
        )
        await self.send_event(
            {
                "type": "joined",
                "room": event.room,
                "name": event.name,
                "latest_seq": catch_up.latest_seq,
                "resumed": catch_up.resumed,
                "history": [message_event_for(message) for message in catch_up.messages],
                "has_older": catch_up.has_older,
            }
        )

    async def leave(self, event: Leave) -> None:
        self.require_joined(event.room)
        await self.channel_layer.group_discard(group_name_for(event.room), self.channel_name)
        del self.joined_rooms[event.room]
        await self.send_event({"type": "left", "room": event.room})

    async def post(self, event: Send) -> None:
        author = self.require_joined(event.room, client_id=event.client_id)
        try:
            result = await database_sync_to_async(services.post_message)(
                room_name=event.room, author=author, text=event.text, client_id=event.client_id
            )
        except DatabaseError:
            logger.exception("storing a message in room %s failed", event.room)
            raise ProtocolError(
                ErrorCode.SERVER_ERROR, "the message could not be stored; send it again", event.room, event.client_id
            ) from None
        # Encoded once here; every member's consumer writes the same frame as it is.
        frame = encode_event(message_event_for(result.message))
        if result.created:
            await self.publish(event.room, frame)
        else:
            # A resend of a stored message: only the sender needs it again (it may have missed it).
            await self.send(text_data=frame)
        await self.send_event(
            {"type": "ack", "room": event.room, "client_id": event.client_id, "seq": result.message.seq}
        )

    async def publish(self, room: str, frame: str) -> None:
        """Hand a stored message to the live path. It is already safe in the log, so a
        channel-layer failure is logged, not raised: members catch up from the log (gap checks)."""
        try:
            await self.channel_layer.group_send(group_name_for(room), {"type": ROOM_MESSAGE_EVENT, "frame": frame})
        except Exception:  # noqa: BLE001 - any layer failure; the log is the source of truth
            logger.exception("publishing to room %s failed; members will catch up from the log", room)

    async def load_older(self, event: LoadOlder) -> None:
        self.require_joined(event.room)
        page = await database_sync_to_async(selectors.messages_before)(
            room_name=event.room, before_seq=event.before_seq, limit=conf.HISTORY_LIMIT
        )
        await self.send_event(
            {
                "type": "older",
                "room": event.room,
                "messages": [message_event_for(message) for message in page.messages],
                "has_older": page.has_older,
            }
        )

    async def pong(self) -> None:
        # Renew memberships: a restarted Redis has forgotten every group, and channels-redis does
        # not say so; without this the socket would hear nothing more. group_add is idempotent.
        for room in self.joined_rooms:
            await self.channel_layer.group_add(group_name_for(room), self.channel_name)
        latest = await database_sync_to_async(selectors.latest_seqs)(room_names=list(self.joined_rooms))
        await self.send_event({"type": "pong", "rooms": latest})

    async def room_message(self, event: dict[str, str]) -> None:
        """A message posted to one of this socket's rooms, by any consumer on any process."""
        await self.send(text_data=event["frame"])

    def require_joined(self, room: str, client_id: str | None = None) -> str:
        """The socket's display name in ``room``; refuses rooms the socket has not joined."""
        try:
            return self.joined_rooms[room]
        except KeyError:
            raise ProtocolError(ErrorCode.NOT_JOINED, "join the room first", room, client_id) from None

    async def send_event(self, event: ServerEvent) -> None:
        await self.send(text_data=encode_event(event))
