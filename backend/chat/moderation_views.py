"""The moderation API: staff act from the chat page, visitors report messages (ARCHITECTURE.md
"Moderation API"). CORS for the site's origins like every /api/ path; JSON bodies only.

Thin: each view checks the token and the body, then calls chat.moderation, which writes the
database and tells open pages. A token travels in ``Authorization: Bearer``, never in a cookie or
a URL, so no endpoint needs CSRF protection.
"""

from __future__ import annotations

import json
import math
import time
from datetime import timedelta

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chat import moderation, selectors
from chat.conf import conf
from chat.errors import BackchannelError
from chat.identity import Identity, TokenError, verify_token
from chat.models import VISITOR_ID_MAX_CHARS
from chat.protocol import MAX_INT_LITERAL_DIGITS, MAX_SEQ, ErrorCode
from chat.rooms import is_valid_room_name
from chat.runtime import runtime
from chat.views import JSON_CONTENT_TYPE, MAX_BODY_BYTES, MAX_SEQ_DIGITS, ApiError, _client_ip, _error_of

ACTIONS = ("delete", "mute", "ban")
SCOPES = ("identity", "address")
REASON_MAX_CHARS = 200
# The longest mute or ban with an end: ten years. Longer is "until lifted" (duration_secs null).
MAX_SANCTION_SECS = 10 * 365 * 24 * 3600


class Invalid(BackchannelError):
    """A request the API refuses before acting: its error, and the HTTP status it is answered with."""

    def __init__(self, code: str, message: str, *, status: int = 400, retry_after_secs: float | None = None) -> None:
        super().__init__(code, message, retry_after_secs=retry_after_secs)
        self.status = status

    @property
    def response(self) -> JsonResponse:
        response = _error_of(self, status=self.status)
        if self.status == 401:
            response["WWW-Authenticate"] = "Bearer"
        return response


@csrf_exempt
@require_POST
def moderation_action(request: HttpRequest) -> JsonResponse:
    """Delete a message, or mute or ban its author or a person online, live."""
    try:
        identity = _staff(request)
        body = _body(request)
        room = _room(body)
        action = body.get("action")
        if action not in ACTIONS:
            raise _bad_field("'action' must be one of delete, mute, ban")
        seq, visitor = _target(body, seq_required=action == "delete")
        duration = _duration(body)
        reason = _reason(body)
        scope = "identity" if body.get("scope") is None else body["scope"]
        if scope not in SCOPES:
            raise _bad_field("'scope' must be identity or address")
    except Invalid as invalid:
        return invalid.response
    try:
        affected = moderation.moderate(
            room=room,
            action=action,
            seq=seq,
            visitor=visitor,
            duration=duration,
            reason=reason,
            by_address=scope == "address",
            by=identity.name,
            moderator_ip=_client_ip(request),
        )
    except moderation.Refused as refused:
        return _refused(refused)
    return JsonResponse({"action": action, "affected_online": affected})


@require_GET
def moderation_address(request: HttpRequest) -> JsonResponse:
    """How many people an address ban of this target would reach now, and whether it is allowed."""
    try:
        _staff(request)
        room = request.GET.get("room", "")
        if not is_valid_room_name(room):
            raise _bad_field("'room' must be a room name")
        seq = _query_seq(request.GET.get("seq"))
        visitor = request.GET.get("visitor") or None
        if (seq is None) == (visitor is None):
            raise _bad_field("give either 'seq' or 'visitor'")
        if visitor is not None and len(visitor) > VISITOR_ID_MAX_CHARS:
            raise _bad_field("'visitor' is not a visitor id")
    except Invalid as invalid:
        return invalid.response
    try:
        report = moderation.address_report(room=room, seq=seq, visitor=visitor, moderator_ip=_client_ip(request))
    except moderation.Refused as refused:
        return _refused(refused)
    return JsonResponse({"online_from_address": report.online_from_address, "protected": report.protected})


@csrf_exempt
@require_POST
def report_message(request: HttpRequest) -> JsonResponse:
    """A visitor reports someone else's message to the moderators (once per message)."""
    try:
        identity = _bearer(request)
        _take(runtime().limits.reports, identity.visitor, "reports")
        body = _body(request)
        room = _room(body)
        seq, _ = _target(body, seq_required=True)
        reason = _reason(body)
    except Invalid as invalid:
        return invalid.response
    assert seq is not None
    try:
        created = moderation.report_message(
            room=room, seq=seq, identity=identity, reason=reason, ip=_client_ip(request)
        )
    except moderation.Refused as refused:
        return _refused(refused)
    return JsonResponse({}, status=201 if created else 200)


