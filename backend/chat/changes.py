"""Changes to messages (protocol version 3): edits and deletions by their author, deletions by
staff, reactions. Writes, like ``chat.services``: plain synchronous functions.

Each change takes the room's next ``rev`` (``Room.last_rev``) in the transaction that applies it
and records a ``MessageChange`` row, so the revs of a room have no gaps and a client resumes them
as it resumes messages. The ``UPDATE`` of ``last_rev`` holds the room row's lock (the same row as
``last_seq``) until commit: one writer at a time per room, for messages and changes alike, so the
read-modify-write of a message's current state below is safe on every engine.

A change a client sends carries a ``client_id``: a repeat (a resent outbox, a second tab) applies
nothing and is answered with the first one's rev.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from chat import moderation, wordfilter
from chat.conf import conf
from chat.identity import Identity
from chat.models import Message, MessageChange, Reaction, Room, Sanction
from chat.protocol import REACTION_EMOJI, REACTION_NAMES_SHOWN, ErrorCode, ReactionDict
from chat.services import DEADLOCK_ATTEMPTS, PostRefused, _is_deadlock, bump_room_counter

AUTHOR_DELETED_REASON = "deleted by its author"


class ChangeRefused(PostRefused):
    """The change may not be made (not the author, too late, no such message, a sanction); nothing
    was stored."""


# What a change's ``apply`` returns (``_apply``): the messages it changed, and the payload recorded
# with the change.
Outcome = tuple[list[Message], dict[str, str]]


@dataclass(frozen=True)
class ChangeResult:
    rev: int  # the change's rev; a repeat's first rev; the message's own rev when nothing changed
    applied: bool  # False: a repeated client_id, or a change that changes nothing (a reaction already on)
    # The messages whose current state is now different, the changed one first (a deletion also
    # changes the quotes of the replies to it); empty when nothing was applied.
    messages: list[Message] = field(default_factory=list)
    # The message acted on, in its current state (also when nothing was applied).
    message: Message | None = None
    kind: MessageChange.Kind | None = None


def edit_message(
    *, room_name: str, identity: Identity, seq: int, text: str, client_id: str | None, ip: str | None = None,
    now: datetime | None = None,
) -> ChangeResult:  # fmt: skip
    """Replace the text of the author's own message, within EDIT_WINDOW_SECS of sending it. The word
    filter reads the new text as it reads a new message (a text it would hold is refused: an edit
    cannot wait for a moderator)."""
    now = now or timezone.now()
    repeat = _repeat(room_name, identity, client_id)
    if repeat is not None:
        return repeat
    check_may_write(room_name=room_name, identity=identity, ip=ip, now=now)
    if not identity.staff and wordfilter.active_filter().verdict(text) is not None:
        raise ChangeRefused(ErrorCode.BLOCKED_WORD, "your edit contains a word this chat does not allow")

    def apply(message: Message) -> Outcome:
        if message.visitor != identity.visitor:
            raise ChangeRefused(ErrorCode.NOT_AUTHOR, "only its author may edit a message")
        window = conf.EDIT_WINDOW_SECS
        if now - message.sent_at > timedelta(seconds=window):
            raise ChangeRefused(
                ErrorCode.EDIT_WINDOW_PASSED, f"a message can be edited for {window} s after sending it"
            )
        previous = message.text
        message.text, message.edited_at = text, now
        message.save(update_fields=["text", "edited_at"])
        return [message], {"text": text, "previous": previous}

    return _change(
        room_name=room_name, identity=identity, seq=seq, client_id=client_id, now=now, kind=MessageChange.Kind.EDIT,
        apply=apply,
    )  # fmt: skip


def delete_message(
    *, room_name: str, identity: Identity, seq: int, client_id: str | None, now: datetime | None = None
) -> ChangeResult:
    """Delete the author's own message (at any time), or, for staff, anyone's. Its reactions go
    with it and the replies to it show their quote removed. Deleting a deleted message changes
    nothing."""
    now = now or timezone.now()
    repeat = _repeat(room_name, identity, client_id)
    if repeat is not None:
        return repeat

    def apply(message: Message) -> Outcome | None:
        if message.visitor != identity.visitor and not identity.staff:
            raise ChangeRefused(ErrorCode.NOT_AUTHOR, "only its author or a moderator may delete a message")
        by_author = message.visitor == identity.visitor
        reason = AUTHOR_DELETED_REASON if by_author else ""
        return _tombstone(message, by=identity.name, reason=reason, now=now), {"by": identity.name, "reason": reason}

    return _change(
        room_name=room_name, identity=identity, seq=seq, client_id=client_id, now=now,
        kind=MessageChange.Kind.DELETE, apply=apply, done_if_deleted=True,
    )  # fmt: skip


def moderator_delete(*, message: Message, by: str, reason: str = "", now: datetime | None = None) -> ChangeResult:
    """A moderator's deletion from the admin or the moderation API (``by``: their username)."""
    now = now or timezone.now()
    moderator = Identity(visitor="", name=by, staff=True)

    def apply(found: Message) -> Outcome:
        return _tombstone(found, by=by, reason=reason, now=now), {"by": by, "reason": reason}

    return _change(
        room_name=message.room.name, identity=moderator, seq=message.seq, client_id=None, now=now,
        kind=MessageChange.Kind.DELETE, apply=apply, done_if_deleted=True,
    )  # fmt: skip


