"""Writes. Plain synchronous functions: callable from a consumer (through
``chat.db.db_call``), the admin, a management command or a test."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Final, NamedTuple

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from chat import moderation, sanction_cache, wordfilter
from chat.conf import conf
from chat.errors import BackchannelError
from chat.identity import Identity
from chat.models import HeldMessage, Message, Room, Sanction, column_of
from chat.protocol import ErrorCode, quote_of

# How many of a visitor's recent messages the duplicate check compares with.
DUPLICATE_LOOKBACK = 5


@dataclass(frozen=True)
class PostResult:
    message: Message
    created: bool  # False: the client_id was already stored; ``message`` is that stored copy


class PostRefused(BackchannelError):
    """The message may not be posted now (moderation or an anti-spam rule); nothing was stored."""

    code: ErrorCode

    def __init__(self, code: ErrorCode, message: str, retry_after_secs: float | None = None) -> None:
        super().__init__(code, message, retry_after_secs=retry_after_secs)


class PostHeld(PostRefused):
    """The word filter held the message: stored as a ``HeldMessage``, not in the room's log, until
    a moderator approves it. The sender is told so (``held_for_review``), nobody else anything."""


HELD_MESSAGE = "your message waits for a moderator's approval"
BLOCKED_MESSAGE = "your message contains a word this chat does not allow"


def post_message(
    *,
    room_name: str,
    identity: Identity,
    text: str,
    client_id: str | None = None,
    ip: str | None = None,
    now: datetime | None = None,
    reply_to: int | None = None,
) -> PostResult:
    """Store a message as the room's next entry in its log, once per ``client_id``; ``reply_to``,
    the seq of a message of the room it answers (refused with ``not_found`` when there is none).

    A repeat of a stored ``client_id`` returns the stored copy even if a rule would refuse a new
    message now: it was accepted when first sent, and its sender is only asking for the ack.
    """
    now = now or timezone.now()
    # The room's state, and whether this client_id was stored or held already, in one query.
    state = _post_state(room_name, client_id)
    if client_id is not None:
        existing = _stored_copy(room_name, client_id) if state is _NO_ROOM or state.stored else None
        if existing is not None:
            return PostResult(existing, created=False)
        _refuse_held_status(_held_status(room_name, client_id) if state is _NO_ROOM else state.held_status)
    try:
        check_may_post(
            room_name=room_name, identity=identity, text=text, ip=ip, now=now,
            room=None if state is _NO_ROOM else state.room,
        )  # fmt: skip
    except PostRefused:
        # The same client_id sent from another socket at this very moment may have been stored
        # since the look-up above (the duplicate rule then sees it): that is this message, acked.
        existing = _stored_copy(room_name, client_id) if client_id is not None else None
        if existing is None:
            raise
        return PostResult(existing, created=False)
    verdict = None if identity.staff else wordfilter.active_filter().verdict(text)
    if verdict is not None and verdict.action == wordfilter.REFUSE:
        raise PostRefused(ErrorCode.BLOCKED_WORD, BLOCKED_MESSAGE)
    if verdict is not None:
        _hold(room_name=room_name, identity=identity, text=text, client_id=client_id, ip=ip, now=now, matched=verdict)
        raise PostHeld(ErrorCode.HELD_FOR_REVIEW, HELD_MESSAGE)
    return store_message(
        room_name=room_name, identity=identity, text=text, client_id=client_id, ip=ip, now=now, reply_to=reply_to
    )


def store_message(
    *,
    room_name: str,
    identity: Identity,
    text: str,
    client_id: str | None,
    ip: str | None,
    now: datetime,
    reply_to: int | None = None,
) -> PostResult:
    """Append a message to the room's log with its next seq (no rule checked: ``post_message``
    checks them; an approved held message comes straight here)."""
    deadlocks = 0
    while True:
        try:
            result = _append(
                room_name=room_name,
                identity=identity,
                text=text,
                client_id=client_id,
                ip=ip,
                now=now,
                reply_to=reply_to,
            )
        except IntegrityError:
            # Two sockets raced with the same client_id and the other one won: return its copy.
            existing = _stored_copy(room_name, client_id) if client_id is not None else None
            if existing is None:
                raise
            return PostResult(existing, created=False)
        except OperationalError as error:
            # InnoDB picks a deadlock victim and rolls its transaction back; nothing was stored, so
            # running it again is safe. Inside a caller's transaction (approve_held) that caller's
            # work was rolled back too: it must retry itself.
            deadlocks += 1
            if not _is_deadlock(error) or deadlocks >= DEADLOCK_ATTEMPTS or connection.in_atomic_block:
                raise
            continue
        if result is not None:
            return result
        # The room's first message. The room is created outside the seq transaction: created inside
        # it, MySQL/MariaDB deadlocked (1213) when several writers posted a room's first messages at
        # once (each waited on another's pending insert of the same room while holding its own locks).
        Room.objects.get_or_create(name=room_name)


# MySQL/MariaDB error numbers: 1213 deadlock (transaction rolled back), 1205 lock wait timeout.
MYSQL_RETRYABLE_ERRORS = frozenset({1213, 1205})
DEADLOCK_ATTEMPTS = 5


def _is_deadlock(error: OperationalError) -> bool:
    return connection.vendor == "mysql" and bool(error.args) and error.args[0] in MYSQL_RETRYABLE_ERRORS


def _append(
    *,
    room_name: str,
    identity: Identity,
    text: str,
    client_id: str | None,
    ip: str | None,
    now: datetime,
    reply_to: int | None = None,
) -> PostResult | None:
    """The message stored with the room's next seq; None (nothing done) when the room does not exist."""
    with transaction.atomic():
        bumped = bump_room_counter(room_name, "last_seq")
        if bumped is None:
            return None  # no such room yet: the caller creates it, outside this transaction
        room_id, seq = bumped
        # The event needs the room's name: a loaded-from-the-database Room, without a query.
        room = Room.from_db(connection.alias, ["id", "name", "last_seq"], [room_id, room_name, seq])
        quote = None if reply_to is None else reply_quote(room=room, seq=reply_to)
        if reply_to is not None and (quote is None or reply_to >= seq):
            raise PostRefused(ErrorCode.NOT_FOUND, "the message this one replies to is not in this room")
        message = Message(
            room=room,
            seq=seq,
            author=identity.name,
            visitor=identity.visitor,
            staff=identity.staff,
            ip=ip,
            text=text,
            client_id=client_id,
            sent_at=now,
            reply_to_seq=reply_to,
            reply_quote=quote,
        )
        insert_message(message)
    return PostResult(message, created=True)


