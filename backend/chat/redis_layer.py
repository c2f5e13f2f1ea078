"""The Redis channel layer (channels-redis's core layer) over this process's Redis pools.

channels-redis builds each host's pool with redis-py's defaults: 100 connections that raise
``MaxConnectionsError`` when a burst needs more, and no retry of a command whose pooled connection
died with a Redis restart. This layer builds them with ``chat.redis_pool`` instead (bounded,
waiting, retried) and tells listeners when a connection to Redis is made again (the fan-out
re-joins its groups then); everything else is channels-redis's own.

settings.py names it in ``CHANNEL_LAYERS`` with two more CONFIG keys: ``pool_max_connections``
and ``pool_wait_secs`` (REDIS_POOL_MAX_CONNECTIONS, REDIS_POOL_WAIT_SECS).
"""

from __future__ import annotations

from collections.abc import Callable

from channels_redis.core import RedisChannelLayer

from chat.redis_pool import async_pool


class PooledRedisChannelLayer(RedisChannelLayer):
    def __init__(self, *, pool_max_connections: int, pool_wait_secs: float, **config) -> None:
        super().__init__(**config)
        self.pool_max_connections = pool_max_connections
        self.pool_wait_secs = pool_wait_secs
        self.reconnect_listeners: list[Callable[[], None]] = []

    def add_reconnect_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (on the event loop) whenever a connection to a Redis host is made
        again: that Redis may have restarted and forgotten every group (chat.fanout re-joins)."""
        self.reconnect_listeners.append(listener)

    def _reconnected(self) -> None:
        for listener in list(self.reconnect_listeners):
            listener()

    def create_pool(self, index: int):
        host = dict(self.hosts[index])
        address = host.pop("address")  # settings.py gives every host as {"address": url, ...}
        return async_pool(
            address, max_connections=self.pool_max_connections, wait_secs=self.pool_wait_secs,
            on_reconnect=self._reconnected, **host,
        )  # fmt: skip
