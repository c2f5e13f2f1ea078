"""The wire protocol, written down once: event types, validation and encoding.

Pure functions, no I/O, no Django: the consumer calls ``parse_client_event`` on every inbound
frame and ``encode_event`` on every outbound one. ``protocol.js`` in the theme mirrors this file,
and ARCHITECTURE.md documents it; change the three together.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, NotRequired, TypedDict

from chat.errors import BackchannelError
from chat.rooms import is_valid_room_name

# What a socket speaks without asking (today's widgets), and the newest version this server
# speaks: a client asks with /ws/?protocol=3 and gets the lower of the two (negotiated_protocol).
PROTOCOL_VERSION = 2
LATEST_PROTOCOL_VERSION = 3
# The reactions a version-3 client may send: a small fixed set, so a reaction is one of a few
# buttons, not a free-text channel. The widget reads them from `ready.reaction_emoji`.
REACTION_EMOJI = ("👍", "❤️", "😂", "😮", "😢", "🎉")
# How many reactors' names a message carries per emoji (for hover and focus); the count is whole.
REACTION_NAMES_SHOWN = 20
# The start of the original a reply quotes.
REPLY_EXCERPT_CHARS = 100
# Deeper JSON is refused as bad_json before it can exhaust the parser's recursion.
MAX_JSON_DEPTH = 32
# Sequence numbers are stored as signed 64-bit integers; larger ones cannot name a message.
MAX_SEQ = 2**63 - 1
# Digits (sign included) a JSON integer may have to be read as one. A longer literal is read as
# infinity, which no field accepts (bad_field): int() raises on literals over Python's
# 4,300-digit limit, which made a valid-looking frame bad_json, and spends time quadratic in the
# length below it. No field of the protocol needs a number that long.
MAX_INT_LITERAL_DIGITS = len(str(MAX_SEQ)) + 1
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A JSON string (escapes included; unterminated up to the end) or one bracket, for the depth scan.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)
# JSON's \ud800-style escapes can spell lone surrogates, which are not text: UTF-8 cannot encode
# them, so such a string could be neither stored nor sent on to other sockets.
_SURROGATE = re.compile("[\ud800-\udfff]")


class ErrorCode(StrEnum):
    BINARY_FRAME = "binary_frame"
    FRAME_TOO_LARGE = "frame_too_large"
    BAD_JSON = "bad_json"
    BAD_EVENT = "bad_event"
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"
    INVALID_ROOM = "invalid_room"
    NOT_AUTHENTICATED = "not_authenticated"
    ALREADY_AUTHENTICATED = "already_authenticated"
    BAD_TOKEN = "bad_token"
    TOKEN_EXPIRED = "token_expired"
    AUTH_TIMEOUT = "auth_timeout"
    BANNED = "banned"
    MUTED = "muted"
    ROOM_LOCKED = "room_locked"
    SLOW_MODE = "slow_mode"
    RATE_LIMITED = "rate_limited"
    # HTTP only (the identity API's 429): too many new names from one address. Its own code, so a
    # client can say so instead of "you are sending too fast" (that is rate_limited, on the socket).
    IDENTITY_RATE_LIMITED = "identity_rate_limited"
    # HTTP only (the search API's 429): too many searches from one address.
    SEARCH_RATE_LIMITED = "search_rate_limited"
    DUPLICATE_TEXT = "duplicate_text"
    # The word filter (chat.wordfilter): refused, nothing stored; or stored and held until a
    # moderator approves it in the admin (then it is posted like any message, client_id and all).
    BLOCKED_WORD = "blocked_word"
    HELD_FOR_REVIEW = "held_for_review"
    TOO_MANY_SOCKETS = "too_many_sockets"
    # HTTP only, the moderation API (/api/moderation/...): the token is not a staff member's (or
    # the account is no longer staff); no such room, message or visitor; the target may not be
    # sanctioned (a staff identity, a signed-in staff member's address, the moderator's own).
    NOT_STAFF = "not_staff"
    NOT_FOUND = "not_found"
    PROTECTED = "protected"
    TEXT_EMPTY = "text_empty"
    TEXT_TOO_LONG = "text_too_long"
    NOT_JOINED = "not_joined"
    TOO_MANY_ROOMS = "too_many_rooms"
    # Version 3, changes to messages: only the author edits (staff may also delete), only within
    # EDIT_WINDOW_SECS of sending, only with one of REACTION_EMOJI.
    NOT_AUTHOR = "not_author"
    EDIT_WINDOW_PASSED = "edit_window_passed"
    BAD_EMOJI = "bad_emoji"
    SERVER_ERROR = "server_error"


class ProtocolError(BackchannelError):
    """A frame the server refuses; it becomes an ``error`` event and the socket stays open."""

    code: ErrorCode

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        room: str | None = None,
        client_id: str | None = None,
        *,
        retry_after_secs: float | None = None,
    ) -> None:
        super().__init__(code, message, retry_after_secs=retry_after_secs)
        self.room = room
        self.client_id = client_id


class CloseCode:
    """WebSocket close codes the server uses (ARCHITECTURE.md "Close codes")."""

    AUTH_TIMEOUT = 4001
    BANNED = 4003
    FLOODING = 4008
    TOO_MANY_SOCKETS = 4029


@dataclass(frozen=True)
class Limits:
    max_text_chars: int
    max_frame_bytes: int


# --- Client → server ----------------------------------------------------------------------


@dataclass(frozen=True)
class Auth:
    token: str


@dataclass(frozen=True)
class Join:
    room: str
    # The highest seq the client already shows; None when it shows nothing of the room yet.
    after_seq: int | None = None
    # Version 3: the room rev up to which the client has every change, and the first seq it shows
    # (changes to messages before it are not sent on a resume).
    after_rev: int | None = None
    first_seq: int | None = None


@dataclass(frozen=True)
class Leave:
    room: str


@dataclass(frozen=True)
class Send:
    room: str
    text: str
    client_id: str  # the sender's idempotency key
    reply_to: int | None = None  # version 3: the seq of the message this one answers


@dataclass(frozen=True)
class Edit:
    room: str
    seq: int
    text: str
    client_id: str


@dataclass(frozen=True)
class Delete:
    room: str
    seq: int
    client_id: str


@dataclass(frozen=True)
class React:
    room: str
    seq: int
    emoji: str
    on: bool  # False takes the reaction back
    client_id: str


@dataclass(frozen=True)
class Typing:
    room: str


@dataclass(frozen=True)
class LoadOlder:
    room: str
    before_seq: int


@dataclass(frozen=True)
class Ping:
    pass


ClientEvent = Auth | Join | Leave | Send | Typing | LoadOlder | Ping | Edit | Delete | React


def negotiated_protocol(query_string: bytes | str) -> int:
    """The version a socket speaks: what the client asked for in ``?protocol=`` (2 without it, or
    for anything unreadable), at most ``LATEST_PROTOCOL_VERSION``."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    for pair in query_string.split("&"):
        name, _, value = pair.partition("=")
        if name == "protocol" and value.isdigit() and len(value) < 4:
            return max(PROTOCOL_VERSION, min(int(value), LATEST_PROTOCOL_VERSION))
    return PROTOCOL_VERSION


