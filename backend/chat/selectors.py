"""Reads. Plain synchronous functions returning model instances, oldest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from chat import page_cache, presence
from chat.identity import Identity, staff_user_pk
from chat.models import BlockedWord, Message, Presence, Room, column_of
from chat.resume import should_resume


@dataclass(frozen=True)
class Page:
    messages: list[Message]  # oldest first
    has_older: bool  # messages exist before messages[0] (or at all, when the page is empty)


def latest_seq(*, room_name: str) -> int:
    """The room's newest seq; 0 for an empty or unknown room."""
    return Room.objects.filter(name=room_name).values_list("last_seq", flat=True).first() or 0


def latest_seqs(*, room_names: list[str]) -> dict[str, int]:
    """``latest_seq`` for several rooms in one query."""
    found = dict(Room.objects.filter(name__in=room_names).values_list("name", "last_seq"))
    return {name: found.get(name, 0) for name in room_names}


def latest_revs(*, room_names: list[str]) -> dict[str, int]:
    """Each room's newest rev (0 for a room without changes or unknown), in one query."""
    found = dict(Room.objects.filter(name__in=room_names).values_list("name", "last_rev"))
    return {name: found.get(name, 0) for name in room_names}


def is_staff_account(*, visitor: str) -> bool:
    """True while the user behind a staff identity exists, is active and is staff. A staff token
    proves a sign-in, not that the account still has the right: tokens are re-checked with this."""
    pk = staff_user_pk(visitor)
    if pk is None:
        return False
    return get_user_model().objects.filter(pk=pk, is_active=True, is_staff=True).exists()


def messages_after(*, room_name: str, after_seq: int, limit: int) -> list[Message]:
    """Messages with seq > after_seq, oldest first, at most ``limit``."""
    return list(
        Message.objects.filter(room__name=room_name, seq__gt=after_seq).select_related("room").order_by("seq")[:limit]
    )


def messages_before(*, room_name: str, before_seq: int | None, limit: int) -> Page:
    """The ``limit`` newest messages with seq < before_seq (all when None), oldest first."""
    query = Message.objects.filter(room__name=room_name).select_related("room")
    if before_seq is not None:
        query = query.filter(seq__lt=before_seq)
    # One more than asked tells whether older messages remain, without a COUNT.
    newest_first = list(query.order_by("-seq")[: limit + 1])
    return Page(messages=list(reversed(newest_first[:limit])), has_older=len(newest_first) > limit)


def latest_page(*, room_name: str, limit: int) -> Page:
    return messages_before(room_name=room_name, before_seq=None, limit=limit)


@dataclass(frozen=True)
class CatchUp:
    latest_seq: int
    resumed: bool  # True: ``messages`` is every message after the client's after_seq
    messages: list[Message]
    has_older: bool
    # On a resume: tombstones of messages at or before after_seq (within resume_limit of it), so a
    # page that missed a live `deleted` event drops the message it still shows.
    repairs: list[Message] = ()  # type: ignore[assignment]
    # Version 3: the room's newest rev (read before the log, so nothing after it is missed) and,
    # on a resume, the messages the client shows that changed since its after_rev, by rev.
    latest_rev: int = 0
    changes: list[Message] = ()  # type: ignore[assignment]
    # Not a resume: the latest page's entry in this process's copy (chat.page_cache), where a
    # join keeps the page's encoded events for the next joins.
    page_entry: page_cache.Entry | None = None


def changed_since(*, room_name: str, after_rev: int, first_seq: int, last_seq: int, limit: int) -> list[Message]:
    """Messages with first_seq <= seq <= last_seq changed after ``after_rev`` (each once, in its
    current state), by rev, at most ``limit``."""
    return list(
        Message.objects.filter(room__name=room_name, rev__gt=after_rev, seq__gte=first_seq, seq__lte=last_seq)
        .select_related("room")
        .order_by("rev", "seq")[:limit]
    )


def deleted_before(*, room_name: str, after_seq: int, window: int) -> list[Message]:
    """Deleted messages with after_seq - window < seq <= after_seq, oldest first."""
    return list(
        Message.objects.filter(
            room__name=room_name, seq__gt=after_seq - window, seq__lte=after_seq, deleted_at__isnull=False
        )
        .select_related("room")
        .order_by("seq")
    )


Bounds = tuple[int, int, int]  # a room's (last_seq, last_rev, pruned_seq)


_ROOM_ROW_COLUMNS = ("last_seq", "last_rev", "pruned_seq", "locked", "slow_mode_secs")


