"""Chaos 1 and 4, with real Chromium pages on the Hugo-built site next to Python clients.

1. daphne is SIGKILLed mid-conversation and restarted on the same port; visitors type in their
   browser pages while it is down (their messages wait, pending, in the outbox).
4. a page is reloaded mid-conversation; another visitor's network goes away, they type, close
   the tab with those messages still pending, and open the room again once the network is back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.processes import free_port, serve_directory
from scripts.site import build_site
from tests.chaos.browser import BrowserClient
from tests.chaos.client import log
from tests.chaos.harness import (
    Backend,
    Swarm,
    assert_delivered,
    countdown,
    start_backend,
    wait_converged,
    wait_recovered,
)
from tests.chaos.verify import read_log, report_line

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.slow]

DOWN_SECS = 4
# The widget's reconnect backoff grows while the backend is down (socket.js: full jitter,
# doubling from 0.5 s); its next try after the restart can be several seconds away.
BROWSER_RECOVERY_DEADLINE_SECS = 25
RECOVERY_DEADLINE_SECS = 10


@dataclass(frozen=True)
class Live:
    backend: Backend
    site_origin: str

    def room_url(self, room: str) -> str:
        return f"{self.site_origin}/room/?name={room}"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("chaos-browser")
    site_port = free_port()
    site_origin = f"http://127.0.0.1:{site_port}"
    steps = []
    try:
        backend = start_backend("browser", work_dir, site_origin=site_origin, cleanup=steps)
        public_dir = build_site(f"ws://127.0.0.1:{backend.daphnes[0].port}", work_dir / "public", f"{site_origin}/")
        site = serve_directory(Path(public_dir), port=site_port)
        steps.append(site.shutdown)
        yield Live(backend=backend, site_origin=site_origin)
    finally:
        for step in reversed(steps):
            step()


@pytest.fixture
def visitors(browser, cleanup):
    """Opens BrowserClients; their contexts are closed after the test."""
    opened: list[BrowserClient] = []

    def open_visitor(label: str, url: str, name: str, *, routed: bool = False) -> BrowserClient:
        visitor = BrowserClient(browser, label=label, url=url, name=name)
        opened.append(visitor)
        if routed:
            visitor.route_sockets()
        visitor.open()
        return visitor

    yield open_visitor
    for visitor in opened:
        visitor.close()


def everyone(swarm: Swarm, pages: list[BrowserClient]):
    def observe():
        return swarm.observe() + [page.observe() for page in pages]

    return observe


def typed_so_far(swarm: Swarm, pages: list[BrowserClient]) -> set[str]:
    return {text for view in swarm.views().values() for text in view.typed.values()} | {
        text for page in pages for text in page.typed
    }


def statuses(swarm: Swarm, pages: list[BrowserClient]) -> list[str]:
    return [f"{page.label}: {page.observe().extra}" for page in pages if page.page is not None] + [
        f"{label}: {view.stats}" for label, view in swarm.views().items()
    ]


def assert_pending(page: BrowserClient, texts: list[str]) -> None:
    """The texts typed while the backend is unreachable show at once, as pending, without a seq."""
    entries = {entry.text: entry for entry in page.entries()}
    wrong = {
        text: (entries[text].state, entries[text].seq) if text in entries else "not shown"
        for text in texts
        if text not in entries or entries[text].state != "pending" or entries[text].seq
    }
    assert not wrong, (
        f"{page.label}: messages typed while the backend is unreachable should show as pending (state, seq): {wrong}"
    )


def test_daphne_killed_and_restarted_while_visitors_type(live, visitors, loop_thread, cleanup, chaos_report):
    room = "chaos-restart"
    daphne = live.backend.daphnes[0]
    swarm = Swarm(loop=loop_thread, origin=live.site_origin, room=room)
    cleanup.append(swarm.close)
    for label in ("sender", "dave", "erin"):
        swarm.add(label, daphne.ws_url)
    ann = visitors("ann", live.room_url(room), "Ann")
    bob = visitors("bob", live.room_url(room), "Bob")
    pages = [ann, bob]
    for page in pages:
        page.wait_status("connected")
    swarm.wait_joined()
    observe = everyone(swarm, pages)

    swarm.talk("sender", every=0.3)
    swarm.talk("dave", every=1.5)
    for number in (1, 2):
        ann.type(f"ann #{number}")
        bob.type(f"bob #{number}")
        time.sleep(0.7)
    countdown(1, what="warm-up")

    daphne.kill()
    killed_at = time.monotonic()
    unsent_texts = {"ann": [], "bob": []}
    for number in (3, 4, 5):
        ann.type(f"ann #{number} (typed while down)")
        unsent_texts["ann"].append(f"ann #{number} (typed while down)")
    bob.type("bob #3 (typed while down)")
    unsent_texts["bob"].append("bob #3 (typed while down)")
    assert_pending(ann, unsent_texts["ann"])
    assert_pending(bob, unsent_texts["bob"])
    countdown(DOWN_SECS - (time.monotonic() - killed_at), what="daphne down")
    log(f"while down: ann is {ann.status()!r}, bob is {bob.status()!r}")

    daphne.start()
    restarted_at = time.monotonic()
    must_show = typed_so_far(swarm, pages)
    recovery = wait_recovered(
        observe,
        must_show,
        what="after the daphne restart",
        deadline_secs=BROWSER_RECOVERY_DEADLINE_SECS,
        since=restarted_at,
    )

    ann.type("ann #6 (after recovery)")
    bob.type("bob #4 (after recovery)")
    countdown(2, what="talking after recovery")
    swarm.stop_talking()
    verdict = wait_converged(observe, live.backend.db_path, room, what="final")
    chaos_report(report_line("1 daphne SIGKILL+restart", verdict, recovery.seconds, f"down={DOWN_SECS}s"))
    assert_delivered("after the daphne restart", verdict, recovery, details=statuses(swarm, pages))


def test_reload_and_a_tab_closed_with_a_pending_outbox(live, visitors, loop_thread, cleanup, chaos_report):
    room = "chaos-reload"
    daphne = live.backend.daphnes[0]
    swarm = Swarm(loop=loop_thread, origin=live.site_origin, room=room)
    cleanup.append(swarm.close)
    for label in ("sender", "dave"):
        swarm.add(label, daphne.ws_url)
    ann = visitors("ann", live.room_url(room), "Ann")
    bob = visitors("bob", live.room_url(room), "Bob", routed=True)
    carol = visitors("carol", live.room_url(room), "Carol")
    pages = [ann, bob, carol]
    for page in pages:
        page.wait_status("connected")
    swarm.wait_joined()
    observe = everyone(swarm, pages)

    swarm.talk("sender", every=0.3)
    swarm.talk("dave", every=1.5)
    for page in pages:
        page.type(f"{page.label} #1")
    countdown(2, what="warm-up")

    # A reload mid-conversation: the page starts from the log again, the others keep talking.
    reloaded_at = time.monotonic()
    ann.reload()
    reload_recovery = wait_recovered(
        everyone(swarm, [ann]),
        typed_so_far(swarm, pages),
        what="ann after reload",
        deadline_secs=RECOVERY_DEADLINE_SECS,
        since=reloaded_at,
    )
    ann.type("ann #2 (after reload)")

    # bob loses the backend; he types, closes the tab with the messages still pending, the
    # backend is reachable again, he opens the room again: his outbox must go out, once.
    bob.set_reachable(False)
    bob.wait_status("reconnecting", "connecting", "waking", "offline", timeout=5)
    unsent_texts = [f"bob #{number} (typed while unreachable)" for number in (2, 3, 4)]
    for text in unsent_texts:
        bob.type(text)
        time.sleep(0.3)
    assert_pending(bob, unsent_texts)
    bob.close_tab()
    countdown(2, what="bob's tab closed")
    stored = set(unsent_texts) & {row.text for row in read_log(live.backend.db_path, room)}
    assert not stored, f"the backend was unreachable for bob, yet it stored {sorted(stored)}: the cut leaks"
    bob.set_reachable(True)
    reopened_at = time.monotonic()
    bob.open()
    recovery = wait_recovered(
        observe,
        typed_so_far(swarm, pages),
        what="after bob reopened the room",
        deadline_secs=RECOVERY_DEADLINE_SECS,
        since=reopened_at,
    )

    bob.type("bob #5 (after reopening)")
    countdown(2, what="talking after recovery")
    swarm.stop_talking()
    verdict = wait_converged(observe, live.backend.db_path, room, what="final")
    reload_secs = f"{reload_recovery.seconds:.1f}s" if reload_recovery.ok else "NOT-RECOVERED"
    chaos_report(
        report_line("4 reload + tab closed with outbox", verdict, recovery.seconds, f"reload_recovery={reload_secs}")
    )
    assert_delivered(
        "after the reload and the reopened tab", verdict, reload_recovery, recovery, details=statuses(swarm, pages)
    )
