"""The abuse limits, in one place (ARCHITECTURE.md "Limits").

Message and frame buckets bound what one process accepts and live in it. The per-address limits
an attacker could multiply by the number of processes (new names, staff sign-ins, spent
challenges, sockets per address) are shared through Redis when ``REDIS_URL`` is set
(``chat.shared_limits``) and live in the process otherwise (one process serves everything then).

The buckets are made from the settings on first use and kept in the process's runtime
(``chat.runtime``: ``runtime().limits``); tests that change a limit call ``reset_runtime``.
"""

from __future__ import annotations

import time
import unicodedata

from django.conf import settings

from chat.challenge import SpentChallenges
from chat.conf import conf
from chat.ratelimit import BucketMap, TokenBucket
from chat.runtime import runtime
from chat.shared_limits import (
    LimitsUnavailable,
    LocalSocketTally,
    Redemption,
    SharedIdentityLimits,
    SharedSocketTally,
)

# Bucket names, also in the shared keys (backchannel:limits:bucket:<name>:<address>).
NEW_NAMES_BUCKET = "new-names"
STAFF_SIGN_INS_BUCKET = "staff-sign-ins"
STAFF_SIGN_INS_PER_ACCOUNT_BUCKET = "staff-sign-ins-per-account"
# The moderation API, per staff identity: a moderator clearing a spam wave clicks fast, a stolen
# staff token scripted against the room does not get far. Reports, per visitor: a few at once,
# then one every 20 s (a report costs a moderator's attention).
MODERATION_ACTION_BURST = 30
MODERATION_ACTIONS_PER_SEC = 1.0
REPORT_BURST = 5
REPORTS_PER_SEC = 1 / 20
# Searches (GET /api/rooms/<room>/search/), per address: a person refining a query a few times
# in a row, then one every 2 s; a script crawling a room's history through them does not get far.
SEARCH_BUCKET = "searches"
SEARCH_BURST = 20
SEARCHES_PER_SEC = 0.5
# Django's usernames are at most 150 characters; a longer one names no account.
MAX_USERNAME_KEY_CHARS = 150


class ProcessLimits:
    def __init__(self) -> None:
        self.messages_per_identity = BucketMap(burst=conf.MESSAGE_BURST, per_sec=conf.MESSAGE_PER_SEC)
        self.messages_per_ip = BucketMap(burst=conf.IP_MESSAGE_BURST, per_sec=conf.IP_MESSAGE_PER_SEC)
        # Without Redis only: the identity API's buckets and spent challenges (see module doc).
        # Only requests that mint a new visitor id count: not a challenge, not a renewal of a known
        # identity (same visitor id, so nothing to gain), not a refused request.
        self.new_identities_per_ip = BucketMap(burst=conf.IDENTITY_BURST, per_sec=conf.IDENTITY_PER_MIN / 60)
        # Every staff sign-in counts, refused ones first (password guessing); a bucket of its own so
        # a classroom picking names does not lock its teacher out of signing in, or the reverse.
        self.staff_sign_ins_per_ip = BucketMap(burst=conf.IDENTITY_BURST, per_sec=conf.IDENTITY_PER_MIN / 60)
        self.staff_sign_ins_per_account = BucketMap(burst=conf.IDENTITY_BURST, per_sec=conf.IDENTITY_PER_MIN / 60)
        self.spent_challenges = SpentChallenges()
        # Per identity, so per process like the message buckets (a token is used where it is sent).
        self.moderation_actions = BucketMap(burst=MODERATION_ACTION_BURST, per_sec=MODERATION_ACTIONS_PER_SEC)
        self.reports = BucketMap(burst=REPORT_BURST, per_sec=REPORTS_PER_SEC)
        # Without Redis, or while it does not answer: searches per address, in this process.
        self.searches_per_ip = BucketMap(burst=SEARCH_BURST, per_sec=SEARCHES_PER_SEC)

    def message_wait_secs(self, *, visitor: str, ip: str | None, now: float) -> float:
        """0 when one more message is allowed (and counted), else how long to wait."""
        wait = self.messages_per_identity.take(visitor, now)
        if wait:
            return wait
        return self.messages_per_ip.take(ip, now) if ip else 0.0


# Where the server (backchannel.serve) hands a socket's consumer the socket's frame bucket, to
# which it charges the pings and pongs autobahn handles below the application: one budget for
# every frame a client sends.
FRAME_BUCKET_SCOPE_KEY = "backchannel.frame_bucket"


