"""The JSON API (CORS-enabled for the site's origins; see CORS_URLS_REGEX).

No endpoint reads a cookie, so none needs CSRF protection: identity travels in tokens that the
client presents itself (ARCHITECTURE.md "Identity").
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from django.contrib.auth import authenticate
from django.db import connections, router
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chat import moderation, presence, sanction_cache, search, selectors
from chat.challenge import challenge_problem, new_challenge
from chat.conf import conf
from chat.errors import BackchannelError
from chat.events import message_event_for
from chat.identity import (
    Identity,
    TokenError,
    issue_token,
    new_visitor_id,
    staff_visitor_id,
    verify_token,
)
from chat.limits import redeem_challenge, search_wait_secs, staff_sign_in_wait_secs
from chat.models import Sanction, column_of
from chat.names import display_name_problem, is_reserved_name
from chat.protocol import MAX_SEQ, ErrorCode, retry_after_header, round_up_secs
from chat.rooms import is_valid_room_name
from chat.shared_limits import LimitsUnavailable

# Largest JSON body the identity endpoints read; a name, a challenge, a nonce and a token fit.
MAX_BODY_BYTES = 4096
# The only body type the identity endpoints read. A browser sends a cross-origin POST of
# text/plain (or a form type) without asking first, so a foreign page could make its visitors
# spend this site's per-address budgets; application/json needs a CORS preflight, which only
# the site's origins pass (CORS_ALLOWED_ORIGINS).
JSON_CONTENT_TYPE = "application/json"
# Digits a seq in a query may have. Longer strings are refused unread: int() raises on those over
# Python's 4,300-digit limit (a 500), and costs time growing with the square of the length below it.
MAX_SEQ_DIGITS = len(str(MAX_SEQ))
# Rooms one GET /api/rooms/online/ may ask about: a landing page's cards, not the whole database.
MAX_ROOMS_PER_COUNT_REQUEST = 50
# Online counts change by the second but a card showing "3 online" may lag a little: browsers and
# shared caches keep the answer this long, so a busy landing page costs the backend little.
ONLINE_COUNTS_MAX_AGE_SECS = 10


class ApiError(StrEnum):
    INVALID_NAME = "invalid_name"
    RESERVED_NAME = "reserved_name"
    BAD_CHALLENGE = "bad_challenge"
    BAD_REQUEST = "bad_request"
    BAD_CREDENTIALS = "bad_credentials"
    BANNED = "banned"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"


@require_GET
def room_messages(request: HttpRequest, room: str) -> JsonResponse:
    """A page of the room's log, oldest first: the latest page, or the one before ``?before_seq=``."""
    if not is_valid_room_name(room):
        return _error(ErrorCode.INVALID_ROOM, "no such room name")
    before_seq = _before_seq(request)
    if isinstance(before_seq, JsonResponse):
        return before_seq
    page = selectors.messages_before(room_name=room, before_seq=before_seq, limit=conf.HISTORY_LIMIT)
    return JsonResponse(
        {
            "room": room,
            "messages": [message_event_for(message) for message in page.messages],
            "has_older": page.has_older,
        }
    )


@require_GET
def room_search(request: HttpRequest, room: str) -> JsonResponse:
    """The room's messages holding every word of ``?q=``, newest first, a page at a time
    (``?before_seq=``: the last result's seq). Deleted messages are never found; an edited one is
    found by its current text. Rate-limited per address (chat.limits.search_wait_secs)."""
    if not is_valid_room_name(room):
        return _error(ErrorCode.INVALID_ROOM, "no such room name")
    query = request.GET.get("q", "")
    problem = search.query_problem(query)
    if problem:
        return _error(ErrorCode.BAD_FIELD, problem)
    before_seq = _before_seq(request)
    if isinstance(before_seq, JsonResponse):
        return before_seq
    # Counted before the database is asked anything, unknown rooms included.
    wait = search_wait_secs(ip=_client_ip(request) or "unknown")
    if wait:
        return _too_many(wait, "searches", code=ErrorCode.SEARCH_RATE_LIMITED)
    found_room = search.room_for_search(room_name=room)
    if found_room is None:
        return _error(ErrorCode.NOT_FOUND, "no such room", status=404)
    found = search.search_room(room=found_room, query=query, before_seq=before_seq)
    return JsonResponse(
        {"results": [search.result_dict(message) for message in found.messages], "has_more": found.has_more}
    )


