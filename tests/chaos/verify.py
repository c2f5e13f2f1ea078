"""The chaos verdict: every message acked by the server and every message typed by any client is
shown exactly once, in log order, on every client, and stored exactly once. For protocol version 3
(``judge_conversation``): also every edit, deletion and reaction acked is in the rev log exactly
once, the log has no gaps and adds up to the messages' state, and every client shows that state.

Clients are compared through one shape, ``Observed``, filled from a Python client's state
(``observe_python``) or from a browser page's DOM (browser.py). The database is read straight
from the SQLite file (read-only), so the check does not depend on the API's page size; a version-3
room's final state is read by the backend's own code (``read_room_state``).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.client import ClientView, ConversationView


@dataclass(frozen=True)
class Entry:
    """One message element as a client shows it. ``seq`` is None while it is not confirmed."""

    seq: int | None
    client_id: str | None
    text: str
    state: str = "shown"  # browser: data-state (pending/sent/failed) or "shown" for others' messages


@dataclass
class Observed:
    label: str
    entries: list[Entry]
    typed: list[str]  # texts typed on this client (unique across a scenario by construction)
    acked: dict[str, int] = field(default_factory=dict)  # client_id -> seq the server acked
    unacked: list[str] = field(default_factory=list)  # client_ids still waiting for their ack
    failed: dict[str, str] = field(default_factory=dict)  # client_id -> error code
    errors: list[dict] = field(default_factory=list)
    extra: str = ""  # e.g. connection status, for messages


@dataclass(frozen=True)
class Row:
    seq: int
    client_id: str | None
    author: str
    text: str


def observe_python(view: ClientView) -> Observed:
    return Observed(
        label=view.label,
        entries=[Entry(shown.seq, shown.client_id, shown.text) for shown in view.shown],
        typed=list(view.typed.values()),
        acked=dict(view.acked),
        unacked=list(view.outbox),
        failed=dict(view.failed),
        errors=[error for error in view.errors if error.get("code") != "server_error"],
        extra=f"stats {view.stats}",
    )


def read_log(db_path: Path, room: str) -> list[Row]:
    """The room's stored messages in seq order, read from the SQLite file without writing."""
    for attempt in range(20):
        try:
            with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as connection:
                rows = connection.execute(
                    "SELECT m.seq, m.client_id, m.author, m.text FROM chat_message m "
                    "JOIN chat_room r ON r.id = m.room_id WHERE r.name = ? ORDER BY m.seq",
                    (room,),
                ).fetchall()
            return [Row(*row) for row in rows]
        except sqlite3.OperationalError:
            if attempt == 19:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def _fmt(items, limit: int = 25) -> str:
    items = list(items)
    if items and all(isinstance(item, int) for item in items):
        return _fmt_seqs(items)
    shown = ", ".join(str(item) for item in items[:limit])
    return f"[{shown}{', …' if len(items) > limit else ''}] ({len(items)})"


def _fmt_seqs(seqs: list[int]) -> str:
    """[3, 4, 5, 9] -> "3-5, 9 (4)": runs of seqs as ranges."""
    runs: list[str] = []
    ordered = sorted(seqs)
    start = previous = ordered[0]
    for seq in ordered[1:] + [None]:
        if seq is not None and seq == previous + 1:
            previous = seq
            continue
        runs.append(str(start) if start == previous else f"{start}-{previous}")
        if seq is not None:
            start = previous = seq
    shown = ", ".join(runs[:25])
    return f"[{shown}{', …' if len(runs) > 25 else ''}] ({len(seqs)})"


@dataclass
class Verdict:
    problems: list[str]
    lost: int
    duplicated: int
    sent: int
    shown: dict[str, int]
    db_count: int

    @property
    def ok(self) -> bool:
        return not self.problems


