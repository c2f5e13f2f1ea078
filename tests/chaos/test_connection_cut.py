"""Chaos 3: one client's TCP connection is silently cut for 15 s while the others talk.

carol reaches daphne through an in-test proxy that black-holes her traffic (nothing passes,
nothing is closed). Her client must notice by itself (no pong) and keep retrying; she keeps
typing into her outbox meanwhile. When the path comes back she must catch up on everything
the others said, and everything she typed must reach everyone exactly once.
"""

from __future__ import annotations

import time

import pytest

from scripts.processes import free_port
from tests.chaos.harness import Swarm, assert_delivered, countdown, start_backend, wait_converged, wait_recovered
from tests.chaos.proxy import BlackHoleProxy
from tests.chaos.verify import report_line

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

ROOM = "chaos-cut"
# Past the client's dead-connection detection (no frame for 3.5 s) and several reconnects that
# time out (3 s each) while carol keeps typing into her outbox.
CUT_SECS = 15
RECOVERY_DEADLINE_SECS = 10


def test_a_silently_cut_connection_catches_up_exactly_once(tmp_path, loop_thread, cleanup, chaos_report):
    origin = f"http://127.0.0.1:{free_port()}"
    backend = start_backend("cut", tmp_path, site_origin=origin, cleanup=cleanup)
    daphne = backend.daphnes[0]
    proxy = BlackHoleProxy(listen_port=free_port(), target_port=daphne.port, label="carol's network")
    loop_thread.run(proxy.start())
    cleanup.append(lambda: loop_thread.run(proxy.close()))

    swarm = Swarm(loop=loop_thread, origin=origin, room=ROOM)
    cleanup.append(swarm.close)
    for label in ("sender", "ann", "bob"):
        swarm.add(label, daphne.ws_url)
    carol = swarm.add("carol", f"ws://127.0.0.1:{proxy.listen_port}/ws/")
    swarm.wait_joined()

    observe = swarm.observe
    swarm.talk("sender", every=0.25)
    swarm.talk("ann", every=1.3)
    swarm.talk("bob", every=1.7)
    swarm.talk("carol", every=2.0)
    countdown(3, what="warm-up")

    loop_thread.call(proxy.cut)
    countdown(CUT_SECS, what="carol cut off")
    dead_detected = loop_thread.call(lambda: carol.stats.dead_connections)
    loop_thread.call(proxy.restore)
    restored_at = time.monotonic()
    must_show = {text for view in swarm.views().values() for text in view.typed.values()}
    recovery = wait_recovered(
        observe, must_show, what="after the cut", deadline_secs=RECOVERY_DEADLINE_SECS, since=restored_at
    )

    countdown(2, what="talking after recovery")
    swarm.stop_talking()
    verdict = wait_converged(observe, backend.db_path, ROOM, what="final")
    chaos_report(
        report_line(
            f"3 connection cut {CUT_SECS}s",
            verdict,
            recovery.seconds,
            f"carol_dead_detections={dead_detected} proxy_connections={proxy.connections_accepted}",
        )
    )
    stats = {label: view.stats for label, view in swarm.views().items()}
    assert_delivered("after carol's connection was cut", verdict, recovery, details=[f"client stats {stats}"])
    assert dead_detected >= 1, "carol's client never noticed that its connection was dead"
