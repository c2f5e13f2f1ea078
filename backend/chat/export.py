"""A room's log as JSON or CSV, for its owner (``manage.py export_room``, the admin's "Export"
action on rooms). Reads, streamed: messages are read in batches of ``EXPORT_BATCH_SIZE`` by seq
and written as they come, so a room of any size costs one batch of memory.

Each message in its current state, in seq order: edits applied (``edited``, ``edited_at``), a
deleted message as a tombstone (its seq, date and ``deleted: true``, nothing of its author or
text, as pages show it), the seq it replies to, and its reaction counts. Addresses and client ids
stay out. A room the retention pruned starts at ``first_seq``.

CSV is for spreadsheets: UTF-8 with a byte-order mark (Excel reads Japanese right only with it),
one row per message, and the free-text cells (``author``, ``text``) that a spreadsheet would read
as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) prefixed with
``'``: a visitor's message must not run in the moderator's spreadsheet. JSON keeps every text
exactly as written.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Literal, TypedDict

from django.utils import timezone

from chat.identity import visitor_tag
from chat.models import Message, Room
from chat.protocol import REACTION_EMOJI, format_timestamp

Format = Literal["json", "csv"]
FORMATS: tuple[Format, ...] = ("json", "csv")
CONTENT_TYPES: dict[Format, str] = {"json": "application/json; charset=utf-8", "csv": "text/csv; charset=utf-8"}
# Messages read per query (keyset pagination by seq: no long-lived cursor, no OFFSET).
EXPORT_BATCH_SIZE = 500
CSV_COLUMNS = [
    "seq", "sent_at", "author", "visitor", "tag", "staff", "text", "edited", "edited_at", "deleted", "reply_to",
    "reactions",
]  # fmt: skip
# Cells starting with these are formulas to a spreadsheet (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BYTE_ORDER_MARK = "\ufeff"
_EXPORTED_FIELDS = ["seq", "sent_at", "author", "visitor", "staff", "text", "deleted_at", "edited_at", "reply_to_seq"]


class ExportedMessage(TypedDict):
    seq: int
    sent_at: str  # ISO 8601 UTC, as in `message` events
    author: str  # "" for a deleted message
    visitor: str  # the author's public id ("" for a deleted message)
    tag: str
    staff: bool
    text: str  # the current text; "" for a deleted message
    edited: bool
    edited_at: str | None
    deleted: bool
    reply_to: int | None  # the seq this message replies to
    reactions: dict[str, int]  # emoji -> count, in REACTION_EMOJI order, only those with a count


def messages_in_order(room: Room, *, batch_size: int | None = None) -> Iterator[Message]:
    """The room's messages by seq, read ``batch_size`` at a time as the caller goes."""
    batch_size = batch_size or EXPORT_BATCH_SIZE
    after = room.pruned_seq
    while True:
        batch = list(
            Message.objects.filter(room=room, seq__gt=after)
            .only(*_EXPORTED_FIELDS, "reactions")
            .order_by("seq")[:batch_size]
        )
        yield from batch
        if len(batch) < batch_size:
            return
        after = batch[-1].seq


def exported(message: Message) -> ExportedMessage:
    counts = {reaction["emoji"]: reaction["count"] for reaction in message.reactions or []}
    if message.deleted_at is not None:
        return {
            "seq": message.seq, "sent_at": format_timestamp(message.sent_at), "author": "", "visitor": "", "tag": "",
            "staff": False, "text": "", "edited": False, "edited_at": None, "deleted": True, "reply_to": None,
            "reactions": {},
        }  # fmt: skip
    return {
        "seq": message.seq,
        "sent_at": format_timestamp(message.sent_at),
        "author": message.author,
        "visitor": message.visitor,
        "tag": visitor_tag(message.visitor),
        "staff": message.staff,
        "text": message.text,
        "edited": message.edited_at is not None,
        "edited_at": format_timestamp(message.edited_at) if message.edited_at else None,
        "deleted": False,
        "reply_to": message.reply_to_seq,
        "reactions": {emoji: counts[emoji] for emoji in REACTION_EMOJI if counts.get(emoji)},
    }


def chunks(room: Room, fmt: Format, *, now: datetime | None = None, batch_size: int | None = None) -> Iterator[str]:
    """The export as text, a batch of messages per chunk (for a file or a streamed response)."""
    batch_size = batch_size or EXPORT_BATCH_SIZE
    rows = (exported(message) for message in messages_in_order(room, batch_size=batch_size))
    if fmt == "json":
        return _json_chunks(room, rows, now=now or timezone.now(), batch_size=batch_size)
    if fmt == "csv":
        return _csv_chunks(rows, batch_size=batch_size)
    raise ValueError(f"no export format {fmt!r}; one of {', '.join(FORMATS)}")


def filename(room: Room, fmt: Format, *, now: datetime | None = None) -> str:
    """``<room>-<UTC date>.<format>``: room names are safe in a file name as they are."""
    return f"{room.name}-{(now or timezone.now()):%Y%m%d}.{fmt}"


def _batched(rows: Iterator[ExportedMessage], size: int) -> Iterator[list[ExportedMessage]]:
    batch: list[ExportedMessage] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _json_chunks(room: Room, rows: Iterator[ExportedMessage], *, now: datetime, batch_size: int) -> Iterator[str]:
    head = {"room": room.name, "exported_at": format_timestamp(now), "first_seq": room.pruned_seq + 1}
    yield json.dumps(head, ensure_ascii=False)[:-1] + ', "messages": ['
    separator = "\n"
    for batch in _batched(rows, batch_size):
        yield separator + ",\n".join(json.dumps(row, ensure_ascii=False) for row in batch)
        separator = ",\n"
    yield "\n]}\n"


def _csv_chunks(rows: Iterator[ExportedMessage], *, batch_size: int) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield BYTE_ORDER_MARK + buffer.getvalue()
    for batch in _batched(rows, batch_size):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(_csv_row(row) for row in batch)
        yield buffer.getvalue()


def _csv_row(row: ExportedMessage) -> list[object]:
    reactions = " ".join(f"{emoji} {count}" for emoji, count in row["reactions"].items())
    cells = {**row, "author": _inert(row["author"]), "text": _inert(row["text"]), "reactions": reactions}
    return ["" if cells[column] is None else _csv_value(cells[column]) for column in CSV_COLUMNS]


def _csv_value(value: object) -> object:
    return str(value).lower() if isinstance(value, bool) else value


def _inert(text: str) -> str:
    """A free-text cell a spreadsheet will show as text, never run as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