def judge(rows: list[Row], clients: list[Observed]) -> Verdict:
    """Everything wrong with the final state, each problem naming the client and the seqs/ids."""
    problems: list[str] = []
    lost = duplicated = 0
    n = len(rows)
    by_seq = {row.seq: row for row in rows}

    # --- the database ---------------------------------------------------------------------
    seqs = [row.seq for row in rows]
    if seqs != list(range(1, n + 1)):
        problems.append(
            f"database: seqs are not 1..{n} without gaps: missing "
            f"{_fmt(sorted(set(range(1, max(seqs, default=0) + 1)) - set(seqs)))}"
        )
    id_counts = Counter(row.client_id for row in rows if row.client_id)
    db_dup_ids = {client_id: count for client_id, count in id_counts.items() if count > 1}
    if db_dup_ids:
        duplicated += sum(count - 1 for count in db_dup_ids.values())
        problems.append(f"database: client_ids stored more than once: {_fmt(db_dup_ids.items())}")
    text_counts = Counter(row.text for row in rows)
    typed_all = [(client.label, text) for client in clients for text in client.typed]
    db_lost = [(label, text) for label, text in typed_all if text_counts[text] == 0]
    db_dup_texts = [(label, text, text_counts[text]) for label, text in typed_all if text_counts[text] > 1]
    if db_lost:
        lost += len(db_lost)
        problems.append(f"database: typed messages never stored: {_fmt(db_lost)}")
    if db_dup_texts and not db_dup_ids:
        duplicated += sum(count - 1 for _, _, count in db_dup_texts)
        problems.append(f"database: typed messages stored more than once (label, text, copies): {_fmt(db_dup_texts)}")

    # --- each client ----------------------------------------------------------------------
    shown_counts: dict[str, int] = {}
    for client in clients:
        where = f"{client.label}"
        confirmed = [entry for entry in client.entries if entry.seq is not None]
        shown_counts[client.label] = len(confirmed)
        shown_seqs = [entry.seq for entry in confirmed]
        seq_counts = Counter(shown_seqs)
        missing = sorted(set(range(1, n + 1)) - set(shown_seqs))
        dups = sorted(seq for seq, count in seq_counts.items() if count > 1)
        unknown = sorted(seq for seq in seq_counts if seq not in by_seq)
        if missing:
            lost += len(missing)
            problems.append(f"{where}: missing seqs {_fmt(missing)}")
        if dups:
            duplicated += sum(seq_counts[seq] - 1 for seq in dups)
            problems.append(f"{where}: seqs shown more than once {_fmt(dups)}")
        if unknown:
            problems.append(f"{where}: shows seqs the database does not have {_fmt(unknown)}")
        if shown_seqs != sorted(shown_seqs):
            out_of_order = [(a, b) for a, b in zip(shown_seqs, shown_seqs[1:], strict=False) if a >= b]
            problems.append(f"{where}: not in log order; adjacent pairs out of order {_fmt(out_of_order)}")
        mismatched = [
            (entry.seq, entry.text[:30], by_seq[entry.seq].text[:30])
            for entry in confirmed
            if entry.seq in by_seq and entry.text != by_seq[entry.seq].text
        ]
        if mismatched:
            problems.append(f"{where}: text differs from the database at (seq, shown, stored) {_fmt(mismatched)}")
        unconfirmed = [(entry.client_id, entry.state, entry.text[:30]) for entry in client.entries if entry.seq is None]
        if unconfirmed:
            problems.append(f"{where}: messages still not confirmed (client_id, state, text) {_fmt(unconfirmed)}")
        # Its own messages: each typed text shown exactly once (a pending copy next to the
        # confirmed one counts twice).
        text_shown = Counter(entry.text for entry in client.entries)
        own_dups = [(text, text_shown[text]) for text in client.typed if text_shown[text] > 1]
        if own_dups and not dups:
            duplicated += sum(count - 1 for _, count in own_dups)
            problems.append(f"{where}: own messages shown more than once (text, copies) {_fmt(own_dups)}")
        bad_acks = [
            (client_id, seq)
            for client_id, seq in client.acked.items()
            if seq not in by_seq or by_seq[seq].client_id != client_id
        ]
        if bad_acks:
            problems.append(f"{where}: acks that do not match the database (client_id, seq) {_fmt(bad_acks)}")
        if client.unacked:
            problems.append(f"{where}: typed but never acked (client_ids) {_fmt(client.unacked)}")
        if client.failed:
            problems.append(f"{where}: sends refused by the server (client_id, code) {_fmt(client.failed.items())}")
        if client.errors:
            problems.append(f"{where}: protocol errors received {_fmt(client.errors, 5)}")
    return Verdict(
        problems=problems, lost=lost, duplicated=duplicated, sent=len(typed_all), shown=shown_counts, db_count=n
    )


