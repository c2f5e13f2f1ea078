"""Reads. Plain synchronous functions returning model instances, oldest first."""

from __future__ import annotations

from chat.models import Message


def recent_messages(*, room_name: str, limit: int) -> list[Message]:
    """The room's newest ``limit`` messages, in log order; an unknown room has none."""
    if limit <= 0:
        return []
    newest_first = Message.objects.filter(room__name=room_name).select_related("room").order_by("-seq")[:limit]
    return list(reversed(newest_first))
