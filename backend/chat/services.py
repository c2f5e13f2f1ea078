"""Writes. Plain synchronous functions: callable from a consumer (through
``database_sync_to_async``), the admin, a management command or a test."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F

from chat.models import Message, Room


@dataclass(frozen=True)
class PostResult:
    message: Message
    created: bool  # False: the client_id was already stored; ``message`` is that stored copy


def post_message(*, room_name: str, author: str, text: str, client_id: str | None = None) -> PostResult:
    """Store a message as the room's next entry in its log, once per ``client_id``."""
    if client_id is not None:
        existing = _stored_copy(room_name, client_id)
        if existing is not None:
            return PostResult(existing, created=False)
    try:
        with transaction.atomic():
            room, _ = Room.objects.get_or_create(name=room_name)
            # The UPDATE takes the row lock (Postgres) or the write lock (SQLite) until commit, so
            # two writers never read the same last_seq; a failed insert rolls the bump back: no gaps.
            Room.objects.filter(pk=room.pk).update(last_seq=F("last_seq") + 1)
            room.refresh_from_db(fields=["last_seq"])
            message = Message.objects.create(
                room=room, seq=room.last_seq, author=author, text=text, client_id=client_id
            )
    except IntegrityError:
        # Two sockets raced with the same client_id and the other one won: return its copy.
        existing = _stored_copy(room_name, client_id) if client_id is not None else None
        if existing is None:
            raise
        return PostResult(existing, created=False)
    return PostResult(message, created=True)


def _stored_copy(room_name: str, client_id: str) -> Message | None:
    return Message.objects.select_related("room").filter(room__name=room_name, client_id=client_id).first()
