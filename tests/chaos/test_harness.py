"""The chaos suite's own parts, checked quickly: the verdict finds what it must find, the
reference client shows each seq once and in order, the proxy black-holes without closing."""

from __future__ import annotations

import asyncio

import pytest

from scripts.processes import free_port
from tests.chaos.client import ChaosClient
from tests.chaos.proxy import BlackHoleProxy
from tests.chaos.verify import Entry, Observed, Row, judge

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
    verdict = judge(rows(5), [
        Observed("lossy", entries(1, 2, 5), typed=[]),
        Observed("doubled", entries(1, 2, 2, 3, 4, 5), typed=[]),
        Observed("shuffled", entries(1, 3, 2, 4, 5), typed=[]),
        Observed("stuck", entries(1, 2, 3, 4, 5) + [Entry(None, "mine", "text 6", "pending")],
                 typed=["text 6"], unacked=["mine"]),
    ])
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
