"""The chaos suite's own parts, checked quickly: the verdict finds what it must find, the
reference client shows each seq once and in order (and, speaking version 3, each message at its
highest rev), the proxy black-holes without closing."""

from __future__ import annotations

import asyncio
import copy

import pytest

from scripts.processes import free_port
from tests.chaos.client import ChaosClient, ConversationClient, ConversationView
from tests.chaos.proxy import BlackHoleProxy
from tests.chaos.verify import Entry, Observed, RoomState, Row, judge, judge_conversation

pytestmark = pytest.mark.chaos


def rows(count: int) -> list[Row]:
    return [Row(seq, f"id-{seq}", "x", f"text {seq}") for seq in range(1, count + 1)]


def entries(*seqs: int) -> list[Entry]:
    return [Entry(seq, f"id-{seq}", f"text {seq}") for seq in seqs]


def test_the_verdict_accepts_exactly_the_log():
    verdict = judge(rows(3), [Observed("a", entries(1, 2, 3), typed=["text 1"], acked={"id-1": 1})])
    assert verdict.ok, verdict.problems
    assert (verdict.lost, verdict.duplicated, verdict.sent, verdict.shown) == (0, 0, 1, {"a": 3})


def test_the_verdict_names_missing_duplicated_and_out_of_order_seqs_per_client():
    verdict = judge(
        rows(5),
        [
            Observed("lossy", entries(1, 2, 5), typed=[]),
            Observed("doubled", entries(1, 2, 2, 3, 4, 5), typed=[]),
            Observed("shuffled", entries(1, 3, 2, 4, 5), typed=[]),
            Observed(
                "stuck",
                entries(1, 2, 3, 4, 5) + [Entry(None, "mine", "text 6", "pending")],
                typed=["text 6"],
                unacked=["mine"],
            ),
        ],
    )
    text = "\n".join(verdict.problems)
    assert "lossy: missing seqs [3-4] (2)" in text
    assert "doubled: seqs shown more than once [2] (1)" in text
    assert "shuffled: not in log order" in text
    assert "database: typed messages never stored: [('stuck', 'text 6')]" in text
    assert "stuck: messages still not confirmed (client_id, state, text) [('mine', 'pending', 'text 6')]" in text
    assert "stuck: typed but never acked (client_ids) [mine]" in text
    assert (verdict.lost, verdict.duplicated) == (3, 1)


def test_the_verdict_finds_a_message_stored_twice():
    stored = rows(2) + [Row(3, "id-1", "x", "text 1")]
    verdict = judge(stored, [Observed("a", entries(1, 2, 3), typed=["text 1"])])
    assert any("client_ids stored more than once: [('id-1', 2)]" in problem for problem in verdict.problems)
    assert verdict.duplicated == 1


def test_the_client_shows_each_seq_once_and_in_order():
    async def scenario():
        client = ChaosClient(label="t", url="ws://127.0.0.1:9/ws/", origin="http://x", room="r", verbose=False)
        for seq in (1, 3, 2, 2, 5, 1, 4):
            client._receive({"seq": seq, "client_id": None, "author": "a", "text": f"text {seq}"})
            if seq == 3:
                assert [shown.seq for shown in client.view().shown] == [1]  # 3 waits for 2
        view = client.view()
        assert [shown.seq for shown in view.shown] == [1, 2, 3, 4, 5]
        assert view.stats["duplicate_frames_dropped"] == 2

    asyncio.run(scenario())


def test_the_proxy_holds_traffic_while_cut_and_closes_nothing():
    async def scenario():
        async def echo(reader, writer):
            while data := await reader.read(1024):
                writer.write(data)
                await writer.drain()
            upstream_closed.set()
            writer.close()

        upstream_closed = asyncio.Event()
        echo_server = await asyncio.start_server(echo, "127.0.0.1", 0)
        proxy = BlackHoleProxy(listen_port=free_port(), target_port=echo_server.sockets[0].getsockname()[1])
        await proxy.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.listen_port)
            writer.write(b"before")
            assert await asyncio.wait_for(reader.readexactly(6), 2) == b"before"

            proxy.cut()
            writer.write(b"during")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.readexactly(6), 0.5)
            # A new connection gets accepted but goes nowhere.
            late_reader, late_writer = await asyncio.open_connection("127.0.0.1", proxy.listen_port)
            late_writer.write(b"late")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(late_reader.readexactly(4), 0.3)

            proxy.restore()
            assert await asyncio.wait_for(reader.readexactly(6), 2) == b"during"  # held, not lost
            assert await asyncio.wait_for(late_reader.readexactly(4), 2) == b"late"

            # A side that gives up during a cut: its close reaches the other side only on restore.
            proxy.cut()
            writer.transport.abort()
            late_writer.transport.abort()
            await asyncio.sleep(0.3)
            assert not upstream_closed.is_set()
            proxy.restore()
            await asyncio.wait_for(upstream_closed.wait(), 2)
        finally:
            await proxy.close()
            echo_server.close()

    asyncio.run(scenario())


# --- protocol version 3 -----------------------------------------------------------------------


