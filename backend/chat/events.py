"""Model → protocol event conversions (the one place that knows both shapes)."""

from __future__ import annotations

from chat.models import Message
from chat.protocol import MessageEvent, message_event


def message_event_for(message: Message) -> MessageEvent:
    return message_event(
        room=message.room.name,
        seq=message.seq,
        author=message.author,
        text=message.text,
        sent_at=message.sent_at,
        client_id=message.client_id,
    )
