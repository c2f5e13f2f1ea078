"""The backend on a real socket, as a browser's network stack sees it."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.identity_client import fetch_token

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("origin", ["http://evil.example", "https://127.0.0.1", "http://localhost:1313", "null"])
def test_handshake_from_another_origin_gets_403(live_system, origin):
    async def attempt():
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(f"ws://127.0.0.1:{live_system.backend_port}/ws/", origin=origin)
        return refused.value.response.status_code

    assert asyncio.run(attempt()) == 403


def test_handshake_with_a_malformed_origin_is_refused(live_system):
    async def attempt():
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(f"ws://127.0.0.1:{live_system.backend_port}/ws/", origin="http://127.0.0.1:1.evil")
        return refused.value.response.status_code

    # daphne's WebSocket layer (autobahn) answers 400 to an unparsable Origin before our check runs.
    assert asyncio.run(attempt()) == 400


def test_handshake_without_origin_gets_403(live_system):
    async def attempt():
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(f"ws://127.0.0.1:{live_system.backend_port}/ws/")
        return refused.value.response.status_code

    assert asyncio.run(attempt()) == 403


def test_malformed_frames_get_errors_and_the_socket_keeps_working(live_system):
    async def scenario():
        async with websockets.connect(
            f"ws://127.0.0.1:{live_system.backend_port}/ws/", origin=live_system.site_origin
        ) as socket:
            assert json.loads(await socket.recv())["type"] == "ready"
            codes = []
            for frame in ("{oops", b"\x01\x02", '{"type":"join","room":"UPPER","name":"A"}', "x" * 40_000):
                await socket.send(frame)
                codes.append(json.loads(await asyncio.wait_for(socket.recv(), 5))["code"])
            # Reading needs no name, writing does.
            await socket.send(json.dumps({"type": "send", "room": "lobby", "text": "hi", "client_id": "c1"}))
            codes.append(json.loads(await asyncio.wait_for(socket.recv(), 5))["code"])
            # Still usable: it authenticates and answers a ping.
            identity = await asyncio.to_thread(fetch_token, live_system.backend_url, "Probe")
            await socket.send(json.dumps({"type": "auth", "token": identity["token"]}))
            assert json.loads(await asyncio.wait_for(socket.recv(), 5))["type"] == "authenticated"
            await socket.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(socket.recv(), 5)) == {"type": "pong", "rooms": {}}
            return codes

    assert asyncio.run(scenario()) == [
        "bad_json", "binary_frame", "invalid_room", "frame_too_large", "not_authenticated"
    ]  # fmt: skip
