"""Writes. Plain synchronous functions: callable from a consumer (through
``chat.db.db_call``), the admin, a management command or a test."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from chat import moderation
from chat.conf import conf
from chat.identity import Identity
from chat.models import Message, Room, Sanction
from chat.protocol import ErrorCode

# How many of a visitor's recent messages the duplicate check compares with.
DUPLICATE_LOOKBACK = 5


@dataclass(frozen=True)
class PostResult:
    message: Message
    created: bool  # False: the client_id was already stored; ``message`` is that stored copy


class PostRefused(Exception):
    """The message may not be posted now (moderation or an anti-spam rule); nothing was stored."""

    def __init__(self, code: ErrorCode, message: str, retry_after_secs: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_secs = retry_after_secs


def post_message(
    *,
    room_name: str,
    identity: Identity,
    text: str,
    client_id: str | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> PostResult:
    """Store a message as the room's next entry in its log, once per ``client_id``.

    A repeat of a stored ``client_id`` returns the stored copy even if a rule would refuse a new
    message now: it was accepted when first sent, and its sender is only asking for the ack.
    """
    now = now or timezone.now()
    if client_id is not None:
        existing = _stored_copy(room_name, client_id)
        if existing is not None:
            return PostResult(existing, created=False)
    check_may_post(room_name=room_name, identity=identity, text=text, ip=ip, now=now)
    try:
        with transaction.atomic():
            bumped = _bump_last_seq(room_name)
            if bumped is None:  # the room's first message
                Room.objects.get_or_create(name=room_name)
                bumped = _bump_last_seq(room_name)
            room_id, seq = bumped
            # The event needs the room's name: a loaded-from-the-database Room, without a query.
            room = Room.from_db(connection.alias, ["id", "name", "last_seq"], [room_id, room_name, seq])
            message = Message.objects.create(
                room=room,
                seq=seq,
                author=identity.name,
                visitor=identity.visitor,
                staff=identity.staff,
                ip=ip,
                text=text,
                client_id=client_id,
                sent_at=now,
            )
    except IntegrityError:
        # Two sockets raced with the same client_id and the other one won: return its copy.
        existing = _stored_copy(room_name, client_id) if client_id is not None else None
        if existing is None:
            raise
        return PostResult(existing, created=False)
    return PostResult(message, created=True)


def _bump_last_seq(room_name: str) -> tuple[int, int] | None:
    """Take the room's next seq: ``(room id, seq)``, or None when the room does not exist yet.

    One statement where the ORM needs three (UPDATE, then SELECT the new value). The UPDATE takes
    the row lock (Postgres) or the write lock (SQLite) until commit, so two writers never get the
    same seq; a failed insert rolls the bump back with it: no gaps.
    """
    table = connection.ops.quote_name(Room._meta.db_table)
    bump = f"UPDATE {table} SET last_seq = last_seq + 1 WHERE name = %s RETURNING id, last_seq"
    with connection.cursor() as cursor:
        cursor.execute(bump, [room_name])
        row = cursor.fetchone()
    return (row[0], row[1]) if row is not None else None


def check_may_post(*, room_name: str, identity: Identity, text: str, ip: str | None, now: datetime) -> None:
    """Raise ``PostRefused`` when a sanction, the room's state or an anti-spam rule forbids this."""
    in_force = moderation.sanctions_in_force(visitor=identity.visitor, ip=ip, now=now)
    for kind, code in ((Sanction.Kind.BAN, ErrorCode.BANNED), (Sanction.Kind.MUTE, ErrorCode.MUTED)):
        if kind in in_force:
            raise PostRefused(code, moderation.describe(in_force[kind]))
    if identity.staff:
        return  # staff are exempt from locks, slow mode and the duplicate rule
    room = Room.objects.filter(name=room_name).only("locked", "slow_mode_secs").first()
    if room is None:
        return
    if room.locked:
        raise PostRefused(ErrorCode.ROOM_LOCKED, "a moderator has locked this room; it is read-only")
    recent = Message.objects.filter(room=room, visitor=identity.visitor).order_by("-sent_at")
    if room.slow_mode_secs:
        last = recent.values_list("sent_at", flat=True).first()
        wait = (last + timedelta(seconds=room.slow_mode_secs) - now).total_seconds() if last else 0
        if wait > 0:
            raise PostRefused(
                ErrorCode.SLOW_MODE, f"slow mode: one message every {room.slow_mode_secs} s", retry_after_secs=wait
            )
    if conf.DUPLICATE_WINDOW_SECS:
        window_start = now - timedelta(seconds=conf.DUPLICATE_WINDOW_SECS)
        folded = fold_text(text)
        for earlier in recent.filter(sent_at__gte=window_start).values_list("text", flat=True)[:DUPLICATE_LOOKBACK]:
            if fold_text(earlier) == folded:
                raise PostRefused(ErrorCode.DUPLICATE_TEXT, "you just sent the same text in this room")


def fold_text(text: str) -> str:
    """The form in which two texts count as the same message: case and spacing ignored."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def _stored_copy(room_name: str, client_id: str) -> Message | None:
    return Message.objects.select_related("room").filter(room__name=room_name, client_id=client_id).first()
