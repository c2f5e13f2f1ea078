"""The chaos verdict: every message acked by the server and every message typed by any client is
shown exactly once, in log order, on every client, and stored exactly once.

Clients are compared through one shape, ``Observed``, filled from a Python client's state
(``observe_python``) or from a browser page's DOM (browser.py). The database is read straight
from the SQLite file (read-only), so the check does not depend on the API's page size.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.client import ClientView


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
                    "JOIN chat_room r ON r.id = m.room_id WHERE r.name = ? ORDER BY m.seq", (room,)
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
        problems.append(f"database: seqs are not 1..{n} without gaps: missing "
                        f"{_fmt(sorted(set(range(1, max(seqs, default=0) + 1)) - set(seqs)))}")
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
        mismatched = [(entry.seq, entry.text[:30], by_seq[entry.seq].text[:30]) for entry in confirmed
                      if entry.seq in by_seq and entry.text != by_seq[entry.seq].text]
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
        bad_acks = [(client_id, seq) for client_id, seq in client.acked.items()
                    if seq not in by_seq or by_seq[seq].client_id != client_id]
        if bad_acks:
            problems.append(f"{where}: acks that do not match the database (client_id, seq) {_fmt(bad_acks)}")
        if client.unacked:
            problems.append(f"{where}: typed but never acked (client_ids) {_fmt(client.unacked)}")
        if client.failed:
            problems.append(f"{where}: sends refused by the server (client_id, code) {_fmt(client.failed.items())}")
        if client.errors:
            problems.append(f"{where}: protocol errors received {_fmt(client.errors, 5)}")
    return Verdict(problems=problems, lost=lost, duplicated=duplicated, sent=len(typed_all),
                   shown=shown_counts, db_count=n)


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
    return (f"{scenario}: sent={verdict.sent} stored={verdict.db_count} shown[{shown}] lost={verdict.lost} "
            f"duplicated={verdict.duplicated} recovery={recovery}{' ' + note if note else ''}")
