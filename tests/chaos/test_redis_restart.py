"""Chaos 2: redis-server killed (SIGKILL) and restarted mid-stream under two daphne processes.

Two daphne processes share a private redis-server (the channel layer) and one SQLite database;
the clients are spread over both. Redis dies while a steady sender talks and comes back empty
on the same port (every group forgotten). Clients that lost messages on the live path fill the
gap from the log (pong.rooms / seq jumps); sends that failed are resent with their client_id.
"""

from __future__ import annotations

import time

import pytest

from scripts.processes import free_port
from tests.chaos.harness import Swarm, assert_delivered, countdown, start_backend, wait_converged, wait_recovered
from tests.chaos.verify import report_line

pytestmark = [pytest.mark.chaos, pytest.mark.redis, pytest.mark.slow]

ROOM = "chaos-redis"
DOWN_SECS = 3
RECOVERY_DEADLINE_SECS = 10


def test_a_redis_restart_loses_and_duplicates_nothing(tmp_path, loop_thread, cleanup, chaos_report):
    origin = f"http://127.0.0.1:{free_port()}"
    backend = start_backend("redis", tmp_path, site_origin=origin, processes=2, with_redis=True, cleanup=cleanup)
    one, two = backend.daphnes

    swarm = Swarm(loop=loop_thread, origin=origin, room=ROOM)
    cleanup.append(swarm.close)
    for label, daphne in (("sender", one), ("ann", one), ("bob", two), ("carol", two)):
        swarm.add(label, daphne.ws_url)
    swarm.wait_joined()

    observe = swarm.observe
    swarm.talk("sender", every=0.2)
    swarm.talk("ann", every=1.1)
    swarm.talk("bob", every=1.3)
    countdown(3, what="warm-up")

    backend.redis.kill()
    countdown(DOWN_SECS, what="redis down")
    backend.redis.start()
    restored_at = time.monotonic()
    must_show = {text for view in swarm.views().values() for text in view.typed.values()}
    recovery = wait_recovered(
        observe, must_show, what="after the redis restart", deadline_secs=RECOVERY_DEADLINE_SECS, since=restored_at
    )

    countdown(2, what="talking after recovery")

    # The other way a channel layer forgets its groups: every connection survives, the groups do
    # not. Only the ping's renewal (and pong.rooms for what was missed meanwhile) brings it back.
    rejoins_before_flush = sum(view.stats["gap_rejoins"] for view in swarm.views().values())
    backend.redis.flushall()
    countdown(1, what="talking into the flushed layer")
    # Timed from the end of that second: how long until what was said into the flushed layer
    # (live copies sent to nobody) is shown everywhere.
    must_show = {text for view in swarm.views().values() for text in view.typed.values()}
    flush_recovery = wait_recovered(observe, must_show, what="after FLUSHALL", deadline_secs=RECOVERY_DEADLINE_SECS)
    rejoins_after_flush = sum(view.stats["gap_rejoins"] for view in swarm.views().values()) - rejoins_before_flush
    countdown(1, what="talking after recovery")
    swarm.stop_talking()
    verdict = wait_converged(observe, backend.db_path, ROOM, what="final")
    stats = {label: view.stats for label, view in swarm.views().items()}
    reconnects = sum(s["connects"] - 1 for s in stats.values())
    gap_rejoins = sum(s["gap_rejoins"] for s in stats.values())
    flush_secs = f"{flush_recovery.seconds:.1f}s" if flush_recovery.ok else "NOT-RECOVERED"
    chaos_report(
        report_line(
            "2 redis restart",
            verdict,
            recovery.seconds,
            f"flushall_recovery={flush_secs} (gap rejoins it caused: {rejoins_after_flush}) "
            f"reconnects={reconnects} gap_rejoins={gap_rejoins}",
        )
    )
    assert_delivered(
        "after the redis restart and FLUSHALL", verdict, recovery, flush_recovery, details=[f"client stats {stats}"]
    )
