"""Retention: delete messages older than ``RETENTION_DAYS`` (``manage.py prune_messages``). Writes.

Only a **prefix** of each room's log is ever removed: the messages before the room's first one
that is not old enough, so seq stays gapless and the log simply starts later
(``Room.pruned_seq``: the last seq removed). A page of history then ends there (``has_older``
false), a client whose view reaches below it gets the latest page instead of a resume
(``chat.resume``), and replies that quote a removed original show it removed, as for a deletion:
their quote is blanked under one new rev, and version-3 pages get a `changed` for each.

Safe from a scheduler while the server runs: each batch is one short transaction holding the
room's row lock (the lock every message and change takes first), so nothing is posted, edited or
reacted to in the room halfway through a batch, and running it twice, or two at once, removes
nothing twice (a batch starts from ``pruned_seq`` as read under the lock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import OperationalError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from chat.broadcast import send_frames_to_room
from chat.events import change_frames
from chat.models import Message, MessageChange, Room
from chat.services import DEADLOCK_ATTEMPTS, _is_deadlock, bump_room_counter

# Messages deleted per transaction: the room's writers wait for one batch at most.
DEFAULT_BATCH_SIZE = 500
REMOVED_QUOTE = {"author": "", "excerpt": "", "deleted": True}


@dataclass(frozen=True)
class Batch:
    removed: int  # messages deleted
    through_seq: int  # the room's pruned_seq after it
    requoted: list[Message] = field(default_factory=list)  # replies whose quote now shows "removed"


@dataclass
class Pruned:
    cutoff: datetime
    messages: int = 0
    rooms: dict[str, int] = field(default_factory=dict)  # room name -> messages removed (or to remove)


def cutoff_for(days: int, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=days)


def prunable_through(*, room: Room, cutoff: datetime) -> int:
    """The last seq of the room's prefix of messages sent before ``cutoff`` (``room.pruned_seq``
    when there is none): the seq before the first newer message, else the room's newest one."""
    # The newest seq first, and only then the first newer message at or before it: read the other
    # way round, a message posted between the two reads (nothing newer yet, then a newest that is
    # the new message) was pruned with the old ones. Messages commit in seq order (each takes its
    # seq under the room's row lock), so one posted after the first read is past it.
    newest = Message.objects.filter(room=room).aggregate(newest=Max("seq"))["newest"] or 0
    newer = (
        Message.objects.filter(room=room, seq__gt=room.pruned_seq, seq__lte=newest, sent_at__gte=cutoff)
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )
    if newer is not None:
        return newer - 1
    return max(room.pruned_seq, newest)


def prune(
    *, days: int, batch_size: int = DEFAULT_BATCH_SIZE, now: datetime | None = None, room_name: str | None = None,
    dry_run: bool = False,
) -> Pruned:  # fmt: skip
    """Delete, room by room, the prefix of each log sent more than ``days`` days before ``now``
    (``room_name``: that room only), in batches of ``batch_size``. ``dry_run``: count only."""
    if days < 1:
        raise ValueError("days must be 1 or more (0 is 'keep for ever': nothing to prune)")
    done = Pruned(cutoff=cutoff_for(days, now))
    rooms = Room.objects.order_by("id")
    if room_name is not None:
        rooms = rooms.filter(name=room_name)
    # A list, not an iterator: the loop writes to the rooms (SQLite has no isolation within one
    # connection between a fetch in progress and a write).
    for room in list(rooms.only("id", "name", "pruned_seq")):
        through = prunable_through(room=room, cutoff=done.cutoff)
        if through <= room.pruned_seq:
            continue
        if dry_run:
            count = Message.objects.filter(room=room, seq__gt=room.pruned_seq, seq__lte=through).count()
        else:
            count = prune_room(room=room, through_seq=through, batch_size=batch_size)
        if count:
            done.rooms[room.name] = count
            done.messages += count
    return done


def prune_room(*, room: Room, through_seq: int, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Delete the room's messages up to ``through_seq`` (a prefix the caller found old enough),
    ``batch_size`` seqs per transaction; the replies quoting them are told. Messages removed."""
    removed = 0
    start = room.pruned_seq
    while start < through_seq:
        end = min(start + batch_size, through_seq)
        batch = _batch_with_retries(room=room, end_seq=end)
        removed += batch.removed
        if batch.requoted:
            send_frames_to_room(room.name, change_frames(MessageChange.Kind.PRUNE, batch.requoted))
        start = max(end, batch.through_seq)
    return removed


def _batch_with_retries(*, room: Room, end_seq: int) -> Batch:
    deadlocks = 0
    while True:
        try:
            return _batch(room=room, end_seq=end_seq)
        except OperationalError as error:  # a MySQL/MariaDB deadlock victim: nothing was done
            deadlocks += 1
            if not _is_deadlock(error) or deadlocks >= DEADLOCK_ATTEMPTS or connection.in_atomic_block:
                raise


def _batch(*, room: Room, end_seq: int) -> Batch:
    """One transaction: the room's messages after its pruned_seq up to ``end_seq`` go, with their
    changes; replies to them get a removed quote and, when a page shows that, one new rev."""
    with transaction.atomic():
        # The room's row lock first, as every writer of the room takes it (chat.services).
        start = Room.objects.select_for_update().filter(pk=room.pk).values_list("pruned_seq", flat=True).get()
        if start >= end_seq:
            return Batch(removed=0, through_seq=start)  # another run got here first
        # Its reactions and reports go with it (CASCADE); a held message approved into it keeps
        # its record, unlinked (SET_NULL). The count is of every row: the messages' is asked for.
        _, deleted = Message.objects.filter(room=room, seq__gt=start, seq__lte=end_seq).delete()
        removed = deleted.get(Message._meta.label, 0)
        MessageChange.objects.filter(room=room, seq__gt=start, seq__lte=end_seq).delete()
        Room.objects.filter(pk=room.pk).update(pruned_seq=end_seq)
        requoted = _remove_quotes(room=room, start=start, end_seq=end_seq)
    return Batch(removed=removed, through_seq=end_seq, requoted=requoted)


def _remove_quotes(*, room: Room, start: int, end_seq: int) -> list[Message]:
    """Blank the quotes of surviving replies to the removed messages (the excerpt is the removed
    text). Those a page shows (not deleted, not shown removed already) get one new rev, recorded
    as a ``prune`` change of the first of them."""
    replies = list(
        Message.objects.select_for_update()
        .filter(room=room, reply_to_seq__gt=start, reply_to_seq__lte=end_seq, seq__gt=end_seq)
        .order_by("seq")
    )
    if not replies:
        return []
    shown = [reply for reply in replies if reply.deleted_at is None and not (reply.reply_quote or {}).get("deleted")]
    Message.objects.filter(pk__in=[reply.pk for reply in replies]).update(reply_quote=REMOVED_QUOTE)
    if not shown:
        return []
    bumped = bump_room_counter(room.name, "last_rev")
    assert bumped is not None, "the room has a row: its messages are being pruned"
    _, rev = bumped
    Message.objects.filter(pk__in=[reply.pk for reply in shown]).update(rev=rev)
    for reply in shown:
        reply.reply_quote, reply.rev, reply.room = dict(REMOVED_QUOTE), rev, room
    MessageChange.objects.create(
        room=room, rev=rev, seq=shown[0].seq, kind=MessageChange.Kind.PRUNE,
        payload={"through_seq": end_seq, "replies": [reply.seq for reply in shown]},
    )  # fmt: skip
    return shown
