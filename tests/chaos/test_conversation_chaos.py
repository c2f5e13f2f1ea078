"""Chaos 5: a protocol-version-3 conversation (replies, edits, deletions, reactions) while a daphne
process is SIGKILLed and redis-server is killed and restarted, twice.

Six version-3 clients (``/ws/?protocol=3``) are spread over two daphne processes that share a
private redis-server (the channel layer) and one SQLite database. Each one, at random: sends
messages (some replying to a message it shows), edits and deletes its own messages, and adds and
takes back reactions on anyone's. Every message and change has a client_id and stays in the
client's outbox until acked, resent after every reconnect; each client keeps a message's state
from the copy with the highest rev, and joins again with after_seq, after_rev and first_seq when
a rev past its unbroken run arrives or pong.revs is ahead of it, as the widget does.

Each round: redis-server is SIGKILLed (live events between the processes are lost), then one
daphne process is SIGKILLed (its clients reconnect to the other one: the next address of their
list), then redis-server and the daphne process start again on their ports. The first round hits
one process, the second the other, so clients end up moved around both.

At the end, after the faults: every client shows exactly the database's current state (text,
edited, reply quote, reactions, deletions, read through the backend's selectors), every change
acked is in the rev log exactly once at its acked rev, the log adds up to the reaction rows and
messages, and the revs are 1..last_rev without gaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
import time

import pytest

from scripts.processes import free_port
from tests.chaos.client import ConversationClient, ConversationView, log
from tests.chaos.harness import Backend, Swarm, countdown, start_backend
from tests.chaos.verify import conversation_behind, judge_conversation, read_revs, read_room_state

pytestmark = [pytest.mark.chaos, pytest.mark.redis, pytest.mark.slow]

ROOM = "chaos-conversation"
HOMES = {"ann": 0, "bob": 0, "carol": 0, "dave": 1, "erin": 1, "frank": 1}
# Few emoji, so people's reactions meet on the same ones.
EMOJI = ("👍", "🎉", "😂")
# Bounded: at most this many actions per client, this many of them messages (the whole log stays
# within one `joined` page, so every client can show all of it without loading older pages).
MAX_ACTIONS = 150
MAX_SENDS = 14
# A client deletes one of its messages only while it has more than this many (it keeps some to edit).
KEEP_OWN = 2
PAUSE_SECS = (0.1, 0.4)
WARM_UP_SECS = 3
REDIS_DOWN_SECS = 3  # the daphne process is killed in the middle of it
AFTER_ROUND_SECS = 2
RECOVERY_DEADLINE_SECS = 15
CONVERGE_DEADLINE_SECS = 15


def choose(client: ConversationClient, rng: random.Random, mine: dict) -> None:
    """One random action of ``client``, from what it shows: a message (maybe a reply), an edit or
    deletion of its own, or a reaction toggled. ``mine`` remembers what it did: its deletions
    (nothing more is done to those) and its reactions (so each toggle changes something)."""
    shown = [message for message in client.shown_messages() if message["seq"] not in mine["deleting"]]
    own = [message for message in shown if message["visitor"] == client.visitor]
    kind = rng.choices(("send", "edit", "delete", "react"), weights=(22, 20, 5, 53))[0]
    if kind == "send" and mine["sends"] >= MAX_SENDS:
        kind = "react"
    if (kind == "edit" and not own) or (kind == "delete" and len(own) <= KEEP_OWN):
        kind = "react"
    if kind == "react" and not shown:
        kind = "send" if mine["sends"] < MAX_SENDS else "none"
    match kind:
        case "send":
            mine["sends"] += 1
            reply_to = rng.choice(shown)["seq"] if shown and rng.random() < 0.35 else None
            client.send(f"{client.label} #{mine['sends']}", reply_to=reply_to)
        case "edit":
            target = rng.choice(own)
            mine["edits"] += 1
            client.edit(target["seq"], f"{client.label} edit {mine['edits']} of seq {target['seq']}")
        case "delete":
            target = rng.choice(own)
            mine["deleting"].add(target["seq"])
            client.delete(target["seq"])
        case "react":
            target = rng.choice(shown)
            emoji = rng.choice(EMOJI)
            on = not mine["reactions"].get((target["seq"], emoji), False)
            mine["reactions"][(target["seq"], emoji)] = on
            client.react(target["seq"], emoji, on=on)


async def converse(client: ConversationClient, rng: random.Random, stop: asyncio.Event) -> None:
    mine = {"sends": 0, "edits": 0, "deleting": set(), "reactions": {}}
    for _ in range(MAX_ACTIONS):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.uniform(*PAUSE_SECS))
        if stop.is_set():
            return
        choose(client, rng, mine)


class Conversation:
    """The clients' random actions, run on the swarm's loop until ``stop``."""

    def __init__(self, swarm: Swarm, seed: int) -> None:
        self.swarm = swarm
        self.seed = seed
        self.tasks: list[asyncio.Task] = []
        self.stop_event: asyncio.Event | None = None

    def start(self) -> None:
        async def start():
            self.stop_event = asyncio.Event()
            for index, client in enumerate(self.swarm.clients.values()):
                rng = random.Random(f"{self.seed}-{index}")
                self.tasks.append(asyncio.get_running_loop().create_task(converse(client, rng, self.stop_event)))

        self.swarm.loop.run(start())

    def stop(self) -> None:
        async def stop():
            if self.stop_event is not None:
                self.stop_event.set()
            await asyncio.gather(*self.tasks, return_exceptions=True)

        self.swarm.loop.run(stop())


def views(swarm: Swarm) -> list[ConversationView]:
    return swarm.loop.call(lambda: [client.conversation_view() for client in swarm.clients.values()])


def wait_caught_up(swarm: Swarm, backend: Backend, *, what: str, since: float) -> float | None:
    """Seconds from ``since`` until every client has every message and rev stored by now and
    its outbox of now acked (the conversation goes on meanwhile), or None after the deadline."""
    revs, last_rev = read_revs(backend.db_path, ROOM)
    last_seq = max(revs, default=0)
    pending = {view.label: set(view.outbox) for view in views(swarm)}
    next_report = time.monotonic() + 2
    while True:
        behind = []
        for view in views(swarm):
            shown_to = view.seqs[-1] if view.seqs else 0
            waiting = pending[view.label] & set(view.outbox)
            if shown_to < last_seq or view.rev_done < last_rev or waiting:
                behind.append(
                    f"{view.label}: seq {shown_to}/{last_seq} rev {view.rev_done}/{last_rev} unacked {len(waiting)}"
                )
        now = time.monotonic()
        if not behind:
            log(f"{what}: every client caught up after {now - since:.1f} s")
            return now - since
        if now - since > RECOVERY_DEADLINE_SECS:
            log(f"{what}: NOT caught up after {RECOVERY_DEADLINE_SECS} s: {'; '.join(behind)}")
            return None
        if now >= next_report:
            log(f"{what}: catching up ({now - since:.0f} s): {'; '.join(behind)}")
            next_report = now + 2
        time.sleep(0.2)


def wait_converged(swarm: Swarm, backend: Backend) -> tuple[float | None, list[str]]:
    """Seconds until every client shows every message at the database's rev, has every rev and
    nothing left to send; None (and what is left) after the deadline."""
    started = time.monotonic()
    next_report = started + 2
    while True:
        revs, last_rev = read_revs(backend.db_path, ROOM)
        behind = conversation_behind(revs, last_rev, views(swarm))
        now = time.monotonic()
        if not behind:
            log(f"converged after {now - started:.1f} s ({len(revs)} messages, rev {last_rev})")
            return now - started, []
        if now - started > CONVERGE_DEADLINE_SECS:
            return None, behind
        if now >= next_report:
            log(f"converging ({now - started:.0f} s): {'; '.join(behind)}")
            next_report = now + 2
        time.sleep(0.2)


def test_a_conversation_survives_daphne_and_redis_kills(tmp_path, loop_thread, cleanup, chaos_report):
    started = time.monotonic()
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(10**6))
    log(f"conversation seed {seed} (CHAOS_SEED={seed} repeats its choices)")
    origin = f"http://127.0.0.1:{free_port()}"
    backend = start_backend("conversation", tmp_path, site_origin=origin, processes=2, with_redis=True, cleanup=cleanup)
    urls = [daphne.ws_url for daphne in backend.daphnes]

    swarm = Swarm(loop=loop_thread, origin=origin, room=ROOM)
    cleanup.append(swarm.close)
    for label, home in HOMES.items():
        swarm.add(label, urls[home], urls=urls, client_class=ConversationClient)
    swarm.wait_joined()
    conversation = Conversation(swarm, seed)
    cleanup.append(conversation.stop)
    conversation.start()
    countdown(WARM_UP_SECS, what="conversation warm-up")

    recoveries: list[float | None] = []
    for round_number, daphne in enumerate(backend.daphnes, start=1):
        backend.redis.kill()
        countdown(REDIS_DOWN_SECS / 2, what=f"round {round_number}: redis down")
        daphne.kill()
        countdown(REDIS_DOWN_SECS / 2, what=f"round {round_number}: redis and daphne {daphne.port} down")
        backend.redis.start()
        redis_back = time.monotonic()
        # The killed process starts again (a few seconds until it answers) while its clients,
        # moved to the other one, catch up: timed from Redis answering again.
        restart = threading.Thread(target=daphne.start, name=f"restart-{daphne.port}", daemon=True)
        restart.start()
        try:
            recoveries.append(wait_caught_up(swarm, backend, what=f"round {round_number}", since=redis_back))
        finally:
            restart.join(90)  # start_daphne gives up after 60 s; never leave a process behind the clean-up
        if daphne.process is None or daphne.process.poll() is not None:
            pytest.fail(f"daphne on port {daphne.port} did not start again", pytrace=False)
        countdown(AFTER_ROUND_SECS, what=f"round {round_number}: talking after recovery")

    conversation.stop()
    converge_secs, behind = wait_converged(swarm, backend)
    state = read_room_state(backend.daphnes[0].env, ROOM)
    final = views(swarm)
    verdict = judge_conversation(state, final)

    stats = {view.label: view.stats for view in final}

    def total(name: str) -> int:
        return sum(each[name] for each in stats.values())

    figures = verdict.figures
    recovery_text = ",".join("NOT-RECOVERED" if secs is None else f"{secs:.1f}s" for secs in recoveries)
    converge_text = "NOT-CONVERGED" if converge_secs is None else f"{converge_secs:.1f}s"
    chaos_report(
        f"5 conversation v3 (seed {seed}): clients={len(final)} messages={figures['messages']} "
        f"(replies={figures['replies']} edited={figures['edited']} deleted={figures['deleted']}) "
        f"changes: edits={total('edits')} deletes={total('deletes')} reacts_on={total('reacts_on')} "
        f"reacts_off={total('reacts_off')} acked={figures.get('changes_acked', 0)} "
        f"refused={figures.get('changes_refused', 0)} revs={figures['revs']} reactions_left={figures['reactions']} "
        f"daphne_kills={len(backend.daphnes)} redis_restarts={len(backend.daphnes)} "
        f"reconnects={total('connects') - len(final)} failovers={total('failovers')} resends={total('resends')} "
        f"rejoins={total('gap_rejoins')} revs_past_run={total('revs_past_run')} "
        f"resume_changes={total('resume_changes')} stale_copies_ignored={total('stale_copies_ignored')} "
        f"replaced_views={total('replaced_views')} recovery=[{recovery_text}] converged={converge_text} "
        f"problems={len(verdict.problems)} run={time.monotonic() - started:.0f}s"
    )
    lines = [
        f"round {number}: clients not caught up within {RECOVERY_DEADLINE_SECS} s"
        for number, secs in enumerate(recoveries, start=1)
        if secs is None
    ]
    if converge_secs is None:
        lines.append(f"not converged within {CONVERGE_DEADLINE_SECS} s: {'; '.join(behind)}")
    lines += verdict.problems
    if lines:
        pytest.fail(
            f"the conversation after daphne and redis kills (seed {seed}):\n  "
            + "\n  ".join(lines + [f"(context) {label}: {each}" for label, each in stats.items()]),
            pytrace=False,
        )