def message_v3(seq: int, *, rev: int = 0, text: str | None = None, reactions=(), deleted: bool = False) -> dict:
    return {
        "type": "message", "room": "r", "seq": seq, "author": "" if deleted else "ann",
        "visitor": "" if deleted else "v-ann", "staff": False, "tag": "", "text": "" if deleted else text or f"m{seq}",
        "sent_at": "2025-01-01T00:00:00Z", "client_id": f"m-{seq}", "deleted": deleted, "rev": rev,
        "edited": text is not None and not deleted, "reply_to": None,
        "reactions": [{"emoji": emoji, "count": 1, "names": ["bob"], "visitors": ["v-bob"]} for emoji in reactions],
    }  # fmt: skip


def conversation() -> tuple[RoomState, ConversationView]:
    """Ann's two messages; Bob reacted 👍 to 1 (rev 1), Ann edited 2 (rev 2) and Bob's 🎉 on 2
    came and went (revs 3, 4). Bob's client shows all of it."""
    messages = {1: message_v3(1, rev=1, reactions=["👍"]), 2: message_v3(2, rev=4, text="m2 edited")}
    changes = [
        {"rev": 1, "seq": 1, "kind": "react", "visitor": "v-bob", "client_id": "b-1", "payload": {"emoji": "👍"}},
        {"rev": 2, "seq": 2, "kind": "edit", "visitor": "v-ann", "client_id": None, "payload": {"text": "m2 edited"}},
        {"rev": 3, "seq": 2, "kind": "react", "visitor": "v-bob", "client_id": "b-2", "payload": {"emoji": "🎉"}},
        {"rev": 4, "seq": 2, "kind": "unreact", "visitor": "v-bob", "client_id": "b-3", "payload": {"emoji": "🎉"}},
    ]
    state = RoomState(
        last_seq=2,
        last_rev=4,
        messages=messages,
        changes=changes,
        reactions=[{"seq": 1, "emoji": "👍", "visitor": "v-bob"}],
    )
    frames = {
        "b-1": {"type": "react", "seq": 1, "emoji": "👍", "on": True},
        "b-2": {"type": "react", "seq": 2, "emoji": "🎉", "on": True},
        "b-3": {"type": "react", "seq": 2, "emoji": "🎉", "on": False},
    }
    view = ConversationView(
        label="bob", visitor="v-bob", start_at=1, seqs=[1, 2], messages=copy.deepcopy(messages), rev_done=4,
        revs_ahead=[], typed={}, acked={}, changes=frames, change_acks={"b-1": 1, "b-2": 3, "b-3": 4}, outbox=[],
        failed={}, errors=[], stats={},
    )  # fmt: skip
    return state, view


def test_the_conversation_verdict_accepts_a_client_showing_the_database():
    state, view = conversation()
    verdict = judge_conversation(state, [view])
    assert verdict.ok, verdict.problems
    assert verdict.figures["changes_acked"] == 3


def test_the_conversation_verdict_names_stale_views_double_reactions_gaps_and_empty_acks():
    state, view = conversation()
    view.messages[2] = message_v3(2, rev=2, text="m2 edited")  # missed revs 3-4 (its 🎉 came and went)
    view.messages[1]["reactions"] = []  # and shows no 👍 at the same rev
    view.rev_done = 3
    state.changes[3] = {**state.changes[3], "kind": "react"}  # the 🎉 added twice
    state.changes.pop(1)  # rev 2 is missing from the log
    view.change_acks["b-4"] = 1  # an ack for a change the log does not have
    view.changes["b-4"] = {"type": "react", "seq": 1, "emoji": "😂", "on": True}
    problems = "\n".join(judge_conversation(state, [view]).problems)
    assert "the rev log is not 1..4 without gaps: missing [2] (1)" in problems
    assert "reaction (2, '🎉', 'v-bob') added twice" in problems
    assert "react b-4 of seq 1 acked (rev 1) but recorded nothing" in problems
    assert "bob: 2 messages differ from the database (seq, fields) [(1, ['reactions']), (2, ['rev'])]" in problems
    assert "bob: has every rev up to 3" in problems


def test_the_conversation_client_keeps_each_message_at_its_highest_rev_and_notices_rev_gaps():
    async def scenario():
        client = ConversationClient(label="t", url="ws://127.0.0.1:9/ws/", origin="http://x", room="r", verbose=False)
        assert client.url == "ws://127.0.0.1:9/ws/?protocol=3"
        client._receive(message_v3(1))
        for rev, text in ((2, "second"), (1, "first"), (2, "second again")):
            client._receive(message_v3(1, rev=rev, text=text))
            client._see_rev(rev)
        assert client.shown_messages()[0]["text"] == "second"  # rev 1 came late, the repeat of 2 changes nothing
        assert (client.rev_done, client._has_gap()) == (2, False)
        client._see_rev(4)
        assert (client.rev_done, client._has_gap()) == (2, True)  # rev 3 is missing: join again
        client._see_rev(3)
        assert (client.rev_done, client._has_gap()) == (4, False)
        assert client._join_frame() == {"type": "join", "room": "r", "after_seq": 1, "after_rev": 4, "first_seq": 1}

    asyncio.run(scenario())