def parse_client_event(
    text_data: str | None, bytes_data: bytes | None, limits: Limits, protocol: int = PROTOCOL_VERSION
) -> ClientEvent:
    """Validate one inbound frame and return its typed event, or raise ``ProtocolError``. Version 3's
    events (and fields) exist only on a socket that speaks it: version 2 reads them as unknown."""
    if text_data is None:
        raise ProtocolError(ErrorCode.BINARY_FRAME, "binary frames are not supported; send JSON text")
    # Measured in UTF-8 bytes, as on the wire, and before json.loads spends any work on it.
    if len(text_data) > limits.max_frame_bytes or _utf8_size(text_data) > limits.max_frame_bytes:
        raise ProtocolError(ErrorCode.FRAME_TOO_LARGE, f"frames are limited to {limits.max_frame_bytes} bytes")
    if _nesting_depth_over(text_data, MAX_JSON_DEPTH):
        raise ProtocolError(ErrorCode.BAD_JSON, f"JSON nested deeper than {MAX_JSON_DEPTH} levels is refused")
    try:
        payload = json.loads(text_data, parse_int=_bounded_int)
    except (ValueError, RecursionError):
        raise ProtocolError(ErrorCode.BAD_JSON, "the frame is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ProtocolError(ErrorCode.BAD_EVENT, "an event must be a JSON object")
    event_type = payload.get("type")
    if not isinstance(event_type, str):
        raise ProtocolError(ErrorCode.BAD_EVENT, "an event must have a string 'type'")

    match event_type:
        case "auth":
            return Auth(token=_str_field(payload, "token"))
        case "join":
            room = _room_field(payload)
            after_seq = payload.get("after_seq")
            if after_seq is not None:
                after_seq = _seq_field(payload, "after_seq", minimum=0, room=room)
            if protocol < 3:
                return Join(room=room, after_seq=after_seq)
            return Join(
                room=room,
                after_seq=after_seq,
                after_rev=_optional_seq_field(payload, "after_rev", minimum=0, room=room),
                first_seq=_optional_seq_field(payload, "first_seq", minimum=1, room=room),
            )
        case "leave":
            return Leave(room=_room_field(payload))
        case "send":
            room = _room_field(payload)
            client_id = _client_id_field(payload, room)
            text = _text_field(payload, limits, room=room, client_id=client_id)
            reply_to = None
            if protocol >= 3 and payload.get("reply_to") is not None:
                reply_to = _seq_field(payload, "reply_to", minimum=1, room=room, client_id=client_id)
            return Send(room=room, text=text, client_id=client_id, reply_to=reply_to)
        case "edit" if protocol >= 3:
            room = _room_field(payload)
            client_id = _client_id_field(payload, room)
            seq = _seq_field(payload, "seq", minimum=1, room=room, client_id=client_id)
            text = _text_field(payload, limits, room=room, client_id=client_id)
            return Edit(room=room, seq=seq, text=text, client_id=client_id)
        case "delete" if protocol >= 3:
            room = _room_field(payload)
            client_id = _client_id_field(payload, room)
            return Delete(
                room=room,
                seq=_seq_field(payload, "seq", minimum=1, room=room, client_id=client_id),
                client_id=client_id,
            )
        case "react" if protocol >= 3:
            room = _room_field(payload)
            client_id = _client_id_field(payload, room)
            seq = _seq_field(payload, "seq", minimum=1, room=room, client_id=client_id)
            emoji = payload.get("emoji")
            if emoji not in REACTION_EMOJI:
                raise ProtocolError(
                    ErrorCode.BAD_EMOJI, f"'emoji' must be one of {' '.join(REACTION_EMOJI)}", room, client_id
                )
            on = payload.get("on")
            if not isinstance(on, bool):
                raise ProtocolError(ErrorCode.BAD_FIELD, "'on' must be true or false", room, client_id)
            return React(room=room, seq=seq, emoji=emoji, on=on, client_id=client_id)
        case "typing":
            return Typing(room=_room_field(payload))
        case "load_older":
            room = _room_field(payload)
            return LoadOlder(room=room, before_seq=_seq_field(payload, "before_seq", minimum=1, room=room))
        case "ping":
            return Ping()
        case _:
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown event type {event_type[:40]!r}")


def _nesting_depth_over(text: str, limit: int) -> bool:
    """True when brackets nest deeper than ``limit``: a cheap scan before the recursive parser.
    Strings are skipped whole, so a message full of brackets (code, ASCII art) is not mistaken
    for deep nesting; an unmatched closing bracket ends the JSON value, so json.loads refuses
    whatever follows it before nesting into it."""
    if text.count("[") + text.count("{") <= limit:  # every frame a client sends; no scan needed
        return False
    depth = 0
    for token in _STRING_OR_BRACKET.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _bounded_int(literal: str) -> int | float:
    return int(literal) if len(literal) <= MAX_INT_LITERAL_DIGITS else math.inf


def _utf8_size(text: str) -> int:
    try:
        return len(text.encode())
    except UnicodeEncodeError:  # lone surrogates: daphne decodes frames as UTF-8, but this function is pure
        raise ProtocolError(ErrorCode.BAD_JSON, "the frame is not valid UTF-8 text") from None


def _str_field(payload: dict[str, Any], field: str, *, room: str | None = None, client_id: str | None = None) -> str:
    value = payload.get(field)
    if not isinstance(value, str):
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{field}' must be a string", room, client_id)
    if _SURROGATE.search(value):
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{field}' must be text (no lone surrogates)", room, client_id)
    return value


def _seq_field(payload: dict[str, Any], field: str, *, minimum: int, room: str, client_id: str | None = None) -> int:
    value = payload.get(field)
    # bool is an int subclass in Python; true/false are not sequence numbers.
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= MAX_SEQ:
        message = f"'{field}' must be a whole number from {minimum} to {MAX_SEQ}"
        raise ProtocolError(ErrorCode.BAD_FIELD, message, room, client_id)
    return value


def _optional_seq_field(payload: dict[str, Any], field: str, *, minimum: int, room: str) -> int | None:
    return None if payload.get(field) is None else _seq_field(payload, field, minimum=minimum, room=room)


def _client_id_field(payload: dict[str, Any], room: str) -> str:
    client_id = payload.get("client_id")
    if not (isinstance(client_id, str) and CLIENT_ID_PATTERN.fullmatch(client_id)):
        raise ProtocolError(ErrorCode.BAD_FIELD, "'client_id' must be 1-64 of A-Z a-z 0-9 _ -", room)
    return client_id


def _text_field(payload: dict[str, Any], limits: Limits, *, room: str, client_id: str) -> str:
    """A message's text, as `send` and `edit` take it."""
    text = _str_field(payload, "text", room=room, client_id=client_id)
    if "\x00" in text:
        # PostgreSQL's text type cannot hold U+0000 (SQLite's can): refused on every
        # database alike, rather than failing to store on one of them.
        raise ProtocolError(ErrorCode.BAD_FIELD, "'text' must not contain U+0000 (NUL)", room, client_id)
    if not text.strip():
        raise ProtocolError(ErrorCode.TEXT_EMPTY, "a message needs some text", room, client_id)
    if len(text) > limits.max_text_chars:
        raise ProtocolError(
            ErrorCode.TEXT_TOO_LONG,
            f"a message has at most {limits.max_text_chars} characters",
            room,
            client_id,
        )
    return text


def _room_field(payload: dict[str, Any]) -> str:
    room = _str_field(payload, "room")
    if not is_valid_room_name(room):
        raise ProtocolError(
            ErrorCode.INVALID_ROOM,
            "a room name is 1-40 of a-z 0-9 and '-', starting and ending with a letter or digit",
        )
    return room


# --- Server → client ----------------------------------------------------------------------


class ReadyEvent(TypedDict):
    type: Literal["ready"]
    protocol: int
    max_text_chars: int
    max_rooms: int
    history_limit: int
    resume_limit: int
    auth_timeout_secs: float
    typing_interval_secs: float
    # Always true from this server: join, leave, load_older and ping work before `auth` (a reader).
    # A capability flag rather than a version bump: clients that auth first are unaffected.
    read_without_auth: bool
    # Version 3 only: the reactions one may send, and how long after sending one may edit.
    reaction_emoji: NotRequired[list[str]]
    edit_window_secs: NotRequired[int]


class MuteState(TypedDict):
    reason: str
    until: str | None  # ISO 8601 UTC; None: until a moderator lifts it


class AuthenticatedEvent(TypedDict):
    type: Literal["authenticated"]
    name: str
    visitor: str
    staff: bool
    tag: str  # chat.identity.visitor_tag: shown beside the name (people of one name differ by it)
    # The mute in force for this identity or address, so a reloaded page shows it before the
    # visitor writes; None when not muted.
    muted: MuteState | None


class TokenEvent(TypedDict):
    type: Literal["token"]
    token: str
    expires_in_secs: int


class MessageEvent(TypedDict):
    type: Literal["message"]
    room: str
    seq: int
    author: str
    visitor: str
    staff: bool
    tag: str  # the author's tag; empty on a tombstone
    text: str
    sent_at: str
    client_id: str | None
    deleted: bool


class QuoteDict(TypedDict):
    seq: int
    author: str
    excerpt: str
    deleted: bool  # the original was deleted since: the quote shows it removed


class ReactionDict(TypedDict):
    emoji: str
    count: int
    names: list[str]  # the first REACTION_NAMES_SHOWN reactors
    # Their public visitor ids, in the same order (a page marks its own reaction after a reload);
    # migration 0008 added them to the summaries stored before. Older clients ignore the field.
    visitors: list[str]


class MessageEventV3(MessageEvent):
    """A message in its current state, as version-3 sockets get it."""

    rev: int  # the room rev of its latest change; 0 if never changed
    edited: bool
    reply_to: QuoteDict | None
    reactions: list[ReactionDict]  # in REACTION_EMOJI order, only those with a count


class PersonDict(TypedDict):
    visitor: str
    name: str
    staff: bool
    tag: str


class PresenceChange(TypedDict):
    kind: Literal["joined", "left"]
    person: PersonDict


class PresenceDict(TypedDict):
    online_count: int  # people with a name (one person with several sockets counts once)
    people: list[PersonDict] | None
    readers: int  # sockets reading the room without a name; not in online_count nor people


class PresenceEvent(TypedDict, total=False):
    type: Literal["presence"]
    room: str
    online_count: int
    people: list[PersonDict] | None
    readers: int
    change: PresenceChange


class JoinedEvent(TypedDict):
    type: Literal["joined"]
    room: str
    latest_seq: int
    # True: history is every message after the client's after_seq (append it).
    # False: history is the latest page (replace the view with it).
    resumed: bool
    history: list[MessageEvent]
    has_older: bool
    locked: bool
    slow_mode_secs: int
    presence: PresenceDict
    # Version 3 only: the room's newest rev; on a resume, the current state of the messages the
    # client shows that changed since its after_rev (one per message, by rev).
    latest_rev: NotRequired[int]
    changes: NotRequired[list[MessageEventV3]]


class AckEvent(TypedDict):
    type: Literal["ack"]
    room: str
    client_id: str
    seq: int


class ChangeAckEvent(TypedDict):
    """Version 3: the answer to `edit`, `delete` and `react`."""

    type: Literal["ack"]
    room: str
    client_id: str
    rev: int  # the change's rev (a repeat: the first one's); the message's rev when nothing changed


class ChangedEvent(TypedDict):
    """Version 3: a message changed (edited, deleted, reacted to, its quote's original deleted)."""

    type: Literal["changed"]
    room: str
    rev: int
    message: MessageEventV3
    # How many `changed` events carry this rev, when not 1 (a deletion and the replies quoting
    # it); 0 on a copy for the sender alone, which does not count towards the rev.
    parts: NotRequired[int]


class OlderEvent(TypedDict):
    type: Literal["older"]
    room: str
    messages: list[MessageEvent]
    has_older: bool


class LeftEvent(TypedDict):
    type: Literal["left"]
    room: str


class DeletedEvent(TypedDict):
    type: Literal["deleted"]
    room: str
    seq: int


class TypingEvent(TypedDict):
    type: Literal["typing"]
    room: str
    visitor: str
    name: str
    tag: str


class RoomStateEvent(TypedDict):
    type: Literal["room_state"]
    room: str
    locked: bool
    slow_mode_secs: int


class ModeratedEvent(TypedDict):
    type: Literal["moderated"]
    action: Literal["muted", "unmuted", "banned"]
    reason: str
    until: str | None


class PongEvent(TypedDict):
    type: Literal["pong"]
    rooms: dict[str, int]  # joined room -> its latest seq
    revs: NotRequired[dict[str, int]]  # version 3: joined room -> its latest rev


class ErrorEvent(TypedDict, total=False):
    type: Literal["error"]
    code: str
    message: str
    room: str
    client_id: str
    retry_after_secs: float


ServerEvent = (
    ReadyEvent
    | AuthenticatedEvent
    | TokenEvent
    | MessageEvent
    | JoinedEvent
    | AckEvent
    | ChangeAckEvent
    | ChangedEvent
    | OlderEvent
    | LeftEvent
    | DeletedEvent
    | PresenceEvent
    | TypingEvent
    | RoomStateEvent
    | ModeratedEvent
    | PongEvent
    | ErrorEvent
)


def ready_event(
    *,
    max_text_chars: int,
    max_rooms: int,
    history_limit: int,
    resume_limit: int,
    auth_timeout_secs: float,
    typing_interval_secs: float,
    protocol: int = PROTOCOL_VERSION,
    edit_window_secs: int = 0,
) -> ReadyEvent:
    event: ReadyEvent = {
        "type": "ready",
        "protocol": protocol,
        "max_text_chars": max_text_chars,
        "max_rooms": max_rooms,
        "history_limit": history_limit,
        "resume_limit": resume_limit,
        "auth_timeout_secs": auth_timeout_secs,
        "typing_interval_secs": typing_interval_secs,
        "read_without_auth": True,
    }
    if protocol >= 3:
        event["reaction_emoji"] = list(REACTION_EMOJI)
        event["edit_window_secs"] = edit_window_secs
    return event


def message_event(
    *,
    room: str,
    seq: int,
    author: str,
    visitor: str,
    staff: bool,
    tag: str,
    text: str,
    sent_at: datetime,
    client_id: str | None,
    deleted: bool,
) -> MessageEvent:
    if deleted:  # a tombstone: it keeps its seq and nothing else a moderator removed
        author, visitor, tag, text = "", "", "", ""
    return {
        "type": "message",
        "room": room,
        "seq": seq,
        "author": author,
        "visitor": visitor,
        "staff": staff,
        "tag": tag,
        "text": text,
        "sent_at": format_timestamp(sent_at),
        "client_id": client_id,
        "deleted": deleted,
    }


def message_event_v3(
    event: MessageEvent,
    *,
    rev: int,
    edited: bool,
    reply_to: QuoteDict | None,
    reactions: list[ReactionDict],
) -> MessageEventV3:
    """``event`` with its current state; a tombstone shows nothing of it but its rev."""
    deleted = event["deleted"]
    return {
        **event,
        "rev": rev,
        "edited": edited and not deleted,
        "reply_to": None if deleted else reply_to,
        "reactions": [] if deleted else reactions,
    }


def quote_of(*, seq: int, author: str, text: str, deleted: bool) -> QuoteDict:
    """The one-line quote a reply shows of its original."""
    if deleted:
        return {"seq": seq, "author": "", "excerpt": "", "deleted": True}
    return {"seq": seq, "author": author, "excerpt": text[:REPLY_EXCERPT_CHARS], "deleted": False}


def moderated_event(
    action: Literal["muted", "unmuted", "banned"], *, reason: str, until: datetime | None
) -> ModeratedEvent:
    return {
        "type": "moderated",
        "action": action,
        "reason": reason,
        "until": format_timestamp(until) if until else None,
    }


def mute_state(*, reason: str, until: datetime | None) -> MuteState:
    return {"reason": reason, "until": format_timestamp(until) if until else None}


def error_event(error: ProtocolError) -> ErrorEvent:
    event: ErrorEvent = {"type": "error", "code": str(error.code), "message": error.message}
    if error.room is not None:
        event["room"] = error.room
    if error.client_id is not None:
        event["client_id"] = error.client_id
    if error.retry_after_secs is not None:
        event["retry_after_secs"] = round_up_secs(error.retry_after_secs)
    return event


def round_up_secs(secs: float) -> float:
    """To a tenth of a second, upwards: a client that waits what it is told is then let through
    (rounding 0.04 down to 0.0 would have it retry at once, be refused again and earn a strike)."""
    return math.ceil(round(secs * 10, 6)) / 10


def retry_after_header(wait_secs: float) -> str:
    """HTTP's Retry-After for a wait: whole seconds, never shorter than the wait, at least 1."""
    return str(max(1, math.ceil(wait_secs)))


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, which every browser's Date parses."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def encode_event(event: ServerEvent) -> str:
    # ensure_ascii=False: frames stay UTF-8 text, a third the size of \u escapes for non-Latin text.
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))
