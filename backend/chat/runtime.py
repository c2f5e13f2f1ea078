"""What one process keeps across its sockets and requests, in one object: ``runtime()``.

Two lifetimes:

- ``Runtime``, per process: the abuse limits' buckets (``chat.limits``), the Redis clients of the
  shared limits, the presence throttles, whether the sockets left their rooms together at
  shutdown. Built from the settings on first use.
- ``LoopRuntime``, per event loop (``runtime().loop()``): the fan-out, the join batcher and the
  socket tally hold tasks, futures and asyncio Redis clients, which belong to the loop that made
  them. daphne runs one loop per process; tests run several loops in one process (each
  ``async_to_sync`` and each pytest-asyncio test has its own), so each loop gets its own, and a
  loop's share goes when the loop is collected.

The process's caches of the database (``chat.sanction_cache``, ``chat.page_cache``) are read and
filled on the database thread under their own locks, so they stay in their modules;
``reset_runtime`` empties them with the rest.

Tests call ``reset_runtime()`` (tests/backend/conftest.py) so that one test's traffic does not
rate-limit the next, and so that a limit changed in the settings takes effect.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from channels.layers import get_channel_layer

from chat import page_cache, sanction_cache
from chat.fanout import Fanout
from chat.join_batch import JoinBatcher

if TYPE_CHECKING:
    from chat.limits import ProcessLimits
    from chat.shared_limits import LocalSocketTally, SharedIdentityLimits


@dataclass
class PresenceThrottles:
    """What keeps this process's presence traffic bounded (chat.consumers)."""

    # When this process last swept presence rows left by dead processes (time.monotonic()).
    last_sweep_mono: float = 0.0
    # room -> when this process last sent a count-only presence update (rooms over the list
    # limit, and readers coming or going), time.monotonic()
    last_count_update_mono: dict[str, float] = field(default_factory=dict)
    # room -> the online count this process last computed (typing is not relayed in big rooms)
    online_counts: dict[str, int] = field(default_factory=dict)


@dataclass
class LoopRuntime:
    """One event loop's share: see the module doc for why it is per loop."""

    fanout: Fanout
    join_batcher: JoinBatcher
    # Made on first use: a shared tally opens a Redis pool, which only sockets need.
    _socket_tally: LocalSocketTally | None = None

    def socket_tally(self) -> LocalSocketTally:
        """This loop's count of open sockets per address (shared through Redis when set)."""
        if self._socket_tally is None:
            from chat.limits import new_socket_tally  # chat.limits reads the runtime

            self._socket_tally = new_socket_tally()
        return self._socket_tally

    def stop(self) -> None:
        self.fanout.stop()
        if self._socket_tally is not None:
            self._socket_tally.stop()


def _new_limits() -> ProcessLimits:
    from chat.limits import ProcessLimits  # chat.limits reads the runtime

    return ProcessLimits()


@dataclass
class Runtime:
    limits: ProcessLimits = field(default_factory=_new_limits)
    presence: PresenceThrottles = field(default_factory=PresenceThrottles)
    # Redis URL -> the shared identity limits' client (the URL may change in tests).
    shared_identity_limits: dict[str, SharedIdentityLimits] = field(default_factory=dict)
    # Set at shutdown once the sockets' presence is gone (chat.shutdown): a consumer's
    # disconnect then skips its own leave.
    left_together: bool = False
    loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopRuntime] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    def loop(self) -> LoopRuntime:
        """The running event loop's share (made on its first use)."""
        loop = asyncio.get_running_loop()
        share = self.loops.get(loop)
        if share is None:
            share = self.loops[loop] = LoopRuntime(fanout=Fanout(get_channel_layer()), join_batcher=JoinBatcher())
        return share

    def stop(self) -> None:
        """Stop every loop's tasks (from any thread: tests call it outside the loops)."""
        shares = list(self.loops.values())
        self.loops.clear()
        for share in shares:
            share.stop()


_current: Runtime | None = None


def runtime() -> Runtime:
    """This process's runtime, made from the settings on first use."""
    global _current
    if _current is None:
        _current = Runtime()
    return _current


def reset_runtime() -> None:
    """Forget everything the process keeps (tests: settings changed, the layer was flushed, so
    the fan-outs' memberships are gone), and what it cached from the database."""
    global _current
    if _current is not None:
        _current.stop()
    _current = None
    sanction_cache.reset()
    page_cache.clear()