def room_row(*, room_name: str) -> tuple[Bounds, bool, int]:
    """The room's bounds, ``locked`` and ``slow_mode_secs`` in one read (zeros for an unknown room).
    Written out: every trip of a join batch reads it, and the ORM spent several times longer
    building the query than the database took to answer it."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column_of(Room, column)) for column in _ROOM_ROW_COLUMNS)
    sql = f"SELECT {columns} FROM {quote(Room._meta.db_table)} WHERE {quote(column_of(Room, 'name'))} = %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [room_name])
        row = cursor.fetchone()
    if row is None:
        return (0, 0, 0), False, 0
    return (row[0], row[1], row[2]), bool(row[3]), row[4]  # SQLite and MySQL answer 0 or 1 for a boolean


def latest_page_at(*, room_name: str, limit: int, bounds: Bounds) -> tuple[Page, page_cache.Entry]:
    """The room's latest page, from this process's copy when the room's bounds are still those it
    was read at (chat.page_cache), else from the log (and kept)."""
    entry = page_cache.get(room_name, bounds=bounds, limit=limit)
    if entry is None:
        page = latest_page(room_name=room_name, limit=limit)
        entry = page_cache.put(room_name, bounds=bounds, limit=limit, page=page)
    return entry.page, entry  # type: ignore[return-value]


class _KeptPage:
    """The room's latest page as this process keeps it (chat.page_cache), for a resume whose range
    lies within it: a restart's reconnect storm resumes thousands of pages over the same few
    messages. Filled by a resume only when the page will hold everything the resume adds."""

    def __init__(self, *, room_name: str, bounds: Bounds, history_limit: int, after_seq: int) -> None:
        entry = page_cache.get(room_name, bounds=bounds, limit=history_limit)
        if entry is None and bounds[0] - after_seq < history_limit:
            entry = latest_page_at(room_name=room_name, limit=history_limit, bounds=bounds)[1]
        self.page: Page | None = None if entry is None else entry.page  # type: ignore[assignment]

    def from_seq(self, seq: int) -> list[Message] | None:
        """Every message with seq >= ``seq``, oldest first, or None when the page may not hold
        them all (older messages exist and the page starts after ``seq``)."""
        page = self.page
        if page is None or (page.has_older and (not page.messages or page.messages[0].seq > seq)):
            return None
        return [message for message in page.messages if message.seq >= seq]


def catch_up(
    *,
    room_name: str,
    after_seq: int | None,
    history_limit: int,
    resume_limit: int,
    protocol: int = 2,
    after_rev: int | None = None,
    first_seq: int | None = None,
    bounds: Bounds | None = None,
) -> CatchUp:
    """What a (re)joining client needs: see the `joined` event in ARCHITECTURE.md. Version 3
    resumes changes by rev instead of version 2's window of tombstones. ``bounds``: the room's,
    when the caller read them already (``room_row``)."""
    if bounds is None:
        bounds = room_row(room_name=room_name)[0]
    if protocol >= 3:
        return _catch_up_v3(
            room_name=room_name, after_seq=after_seq, history_limit=history_limit, resume_limit=resume_limit,
            after_rev=after_rev or 0, first_seq=first_seq or 1, bounds=bounds,
        )  # fmt: skip
    latest, _, pruned = bounds
    resumable = should_resume(after_seq=after_seq, latest_seq=latest, resume_limit=resume_limit, pruned_seq=pruned)
    if resumable and after_seq is not None:  # (should_resume is False without after_seq)
        # From the kept page when it holds the range (as the log was at `bounds`; anything newer
        # arrives live: the join subscribed first), else from the log, where messages stored
        # since `latest` was read come along too (the bound allows for them).
        kept = _KeptPage(room_name=room_name, bounds=bounds, history_limit=history_limit, after_seq=after_seq)
        messages = kept.from_seq(after_seq + 1)
        if messages is None:
            messages = messages_after(room_name=room_name, after_seq=after_seq, limit=resume_limit + history_limit)
        newest = messages[-1].seq if messages else latest
        repairs = []
        if after_seq:
            window = kept.from_seq(after_seq - resume_limit + 1)
            if window is None:
                repairs = deleted_before(room_name=room_name, after_seq=after_seq, window=resume_limit)
            else:
                repairs = [message for message in window if message.seq <= after_seq and message.deleted_at]
        return CatchUp(
            latest_seq=max(latest, newest), resumed=True, messages=messages, has_older=after_seq > pruned,
            repairs=repairs,
        )  # fmt: skip
    page, entry = latest_page_at(room_name=room_name, limit=history_limit, bounds=bounds)
    newest = page.messages[-1].seq if page.messages else latest
    return CatchUp(
        latest_seq=max(latest, newest), resumed=False, messages=page.messages, has_older=page.has_older,
        page_entry=entry,
    )  # fmt: skip


def _catch_up_v3(
    *,
    room_name: str,
    after_seq: int | None,
    history_limit: int,
    resume_limit: int,
    after_rev: int,
    first_seq: int,
    bounds: Bounds,
) -> CatchUp:
    latest, latest_rev, pruned = bounds
    resumable = should_resume(after_seq=after_seq, latest_seq=latest, resume_limit=resume_limit, pruned_seq=pruned)
    if resumable and after_seq is not None and after_rev <= latest_rev:  # (not resumable without after_seq)
        # From the kept page when it holds the range, else from the log (as version 2 above).
        kept = _KeptPage(room_name=room_name, bounds=bounds, history_limit=history_limit, after_seq=after_seq)
        changes = []
        if after_seq:
            window = kept.from_seq(first_seq)
            if window is None:
                changes = changed_since(
                    room_name=room_name, after_rev=after_rev, first_seq=first_seq, last_seq=after_seq,
                    limit=resume_limit + 1,
                )  # fmt: skip
            else:
                changed = [message for message in window if message.seq <= after_seq and message.rev > after_rev]
                changes = sorted(changed, key=lambda message: (message.rev, message.seq))[: resume_limit + 1]
        if len(changes) <= resume_limit:  # more: the client is better off replacing its view
            messages = kept.from_seq(after_seq + 1)
            if messages is None:
                messages = messages_after(room_name=room_name, after_seq=after_seq, limit=resume_limit + history_limit)
            newest = messages[-1].seq if messages else latest
            return CatchUp(
                latest_seq=max(latest, newest), resumed=True, messages=messages, has_older=after_seq > pruned,
                latest_rev=latest_rev, changes=changes,
            )  # fmt: skip
    page, entry = latest_page_at(room_name=room_name, limit=history_limit, bounds=bounds)
    newest = page.messages[-1].seq if page.messages else latest
    return CatchUp(
        latest_seq=max(latest, newest), resumed=False, messages=page.messages, has_older=page.has_older,
        latest_rev=latest_rev, page_entry=entry,
    )  # fmt: skip


@dataclass(frozen=True)
class RoomView:
    """Everything a `joined` answer needs, read in one trip to the database thread."""

    catch_up: CatchUp
    locked: bool
    slow_mode_secs: int
    presence: presence.Snapshot


def room_view(
    *,
    room_name: str,
    after_seq: int | None,
    history_limit: int,
    resume_limit: int,
    presence_list_limit: int,
    protocol: int = 2,
    after_rev: int | None = None,
    first_seq: int | None = None,
    shared: dict | None = None,
) -> RoomView:
    """``shared``: what joins of one batch (``enter_and_view_many``) read once per room: the room's
    row and its presence snapshot, both read after every row of the batch was written."""
    key = (room_name, presence_list_limit)
    if shared is not None and key in shared:
        row, snapshot = shared[key]
    else:
        row = room_row(room_name=room_name)
        snapshot = presence.snapshot(room=room_name, list_limit=presence_list_limit)
        if shared is not None:
            shared[key] = row, snapshot
    bounds, locked, slow_mode_secs = row
    log = catch_up(
        room_name=room_name, after_seq=after_seq, history_limit=history_limit, resume_limit=resume_limit,
        protocol=protocol, after_rev=after_rev, first_seq=first_seq, bounds=bounds,
    )  # fmt: skip
    return RoomView(catch_up=log, locked=locked, slow_mode_secs=slow_mode_secs, presence=snapshot)


def enter_and_view(
    *,
    room_name: str,
    channel_name: str,
    identity: Identity | None,
    now: datetime,
    ip: str | None,
    fresh: bool = False,
    **view: Any,
) -> tuple[bool, RoomView]:
    """A join's database work in one call (one trip to the database thread): the socket's presence
    row (``presence.enter``: True when that is an arrival to announce), then ``room_view``."""
    arrived = presence.enter(room=room_name, channel_name=channel_name, identity=identity, now=now, ip=ip, fresh=fresh)
    return arrived, room_view(room_name=room_name, **view)


def enter_and_view_many(*, joins: list[dict]) -> list[tuple[bool, RoomView]]:
    """Several joins' ``enter_and_view`` (each a dict of its arguments) in one trip, answered in
    their order. The presence rows are written first, in one transaction (one commit): the rows of
    sockets new to their room (``fresh``, a storm's joins) in one statement
    (``presence.enter_fresh_many``), any others one by one before them, each person's lock taken
    in (room, visitor) order so two processes' batches cannot deadlock. MySQL's named locks are
    released before an outer commit, so there each row keeps a transaction of its own. Then each
    room's row and presence snapshot are read once for all of its joins (every row of the batch
    counted, as each join's own snapshot counts its own row)."""
    order = sorted(range(len(joins)), key=lambda i: (joins[i]["room_name"], _visitor_of(joins[i]), i))
    arrived: dict[int, bool] = {}
    if connection.vendor == "mysql":
        for i in order:
            arrived[i] = _enter(joins[i], fresh=joins[i].get("fresh", False))
    else:
        with transaction.atomic():
            fresh = [i for i in order if joins[i].get("fresh", False)]
            if connection.vendor == "postgresql":
                # Every person's lock of the batch first, in order (taking one again in the same
                # transaction, below, does not wait): a global order across processes.
                presence.lock_people(
                    {(joins[i]["room_name"], joins[i]["identity"].visitor) for i in order if joins[i]["identity"]}
                )
            for i in order:
                if not joins[i].get("fresh", False):
                    arrived[i] = _enter(joins[i], fresh=False)
            entering = [
                presence.Entering(
                    room=joins[i]["room_name"],
                    channel_name=joins[i]["channel_name"],
                    identity=joins[i]["identity"],
                    now=joins[i]["now"],
                    ip=joins[i]["ip"],
                )
                for i in fresh
            ]
            arrived.update(zip(fresh, presence.enter_fresh_many(entering), strict=True))
    shared: dict = {}
    views = []
    for i, join in enumerate(joins):
        view = {k: v for k, v in join.items() if k not in ("channel_name", "identity", "now", "ip", "fresh")}
        views.append((arrived[i], room_view(**view, shared=shared)))
    return views


def _visitor_of(join: dict) -> str:
    return join["identity"].visitor if join["identity"] else presence.READER


def _enter(join: dict, *, fresh: bool) -> bool:
    return presence.enter(
        room=join["room_name"], channel_name=join["channel_name"], identity=join["identity"],
        now=join["now"], ip=join["ip"], fresh=fresh,
    )  # fmt: skip


@dataclass(frozen=True)
class Seen:
    name: str  # the display name the visitor last used ("" when never seen)
    ip: str | None  # the address it was last seen at


def visitor_seen(*, visitor: str) -> Seen:
    """Where and as whom a visitor was last seen: an open socket, else its latest message."""
    row = Presence.objects.filter(visitor=visitor).order_by("-last_seen").values_list("name", "ip").first()
    if row is None or row[1] is None:
        message = Message.objects.filter(visitor=visitor).order_by("-sent_at").values_list("author", "ip").first()
        row = message or row
    return Seen(name=row[0], ip=row[1]) if row else Seen(name="", ip=None)


def names_of(*, visitor: str, limit: int = 3) -> list[str]:
    """The display names a visitor id went by (newest first), for moderators reading sanctions."""
    names: list[str] = []
    seen = Presence.objects.filter(visitor=visitor).order_by("-last_seen").values_list("name", flat=True)
    posted = Message.objects.filter(visitor=visitor).order_by("-sent_at").values_list("author", flat=True)
    for name in [*seen[:limit], *posted[: limit * 10]]:
        if name and name not in names:
            names.append(name)
    return names[:limit]


@dataclass(frozen=True)
class Target:
    """Whom a moderator acts on: the author of a message, or a person online in the room."""

    visitor: str
    name: str
    ip: str | None
    message: Message | None = None


def moderation_target(*, room_name: str, seq: int | None, visitor: str | None) -> Target:
    """Raises ``chat.moderation.NotFound`` for an unknown room, message or visitor."""
    from chat.moderation import NotFound  # the service module owns its refusals

    room = Room.objects.filter(name=room_name).first()  # a room exists once someone posted in it
    if seq is not None:
        if room is None:
            raise NotFound("no such room")
        message = Message.objects.filter(room=room, seq=seq).select_related("room").first()
        if message is None:
            raise NotFound("no such message in this room")
        return Target(visitor=message.visitor, name=message.author, ip=message.ip, message=message)
    row = (
        Presence.objects.filter(room_name=room_name, visitor=visitor)
        .exclude(visitor=presence.READER)
        .order_by("-last_seen")
        .values_list("name", "ip")
        .first()
    )
    if row is None and room is not None:
        row = Message.objects.filter(room=room, visitor=visitor).order_by("-seq").values_list("author", "ip").first()
    if row is None or not visitor:
        raise NotFound("nobody with that visitor id in this room")
    return Target(visitor=visitor, name=row[0], ip=row[1])


def blocked_words() -> list[BlockedWord]:
    """The word filter's entries (chat.wordfilter compiles them)."""
    return list(BlockedWord.objects.only("text", "kind", "action"))
