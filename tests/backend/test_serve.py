"""The server command's own logic (backchannel.serve), without a socket: WebSocket text frames as
RFC 6455 lays them out, built once per room frame; the write budget of a slow reader."""

from __future__ import annotations

import asyncio
import gc
import struct

import pytest
from autobahn.twisted.websocket import WebSocketServerFactory

from backchannel.serve import (
    GC_THRESHOLDS,
    HANDSHAKE_ONLY_ATTRIBUTES,
    BudgetedWebSocketProtocol,
    FrameWriter,
    InputQueue,
    WriteBudget,
    collect_garbage_less_often,
    text_frame,
)


def parse_frame(frame: bytes) -> tuple[int, bytes]:
    """(first byte, payload) of one unmasked frame, read the way a client reads it."""
    first, second = frame[0], frame[1]
    assert second & 0x80 == 0, "a server never masks"
    length, offset = second & 0x7F, 2
    if length == 126:
        (length,), offset = struct.unpack("!H", frame[2:4]), 4
    elif length == 127:
        (length,), offset = struct.unpack("!Q", frame[2:10]), 10
    assert len(frame) == offset + length
    return first, frame[offset:]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frames_carry_the_payload_with_the_shortest_length_form(size):
    payload = ("é" * size).encode()[:size]
    first, carried = parse_frame(text_frame(payload))
    assert first == 0x81  # FIN, text
    assert carried == payload
    header_bytes = len(text_frame(payload)) - size
    assert header_bytes == (2 if size < 126 else 4 if size < 65536 else 10)


def test_a_room_frame_is_encoded_once_for_all_members():
    writer = FrameWriter()
    room_frame = '{"type":"message","text":"hi ☃"}'
    first = writer.frame_for(room_frame)
    assert writer.frame_for(room_frame) is first
    assert parse_frame(first)[1] == room_frame.encode()
    other = writer.frame_for('{"type":"ack"}')
    assert parse_frame(other)[1] == b'{"type":"ack"}'


def test_a_frame_over_the_outbound_limit_is_left_to_daphne_which_enforces_it():
    writer = FrameWriter()
    assert writer.frame_for("☃" * 10, limit_bytes=30) is not None, "30 bytes of UTF-8: at the limit"
    assert writer.frame_for("☃" * 11, limit_bytes=30) is None, "33 bytes: over it"
    assert writer.frame_for("☃" * 11) is not None, "no limit"


def test_the_budget_counts_only_while_the_socket_is_full():
    budget = WriteBudget(limit_bytes=1000)
    assert all(budget.admits(600) for _ in range(10)), "a reader that keeps up is never charged"
    budget.pauseProducing()
    assert budget.admits(600)
    assert not budget.admits(600), "1200 bytes queued behind a full socket"
    budget.resumeProducing()
    assert budget.admits(600), "the reader caught up: the count starts again"


# --- What an open socket keeps (issue 19: idle memory per socket) ---------------------------------


@pytest.mark.asyncio
async def test_the_input_queue_hands_out_items_in_order_and_a_cancelled_read_loses_none():
    queue = InputQueue()
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    waiting.cancel()  # the consumer ended while waiting for a frame
    queue.put_nowait({"n": 1})
    queue.put_nowait({"n": 2})
    assert queue.qsize() == 2
    assert [await queue.get(), await queue.get()] == [{"n": 1}, {"n": 2}]
    later = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not later.done(), "nothing to read: the reader waits"
    queue.put_nowait({"n": 3})
    assert await asyncio.wait_for(later, 1) == {"n": 3}
    assert (queue.items, queue.waiter) == (None, None), "an empty queue holds nothing"


def test_a_protocol_reads_autobahns_options_from_its_factory_instead_of_copying_them():
    factory = WebSocketServerFactory()
    factory.setProtocolOptions(autoPingInterval=7, maxMessagePayloadSize=4096)
    protocol = BudgetedWebSocketProtocol()
    protocol.factory = factory
    assert (protocol.autoPingInterval, protocol.maxMessagePayloadSize) == (7, 4096)
    # autobahn's _connectionMade copies each option the protocol lacks: it lacks none.
    assert all(hasattr(protocol, name) for name in protocol.CONFIG_ATTRS)
    assert not set(protocol.CONFIG_ATTRS) & set(vars(protocol))
    protocol.trackTimings = True  # autobahn's setTrackTimings: a protocol's own value wins
    assert protocol.trackTimings is True and factory.trackTimings is False


def test_an_open_socket_keeps_only_the_path_of_its_handshake():
    class Server:
        def log_action(self, *_args) -> None:
            pass

    protocol = BudgetedWebSocketProtocol()
    protocol.server, protocol.client_addr = Server(), ["127.0.0.1", 5000]
    protocol.request = type("ConnectionRequest", (), {"path": "/ws/", "headers": {"user-agent": "x" * 200}})()
    for name in HANDSHAKE_ONLY_ATTRIBUTES:
        setattr(protocol, name, b"what the handshake read and wrote")
    protocol.onOpen()
    assert protocol.request.path == "/ws/" and not hasattr(protocol.request, "headers")
    assert not set(HANDSHAKE_ONLY_ATTRIBUTES) & set(vars(protocol))


def test_the_server_collects_young_garbage_less_often_and_old_garbage_as_often():
    before = gc.get_threshold()
    try:
        collect_garbage_less_often()
        youngest, middle, oldest = gc.get_threshold()
        assert (youngest, middle, oldest) == GC_THRESHOLDS
        assert youngest > before[0]
        # A full collection after as many allocations as CPython's defaults give, within a factor of 1.5.
        assert youngest * middle * oldest <= 1.5 * before[0] * before[1] * before[2]
    finally:
        gc.set_threshold(*before)