def emoji_key(emoji: str) -> str:
    """How a reaction's emoji is stored: its code points in hex ("1f389"; "2764-fe0f"). MySQL's
    utf8mb4 collations compare every emoji as equal to every other, so 👍 stored as itself would
    collide with 🎉 in the one-per-person constraint and in lookups; ASCII compares as itself on
    every engine."""
    return "-".join(f"{ord(char):x}" for char in emoji)


def emoji_from_key(key: str) -> str:
    return "".join(chr(int(code, 16)) for code in key.split("-"))


def react(
    *, room_name: str, identity: Identity, seq: int, emoji: str, on: bool, client_id: str | None,
    ip: str | None = None, now: datetime | None = None,
) -> ChangeResult:  # fmt: skip
    """Add (``on``) or take back the person's reaction ``emoji``; one per person per emoji, so
    adding one that is there (or taking back one that is not) changes nothing."""
    if emoji not in REACTION_EMOJI:
        raise ChangeRefused(ErrorCode.BAD_EMOJI, f"a reaction is one of {' '.join(REACTION_EMOJI)}")
    now = now or timezone.now()
    repeat = _repeat(room_name, identity, client_id)
    if repeat is not None:
        return repeat
    check_may_write(room_name=room_name, identity=identity, ip=ip, now=now)

    def apply(message: Message) -> Outcome | None:
        mine = Reaction.objects.filter(message=message, emoji=emoji_key(emoji), visitor=identity.visitor)
        if on == mine.exists():
            return None  # already so: nothing to record
        if on:
            Reaction.objects.create(
                message=message, emoji=emoji_key(emoji), visitor=identity.visitor, name=identity.name, created_at=now
            )
        else:
            mine.delete()
        message.reactions = reaction_summary(message)
        message.save(update_fields=["reactions"])
        return [message], {"emoji": emoji}

    kind = MessageChange.Kind.REACT if on else MessageChange.Kind.UNREACT
    return _change(
        room_name=room_name, identity=identity, seq=seq, client_id=client_id, now=now, kind=kind, apply=apply
    )


def check_may_write(*, room_name: str, identity: Identity, ip: str | None, now: datetime) -> None:
    """An edit or a reaction writes to the room as a message does: not while banned or muted, nor
    in a locked room (staff excepted). Slow mode and the duplicate rule are about new messages.
    Deleting one's own message is always allowed."""
    in_force = moderation.sanctions_in_force(visitor=identity.visitor, ip=ip, now=now)
    for kind, code in ((Sanction.Kind.BAN, ErrorCode.BANNED), (Sanction.Kind.MUTE, ErrorCode.MUTED)):
        if kind in in_force:
            raise ChangeRefused(code, moderation.describe(in_force[kind]))
    if not identity.staff and Room.objects.filter(name=room_name, locked=True).exists():
        raise ChangeRefused(ErrorCode.ROOM_LOCKED, "a moderator has locked this room; it is read-only")


def reaction_summary(message: Message) -> list[ReactionDict]:
    """The reactions a page shows, from the Reaction rows: [{emoji, count, names, visitors}] in
    REACTION_EMOJI order, names the first REACTION_NAMES_SHOWN to react and visitors their public
    ids, in the same order (so a page knows its own reaction after a reload). One query, rows for
    every reactor: a message's reactors are the people of one conversation."""
    counts: dict[str, int] = {}
    names: dict[str, list[str]] = {}
    visitors: dict[str, list[str]] = {}
    rows = Reaction.objects.filter(message=message).order_by("id").values_list("emoji", "name", "visitor")
    for key, name, visitor in rows:
        emoji = emoji_from_key(key)
        counts[emoji] = counts.get(emoji, 0) + 1
        shown = names.setdefault(emoji, [])
        if len(shown) < REACTION_NAMES_SHOWN:
            shown.append(name)
            visitors.setdefault(emoji, []).append(visitor)
    return [
        {"emoji": emoji, "count": counts[emoji], "names": names[emoji], "visitors": visitors[emoji]}
        for emoji in REACTION_EMOJI
        if emoji in counts
    ]


