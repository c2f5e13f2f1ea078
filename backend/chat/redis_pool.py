"""How this process connects to Redis: a bounded pool that waits, and commands that survive a
stale connection. Used by the channel layer (chat.redis_layer) and the shared limits
(chat.shared_limits) alike, so every Redis client of a process behaves the same.

- **Bounded, and waiting.** redis-py's default pool holds 100 connections and raises
  ``MaxConnectionsError`` at once past them: 500 sockets closing together on one process lost
  66-371 presence updates that way. A ``BlockingConnectionPool`` instead makes the 101st command
  wait (at most ``REDIS_POOL_WAIT_SECS``) for a connection another command gives back; commands
  take a millisecond, so a burst is served in turn instead of failing. The size is deliberate:
  every process opens up to ``REDIS_POOL_MAX_CONNECTIONS`` per Redis host (and per client: the layer
  and the shared limits each have one), and a hosted Redis counts them against its plan's limit.
- **Stale connections are retried.** After a Redis restart every pooled connection is dead; the
  first command on each used to fail (and the next one on another ~40 s later). Each command is
  retried on a fresh connection (``REDIS_RETRIES`` times, with a short backoff), so a restart
  costs a reconnect, not an error.
- **Reconnects are told.** A Redis restarted without persistence has forgotten every group; the
  fan-out must re-join them at once (chat.fanout). ``on_reconnect`` is called whenever a pooled
  connection that was connected before connects again: after a restart, the first command that
  reaches the new Redis says so, even when the retry above hid the outage from its caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

# Three retries, after 100, 200 and 400 ms: a stale connection is replaced on the first; a Redis
# that is really down fails a command within a second or two (redis-py also retries the connect
# itself), so callers (the fan-out's reader, /healthz) learn of it and do their own waiting. A
# restart shorter than that is hidden from the caller: the reconnect hook below still tells.
REDIS_RETRIES = 3
RETRY_BACKOFF_BASE_SECS = 0.05
RETRY_BACKOFF_CAP_SECS = 0.5
# A connection attempt to a host that does not answer gives up after this (the OS default is
# minutes); the retry above then tries again.
CONNECT_TIMEOUT_SECS = 2.0
# Only a broken connection is retried: a command that timed out is not sent again (the shared
# limits' 1 s timeout must stay 1 s when Redis hangs).
RETRIED_ERRORS = (RedisConnectionError,)


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=RETRY_BACKOFF_CAP_SECS, base=RETRY_BACKOFF_BASE_SECS)


def reconnect_hook(on_reconnect: Callable[[], None]):
    """A redis-py ``redis_connect_func``: the usual connection set-up, then ``on_reconnect()`` when
    this connection object had been connected before (a first connect, as the pool grows, is not
    a reconnect)."""

    async def connected(connection) -> None:
        await connection.on_connect()  # what redis-py does when no hook is given
        if getattr(connection, "backchannel_connected_before", False):
            on_reconnect()
        connection.backchannel_connected_before = True

    return connected


def async_pool(
    url: str, *, max_connections: int, wait_secs: float, on_reconnect: Callable[[], None] | None = None,
    **options: Any,
):  # fmt: skip
    """A waiting pool for ``url`` (``options``: redis-py connection options, e.g. socket_timeout)."""
    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_SECS)
    if on_reconnect is not None:
        options["redis_connect_func"] = reconnect_hook(on_reconnect)
    return redis.asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=wait_secs,
        retry=AsyncRetry(_backoff(), REDIS_RETRIES, supported_errors=RETRIED_ERRORS),
        **options,
    )


def sync_pool(url: str, *, max_connections: int, wait_secs: float, **options: Any):
    """The same for a synchronous client (the identity views, in Django's worker threads)."""
    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_SECS)
    return redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=wait_secs,
        retry=Retry(_backoff(), REDIS_RETRIES, supported_errors=RETRIED_ERRORS),
        **options,
    )
