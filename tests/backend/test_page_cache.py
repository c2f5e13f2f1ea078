"""A room's latest history page, kept in the process (chat.page_cache): joins read the log once
until the room's log changes (a post, an edit, a reaction, a deletion, a prune), and never see
an older page than the log holds; resumes read the log as before."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import changes, moderation, page_cache, retention, selectors, services
from chat.identity import Identity
from chat.models import Message, Room

pytestmark = pytest.mark.django_db

ANN = Identity(visitor="v-ann", name="Ann", staff=False)


def view(room: str = "lobby", *, after_seq: int | None = None, protocol: int = 3) -> selectors.RoomView:
    return selectors.room_view(
        room_name=room, after_seq=after_seq, history_limit=5, resume_limit=50, presence_list_limit=100,
        protocol=protocol,
    )  # fmt: skip


def log_reads(action) -> tuple[int, object]:
    """How many queries read chat_message while ``action`` ran, and what it returned."""
    with CaptureQueriesContext(connection) as queries:
        result = action()
    return sum('FROM "chat_message"' in query["sql"] for query in queries.captured_queries), result


def texts(room_view: selectors.RoomView) -> list[str]:
    return [message.text for message in room_view.catch_up.messages]


def post(text: str, room: str = "lobby") -> Message:
    return services.post_message(room_name=room, identity=ANN, text=text, client_id=f"c-{text}").message


def test_joins_in_a_row_read_the_log_once():
    for number in range(8):
        post(f"m{number}")
    first_reads, first = log_reads(view)
    again_reads, again = log_reads(view)
    v2_reads, v2 = log_reads(lambda: view(protocol=2))
    assert first_reads == 1 and again_reads == 0 and v2_reads == 0
    assert texts(first) == texts(again) == texts(v2) == ["m3", "m4", "m5", "m6", "m7"]
    assert again.catch_up.has_older and again.catch_up.latest_seq == 8


@pytest.mark.parametrize("change", ["post", "edit", "react", "delete", "moderator_delete", "prune"])
def test_every_change_of_the_log_is_seen_by_the_next_join(change):
    for number in range(8):
        post(f"m{number}")
    view()
    newest = Message.objects.get(seq=8)
    match change:
        case "post":
            post("m8")
            expected = ["m4", "m5", "m6", "m7", "m8"]
        case "edit":
            changes.edit_message(room_name="lobby", identity=ANN, seq=8, text="m7 edited", client_id="e1")
            expected = ["m3", "m4", "m5", "m6", "m7 edited"]
        case "react":
            changes.react(room_name="lobby", identity=ANN, seq=8, emoji="👍", on=True, client_id="r1")
            expected = ["m3", "m4", "m5", "m6", "m7"]
        case "delete":
            changes.delete_message(room_name="lobby", identity=ANN, seq=8, client_id="d1")
            expected = ["m3", "m4", "m5", "m6", "m7"]  # a tombstone keeps its place (and text, unsent)
        case "moderator_delete":
            moderation.delete_message(message=newest, by="mod")
            expected = ["m3", "m4", "m5", "m6", "m7"]
        case "prune":
            retention.prune_room(room=Room.objects.get(name="lobby"), through_seq=5)
            expected = ["m5", "m6", "m7"]
    reads, after = log_reads(view)
    assert reads >= 1, "the log was read again"
    fresh = selectors.latest_page(room_name="lobby", limit=5)
    assert [(m.seq, m.rev, m.text, m.deleted_at, m.reactions) for m in after.catch_up.messages] == [
        (m.seq, m.rev, m.text, m.deleted_at, m.reactions) for m in fresh.messages
    ]
    if change not in ("delete", "moderator_delete"):
        assert texts(after) == expected
    assert after.catch_up.has_older == fresh.has_older


def test_a_resume_reads_exactly_what_it_needs():
    for number in range(8):
        post(f"m{number}")
    view()
    reads, resumed = log_reads(lambda: view(after_seq=6))
    assert reads >= 1 and resumed.catch_up.resumed
    assert texts(resumed) == ["m6", "m7"]


def test_the_fanout_drops_a_rooms_page_on_a_log_frame_but_not_on_presence():
    from chat.broadcast import room_frame
    from chat.fanout import Fanout

    post("m0")
    view()
    assert page_cache._entries
    fanout = Fanout(layer=None)  # dispatch alone: no layer needed
    import asyncio

    asyncio.run(fanout.dispatch(room_frame("lobby", "{}", log_unchanged=True)))
    assert page_cache._entries, "presence and typing leave the page"
    asyncio.run(fanout.dispatch(room_frame("lobby", "{}")))
    assert not page_cache._entries


def answer(catch_up: selectors.CatchUp) -> tuple:
    def seqs(messages) -> list[tuple[int, int]]:
        return [(message.seq, message.rev) for message in messages]

    return (catch_up.latest_seq, catch_up.resumed, catch_up.has_older, seqs(catch_up.messages),
            seqs(catch_up.repairs), seqs(catch_up.changes), catch_up.latest_rev)  # fmt: skip


@pytest.mark.parametrize("messages", [12, 40])  # within one page of 20, and more than a page
def test_a_resume_from_the_kept_page_answers_exactly_what_the_log_answers(monkeypatch, messages):
    for number in range(messages):
        post(f"m{number}")
    for seq in (3, messages - 4):
        changes.delete_message(room_name="lobby", identity=ANN, seq=seq, client_id=f"d{seq}")
    changes.edit_message(room_name="lobby", identity=ANN, seq=messages - 2, text="edited", client_id="e")
    changes.react(room_name="lobby", identity=ANN, seq=messages - 6, emoji="👍", on=True, client_id="r")
    if messages == 40:
        retention.prune_room(room=Room.objects.get(name="lobby"), through_seq=2)

    def ask(after_seq: int, protocol: int, after_rev: int, first_seq: int) -> selectors.CatchUp:
        return selectors.catch_up(
            room_name="lobby", after_seq=after_seq, history_limit=20, resume_limit=15, protocol=protocol,
            after_rev=after_rev, first_seq=first_seq,
        )  # fmt: skip

    cases = [(after_seq, protocol, after_rev, first_seq)
             for after_seq in range(0, messages + 1, 3) for protocol in (2, 3)
             for after_rev in (0, 2) for first_seq in (1, max(1, after_seq - 5))]  # fmt: skip
    kept = [answer(ask(*case)) for case in cases]
    monkeypatch.setattr(selectors._KeptPage, "from_seq", lambda self, seq: None)  # the log only
    page_cache.clear()
    logged = [answer(ask(*case)) for case in cases]
    for case, from_kept, from_log in zip(cases, kept, logged, strict=True):
        assert from_kept == from_log, case


def test_a_resume_within_the_kept_page_reads_no_message_rows():
    for number in range(5):  # the whole log in one page: the tombstone window too
        post(f"m{number}")
    view()  # a first join keeps the page
    reads, resumed = log_reads(lambda: view(after_seq=3, protocol=2))
    assert reads == 0 and resumed.catch_up.resumed and texts(resumed) == ["m3", "m4"]
    reads, resumed = log_reads(lambda: view(after_seq=3, protocol=3))
    assert reads == 0 and resumed.catch_up.resumed and texts(resumed) == ["m3", "m4"]
    reads, resumed = log_reads(lambda: view(after_seq=3, protocol=2, room="elsewhere"))
    assert reads >= 1, "another room is read from its own log"


def test_the_rooms_row_is_read_as_the_model_holds_it():
    """room_row is SQL written out (every join batch reads it): ``locked`` is a bool on every engine."""
    assert selectors.room_row(room_name="nowhere") == ((0, 0, 0), False, 0)
    post("m0")
    Room.objects.filter(name="lobby").update(locked=True, slow_mode_secs=7, pruned_seq=0)
    bounds, locked, slow_mode_secs = selectors.room_row(room_name="lobby")
    assert (bounds, locked, slow_mode_secs) == ((1, 0, 0), True, 7) and locked is True
