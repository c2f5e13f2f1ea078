"""Sanctions in force, kept in each process: the checks every connect (an address ban) and every
``auth`` (bans and mutes of the identity and its address) make without a trip to the database.

A join storm (a platform restart: thousands of pages reconnecting at once) asked the database the
same two questions for every socket, on the one database thread every join waits for. Sanctions
change rarely, so each process keeps, per visitor id and per address, the rows in force when it
last read them, and drops everything whenever a sanction changes anywhere:

- every write of a sanction (``chat.moderation``'s services, the admin, carried mutes) clears
  this process's copy at once and publishes ``sanctions.changed`` to the layer group
  ``sanctions``, which every process's fan-out joins when it starts (``chat.fanout``): the other
  processes clear theirs when it arrives, before the ``moderated`` notice published after it
  (one layer channel per process, read in order). The publication is repeated after the commit
  when the write is inside a transaction, so no process keeps what it read before the commit.
- a process that may have missed an invalidation (its layer failed or reconnected) clears its
  copy and caches nothing until its fan-out is in the group again;
- a read that began before an invalidation does not store what it read (a generation count);
- an entry is read again after ``MAX_AGE_SECS`` whatever happens (a publication that failed);
- ``until`` is checked on every use, so a sanction that runs out ends on time;
- only "nothing in force" is answered from the copy: a copy that holds a ban or a mute is read
  again from the database before the socket is refused or told it is muted (a refused page is
  rare, and a lift written any way at all, even by hand in the database, lets it in at once).

While few sanctions are in force anywhere (at most ``MAX_WHOLE_ROWS``, as on most sites), the
first read keeps all of them, and every visitor id and address is answered from that one copy,
under the same rules: a restart's reconnect storm brings thousands of visitors this process has
never seen, and each one cost a trip to the database thread of its own before its `auth` was
answered. The token endpoint asks that copy too (``may_apply``): whether any sanction could
concern a new token, its address's carried sanctions included; a first-visit storm's tokens then
need no database at all.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Final, NamedTuple

from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.signals import post_delete, post_save

from chat.models import Sanction

GROUP = "sanctions"  # the layer group every process's fan-out joins
CHANGED: Final = "sanctions.changed"  # the layer message type: drop every cached sanction
MAX_AGE_SECS = 60.0
# Entries kept per table (visitor ids, addresses) at most, the oldest dropped first: a client
# cycling through identities or addresses must not grow the process.
MAX_ENTRIES = 10_000

_lock = threading.Lock()
_generation = 0
_listening = 0  # fan-outs in the group: invalidations published elsewhere reach this process
_by_visitor: dict[str, tuple[float, tuple[Sanction, ...]]] = {}
_by_ip: dict[str, tuple[float, tuple[Sanction, ...]]] = {}
# Every sanction in force, when there were at most this many.
MAX_WHOLE_ROWS = 1_000


class Whole(NamedTuple):
    read_at_mono: float
    by_visitor: dict[str, list[Sanction]]
    by_ip: dict[str, list[Sanction]]
    by_seen_ip: dict[str, list[Sanction]]  # where the sanctioned identity was seen (carry-over)


_whole: Whole | None = None


def clear() -> None:
    """Forget every cached sanction (a sanction changed, or an invalidation may have been missed)."""
    global _generation, _whole
    with _lock:
        _generation += 1
        _by_visitor.clear()
        _by_ip.clear()
        _whole = None


def listening(on: bool) -> None:
    """A fan-out joined the ``sanctions`` group (True) or may have missed messages to it (False):
    only while some fan-out listens does this process keep anything."""
    global _listening
    with _lock:
        _listening = _listening + 1 if on else max(0, _listening - 1)
    if not on:
        clear()


def reset() -> None:
    """Tests: nothing cached, nobody listening (the fan-outs are being dropped)."""
    global _listening
    with _lock:
        _listening = 0
    clear()


def _fresh(table: dict, key: str, now_mono: float) -> tuple[Sanction, ...] | None:
    entry = table.get(key)
    if entry is None or now_mono - entry[0] > MAX_AGE_SECS:
        return None
    return entry[1]


def _strongest(rows: list[Sanction], now: datetime) -> dict[str, Sanction]:
    """As ``chat.moderation.sanctions_in_force``: by kind, one without an end first, then the one
    that ends last."""
    running = [row for row in rows if _running_at(row, now)]
    running.sort(key=lambda row: (row.until is not None, -(row.until.timestamp() if row.until else 0), row.pk))
    strongest: dict[str, Sanction] = {}
    for row in running:
        strongest.setdefault(row.kind, row)
    return strongest


def cached_in_force(*, visitor: str, ip: str | None, now: datetime) -> dict[str, Sanction] | None:
    """The strongest ban and mute in force for ``visitor`` (may be "") or address ``ip``, from
    this process's copy; None when part of it is not cached (ask ``in_force``). No database."""
    now_mono = time.monotonic()
    whole = _fresh_whole(now_mono)
    if whole is not None:
        return _strongest(_of(visitor, ip, by_visitor=whole.by_visitor, by_ip=whole.by_ip), now)
    rows: dict[int, Sanction] = {}
    if visitor:
        found = _fresh(_by_visitor, visitor, now_mono)
        if found is None:
            return None
        rows.update((row.pk, row) for row in found)
    if ip:
        found = _fresh(_by_ip, ip, now_mono)
        if found is None:
            return None
        rows.update((row.pk, row) for row in found)
    return _strongest(list(rows.values()), now)