def _before_seq(request: HttpRequest) -> int | None | JsonResponse:
    """``?before_seq=`` as a seq (None when absent), or the 400 that refuses it."""
    before_seq = request.GET.get("before_seq")
    if before_seq is None:
        return None
    # isascii: isdigit alone admits "²", which int() refuses (a 500 instead of a 400).
    if (
        not (before_seq.isascii() and before_seq.isdigit())
        or len(before_seq) > MAX_SEQ_DIGITS
        or not 1 <= int(before_seq) <= MAX_SEQ
    ):
        return _error(ErrorCode.BAD_FIELD, f"before_seq must be a whole number from 1 to {MAX_SEQ}")
    return int(before_seq)


@require_GET
def rooms_online(request: HttpRequest) -> JsonResponse:
    """``online_count`` of each room in ``?rooms=a,b,c`` (people with a name, as in ``presence``)."""
    rooms = [room for room in request.GET.get("rooms", "").split(",") if room]
    if not rooms:
        return _error(ApiError.BAD_REQUEST, "name the rooms: ?rooms=lobby,help")
    if len(rooms) > MAX_ROOMS_PER_COUNT_REQUEST:
        return _error(ApiError.BAD_REQUEST, f"at most {MAX_ROOMS_PER_COUNT_REQUEST} rooms per request")
    for room in rooms:
        if not is_valid_room_name(room):
            return _error(ApiError.BAD_REQUEST, f"{room[:50]!r} is not a room name")
    response = JsonResponse({"rooms": presence.online_counts(rooms=list(dict.fromkeys(rooms)))})
    response["Cache-Control"] = f"public, max-age={ONLINE_COUNTS_MAX_AGE_SECS}"
    return response


@require_GET
def identity_challenge(request: HttpRequest) -> JsonResponse:
    return identity_challenge_answer()


def identity_challenge_answer() -> JsonResponse:
    return JsonResponse(
        {
            "challenge": new_challenge(now=time.time()),
            "difficulty_bits": conf.IDENTITY_POW_BITS,
            "expires_in_secs": conf.CHALLENGE_TTL_SECS,
        }
    )


@csrf_exempt
@require_POST
def visitor_identity(request: HttpRequest) -> JsonResponse:
    """A token for a visitor's display name (a proof of work pays for it)."""
    checked = check_token_request(request.content_type, lambda: request.body)
    if isinstance(checked, JsonResponse):
        return checked
    ip = _client_ip(request)
    refusal = redeem_token_request(checked, ip)
    if refusal is not None:
        return refusal
    return issue_visitor_token(checked, ip)


class TokenRequest(NamedTuple):
    """A token request that passed every check needing neither the limits nor the database."""

    name: str
    challenge: str
    visitor: str | None  # a renewal's visitor id (from its previous token), None for a new name
    now: float


# The token request in three steps, shared by the view above and the identity fast path in front of
# Django (chat.fast_identity), which runs them without Django's request handling: the checks (no
# I/O), the challenge's redemption (the shared limits: Redis, when configured), the sanctions
# (the database) and the token.


def check_token_request(content_type: str | None, read_body: Callable[[], bytes]) -> TokenRequest | JsonResponse:
    body = _json_body(content_type, read_body)
    if isinstance(body, JsonResponse):
        return body
    if body.get("website"):  # the honeypot: people never see the field, form-filling bots do
        return _error(ApiError.BAD_REQUEST, "this request looks automated")
    # Refusals (a bad name, an unsolved challenge) come before the rate limit and cost the address
    # nothing: a visitor who mistypes is not then told to wait.
    name = body.get("name")
    if not isinstance(name, str):
        return _error(ApiError.INVALID_NAME, "'name' must be a string")
    problem = display_name_problem(name)
    if problem:
        return _error(ApiError.INVALID_NAME, problem)
    if is_reserved_name(name, conf.RESERVED_NAMES):
        return _error(ApiError.RESERVED_NAME, f"{name!r} is reserved; pick another name")
    now = time.time()
    problem = challenge_problem(
        body.get("challenge"), body.get("nonce"), bits=conf.IDENTITY_POW_BITS, now=now, ttl_secs=conf.CHALLENGE_TTL_SECS
    )
    if problem:
        return _error(ApiError.BAD_CHALLENGE, problem)
    return TokenRequest(
        name=name, challenge=body["challenge"], visitor=_previous_visitor(body.get("token"), now), now=now
    )