def _tombstone(message: Message, *, by: str, reason: str, now: datetime) -> list[Message]:
    """Delete ``message``: its reactions go, the replies quoting it show the quote removed. The
    changed messages (it, then the replies), each to be given the change's rev."""
    message.deleted_at, message.deleted_by, message.deleted_reason = now, by, reason
    Reaction.objects.filter(message=message).delete()
    message.reactions = []
    message.save(update_fields=["deleted_at", "deleted_by", "deleted_reason", "reactions"])
    replies = list(
        Message.objects.select_for_update()
        .filter(room_id=message.room_id, reply_to_seq=message.seq, deleted_at__isnull=True)
        .order_by("seq")
    )
    removed = {"author": "", "excerpt": "", "deleted": True}
    for reply in replies:
        reply.reply_quote = removed
        reply.room = message.room
        reply.save(update_fields=["reply_quote"])
    return [message, *replies]


def _repeat(room_name: str, identity: Identity, client_id: str | None) -> ChangeResult | None:
    """The answer to a repeated client_id: the first change's rev, nothing applied."""
    if client_id is None:
        return None
    first = (
        MessageChange.objects.filter(room__name=room_name, visitor=identity.visitor, client_id=client_id)
        .values_list("rev", "seq")
        .first()
    )
    if first is None:
        return None
    rev, seq = first
    message = Message.objects.select_related("room").filter(room__name=room_name, seq=seq).first()
    return ChangeResult(rev=rev, applied=False, message=message)


def _change(*, room_name, identity, seq, client_id, now, kind, apply, done_if_deleted=False) -> ChangeResult:
    """Run ``apply`` on message ``seq`` in a transaction that takes the room's next rev and records
    the change; retried on a MySQL/MariaDB deadlock, answered as a repeat when the same client_id
    raced in from another socket."""
    deadlocks = 0
    while True:
        try:
            return _apply(
                room_name=room_name, identity=identity, seq=seq, client_id=client_id, now=now, kind=kind,
                apply=apply, done_if_deleted=done_if_deleted,
            )  # fmt: skip
        except IntegrityError:
            repeat = _repeat(room_name, identity, client_id)
            if repeat is None:
                raise
            return repeat
        except OperationalError as error:
            deadlocks += 1
            if not _is_deadlock(error) or deadlocks >= DEADLOCK_ATTEMPTS or connection.in_atomic_block:
                raise
        except _NothingChanged as unchanged:
            return ChangeResult(rev=unchanged.message.rev, applied=False, message=unchanged.message)


class _NothingChanged(Exception):
    """Rolls back the rev taken for a change that turned out to change nothing."""

    def __init__(self, message: Message) -> None:
        super().__init__()
        self.message = message


def _apply(*, room_name, identity, seq, client_id, now, kind, apply, done_if_deleted) -> ChangeResult:
    """``apply(message)`` returns the messages it changed and the change's payload, or None when
    it changed nothing; ``done_if_deleted``: a deleted message is not refused but left as it is."""
    with transaction.atomic():
        bumped = bump_room_counter(room_name, "last_rev")
        if bumped is None:
            raise ChangeRefused(ErrorCode.NOT_FOUND, "no such message in this room")
        room_id, rev = bumped
        room = Room.from_db(connection.alias, ["id", "name"], [room_id, room_name])
        message = Message.objects.select_for_update().filter(room_id=room_id, seq=seq).first()
        if message is None:
            raise ChangeRefused(ErrorCode.NOT_FOUND, "no such message in this room")
        message.room = room
        if message.deleted_at is not None:
            if not done_if_deleted:
                raise ChangeRefused(ErrorCode.NOT_FOUND, "this message was deleted")
            raise _NothingChanged(message)
        outcome = apply(message)
        if outcome is None:
            raise _NothingChanged(message)
        changed, payload = outcome
        Message.objects.filter(pk__in=[each.pk for each in changed]).update(rev=rev)
        for each in changed:
            each.rev = rev
        MessageChange.objects.create(
            room=room, rev=rev, seq=seq, kind=kind, visitor=identity.visitor, client_id=client_id, payload=payload,
            created_at=now,
        )  # fmt: skip
    return ChangeResult(rev=rev, applied=True, messages=changed, message=changed[0], kind=kind)
