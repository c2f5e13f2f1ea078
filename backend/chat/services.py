"""Writes. Plain synchronous functions: callable from a consumer (through
``database_sync_to_async``), the admin, a management command or a test."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from chat.models import Message, Room


def post_message(*, room_name: str, author: str, text: str, client_id: str | None = None) -> Message:
    """Store a message as the room's next entry in its log and return it, ``seq`` assigned."""
    with transaction.atomic():
        room, _ = Room.objects.get_or_create(name=room_name)
        # The UPDATE takes the row lock (Postgres) or the write lock (SQLite) until commit, so two
        # writers never read the same last_seq; a failed insert rolls the bump back: no gaps.
        Room.objects.filter(pk=room.pk).update(last_seq=F("last_seq") + 1)
        room.refresh_from_db(fields=["last_seq"])
        return Message.objects.create(room=room, seq=room.last_seq, author=author, text=text, client_id=client_id)