def redeem_token_request(checked: TokenRequest, ip: str | None) -> JsonResponse | None:
    """The refusal, or None once the challenge is spent."""
    # A new visitor id is what the per-address limit bounds. A renewal keeps its id (and with it
    # every per-identity limit and sanction), so each open tab may renew without counting. One
    # atomic step, on every process alike: a spent challenge is refused; a new name without a
    # token left in the address's bucket is refused and leaves the challenge unspent for the
    # retry after the wait; else the challenge is spent.
    try:
        redemption = redeem_challenge(checked.challenge, ip=ip or "unknown", new_identity=checked.visitor is None)
    except LimitsUnavailable as unavailable:
        return _limits_unavailable(unavailable)
    if redemption.spent:
        return _error(ApiError.BAD_CHALLENGE, "this challenge was already used; fetch a new one")
    if redemption.wait_secs:
        return _too_many(redemption.wait_secs, "new names")
    return None


def issue_visitor_token(checked: TokenRequest, ip: str | None) -> JsonResponse:
    """The token of a redeemed request, or the ban that refuses it (reads the database)."""
    visitor = checked.visitor
    if visitor is not None:
        return _issue(ip, Identity(visitor=visitor, name=checked.name, staff=False), checked.now)
    visitor = new_visitor_id()
    # Nearly every request meets no sanction at all: the process's copy of the sanctions in force,
    # or one cheap query, says so, and only when it finds a candidate do the full reads below run.
    if not sanction_may_apply(visitor=visitor, ip=ip, now=timezone.now()):
        return _token_answer(Identity(visitor=visitor, name=checked.name, staff=False), checked.now)
    # Clearing storage for a new name does not shake off a recent mute or ban: the new identity
    # gets it if its address is where a sanctioned one was seen (SANCTION_ADDRESS_CARRY_SECS).
    ban = moderation.carry_over(visitor=visitor, name=checked.name, ip=ip, now=timezone.now())
    if ban is not None:
        return _error(ApiError.BANNED, moderation.describe(ban), status=403)
    return _issue(ip, Identity(visitor=visitor, name=checked.name, staff=False), checked.now, probe=False)


def token_without_database(checked: TokenRequest, ip: str | None) -> JsonResponse | None:
    """``issue_visitor_token``'s answer when the process's copy of the sanctions in force
    (chat.sanction_cache) shows that none can concern it, with no database; else None (ask
    ``issue_visitor_token`` on the database thread). Safe to call in the event loop."""
    visitor = checked.visitor or new_visitor_id()
    carry_secs = conf.SANCTION_ADDRESS_CARRY_SECS
    if sanction_cache.cached_may_apply(visitor=visitor, ip=ip, now=timezone.now(), carry_secs=carry_secs) is not False:
        return None
    return _token_answer(Identity(visitor=visitor, name=checked.name, staff=False), checked.now)


def sanction_may_apply(*, visitor: str, ip: str | None, now: datetime) -> bool:
    """Whether any sanction row could concern a token for ``visitor`` at ``ip``: one in force for
    the visitor or the address, or one whose identity was seen at the address within carry_over's
    window. A superset of what moderation.carry_over and active_sanction look for: when it says
    no, they would find nothing either. Answered from the process's copy of the sanctions in force
    when it has one (chat.sanction_cache), else by one indexed query built once."""
    cached = sanction_cache.may_apply(visitor=visitor, ip=ip, now=now, carry_secs=conf.SANCTION_ADDRESS_CARRY_SECS)
    if cached is not None:
        return cached
    connection = connections[router.db_for_read(Sanction)]
    sql = _SANCTION_PROBE_SQL.get(connection.vendor)
    if sql is None:
        sql = _SANCTION_PROBE_SQL[connection.vendor] = _sanction_probe_sql(connection)
    ops = connection.ops
    moment = ops.adapt_datetimefield_value(now)
    # As the ORM's filters on the field write it (IPv6 in its shortest form), so every spelling matches.
    address = Sanction._meta.get_field("ip").get_db_prep_value(ip, connection) if ip else None
    carried_since = ops.adapt_datetimefield_value(now - timedelta(seconds=conf.SANCTION_ADDRESS_CARRY_SECS))
    with connection.cursor() as cursor:
        cursor.execute(sql, [moment, visitor, address, address, carried_since])
        return cursor.fetchone() is not None


_SANCTION_PROBE_SQL: dict[str, str] = {}


def _sanction_probe_sql(connection) -> str:
    quote = connection.ops.quote_name

    def column(field: str) -> str:
        return quote(column_of(Sanction, field))

    lifted_at, until, visitor = column("lifted_at"), column("until"), column("visitor")
    ip, seen_ip = column("ip"), column("seen_ip")
    carried_from, created_at = column("carried_from"), column("created_at")
    return (
        f"SELECT 1 FROM {quote(Sanction._meta.db_table)} WHERE {lifted_at} IS NULL"
        f" AND ({until} IS NULL OR {until} > %s)"
        f" AND ({visitor} = %s OR {ip} = %s OR ({seen_ip} = %s AND {carried_from} IS NULL AND {created_at} >= %s))"
        " LIMIT 1"
    )


