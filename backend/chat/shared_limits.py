"""The per-address limits every process shares through Redis (with ``REDIS_URL``).

Without it each process would keep its own: with N processes one proof of work would buy N
tokens, an address N times the new-name budget and N × ``MAX_SOCKETS_PER_IP`` sockets. Each check
here is one Lua script, so one round trip and atomic however many processes ask at once:

- **Token requests**: ``redeem`` refuses a challenge already spent, then takes one token from the
  address's bucket (for a new visitor id), then marks the challenge spent, or does nothing at all
  (a 429 keeps the challenge for the retry). Buckets are GCRA: one key holding the time the
  bucket is full again, which is a token bucket of ``burst`` refilling at ``per_sec``.
- **Sockets per address**: each process keeps a tally (address → its open sockets) in a hash of
  its own, leased: the hash and the process's entry in a sorted set of live processes expire
  ``SOCKET_LEASE_SECS`` after the last renewal. A process renews its lease and rewrites its hash
  from its own count every third of that, so a crashed process's sockets stop counting within one
  lease, and a Redis that lost its data (a restart) is told every count again within a renewal.

Time is Redis's (``TIME`` in the scripts): processes on several machines share one clock.

Keys are namespaced under ``backchannel:limits:``, all expire, and name an address only by a
keyed hash (HMAC of SECRET_KEY), so Redis holds no visitor's address in the clear.

Failure (ARCHITECTURE.md "Limits"): a request that mints a token fails closed
(``LimitsUnavailable``: the view answers 503), a socket check fails open to this process's own
count (the per-process limit still holds).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio

from chat.errors import BackchannelError
from chat.protocol import ErrorCode
from chat.ratelimit import Counter
from chat.redis_pool import async_pool, sync_pool

logger = logging.getLogger(__name__)

KEY_PREFIX = "backchannel:limits"
PROCESSES_KEY = f"{KEY_PREFIX}:sockets:processes"
# A Redis that does not answer within this is treated as down: a token request fails (503) rather
# than hang a worker thread, a handshake falls back to the local count rather than stall.
REDIS_TIMEOUT_SECS = 1.0
# When Redis does not answer a check that must not be skipped, the request is refused (503) with
# this wait: minting tokens unchecked would let one proof of work buy a token on every process,
# and staff sign-ins unchecked would let a guesser through unlimited.
LIMITS_UNAVAILABLE_RETRY_SECS = 5
# A process renews its socket lease this many times per lease: two renewals may fail in a row
# (a Redis blip) before its sockets stop counting elsewhere.
RENEWALS_PER_LEASE = 3
ADDRESS_DIGEST_BYTES = 16


class LimitsUnavailable(BackchannelError):
    """Redis did not answer a check that must not be skipped (a token request, a staff sign-in).
    ``detail`` is Redis's error, for the log; the client is told to come back in a few seconds."""

    retry_after_secs: float

    def __init__(self, detail: str) -> None:
        super().__init__(
            ErrorCode.SERVER_ERROR,
            "the server cannot check its limits right now; try again in a few seconds",
            retry_after_secs=LIMITS_UNAVAILABLE_RETRY_SECS,
        )
        self.detail = detail


# --- Keys (pure) ---------------------------------------------------------------------------------


def address_digest(ip: str, *, secret: str) -> str:
    """The address as Redis sees it: keyed, so the keys name no visitor's address."""
    key = hashlib.sha256(f"backchannel.limits:{secret}".encode()).digest()
    return hmac.new(key, ip.encode(), hashlib.blake2b).hexdigest()[: 2 * ADDRESS_DIGEST_BYTES]


def bucket_key(bucket: str, address: str) -> str:
    return f"{KEY_PREFIX}:bucket:{bucket}:{address}"


def challenge_key(challenge: str) -> str:
    # Challenges are signed and unguessable; a digest keeps the key short.
    return f"{KEY_PREFIX}:challenge:{hashlib.sha256(challenge.encode()).hexdigest()[:32]}"


def process_tally_key(process_id: str) -> str:
    return f"{KEY_PREFIX}:sockets:process:{process_id}"


def new_process_id() -> str:
    """Unique per process (and per event loop in tests): host, pid and a random part."""
    return f"{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(4)}"


def renew_interval_secs(lease_secs: float) -> float:
    return lease_secs / RENEWALS_PER_LEASE


@dataclass(frozen=True)
class Redemption:
    """What a token request's challenge and bucket said: spent, or a wait, or neither (go)."""

    spent: bool = False
    wait_secs: float = 0.0

    @property
    def granted(self) -> bool:
        return not self.spent and not self.wait_secs


def redemption_from_reply(reply: bytes | str) -> Redemption:
    """The redeem script answers ``spent``, ``ok`` or the wait in milliseconds."""
    text = reply.decode() if isinstance(reply, bytes) else reply
    if text == "spent":
        return Redemption(spent=True)
    if text == "ok":
        return Redemption()
    return Redemption(wait_secs=float(text) / 1000)