_INSERT_SQL: dict[str, str | None] = {}


def insert_message(message: Message) -> None:
    """``message.save()`` of a new message (``Message.objects.create``): the same INSERT, columns
    and values (each field's ``pre_save`` and ``get_db_prep_save``), with the statement built once
    per engine instead of by the ORM on every message. The ORM's own save runs instead when a
    signal handler listens to Message saves or a field needs a placeholder of its own."""
    sql = _INSERT_SQL.get(connection.vendor, "")
    if sql == "":
        sql = _INSERT_SQL[connection.vendor] = _insert_sql()
    if sql is None or pre_save.has_listeners(Message) or post_save.has_listeners(Message):
        message.save(force_insert=True)
        return
    fields = _insert_fields()
    values = [field.get_db_prep_save(field.pre_save(message, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if connection.features.can_return_columns_from_insert:
            pk = cursor.fetchone()[0]
        else:
            pk = connection.ops.last_insert_id(cursor, Message._meta.db_table, column_of(Message, "id"))
    message.pk = pk
    message._state.adding = False
    message._state.db = connection.alias


def _insert_fields() -> list:
    meta = Message._meta
    return [field for field in meta.local_concrete_fields if field is not meta.auto_field]


def _insert_sql() -> str | None:
    fields = _insert_fields()
    if any(hasattr(field, "get_placeholder") for field in fields):
        return None
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join("%s" for _ in fields)
    sql = f"INSERT INTO {quote(Message._meta.db_table)} ({columns}) VALUES ({placeholders})"
    if connection.features.can_return_columns_from_insert:
        sql += f" RETURNING {quote(column_of(Message, 'id'))}"
    return sql


def reply_quote(*, room: Room, seq: int) -> dict | None:
    """The quote ({author, excerpt, deleted}) a reply to ``seq`` stores; None: no such message.
    Read in the reply's own transaction, under the room row's lock that deletions take too
    (chat.changes), so a deletion is either seen here or sees the reply and marks its quote."""
    original = Message.objects.filter(room=room, seq=seq).values("author", "text", "deleted_at").first()
    if original is None:
        return None
    deleted = original["deleted_at"] is not None
    quote = quote_of(seq=seq, author=original["author"], text=original["text"], deleted=deleted)
    return {"author": quote["author"], "excerpt": quote["excerpt"], "deleted": quote["deleted"]}


# Engines with UPDATE … RETURNING (SQLite since 3.35; not MySQL/MariaDB).
UPDATE_RETURNING_VENDORS = frozenset({"postgresql", "sqlite"})


# A room's gapless counters: the seq of its messages and the rev of the changes to them.
ROOM_COUNTERS = ("last_seq", "last_rev")


def bump_room_counter(room_name: str, counter: str) -> tuple[int, int] | None:
    """Take the room's next value of ``counter`` (one of ROOM_COUNTERS): ``(room id, value)``, or
    None when the room does not exist yet.

    The UPDATE takes the row lock (PostgreSQL, MySQL/MariaDB) or the write lock (SQLite) until
    commit, so two writers never get the same value; a failed insert rolls the bump back with it:
    no gaps. PostgreSQL and SQLite return the new value in the same statement (one round trip where
    the ORM needs two); MySQL/MariaDB have no ``UPDATE … RETURNING``, so the row is read back, which
    sees this transaction's own update, under the lock it still holds.
    """
    if counter not in ROOM_COUNTERS:
        raise ValueError(f"{counter!r} is not a room counter")
    table = connection.ops.quote_name(Room._meta.db_table)
    column = connection.ops.quote_name(counter)
    with connection.cursor() as cursor:
        if connection.vendor in UPDATE_RETURNING_VENDORS:
            cursor.execute(
                f"UPDATE {table} SET {column} = {column} + 1 WHERE name = %s RETURNING id, {column}", [room_name]
            )
        else:
            cursor.execute(f"UPDATE {table} SET {column} = {column} + 1 WHERE name = %s", [room_name])
            if cursor.rowcount == 0:
                return None
            cursor.execute(f"SELECT id, {column} FROM {table} WHERE name = %s", [room_name])
        row = cursor.fetchone()
    return (row[0], row[1]) if row is not None else None


class _Unread(Enum):
    """``check_may_post``'s room when the caller has not read it (None means: no such room)."""

    UNREAD = "unread"


_UNREAD: Final = _Unread.UNREAD


def check_may_post(
    *,
    room_name: str,
    identity: Identity,
    text: str,
    ip: str | None,
    now: datetime,
    room: Room | None | _Unread = _UNREAD,
) -> None:
    """Raise ``PostRefused`` when a sanction, the room's state or an anti-spam rule forbids this.
    ``room``: the room's ``locked`` and ``slow_mode_secs`` when the caller read them already (None:
    no such room)."""
    # The sanctions in force, from this process's copy (chat.sanction_cache: every write of a
    # sanction anywhere drops it), as chat.moderation.sanctions_in_force reads them.
    in_force = sanction_cache.in_force(visitor=identity.visitor, ip=ip, now=now)
    for kind, code in ((Sanction.Kind.BAN, ErrorCode.BANNED), (Sanction.Kind.MUTE, ErrorCode.MUTED)):
        if kind in in_force:
            raise PostRefused(code, moderation.describe(in_force[kind]))
    if identity.staff:
        return  # staff are exempt from locks, slow mode and the duplicate rule
    if room is _UNREAD:
        room = Room.objects.filter(name=room_name).only("locked", "slow_mode_secs").first()
    if room is None:
        return
    if room.locked:
        raise PostRefused(ErrorCode.ROOM_LOCKED, "a moderator has locked this room; it is read-only")
    if not room.slow_mode_secs and not conf.DUPLICATE_WINDOW_SECS:
        return
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


class _PostState(NamedTuple):
    room: Room  # id, name, locked and slow_mode_secs
    stored: bool  # a message of the room has the client_id
    held_status: str | None  # the status of a held message of the room with the client_id


class _NoRoom(Enum):
    NO_ROOM = "no room"


_NO_ROOM: Final = _NoRoom.NO_ROOM  # the room has no row yet (its first message)
_POST_STATE_SQL: dict[str, str] = {}


def _post_state(room_name: str, client_id: str | None) -> _PostState | _NoRoom:
    """What ``post_message`` reads before the insert, in one query built once per engine: the
    room's row, whether ``client_id`` is stored in it and the status of a held message with it.
    ``_NO_ROOM`` when the room has no row."""
    sql = _POST_STATE_SQL.get(connection.vendor)
    if sql is None:
        sql = _POST_STATE_SQL[connection.vendor] = _post_state_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [client_id, room_name, client_id, room_name])
        row = cursor.fetchone()
    if row is None:
        return _NO_ROOM
    room_id, locked, slow_mode_secs, stored, held_status = row
    room = Room.from_db(
        connection.alias, ["id", "name", "locked", "slow_mode_secs"], [room_id, room_name, locked, slow_mode_secs]
    )
    return _PostState(room=room, stored=stored is not None, held_status=held_status)


def _post_state_sql() -> str:
    quote = connection.ops.quote_name

    def column(model, field: str) -> str:
        return quote(model._meta.get_field(field).column)

    room, message, held = (quote(model._meta.db_table) for model in (Room, Message, HeldMessage))
    return (
        f"SELECT r.{column(Room, 'id')}, r.{column(Room, 'locked')}, r.{column(Room, 'slow_mode_secs')},"
        f" (SELECT m.{column(Message, 'id')} FROM {message} m"
        f" WHERE m.{column(Message, 'room')} = r.{column(Room, 'id')} AND m.{column(Message, 'client_id')} = %s),"
        f" (SELECT h.{column(HeldMessage, 'status')} FROM {held} h"
        f" WHERE h.{column(HeldMessage, 'room_name')} = %s AND h.{column(HeldMessage, 'client_id')} = %s)"
        f" FROM {room} r WHERE r.{column(Room, 'name')} = %s"
    )


def _held_status(room_name: str, client_id: str) -> str | None:
    held = HeldMessage.objects.filter(room_name=room_name, client_id=client_id)
    return held.values_list("status", flat=True).first()


def _refuse_held_status(status: str | None) -> None:
    """A resend of a message the filter held (an outbox after a reconnect) is not held twice:
    the sender is told again where it stands."""
    if status == HeldMessage.Status.HELD:
        raise PostHeld(ErrorCode.HELD_FOR_REVIEW, HELD_MESSAGE)
    if status == HeldMessage.Status.REJECTED:
        raise PostRefused(ErrorCode.BLOCKED_WORD, "a moderator did not approve this message")


def _hold(
    *,
    room_name: str,
    identity: Identity,
    text: str,
    client_id: str | None,
    ip: str | None,
    now: datetime,
    matched: wordfilter.Verdict,
) -> None:
    try:
        with transaction.atomic():
            HeldMessage.objects.create(
                room_name=room_name,
                author=identity.name,
                visitor=identity.visitor,
                staff=identity.staff,
                ip=ip,
                text=text,
                client_id=client_id,
                sent_at=now,
                matched=matched.entry.text,
            )
    except IntegrityError:
        pass  # the same client_id raced in from another socket and is held already


def approve_held(*, held: HeldMessage, by: str) -> Message | None:
    """Post a held message to its room (with the room's next seq, so at the end of the log, dated
    now) and mark it approved; None when it was no longer waiting. The caller broadcasts it."""
    with transaction.atomic():
        claimed = HeldMessage.objects.filter(pk=held.pk, status=HeldMessage.Status.HELD).update(
            status=HeldMessage.Status.APPROVED, reviewed_at=timezone.now(), reviewed_by=by
        )
        if not claimed:
            return None
        identity = Identity(visitor=held.visitor, name=held.author, staff=held.staff)
        result = store_message(
            room_name=held.room_name,
            identity=identity,
            text=held.text,
            client_id=held.client_id,
            ip=held.ip,
            now=timezone.now(),
        )
        HeldMessage.objects.filter(pk=held.pk).update(message=result.message)
    held.refresh_from_db()
    return result.message if result.created else None


def reject_held(*, held: HeldMessage, by: str) -> bool:
    """Decline a held message: it stays on record, never posted. False when it was not waiting."""
    rejected = HeldMessage.objects.filter(pk=held.pk, status=HeldMessage.Status.HELD).update(
        status=HeldMessage.Status.REJECTED, reviewed_at=timezone.now(), reviewed_by=by
    )
    held.refresh_from_db()
    return bool(rejected)


def fold_text(text: str) -> str:
    """The form in which two texts count as the same message: case and spacing ignored."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def _stored_copy(room_name: str, client_id: str) -> Message | None:
    return Message.objects.select_related("room").filter(room__name=room_name, client_id=client_id).first()
