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
answered.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Final

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
# Every sanction in force, when there were at most this many: (read at, by visitor id, by address).
MAX_WHOLE_ROWS = 1_000
_whole: tuple[float, dict[str, list[Sanction]], dict[str, list[Sanction]]] | None = None


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
    running = [row for row in rows if row.until is None or row.until > now]
    running.sort(key=lambda row: (row.until is not None, -(row.until.timestamp() if row.until else 0), row.pk))
    strongest: dict[str, Sanction] = {}
    for row in running:
        strongest.setdefault(row.kind, row)
    return strongest


def cached_in_force(*, visitor: str, ip: str | None, now: datetime) -> dict[str, Sanction] | None:
    """The strongest ban and mute in force for ``visitor`` (may be "") or address ``ip``, from
    this process's copy; None when part of it is not cached (ask ``in_force``). No database."""
    now_mono = time.monotonic()
    whole = _whole
    if whole is not None and now_mono - whole[0] <= MAX_AGE_SECS:
        return _strongest(_of(visitor, ip, by_visitor=whole[1], by_ip=whole[2]), now)
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
        whole = _whole
    if keep and (whole is None or time.monotonic() - whole[0] > MAX_AGE_SECS):
        # No copy of every sanction in force: try to make one (a confirmation of a ban or a mute
        # the copy holds reads only this visitor's and address's rows, below).
        rows = list(_running(now).order_by("pk")[: MAX_WHOLE_ROWS + 1])
        if len(rows) <= MAX_WHOLE_ROWS:
            by_visitor: dict[str, list[Sanction]] = {}
            by_ip: dict[str, list[Sanction]] = {}
            for row in rows:
                if row.visitor:
                    by_visitor.setdefault(row.visitor, []).append(row)
                if row.ip:
                    by_ip.setdefault(row.ip, []).append(row)
            _keep_whole(generation, (time.monotonic(), by_visitor, by_ip))
            return _strongest(_of(visitor, ip, by_visitor=by_visitor, by_ip=by_ip), now)
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


def _running(now: datetime):
    return Sanction.objects.filter(lifted_at__isnull=True).filter(Q(until__isnull=True) | Q(until__gt=now))


def _of(
    visitor: str, ip: str | None, *, by_visitor: dict[str, list[Sanction]], by_ip: dict[str, list[Sanction]]
) -> list[Sanction]:
    """The rows of the whole copy that name ``visitor`` or address ``ip`` (each once)."""
    rows = list(by_visitor.get(visitor, ())) if visitor else []
    if ip:
        if ":" in ip:  # as stored: the model field writes IPv6 addresses in their shortest form
            ip = _IP_FIELD.get_prep_value(ip)
        rows += [row for row in by_ip.get(ip, ()) if row not in rows]
    return rows


_IP_FIELD = Sanction._meta.get_field("ip")


def _keep_whole(generation: int, whole: tuple) -> None:
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