def caught_up(clients: list[Observed], must_show: set[str]) -> list[str]:
    """What still keeps the clients from having recovered: every text in ``must_show`` (typed
    before the fault ended) confirmed on every client, with no hole below it. Empty when done."""
    behind = []
    for client in clients:
        confirmed = [entry for entry in client.entries if entry.seq is not None]
        texts = {entry.text for entry in confirmed}
        missing = must_show - texts
        seqs = [entry.seq for entry in confirmed]
        holes = bool(seqs) and seqs != list(range(1, len(seqs) + 1))
        if missing or holes:
            example = f" e.g. {sorted(missing)[:3]}" if missing else ""
            behind.append(f"{client.label}: {len(missing)} not shown{example}{' (holes in its view)' if holes else ''}")
    return behind


def report_line(scenario: str, verdict: Verdict, recovery_secs: float | None, note: str = "") -> str:
    shown = " ".join(f"{label}={count}" for label, count in verdict.shown.items())
    recovery = f"{recovery_secs:.1f}s" if recovery_secs is not None else "NOT-RECOVERED"
    return (
        f"{scenario}: sent={verdict.sent} stored={verdict.db_count} shown[{shown}] lost={verdict.lost} "
        f"duplicated={verdict.duplicated} recovery={recovery}{' ' + note if note else ''}"
    )


# --- protocol version 3: the conversation's verdict -----------------------------------------------

# Run by the backend's own Python (manage.py shell, against the scenario's database): every message
# of the room as a version-3 page gets it (chat.selectors reads, chat.events writes the event), the
# rev log, the reaction rows and the room's counters, as one JSON line.
_ROOM_STATE_SCRIPT = """
import json, sys
from chat import selectors
from chat.changes import emoji_from_key
from chat.events import message_event_for
from chat.models import MessageChange, Reaction, Room
name = sys.argv[-1]
room = Room.objects.get(name=name)
messages = selectors.messages_after(room_name=name, after_seq=0, limit=10**6)
print(json.dumps({
    "last_seq": room.last_seq, "last_rev": room.last_rev,
    "latest_revs": selectors.latest_revs(room_names=[name])[name],
    "messages": [message_event_for(message, 3) for message in messages],
    "changes": list(MessageChange.objects.filter(room=room).order_by("rev").values(
        "rev", "seq", "kind", "visitor", "client_id", "payload")),
    "reactions": [{"seq": seq, "emoji": emoji_from_key(key), "visitor": visitor} for seq, key, visitor in
                  Reaction.objects.filter(message__room=room).order_by("id").values_list(
                      "message__seq", "emoji", "visitor")],
}))
"""


@dataclass
class RoomState:
    """The room as the backend reads it: what its pages show, and the log behind that."""

    last_seq: int
    last_rev: int
    messages: dict[int, dict]  # seq -> the version-3 `message` event of its current state
    changes: list[dict]  # MessageChange rows by rev: rev, seq, kind, visitor, client_id, payload
    reactions: list[dict]  # Reaction rows: seq, emoji, visitor