@csrf_exempt
@require_POST
def staff_identity(request: HttpRequest) -> JsonResponse:
    """A staff token for a Django staff user of this backend (their admin username and password)."""
    body = _json_body(request.content_type, lambda: request.body)
    if isinstance(body, JsonResponse):
        return body
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return _error(ApiError.BAD_REQUEST, "'username' and 'password' must be strings")
    try:  # password guessing; counted before the password is hashed, refused or not
        wait = staff_sign_in_wait_secs(ip=_client_ip(request) or "unknown", username=username)
    except LimitsUnavailable as unavailable:
        return _limits_unavailable(unavailable)
    if wait:
        return _too_many(wait, "staff sign-ins", "from this address or for this username")
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_staff:
        return _error(ApiError.BAD_CREDENTIALS, "unknown staff username or wrong password", status=403)
    name = user.get_username()[:32]
    return _issue(_client_ip(request), Identity(visitor=staff_visitor_id(user.pk), name=name, staff=True), time.time())


def _issue(ip: str | None, identity: Identity, now: float, *, probe: bool = True) -> JsonResponse:
    if not probe or sanction_may_apply(visitor=identity.visitor, ip=ip, now=timezone.now()):
        ban = moderation.active_sanction(kind=Sanction.Kind.BAN, visitor=identity.visitor, ip=ip, now=timezone.now())
        if ban is not None:
            return _error(ApiError.BANNED, moderation.describe(ban), status=403)
    return _token_answer(identity, now)


def _token_answer(identity: Identity, now: float) -> JsonResponse:
    return JsonResponse(
        {
            "token": issue_token(identity, now=now),
            "name": identity.name,
            "visitor": identity.visitor,
            "staff": identity.staff,
            "expires_in_secs": conf.TOKEN_TTL_SECS,
        }
    )


def _previous_visitor(token: object, now: float) -> str | None:
    """The visitor id of a previous token (even an expired one, within the renewal age)."""
    if token is None:
        return None
    try:
        verified = verify_token(token, now=now, max_age_secs=conf.IDENTITY_RENEW_MAX_AGE_SECS)
    except TokenError:
        return None
    return None if verified.identity.staff else verified.identity.visitor


def _too_many(
    wait: float, what: str, where: str = "from this address", *, code: ErrorCode = ErrorCode.IDENTITY_RATE_LIMITED
) -> JsonResponse:
    """The 429 answer to an address whose bucket is empty for ``wait`` seconds."""
    return _error(code, f"too many {what} {where}; try again later", status=429, retry_after_secs=wait)


def _limits_unavailable(unavailable: LimitsUnavailable) -> JsonResponse:
    return _error_of(unavailable, status=503)


def _json_body(content_type: str | None, read_body: Callable[[], bytes]) -> dict | JsonResponse:
    if content_type != JSON_CONTENT_TYPE:  # parameters such as charset=utf-8 are fine
        return _error(
            ApiError.UNSUPPORTED_MEDIA_TYPE,
            f"send the body as JSON with Content-Type: {JSON_CONTENT_TYPE}",
            status=415,
        )
    raw = read_body()
    if len(raw) > MAX_BODY_BYTES:
        return _error(ApiError.BAD_REQUEST, f"the body is limited to {MAX_BODY_BYTES} bytes", status=413)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return _error(ApiError.BAD_REQUEST, "the body must be JSON")
    if not isinstance(body, dict):
        return _error(ApiError.BAD_REQUEST, "the body must be a JSON object")
    return body


def _client_ip(request: HttpRequest) -> str | None:
    # The TCP peer, or the forwarded visitor behind TRUSTED_PROXY_HOPS proxies (chat.proxy).
    return request.META.get("REMOTE_ADDR") or None


def _error(code: str, message: str, *, status: int = 400, retry_after_secs: float | None = None) -> JsonResponse:
    """The JSON error answer; with a wait, in the body and as HTTP's Retry-After header."""
    error: dict[str, object] = {"code": code, "message": message}
    if retry_after_secs is not None:
        error["retry_after_secs"] = round_up_secs(retry_after_secs)
    response = JsonResponse({"error": error}, status=status)
    if retry_after_secs is not None:
        response["Retry-After"] = retry_after_header(retry_after_secs)
    return response


def _error_of(error: BackchannelError, *, status: int) -> JsonResponse:
    return _error(error.code, error.message, status=status, retry_after_secs=error.retry_after_secs)