def wait_from_reply(reply: bytes | str) -> float:
    text = reply.decode() if isinstance(reply, bytes) else reply
    return float(text) / 1000


# --- Scripts -------------------------------------------------------------------------------------

_NOW_MS = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
"""

# GCRA: the key holds the time (ms) at which the bucket is full again. Taking a token moves it
# one interval later; a take that would move it more than `burst` intervals past now is refused
# with the wait. Returns the wait in ms (0: taken).
_TAKE = """
local function take(key, now, interval_ms, burst)
  local full_at = tonumber(redis.call('GET', key)) or now
  if full_at < now then full_at = now end
  local next_full_at = full_at + interval_ms
  local over_ms = next_full_at - now - burst * interval_ms
  if over_ms > 0.001 then return over_ms end
  redis.call('SET', key, string.format('%.3f', next_full_at), 'PX', math.ceil(next_full_at - now) + 1)
  return 0
end
"""

# KEYS: challenge key [, bucket key]; ARGV: challenge ttl ms, interval ms, burst.
REDEEM_SCRIPT = f"""{_NOW_MS}{_TAKE}
if redis.call('EXISTS', KEYS[1]) == 1 then return 'spent' end
if #KEYS == 2 then
  local wait_ms = take(KEYS[2], now_ms(), tonumber(ARGV[2]), tonumber(ARGV[3]))
  if wait_ms > 0 then return string.format('%.3f', wait_ms) end
end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 'ok'
"""

# KEYS: bucket key; ARGV: interval ms, burst.
TAKE_SCRIPT = f"""{_NOW_MS}{_TAKE}
return string.format('%.3f', take(KEYS[1], now_ms(), tonumber(ARGV[1]), tonumber(ARGV[2])))
"""

# KEYS: processes set, own tally; ARGV: process id, address, limit, lease ms, tally key prefix.
# Drops processes whose lease ran out, renews ours, sums the address's sockets over the live
# processes and counts one more for us when that stays within the limit. Returns the sockets the
# address has open everywhere, this one included, or minus the count when refused.
ACQUIRE_SCRIPT = f"""{_NOW_MS}
local now = now_ms()
local lease_ms = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + lease_ms, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease_ms)
local open = 0
for _, process in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  open = open + (tonumber(redis.call('HGET', ARGV[5] .. process, ARGV[2])) or 0)
end
if open >= tonumber(ARGV[3]) then return -open end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('PEXPIRE', KEYS[2], lease_ms)
return open + 1
"""

# KEYS: own tally; ARGV: address.
RELEASE_SCRIPT = """
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""

# KEYS: processes set, own tally; ARGV: process id, lease ms, then address, count pairs.
# Replaces our tally with what this process counts itself and renews the lease.
RENEW_SCRIPT = f"""{_NOW_MS}
local now = now_ms()
local lease_ms = tonumber(ARGV[2])
redis.call('DEL', KEYS[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if #ARGV > 2 then redis.call('PEXPIRE', KEYS[2], lease_ms) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + lease_ms, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease_ms)
return 0
"""


def _client_options(url: str, *, verify_tls: bool) -> dict[str, Any]:
    options: dict[str, Any] = {"socket_timeout": REDIS_TIMEOUT_SECS, "socket_connect_timeout": REDIS_TIMEOUT_SECS}
    if url.startswith("rediss://") and not verify_tls:
        options["ssl_cert_reqs"] = None  # REDIS_TLS_VERIFY=0, as for the channel layer
    return options


# --- Token requests (sync: the identity views run in Django's worker thread) -----------------------


def _pool_size() -> tuple[int, float]:
    from chat.conf import conf  # settings are read when the first client is made, not at import

    return conf.REDIS_POOL_MAX_CONNECTIONS, conf.REDIS_POOL_WAIT_SECS