def read_room_state(env: dict[str, str], room: str) -> RoomState:
    """The room's current state through the backend's selectors and events (a ``manage.py shell``
    on the scenario's database: its settings, its code)."""
    from scripts.processes import BACKEND_DIR

    result = subprocess.run(
        [sys.executable, "-c", "import django, os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
         "'backchannel.settings'); django.setup(); exec(sys.argv[1])", _ROOM_STATE_SCRIPT, room],
        cwd=BACKEND_DIR, env=dict(env), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(f"reading the room's state failed:\n{result.stderr[-3000:]}")
    state = json.loads(result.stdout.strip().splitlines()[-1])
    return RoomState(
        last_seq=state["last_seq"], last_rev=state["last_rev"],
        messages={message["seq"]: message for message in state["messages"]},
        changes=state["changes"], reactions=state["reactions"],
    )  # fmt: skip


def read_revs(db_path: Path, room: str) -> tuple[dict[int, int], int]:
    """Cheap, for polling: seq -> rev of the room's messages, and the room's last_rev (read-only)."""
    for attempt in range(20):
        try:
            with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as connection:
                last_rev = connection.execute("SELECT last_rev FROM chat_room WHERE name = ?", (room,)).fetchone()
                rows = connection.execute(
                    "SELECT m.seq, m.rev FROM chat_message m JOIN chat_room r ON r.id = m.room_id WHERE r.name = ?",
                    (room,),
                ).fetchall()
            return dict(rows), (last_rev[0] if last_rev else 0)
        except sqlite3.OperationalError:
            if attempt == 19:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def conversation_behind(revs: dict[int, int], last_rev: int, views: list[ConversationView]) -> list[str]:
    """What keeps each client from showing the database's state (by rev, which names a message's
    whole state); empty once every client shows every message at its rev, has every rev and has
    nothing left to send."""
    behind = []
    for view in views:
        shown = {seq: message.get("rev", 0) for seq, message in view.messages.items()}
        missing = sorted(set(revs) - set(shown))
        stale = sorted(seq for seq, rev in shown.items() if seq in revs and rev != revs[seq])
        lacks = []
        if missing:
            lacks.append(f"{len(missing)} messages not shown")
        if stale:
            lacks.append(f"{len(stale)} at an older rev (e.g. seq {stale[0]}: {shown[stale[0]]} < {revs[stale[0]]})")
        if view.rev_done != last_rev:
            lacks.append(f"rev_done {view.rev_done} of {last_rev}")
        if view.outbox:
            lacks.append(f"{len(view.outbox)} unacked")
        if lacks:
            behind.append(f"{view.label}: {', '.join(lacks)}")
    return behind


@dataclass
class ConversationVerdict:
    problems: list[str]
    figures: dict[str, int]

    @property
    def ok(self) -> bool:
        return not self.problems


# What a page compares of a message: everything a version-3 page draws.
SHOWN_FIELDS = ("author", "visitor", "text", "deleted", "edited", "reply_to", "reactions", "rev", "client_id")
# Refusals a change may rightly get in a conversation where others delete their messages: a
# reaction to (or an edit of) a message deleted meanwhile.
ACCEPTED_REFUSALS = frozenset({"not_found"})


def _replay(changes: list[dict]) -> tuple[set[tuple[int, str, str]], dict[int, str], set[int], list[str]]:
    """The reactions, texts and deletions the rev log adds up to, and where it contradicts itself
    (a reaction added twice, taken back when absent, a change after a deletion)."""
    reactions: set[tuple[int, str, str]] = set()
    texts: dict[int, str] = {}
    deleted: set[int] = set()
    problems = []
    for change in changes:
        seq, kind, payload = change["seq"], change["kind"], change["payload"] or {}
        if seq in deleted:
            problems.append(f"rev {change['rev']}: {kind} of seq {seq} after its deletion")
        if kind == "react":
            key = (seq, payload.get("emoji"), change["visitor"])
            if key in reactions:
                problems.append(f"rev {change['rev']}: reaction {key} added twice")
            reactions.add(key)
        elif kind == "unreact":
            key = (seq, payload.get("emoji"), change["visitor"])
            if key not in reactions:
                problems.append(f"rev {change['rev']}: reaction {key} taken back but not there")
            reactions.discard(key)
        elif kind == "edit":
            texts[seq] = payload.get("text")
        elif kind == "delete":
            deleted.add(seq)
            reactions = {key for key in reactions if key[0] != seq}
    return reactions, texts, deleted, problems


def judge_conversation(state: RoomState, views: list[ConversationView]) -> ConversationVerdict:
    """Everything wrong with the end of a version-3 conversation: the database's log against
    itself, every change a client made against the log, and every client's view against the
    database's current state."""
    problems: list[str] = []
    messages = state.messages

    # --- the database: gapless seqs and revs, a log that adds up to the messages -------------
    seqs = sorted(messages)
    if seqs != list(range(1, state.last_seq + 1)):
        problems.append(f"database: seqs are not 1..{state.last_seq}: {_fmt(seqs)}")
    revs = [change["rev"] for change in state.changes]
    if revs != list(range(1, state.last_rev + 1)):
        missing = sorted(set(range(1, state.last_rev + 1)) - set(revs))
        problems.append(
            f"database: the rev log is not 1..{state.last_rev} without gaps: missing {_fmt(missing)}, "
            f"repeated {_fmt([rev for rev, n in Counter(revs).items() if n > 1])}"
        )
    top_rev = max((message["rev"] for message in messages.values()), default=0)
    if top_rev > state.last_rev:
        problems.append(f"database: a message at rev {top_rev}, past the room's last_rev {state.last_rev}")
    replayed, texts, deleted, log_problems = _replay(state.changes)
    problems += [f"database: {problem}" for problem in log_problems]
    stored = {(row["seq"], row["emoji"], row["visitor"]) for row in state.reactions}
    if len(stored) != len(state.reactions):
        problems.append("database: a reaction row stored twice")
    if stored != replayed:
        problems.append(
            f"database: reaction rows differ from the rev log's: rows only {_fmt(stored - replayed)}, "
            f"log only {_fmt(replayed - stored)}"
        )
    for seq, message in messages.items():
        counts = {entry["emoji"]: entry["count"] for entry in message["reactions"]}
        expected = Counter(emoji for row_seq, emoji, _ in stored if row_seq == seq)
        if counts != dict(expected):
            problems.append(f"database: seq {seq} shows reactions {counts}, its rows say {dict(expected)}")
        if message["deleted"] != (seq in deleted):
            problems.append(f"database: seq {seq} deleted={message['deleted']}, the log says {seq in deleted}")
        if seq in texts and not message["deleted"] and (message["text"] != texts[seq] or not message["edited"]):
            problems.append(
                f"database: seq {seq} shows {message['text']!r} (edited {message['edited']}), "
                f"its last edit says {texts[seq]!r}"
            )
        quote = message["reply_to"]
        if quote is not None and quote["seq"] in messages and not message["deleted"]:
            original_deleted = messages[quote["seq"]]["deleted"]
            if quote["deleted"] != original_deleted:
                problems.append(
                    f"database: seq {seq} quotes seq {quote['seq']} as deleted={quote['deleted']}, "
                    f"but it is deleted={original_deleted}"
                )
    client_id_counts = Counter(message["client_id"] for message in messages.values() if message["client_id"])
    if repeated := [client_id for client_id, n in client_id_counts.items() if n > 1]:
        problems.append(f"database: messages stored more than once (client_ids) {_fmt(repeated)}")

    # --- every change a client made: applied exactly once, or rightly refused -----------------
    by_client_id = {(change["visitor"], change["client_id"]): change for change in state.changes if change["client_id"]}
    by_message_client_id = {message["client_id"]: message for message in messages.values() if message["client_id"]}
    ours: set[tuple[str, str]] = set()
    figures = Counter()
    for view in views:
        where = view.label
        for client_id, text in view.typed.items():
            message = by_message_client_id.get(client_id)
            if message is None:
                problems.append(f"{where}: message {client_id} ({text!r}) never stored")
            elif client_id in view.acked and view.acked[client_id] != message["seq"]:
                problems.append(
                    f"{where}: message {client_id} acked as seq {view.acked[client_id]}, stored as {message['seq']}"
                )
        for client_id, frame in view.changes.items():
            ours.add((view.visitor, client_id))
            change = by_client_id.get((view.visitor, client_id))
            figures[f"{frame['type']}s_made"] += 1
            if client_id in view.change_acks:
                figures["changes_acked"] += 1
                if change is None:
                    problems.append(
                        f"{where}: {frame['type']} {client_id} of seq {frame['seq']} acked "
                        f"(rev {view.change_acks[client_id]}) but recorded nothing"
                    )
                elif change["rev"] != view.change_acks[client_id]:
                    problems.append(
                        f"{where}: {frame['type']} {client_id} acked as rev "
                        f"{view.change_acks[client_id]}, recorded at rev {change['rev']}"
                    )
                elif change["seq"] != frame["seq"]:
                    problems.append(
                        f"{where}: {frame['type']} {client_id} recorded on seq {change['seq']}, not {frame['seq']}"
                    )
            elif client_id in view.failed:
                figures["changes_refused"] += 1
                target = messages.get(frame["seq"])
                if view.failed[client_id] not in ACCEPTED_REFUSALS or target is None or not target["deleted"]:
                    problems.append(
                        f"{where}: {frame['type']} {client_id} of seq {frame['seq']} refused with "
                        f"{view.failed[client_id]} (the message is "
                        f"{'deleted' if target and target['deleted'] else 'there'})"
                    )
                elif change is not None:
                    problems.append(f"{where}: {frame['type']} {client_id} refused but recorded at rev {change['rev']}")
        if view.outbox:
            problems.append(f"{where}: never acked {_fmt(view.outbox)}")
        failed_sends = {client_id: code for client_id, code in view.failed.items() if client_id in view.typed}
        if failed_sends:
            problems.append(f"{where}: messages refused {_fmt(failed_sends.items())}")
        if view.errors and (
            unexpected := [
                error for error in view.errors if error.get("code") not in ACCEPTED_REFUSALS | {"server_error"}
            ]
        ):
            problems.append(f"{where}: protocol errors received {_fmt(unexpected, 5)}")
    if phantoms := [
        change["rev"]
        for change in state.changes
        if change["client_id"] and (change["visitor"], change["client_id"]) not in ours
    ]:
        problems.append(f"database: changes no client made (revs) {_fmt(phantoms)}")

    # --- every client's view: the database's current state, each message once, in order ------
    for view in views:
        where = view.label
        if view.seqs != list(range(1, state.last_seq + 1)):
            problems.append(f"{where}: shows seqs {_fmt(view.seqs)}, not 1..{state.last_seq} once each in order")
        differing = []
        for seq in view.seqs:
            if seq not in messages:
                continue
            shown, stored_message = view.messages[seq], messages[seq]
            fields = [name for name in SHOWN_FIELDS if shown.get(name) != stored_message.get(name)]
            if fields:
                differing.append((seq, fields))
        if differing:
            example_seq, example_fields = differing[0]
            example = {
                name: (view.messages[example_seq].get(name), messages[example_seq].get(name)) for name in example_fields
            }
            problems.append(
                f"{where}: {len(differing)} messages differ from the database (seq, fields) "
                f"{_fmt(differing, 8)}; e.g. seq {example_seq} (shown, stored): {example}"
            )
        if view.rev_done != state.last_rev or view.revs_ahead:
            problems.append(
                f"{where}: has every rev up to {view.rev_done} (ahead: {view.revs_ahead}), "
                f"the log's last is {state.last_rev}"
            )

    figures.update(
        messages=len(messages), deleted=sum(message["deleted"] for message in messages.values()),
        edited=sum(message["edited"] for message in messages.values()),
        replies=sum(message["reply_to"] is not None for message in messages.values()),
        reactions=len(state.reactions), revs=state.last_rev,
    )  # fmt: skip
    return ConversationVerdict(problems=problems, figures=dict(figures))
