"""Model → protocol event conversions (the one place that knows both shapes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, cast, overload

from chat.identity import visitor_tag
from chat.models import Message, Room
from chat.presence import Person, Snapshot
from chat.protocol import (
    PROTOCOL_VERSION,
    ChangedEvent,
    DeletedEvent,
    MessageEvent,
    MessageEventV3,
    PersonDict,
    PresenceDict,
    PresenceEvent,
    QuoteDict,
    RoomStateEvent,
    encode_event,
    message_event,
    message_event_v3,
)


@overload
def message_event_for(message: Message, protocol: Literal[3]) -> MessageEventV3: ...
@overload
def message_event_for(message: Message, protocol: int = PROTOCOL_VERSION) -> MessageEvent | MessageEventV3: ...
def message_event_for(message: Message, protocol: int = PROTOCOL_VERSION) -> MessageEvent | MessageEventV3:
    """The message as a socket of ``protocol`` gets it: version 3 adds its current state."""
    event = message_event(
        room=message.room.name,
        seq=message.seq,
        author=message.author,
        visitor=message.visitor,
        staff=message.staff,
        tag=visitor_tag(message.visitor),
        text=message.text,
        sent_at=message.sent_at,
        client_id=message.client_id,
        deleted=message.deleted_at is not None,
    )
    if protocol < 3:
        return event
    quote = None
    if message.reply_to_seq is not None:  # the stored quote is the rest (chat.services.reply_quote)
        quote = cast(QuoteDict, {"seq": message.reply_to_seq, **(message.reply_quote or {})})
    return message_event_v3(
        event,
        rev=message.rev,
        edited=message.edited_at is not None,
        reply_to=quote,
        reactions=list(message.reactions or []),
    )


def changed_event_for(message: Message, *, parts: int = 1) -> ChangedEvent:
    """``parts``: how many `changed` events carry this rev (a deletion also changes the replies
    quoting the message), so a client knows when it has all of them; 0 on a copy sent only to the
    sender of a change, which does not count towards the rev. Left out when 1."""
    event: ChangedEvent = {
        "type": "changed",
        "room": message.room.name,
        "rev": message.rev,
        "message": message_event_for(message, 3),
    }
    if parts != 1:
        event["parts"] = parts
    return event


def message_frames(message: Message) -> tuple[str, str]:
    """A new message, encoded once per version: ``(version 2's frame, version 3's)``."""
    return encode_event(message_event_for(message)), encode_event(message_event_for(message, 3))


def change_frames(kind: str | None, changed: list[Message]) -> list[tuple[str, str]]:
    """What the room's sockets get of an applied change, per message it changed (the message
    acted on first): version 3 `changed`; version 2 `deleted` for a deletion, and nothing for the
    rest (edits and reactions reach it at its next join)."""
    frames = []
    for index, message in enumerate(changed):
        frame = encode_event(deleted_event_for(message)) if kind == "delete" and index == 0 else ""
        frames.append((frame, encode_event(changed_event_for(message, parts=len(changed)))))
    return frames


def newest_that_fit(events: list[MessageEvent], budget_bytes: int) -> tuple[list[MessageEvent], bool]:
    """The newest ``events`` (oldest first, as given) whose encoded sizes add up to at most
    ``budget_bytes``, and whether any had to be left out. One frame carries a whole page, and
    daphne refuses to send a frame over its message size limit (the limit covers both ways)."""
    kept, trimmed, _ = fit_encoded(events, budget_bytes)
    return kept, trimmed


def fit_encoded(events: list[MessageEvent], budget_bytes: int) -> tuple[list[MessageEvent], bool, str | None]:
    """As ``newest_that_fit``, with the kept events as JSON when all of them fit (else None). The
    list is encoded whole first: its size is the sum of the events' sizes and their commas (what
    is counted below), and when it fits, as nearly every page does, that JSON is what the frame
    carries (``encode_with_encoded``). A reconnect storm's resumes encoded each event twice."""
    if not events:
        return events, False, "[]"
    whole = encode_json(events)
    if len(whole.encode()) - 1 <= budget_bytes:  # "[a,b]": each event's size plus a comma, plus one
        return events, False, whole
    kept = 0
    used = 0
    for event in reversed(events):
        used += len(encode_event(event).encode()) + 1  # +1: the comma between list items
        if used > budget_bytes:
            break
        kept += 1
    return events[len(events) - kept :], kept < len(events), None


def deleted_event_for(message: Message) -> DeletedEvent:
    return {"type": "deleted", "room": message.room.name, "seq": message.seq}


def room_state_event_for(room: Room) -> RoomStateEvent:
    return {"type": "room_state", "room": room.name, "locked": room.locked, "slow_mode_secs": room.slow_mode_secs}


def person_dict(person: Person) -> PersonDict:
    return {"visitor": person.visitor, "name": person.name, "staff": person.staff, "tag": visitor_tag(person.visitor)}


def presence_dict(snapshot: Snapshot) -> PresenceDict:
    people = None if snapshot.people is None else [person_dict(person) for person in snapshot.people]
    return {"online_count": snapshot.online_count, "people": people, "readers": snapshot.readers}


def presence_event(
    room: str, snapshot: Snapshot, change: tuple[Literal["joined", "left"], Person] | None
) -> PresenceEvent:
    """The room's people after ``change`` (a person came or went); in a room over the list limit,
    or when only readers came or went (``change`` None), the counts and list without a change."""
    event: PresenceEvent = {"type": "presence", "room": room, **presence_dict(snapshot)}
    if snapshot.people is not None and change is not None:
        kind, person = change
        event["change"] = {"kind": kind, "person": person_dict(person)}
    return event


def encode_json(value: object) -> str:
    """As ``encode_event`` (its separators and text), for any JSON value: a page of events, an
    event without the field that ``encode_with_encoded`` adds."""
    return encode_event(value)  # type: ignore[arg-type]


def encode_with_encoded(event: Mapping[str, object], key: str, encoded_value: str) -> str:
    """The frame ``encode_event`` makes of ``event`` with ``key`` added, whose value comes encoded
    already (``encoded_value``; ``key`` goes last, and ``event`` must not hold it). A `joined`
    frame carries its room's latest page: a storm of joins into one room encoded the same page
    (tens of KiB of JSON, about 70 µs at 50 messages) into every frame; now once per page and
    protocol version (chat.page_cache), and each `joined` encodes only its own few fields."""
    head = encode_json(event)
    return f"{head[:-1]},{encode_json(key)}:{encoded_value}}}"
