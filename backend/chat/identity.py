"""Visitor identity: who a socket speaks as, carried in a short-lived signed token.

A token is ``django.core.signing`` output (HMAC-SHA256 keyed by SECRET_KEY, with a salt of its
own) over the visitor id, the display name, the staff flag and the time it was issued. The
server never trusts a name a socket sends; it shows the token's. Pure apart from the signing key:
``now`` is a parameter so tests control time.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from django.core import signing

from chat.errors import BackchannelError

TOKEN_SALT = "backchannel.identity"
VISITOR_ID_BYTES = 12  # 16 URL-safe characters: unguessable, and safe in a channel-layer group name
# A visitor's tag: 4 characters of Crockford's base32 (no i, l, o, u: nothing to misread), 20 bits.
# Long enough that two people of one name in a room almost never share it, and that getting a
# chosen one means minting about a million identities (each a proof of work, rate-limited).
VISITOR_TAG_CHARS = 4
_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghjkmnpqrstvwxyz")


@dataclass(frozen=True)
class Identity:
    visitor: str  # public id: shown to others so clients can tell people apart; not a credential
    name: str
    staff: bool = False


@dataclass(frozen=True)
class VerifiedToken:
    identity: Identity
    issued_at: int  # unix seconds


class TokenProblem(StrEnum):
    BAD = "bad_token"
    EXPIRED = "token_expired"


class TokenError(BackchannelError):
    """A token that proves nothing; ``code`` is the problem's wire code (``bad_token``...)."""

    def __init__(self, problem: TokenProblem, message: str) -> None:
        super().__init__(problem, message)
        self.problem = problem


def new_visitor_id() -> str:
    return secrets.token_urlsafe(VISITOR_ID_BYTES)


def staff_visitor_id(user_pk: int) -> str:
    return f"staff-{user_pk}"


def staff_user_pk(visitor: str) -> int | None:
    """The user behind a staff identity's visitor id (``staff_visitor_id``), or None."""
    prefix, _, pk = visitor.partition("-")
    if prefix != "staff" or not (pk.isascii() and pk.isdigit()) or len(pk) > 18:
        return None
    return int(pk)


# Tags kept per process (the least recently used dropped first): every `joined` and `presence`
# event tags each person listed, up to PRESENCE_LIST_LIMIT of them, so a join storm derived the
# same few hundred tags again for every join. About 150 bytes an entry.
VISITOR_TAG_CACHE_SIZE = 10_000


@functools.lru_cache(maxsize=VISITOR_TAG_CACHE_SIZE)
def visitor_tag(visitor: str) -> str:
    """A short, stable tag for a visitor id, shown beside a name so that two people who chose the
    same (or a look-alike) name never look the same. Derived, not stored: the same id always
    gets the same tag, on every process. Empty for no visitor (a deleted message's tombstone)."""
    if not visitor:
        return ""
    digest = hashlib.sha256(visitor.encode()).digest()
    return base64.b32encode(digest).decode()[:VISITOR_TAG_CHARS].translate(_CROCKFORD)


def issue_token(identity: Identity, *, now: float) -> str:
    payload = {"v": identity.visitor, "n": identity.name, "s": identity.staff, "t": int(now)}
    return signing.Signer(salt=TOKEN_SALT).sign_object(payload)


def verify_token(token: object, *, now: float, max_age_secs: int) -> VerifiedToken:
    """The identity in ``token``, or ``TokenError`` when it is forged, malformed or too old."""
    if not isinstance(token, str) or not token or len(token) > 1000:
        raise TokenError(TokenProblem.BAD, "the token is missing or malformed; get a new one")
    try:
        payload = signing.Signer(salt=TOKEN_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeError):
        raise TokenError(TokenProblem.BAD, "the token's signature is not valid; get a new one") from None
    match payload:
        case {"v": str(visitor), "n": str(name), "s": bool(staff), "t": int(issued_at)} if visitor and name:
            pass
        case _:
            raise TokenError(TokenProblem.BAD, "the token's content is not valid; get a new one")
    if now - issued_at > max_age_secs:
        raise TokenError(TokenProblem.EXPIRED, "the token has expired; get a new one")
    return VerifiedToken(Identity(visitor=visitor, name=name, staff=staff), issued_at)


def needs_refresh(verified: VerifiedToken, *, now: float, ttl_secs: int) -> bool:
    """Past half its life, a token is replaced (the socket sends the client a fresh one)."""
    return now - verified.issued_at >= ttl_secs / 2