def in_force(*, visitor: str, ip: str | None, now: datetime) -> dict[str, Sanction]:
    """As ``cached_in_force``, reading what is not cached from the database (and keeping it)."""
    cached = cached_in_force(visitor=visitor, ip=ip, now=now)
    if cached is not None:
        return cached
    return read_in_force(visitor=visitor, ip=ip, now=now)


def read_in_force(*, visitor: str, ip: str | None, now: datetime) -> dict[str, Sanction]:
    """As ``cached_in_force``, read from the database whatever is kept (and kept)."""
    with _lock:
        generation, keep = _generation, _listening > 0
    if keep and _fresh_whole(time.monotonic()) is None:
        # No copy of every sanction in force: try to make one (a confirmation of a ban or a mute
        # the copy holds reads only this visitor's and address's rows, below).
        whole = _read_whole(now, generation)
        if whole is not None:
            return _strongest(_of(visitor, ip, by_visitor=whole.by_visitor, by_ip=whole.by_ip), now)
    target = Q(pk__in=[])
    if visitor:
        target |= Q(visitor=visitor)
    if ip:
        target |= Q(ip=ip)
    rows = list(_running(now).filter(target).order_by(F("until").desc(nulls_first=True), "pk"))
    if keep:
        now_mono = time.monotonic()
        with _lock:
            if generation == _generation:  # no sanction changed while we read
                if visitor:
                    _keep(_by_visitor, visitor, (now_mono, tuple(row for row in rows if row.visitor == visitor)))
                if ip:
                    _keep(_by_ip, ip, (now_mono, tuple(row for row in rows if row.ip == ip)))
    return _strongest(rows, now)


def cached_may_apply(*, visitor: str, ip: str | None, now: datetime, carry_secs: int) -> bool | None:
    """Whether any sanction in force could concern a token for ``visitor`` at ``ip``: one of the
    visitor's or the address's, or one whose identity was seen at the address within
    ``carry_secs`` (chat.moderation.carry_over's window), from the whole copy; None when there is
    no whole copy (ask the database: chat.views.sanction_may_apply). No database."""
    whole = _fresh_whole(time.monotonic())
    if whole is None:
        return None
    if any(_running_at(row, now) for row in _of(visitor, ip, by_visitor=whole.by_visitor, by_ip=whole.by_ip)):
        return True
    if not ip or not carry_secs:
        return False
    carried_since = now - timedelta(seconds=carry_secs)
    return any(
        row.carried_from_id is None and row.created_at >= carried_since and _running_at(row, now)
        for row in whole.by_seen_ip.get(_as_stored(ip), ())
    )