class SharedIdentityLimits:
    def __init__(self, url: str, *, secret: str, verify_tls: bool = True) -> None:
        size, wait_secs = _pool_size()
        pool = sync_pool(url, max_connections=size, wait_secs=wait_secs, **_client_options(url, verify_tls=verify_tls))
        self.client = redis.Redis(connection_pool=pool)
        self.secret = secret
        self._redeem = self.client.register_script(REDEEM_SCRIPT)
        self._take = self.client.register_script(TAKE_SCRIPT)

    def redeem(
        self, challenge: str, *, ip: str, bucket: str | None, burst: int, per_sec: float, challenge_ttl_secs: float
    ) -> Redemption:
        """Spend ``challenge`` once, everywhere; with ``bucket``, only if the address has a token
        left in it. Raises ``LimitsUnavailable`` when Redis does not answer."""
        keys = [challenge_key(challenge)]
        if bucket is not None:
            keys.append(bucket_key(bucket, address_digest(ip, secret=self.secret)))
        # The spent mark outlives the challenge's own validity (refused as expired after its TTL).
        args = [int(challenge_ttl_secs * 1000) + 1000, 1000 / per_sec, burst]
        try:
            return redemption_from_reply(self._redeem(keys=keys, args=args))
        except (redis.RedisError, OSError) as error:
            raise LimitsUnavailable(str(error)) from error

    def take(self, bucket: str, *, ip: str, burst: int, per_sec: float) -> float:
        """One token from the address's ``bucket``: 0.0, or the seconds until one is available."""
        key = bucket_key(bucket, address_digest(ip, secret=self.secret))
        try:
            return wait_from_reply(self._take(keys=[key], args=[1000 / per_sec, burst]))
        except (redis.RedisError, OSError) as error:
            raise LimitsUnavailable(str(error)) from error


# --- Sockets per address (async: the consumers' event loop) ----------------------------------------


class LocalSocketTally:
    """Open sockets per address in this process: the whole story without Redis, and with it this
    process's share (what it renews in Redis) and the fallback while Redis is away."""

    def __init__(self) -> None:
        self.counts = Counter()

    async def acquire(self, ip: str, *, limit: int) -> bool:
        """Count one more socket from ``ip`` unless it already has ``limit`` open."""
        if self.counts[ip] >= limit:
            return False
        self.counts.add(ip)
        return True

    async def release(self, ip: str) -> None:
        self.counts.remove(ip)

    def stop(self) -> None:
        pass


class SharedSocketTally(LocalSocketTally):
    def __init__(
        self, url: str, *, secret: str, lease_secs: float, verify_tls: bool = True, process_id: str | None = None
    ) -> None:
        super().__init__()
        # A waiting pool: 500 sockets closing at once release 500 counts together (chat.redis_pool).
        size, wait_secs = _pool_size()
        pool = async_pool(url, max_connections=size, wait_secs=wait_secs, **_client_options(url, verify_tls=verify_tls))
        self.client = redis.asyncio.Redis(connection_pool=pool)
        self.secret = secret
        self.lease_ms = int(lease_secs * 1000)
        self.renew_secs = renew_interval_secs(lease_secs)
        self.process_id = process_id or new_process_id()
        self.tally_key = process_tally_key(self.process_id)
        self._acquire = self.client.register_script(ACQUIRE_SCRIPT)
        self._release = self.client.register_script(RELEASE_SCRIPT)
        self._renew = self.client.register_script(RENEW_SCRIPT)
        self._renewal: asyncio.Task | None = None
        self._redis_down = False  # log an outage once, and its end

    async def acquire(self, ip: str, *, limit: int) -> bool:
        self._start_renewing()
        address = address_digest(ip, secret=self.secret)
        try:
            open_sockets = await self._acquire(
                keys=[PROCESSES_KEY, self.tally_key],
                args=[self.process_id, address, limit, self.lease_ms, process_tally_key("")],
            )
        except (redis.RedisError, OSError) as error:
            # Fail open to this process's own count: refusing every handshake during a blip would
            # turn it into a reconnect storm, and one process still holds its own limit.
            self._note_outage(error)
            return await super().acquire(ip, limit=limit)
        self._note_recovery()
        if open_sockets < 0:
            return False
        self.counts.add(ip)
        return True

    async def release(self, ip: str) -> None:
        self.counts.remove(ip)
        try:
            await self._release(keys=[self.tally_key], args=[address_digest(ip, secret=self.secret)])
        except (redis.RedisError, OSError) as error:
            self._note_outage(error)  # the next renewal writes the right count

    async def renew(self) -> None:
        """Renew this process's lease and rewrite its tally from its own count."""
        pairs: list[str | int] = []
        for ip, count in self.counts.items():
            pairs += [address_digest(ip, secret=self.secret), count]
        await self._renew(keys=[PROCESSES_KEY, self.tally_key], args=[self.process_id, self.lease_ms, *pairs])

    def _start_renewing(self) -> None:
        if self._renewal is None:
            self._renewal = asyncio.create_task(self._renew_forever())

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.renew_secs)
            try:
                await self.renew()
            except (redis.RedisError, OSError) as error:
                self._note_outage(error)
            else:
                self._note_recovery()

    def _note_outage(self, error: Exception) -> None:
        if not self._redis_down:
            logger.warning("shared socket limits: Redis unreachable (%s); counting this process's sockets only", error)
        self._redis_down = True

    def _note_recovery(self) -> None:
        if self._redis_down:
            logger.warning("shared socket limits: Redis is back; counting every process's sockets again")
        self._redis_down = False

    def stop(self) -> None:
        if self._renewal is not None:
            loop = self._renewal.get_loop()
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._renewal.cancel)
            self._renewal = None
