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
    MessageEvent,
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
        await self.send_event(ready_event(max_text_chars=conf.MAX_TEXT_CHARS, max_rooms=conf.MAX_ROOMS_PER_SOCKET))

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
                case Ping():
                    await self.send_event({"type": "pong"})
                case _:  # parse_client_event returns only the types above
                    raise AssertionError(f"unhandled client event {event!r}")
        except ProtocolError as error:
            await self.send_event(error_event(error))

    async def join(self, event: Join) -> None:
        if event.room not in self.joined_rooms and len(self.joined_rooms) >= conf.MAX_ROOMS_PER_SOCKET:
            raise ProtocolError(
                ErrorCode.TOO_MANY_ROOMS, f"one socket joins at most {conf.MAX_ROOMS_PER_SOCKET} rooms", event.room
            )
        # Subscribe before reading history: a message posted in between arrives live (and may
        # also be in the history; clients drop the repeat by seq) rather than not at all.
        await self.channel_layer.group_add(group_name_for(event.room), self.channel_name)
        self.joined_rooms[event.room] = event.name
        history = await database_sync_to_async(_history_events)(event.room, conf.HISTORY_LIMIT)
        await self.send_event({"type": "joined", "room": event.room, "name": event.name, "history": history})

    async def leave(self, event: Leave) -> None:
        self.require_joined(event.room)
        await self.channel_layer.group_discard(group_name_for(event.room), self.channel_name)
        del self.joined_rooms[event.room]
        await self.send_event({"type": "left", "room": event.room})

    async def post(self, event: Send) -> None:
        author = self.require_joined(event.room)
        try:
            message = await database_sync_to_async(services.post_message)(
                room_name=event.room, author=author, text=event.text, client_id=event.client_id
            )
        except DatabaseError:
            logger.exception("storing a message in room %s failed", event.room)
            raise ProtocolError(
                ErrorCode.SERVER_ERROR, "the message could not be stored; send it again", event.room
            ) from None
        # Encoded once here; every member's consumer writes the same frame as it is.
        frame = encode_event(message_event_for(message))
        await self.channel_layer.group_send(group_name_for(event.room), {"type": ROOM_MESSAGE_EVENT, "frame": frame})

    async def room_message(self, event: dict[str, str]) -> None:
        """A message posted to one of this socket's rooms, by any consumer on any process."""
        await self.send(text_data=event["frame"])

    def require_joined(self, room: str) -> str:
        """The socket's display name in ``room``; refuses rooms the socket has not joined."""
        try:
            return self.joined_rooms[room]
        except KeyError:
            raise ProtocolError(ErrorCode.NOT_JOINED, "join the room first", room) from None

    async def send_event(self, event: ServerEvent) -> None:
        await self.send(text_data=encode_event(event))


def _history_events(room_name: str, limit: int) -> list[MessageEvent]:
    return [message_event_for(message) for message in selectors.recent_messages(room_name=room_name, limit=limit)]