def may_apply(*, visitor: str, ip: str | None, now: datetime, carry_secs: int) -> bool | None:
    """As ``cached_may_apply``, making the whole copy first when this process may keep one (on
    the database thread); None when it cannot (too many sanctions in force, or nobody listens)."""
    cached = cached_may_apply(visitor=visitor, ip=ip, now=now, carry_secs=carry_secs)
    if cached is not None:
        return cached
    with _lock:
        generation, keep = _generation, _listening > 0
    if not keep or _read_whole(now, generation) is None:
        return None
    return cached_may_apply(visitor=visitor, ip=ip, now=now, carry_secs=carry_secs)


def _fresh_whole(now_mono: float) -> Whole | None:
    whole = _whole
    if whole is None or now_mono - whole.read_at_mono > MAX_AGE_SECS:
        return None
    return whole


def _read_whole(now: datetime, generation: int) -> Whole | None:
    """Every sanction in force, read and kept (unless one changed meanwhile); None when over
    ``MAX_WHOLE_ROWS``."""
    rows = list(_running(now).order_by("pk")[: MAX_WHOLE_ROWS + 1])
    if len(rows) > MAX_WHOLE_ROWS:
        return None
    whole = Whole(time.monotonic(), {}, {}, {})
    for row in rows:
        if row.visitor:
            whole.by_visitor.setdefault(row.visitor, []).append(row)
        if row.ip:
            whole.by_ip.setdefault(row.ip, []).append(row)
        if row.seen_ip:
            whole.by_seen_ip.setdefault(row.seen_ip, []).append(row)
    _keep_whole(generation, whole)
    return whole


def _running_at(row: Sanction, now: datetime) -> bool:
    return row.until is None or row.until > now


def _running(now: datetime):
    return Sanction.objects.filter(lifted_at__isnull=True).filter(Q(until__isnull=True) | Q(until__gt=now))


def _of(
    visitor: str, ip: str | None, *, by_visitor: dict[str, list[Sanction]], by_ip: dict[str, list[Sanction]]
) -> list[Sanction]:
    """The rows of the whole copy that name ``visitor`` or address ``ip`` (each once)."""
    rows = list(by_visitor.get(visitor, ())) if visitor else []
    if ip:
        rows += [row for row in by_ip.get(_as_stored(ip), ()) if row not in rows]
    return rows


def _as_stored(ip: str) -> str:
    # The model field writes IPv6 addresses in their shortest form.
    return _IP_FIELD.get_prep_value(ip) if ":" in ip else ip


_IP_FIELD = Sanction._meta.get_field("ip")


def _keep_whole(generation: int, whole: Whole) -> None:
    global _whole
    with _lock:
        if generation == _generation:  # no sanction changed while we read
            _whole = whole


def _keep(table: dict, key: str, entry: tuple) -> None:
    table.pop(key, None)
    table[key] = entry
    while len(table) > MAX_ENTRIES:
        table.pop(next(iter(table)))


def address_ban(*, ip: str, now: datetime) -> Sanction | None:
    """The ban in force for the address (connect's check), as ``chat.moderation.active_sanction``,
    read from the database."""
    return read_in_force(visitor="", ip=ip, now=now).get(Sanction.Kind.BAN)


def cached_address_ban(*, ip: str, now: datetime) -> tuple[bool, Sanction | None]:
    """(known, ban): known False when the address is not cached."""
    found = cached_in_force(visitor="", ip=ip, now=now)
    return (False, None) if found is None else (True, found.get(Sanction.Kind.BAN))


# --- Invalidation -----------------------------------------------------------------------------------


def sanctions_changed() -> None:
    """A sanction was written (created, lifted, changed): every process drops its copy. Here at
    once, and everywhere through the layer; once more after the commit when inside a transaction."""
    _clear_everywhere()
    if connection.in_atomic_block:
        transaction.on_commit(_clear_everywhere)


def _clear_everywhere() -> None:
    from chat.broadcast import send_to_group  # not at import: chat.broadcast reaches chat.protocol

    clear()
    send_to_group({"type": CHANGED, "group": GROUP, "frame": ""})


def _on_save(sender, **kwargs) -> None:
    sanctions_changed()


post_save.connect(_on_save, sender=Sanction, dispatch_uid="chat.sanction_cache.saved")
post_delete.connect(_on_save, sender=Sanction, dispatch_uid="chat.sanction_cache.deleted")