# --- Checks -------------------------------------------------------------------------------------


def _bearer(request: HttpRequest) -> Identity:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Invalid(ErrorCode.BAD_TOKEN, "send 'Authorization: Bearer <token>'", status=401)
    try:
        verified = verify_token(token.strip(), now=time.time(), max_age_secs=conf.TOKEN_TTL_SECS)
    except TokenError as error:
        raise Invalid(error.code, error.message, status=401) from None
    return verified.identity


def _staff(request: HttpRequest) -> Identity:
    """A staff token whose account is still active staff now (re-checked on every call: a token
    proves a sign-in, not that the account kept the right), within its rate."""
    identity = _bearer(request)
    if not identity.staff or not selectors.is_staff_account(visitor=identity.visitor):
        raise Invalid(ErrorCode.NOT_STAFF, "only signed-in staff may moderate", status=403)
    _take(runtime().limits.moderation_actions, identity.visitor, "moderation requests")
    return identity


def _take(buckets, key: str, what: str) -> None:
    wait = buckets.take(key, time.monotonic())
    if wait:
        raise Invalid(ErrorCode.RATE_LIMITED, f"too many {what}; slow down", status=429, retry_after_secs=wait)


def _body(request: HttpRequest) -> dict:
    """The JSON object of the body. Numbers of any length are read (as infinity past a sane
    length), so a huge one is the field's bad_field, never a 500 or bad_request."""
    if request.content_type != JSON_CONTENT_TYPE:
        message = f"send the body as JSON with Content-Type: {JSON_CONTENT_TYPE}"
        raise Invalid(ApiError.UNSUPPORTED_MEDIA_TYPE, message, status=415)
    if len(request.body) > MAX_BODY_BYTES:
        raise Invalid(ApiError.BAD_REQUEST, f"the body is limited to {MAX_BODY_BYTES} bytes", status=413)
    try:
        body = json.loads(request.body, parse_int=_bounded_int)
    except (ValueError, RecursionError):
        raise Invalid(ApiError.BAD_REQUEST, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise Invalid(ApiError.BAD_REQUEST, "the body must be a JSON object")
    return body


def _bounded_int(literal: str) -> int | float:
    return int(literal) if len(literal) <= MAX_INT_LITERAL_DIGITS else math.inf


def _room(body: dict) -> str:
    room = body.get("room")
    if not isinstance(room, str) or not is_valid_room_name(room):
        raise _bad_field("'room' must be a room name")
    return room


def _is_whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _target(body: dict, *, seq_required: bool) -> tuple[int | None, str | None]:
    seq, visitor = body.get("seq"), body.get("visitor")
    if seq is not None and not _is_whole(seq, 1, MAX_SEQ):
        raise _bad_field(f"'seq' must be a whole number from 1 to {MAX_SEQ}")
    if seq_required and seq is None:
        raise _bad_field("'seq' names the message")
    if visitor is not None and not (isinstance(visitor, str) and 1 <= len(visitor) <= VISITOR_ID_MAX_CHARS):
        raise _bad_field("'visitor' must be a visitor id")
    if (seq is None) == (visitor is None) and not seq_required:
        raise _bad_field("give either 'seq' (its author) or 'visitor' (a person online)")
    return seq, None if seq_required else visitor


def _duration(body: dict) -> timedelta | None:
    secs = body.get("duration_secs")
    if secs is None:
        return None
    if not _is_whole(secs, 1, MAX_SANCTION_SECS):
        raise _bad_field(f"'duration_secs' must be null (until lifted) or 1 to {MAX_SANCTION_SECS}")
    return timedelta(seconds=secs)


def _reason(body: dict) -> str:
    reason = body.get("reason")
    if reason is None:
        return ""
    if not isinstance(reason, str) or len(reason) > REASON_MAX_CHARS or "\x00" in reason:
        raise _bad_field(f"'reason' must be text of at most {REASON_MAX_CHARS} characters")
    return reason.strip()


def _query_seq(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > MAX_SEQ_DIGITS or not 1 <= int(value) <= MAX_SEQ:
        raise _bad_field(f"'seq' must be a whole number from 1 to {MAX_SEQ}")
    return int(value)


# --- Answers ------------------------------------------------------------------------------------


def _bad_field(message: str) -> Invalid:
    return Invalid(ErrorCode.BAD_FIELD, message)


REFUSAL_STATUS = {ErrorCode.BAD_FIELD: 400, ErrorCode.NOT_FOUND: 404, ErrorCode.PROTECTED: 409}


def _refused(refused: moderation.Refused) -> JsonResponse:
    return _error_of(refused, status=REFUSAL_STATUS[refused.code])