def frame_bucket() -> TokenBucket:
    """Each socket's own bucket over every frame it sends."""
    return TokenBucket(conf.FRAME_BURST, conf.FRAME_PER_SEC)


def socket_frame_bucket(scope: dict) -> TokenBucket:
    """The socket's bucket: the server's, or a new one under a server that has none (tests)."""
    return scope.get(FRAME_BUCKET_SCOPE_KEY) or frame_bucket()


# --- Token requests ----------------------------------------------------------------------------


def _shared_identity_limits() -> SharedIdentityLimits | None:
    url = conf.LIMITS_REDIS_URL
    if url is None:
        return None
    clients = runtime().shared_identity_limits
    if url not in clients:
        clients[url] = SharedIdentityLimits(url, secret=settings.SECRET_KEY, verify_tls=conf.REDIS_TLS_VERIFY)
    return clients[url]


def redeem_challenge(challenge: str, *, ip: str, new_identity: bool) -> Redemption:
    """Spend a solved challenge for one token: refused when it was spent before (on any process),
    or, for a new visitor id, when the address's new-name bucket is empty (the challenge then stays
    unspent for the retry). Raises ``LimitsUnavailable`` when the shared store does not answer."""
    shared = _shared_identity_limits()
    if shared is not None:
        return shared.redeem(
            challenge,
            ip=ip,
            bucket=NEW_NAMES_BUCKET if new_identity else None,
            burst=conf.IDENTITY_BURST,
            per_sec=conf.IDENTITY_PER_MIN / 60,
            challenge_ttl_secs=conf.CHALLENGE_TTL_SECS,
        )
    limits = runtime().limits
    if limits.spent_challenges.is_spent(challenge):
        return Redemption(spent=True)
    if new_identity:
        wait = limits.new_identities_per_ip.take(ip, time.monotonic())
        if wait:
            return Redemption(wait_secs=wait)
    limits.spent_challenges.spend(challenge)
    return Redemption()


def staff_sign_in_wait_secs(*, ip: str, username: str) -> float:
    """Count one staff sign-in attempt, at either door (the staff API, the admin's login page: one
    budget), from ``ip`` for ``username``: 0.0, or how long it must wait. The address's bucket
    bounds guessing from one address; the username's, guessing one account's password from many
    addresses (at the price that they can make its owner wait too). Raises ``LimitsUnavailable``
    when the shared store does not answer."""
    account = sign_in_account_key(username)
    shared = _shared_identity_limits()
    if shared is not None:
        burst, per_sec = conf.IDENTITY_BURST, conf.IDENTITY_PER_MIN / 60
        return shared.take(STAFF_SIGN_INS_BUCKET, ip=ip, burst=burst, per_sec=per_sec) or shared.take(
            STAFF_SIGN_INS_PER_ACCOUNT_BUCKET, ip=account, burst=burst, per_sec=per_sec
        )
    limits, now = runtime().limits, time.monotonic()
    return limits.staff_sign_ins_per_ip.take(ip, now) or limits.staff_sign_ins_per_account.take(account, now)


def sign_in_account_key(username: str) -> str:
    """One key for every spelling that may name the same account: Django's login form normalises
    usernames (NFKC), and a case-insensitive database collation matches any case."""
    return unicodedata.normalize("NFKC", username).casefold()[:MAX_USERNAME_KEY_CHARS]


def search_wait_secs(*, ip: str) -> float:
    """Count one search from ``ip``: 0.0, or how long it must wait. Shared by every process with
    Redis; when Redis does not answer, each process counts its own (a search reads what any page
    may read, so it fails open to the process's bucket rather than refusing every search)."""
    shared = _shared_identity_limits()
    if shared is not None:
        try:
            return shared.take(SEARCH_BUCKET, ip=ip, burst=SEARCH_BURST, per_sec=SEARCHES_PER_SEC)
        except LimitsUnavailable:
            pass
    return runtime().limits.searches_per_ip.take(ip, time.monotonic())


# --- Sockets per address -----------------------------------------------------------------------


def new_socket_tally() -> LocalSocketTally:
    """A count of open sockets per address for one event loop (``runtime().loop().socket_tally()``):
    shared through Redis when set."""
    url = conf.LIMITS_REDIS_URL
    if url is None:
        return LocalSocketTally()
    return SharedSocketTally(
        url, secret=settings.SECRET_KEY, lease_secs=conf.SOCKET_LEASE_SECS, verify_tls=conf.REDIS_TLS_VERIFY
    )
