"""The holes a hostile client found (issue 16, "Close the holes"), each attacked again on a real
daphne (``python -m backchannel.serve``) over real sockets, with the reaction that closes it:

- a ping flood from a socket that never reads (autobahn queued pongs without limit): pings take
  tokens from the socket's frame bucket (FRAME_BURST / FRAME_PER_SEC); past it they get no pong,
  FLOOD_STRIKES of them in a row close the socket (4008) and stop reading it; pongs count against
  SLOW_SOCKET_BUFFER_BYTES. daphne's RSS stays within +5 MiB.
- a WebSocket to an unknown path (500 and a traceback): HTTP 404, nothing logged.
- Origin near misses (``…?``, ``…#``, ``HTTP://…``): HTTP 403 (the compare is exact).
- numbers of thousands of digits: ``bad_field`` on the socket, HTTP 400 ``bad_field``.
- ``text/plain`` bodies to the identity API (no CORS preflight): HTTP 415 ``unsupported_media_type``.

Sign-ins (the admin's and the staff API's shared budget, demoted staff) are in test_staff_holes.py.
Every case is also a row of the hostile report (artifacts/hostile-report.md).

Run: .venv/bin/python -m pytest tests/hostile/test_closed_holes.py -p no:cacheprovider -s
"""

from __future__ import annotations

import asyncio
import http.client
import json
import struct
import time
from pathlib import Path

import pytest

from scripts.processes import backend_env, free_port, migrate, start_daphne, stop_process
from tests.hostile.wire import Peer, RawSocket, Server, log, open_authenticated
from tests.identity_client import TEST_IDENTITY_ENV, fetch_token

pytestmark = [pytest.mark.hostile]

REPO_DIR = Path(__file__).resolve().parents[2]
FRAME_BURST, FRAME_PER_SEC, FLOOD_STRIKES = 40, 10.0, 10  # the production defaults
LIMITS_ENV = {"FRAME_BURST": str(FRAME_BURST), "FRAME_PER_SEC": str(FRAME_PER_SEC), "FLOOD_STRIKES": str(FLOOD_STRIKES)}
FLOODING_CLOSE_CODE = 4008
PING_OPCODE, PONG_OPCODE, CLOSE_OPCODE, TEXT_OPCODE = 0x9, 0xA, 0x8, 0x1
FLOOD_BYTES = 48 * 1024 * 1024  # what the attacker sent: ~385k pings in 4-7 s
RSS_GROWTH_BOUND_KIB = 5 * 1024
REACTION_SECS = 1.0

_ips = (f"127.0.3.{n}" for n in range(10, 250))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame masked with the all-zero key (valid, and the payload is sent as it is: fast
    enough to write tens of MiB of pings from Python)."""
    assert len(payload) < 126
    return struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + b"\0\0\0\0" + payload


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("holes")
    site_port, port = free_port(), free_port()
    origin = f"http://127.0.0.1:{site_port}"
    env = backend_env(
        {
            "SECRET_KEY": "holes-only-" + "h" * 50,
            "SECURE_SSL_REDIRECT": "0",
            "ALLOWED_ORIGINS": origin,
            "DATABASE_URL": f"sqlite:///{work_dir / 'db.sqlite3'}",
            **TEST_IDENTITY_ENV,
            **LIMITS_ENV,
        }
    )
    migrate(env)
    log_path = REPO_DIR / "artifacts" / f"holes-daphne-{port}.log"
    process = start_daphne(port=port, env=env, log_path=log_path)
    yield Server(port=port, origin=origin, pid=process.pid, log_path=log_path)
    stop_process(process, what="daphne")


def run(coroutine, timeout: float = 60):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


# --- Control frames ------------------------------------------------------------------------------


def test_pings_count_against_the_frame_bucket_and_a_ping_flood_is_closed_4008(server, hostile_report):
    """A client that reads: pings within the bucket are answered, the bucket is the one its text
    frames spend (a ping volley leaves none for a `send`), and past it the pings go unanswered
    until FLOOD_STRIKES in a row close the socket with 4008."""

    async def attack() -> dict:
        # Within the budget: every ping answered, like any client library's keepalive.
        peer = await Peer.open(server, next(_ips), "keepalive")
        await peer.expect("ready", timeout=5)
        for _ in range(5):
            await asyncio.wait_for(await peer.ws.ping(), 2)
        await peer.assert_usable()
        await peer.close()

        raw = await RawSocket.open(server, next(_ips))
        await asyncio.wait_for(raw.read_frame(), 5)  # ready
        raw.writer.write(masked_frame(PING_OPCODE, b"p") * FRAME_BURST)
        raw.writer.write(masked_frame(TEXT_OPCODE, b'{"type":"ping"}'))
        pongs, events = 0, []
        while pongs + len(events) < FRAME_BURST + 1:
            opcode, payload = await asyncio.wait_for(raw.read_frame(), 5)
            if opcode == PONG_OPCODE:
                pongs += 1
            elif opcode == TEXT_OPCODE:
                events.append(json.loads(payload))
        sent = time.monotonic()
        raw.writer.write(masked_frame(PING_OPCODE, b"p") * (FLOOD_STRIKES + 50))
        code, closed_at, frames = await raw.read_until_closed(timeout=3)
        raw.close()
        return {
            "pongs": pongs,
            "events": events,
            "code": code,
            "after": closed_at - sent,
            "late_pongs": sum(1 for opcode, _ in frames if opcode == PONG_OPCODE),
        }

    result = run(attack())
    assert result["pongs"] == FRAME_BURST
    assert [event.get("code") for event in result["events"]] == ["rate_limited"], "text and pings share one bucket"
    assert result["code"] == FLOODING_CLOSE_CODE, result
    assert result["late_pongs"] <= 1, "pings past the bucket were answered"
    assert result["after"] < REACTION_SECS
    hostile_report.add(
        f"{FRAME_BURST} pings, a text ping, then {FLOOD_STRIKES + 50} more pings (a client that reads)",
        f"FRAME_BURST {FRAME_BURST} / FRAME_PER_SEC {FRAME_PER_SEC:g}, FLOOD_STRIKES {FLOOD_STRIKES}",
        f"{result['pongs']} pongs, then the text frame got rate_limited (one bucket); the flood got "
        f"{result['late_pongs']} pong(s) and close {result['code']}",
        ms(result["after"]),
    )


async def ping_flood(server: Server, *, authenticated_with: str | None) -> dict:
    """Open a socket, read `ready` (and `authenticated`), then send pings as fast as the server takes
    them, up to FLOOD_BYTES, never reading again. Returns what was sent and how it ended."""
    raw = await RawSocket.open(server, next(_ips))
    await asyncio.wait_for(raw.read_frame(), 5)  # ready
    if authenticated_with is not None:
        frame = json.dumps({"type": "auth", "token": authenticated_with}).encode()
        raw.send_frame(TEXT_OPCODE, frame)
        _, answer = await asyncio.wait_for(raw.read_frame(), 5)
        assert json.loads(answer)["type"] == "authenticated"
    chunk = masked_frame(PING_OPCODE, b"x" * 125) * 500  # 65.5 KB, 500 pings
    started, sent, how = time.monotonic(), 0, "all sent"
    try:
        while sent < FLOOD_BYTES:
            raw.writer.write(chunk)
            await asyncio.wait_for(raw.writer.drain(), 2)
            sent += len(chunk)
    except TimeoutError:
        how = "the server stopped reading (writes blocked 2 s)"
    except ConnectionError as error:
        how = f"connection ended ({type(error).__name__})"
    stopped = time.monotonic()
    code, _, frames = await raw.read_until_closed(timeout=3)
    raw.close()
    return {
        "sent": sent,
        "secs": stopped - started,
        "how": how,
        "code": code,
        "pongs": sum(1 for opcode, _ in frames if opcode == PONG_OPCODE),
    }


@pytest.mark.parametrize("who", ["unauthenticated", "authenticated"])
def test_a_ping_flood_from_a_socket_that_never_reads_leaves_memory_flat(server, hostile_report, who):
    token = fetch_token(server.http_url, "flooder")["token"] if who == "authenticated" else None
    run(ping_flood(server, authenticated_with=None), timeout=120)  # warm-up: the code paths, once
    time.sleep(0.5)
    before = server.rss_kib()
    result = run(ping_flood(server, authenticated_with=token), timeout=120)
    time.sleep(1.5)  # the close handshake timeout, and the drop
    after = server.rss_kib()
    growth = after - before
    figures = (
        f"daphne VmRSS {before / 1024:.1f} → {after / 1024:.1f} MiB ({growth / 1024:+.2f} MiB); "
        f"{result['sent'] / 2**20:.1f} MiB of pings written in {result['secs']:.1f} s before: {result['how']}; "
        f"{result['pongs']} pongs; ended with {result['code']}"
    )
    log(f"ping flood, {who}: {figures}")
    print(f"\nping flood, {who}: {figures}")
    hostile_report.add(
        f"ping flood from a socket that never reads ({who}), up to {FLOOD_BYTES // 2**20} MiB",
        f"FRAME_BURST {FRAME_BURST}, FLOOD_STRIKES {FLOOD_STRIKES}; RSS growth < {RSS_GROWTH_BOUND_KIB // 1024} MiB",
        figures,
        f"{result['secs']:.1f} s",
    )
    assert result["sent"] < FLOOD_BYTES, "the server read the whole flood"
    assert result["pongs"] <= FRAME_BURST + 1
    assert growth < RSS_GROWTH_BOUND_KIB, figures


# --- Handshakes ----------------------------------------------------------------------------------


def handshake_status(server: Server, path: str, origin: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in (
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Origin", origin),
        ):
            connection.putheader(name, value)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def log_size(server: Server) -> int:
    return server.log_path.stat().st_size


def log_since(server: Server, offset: int) -> str:
    with server.log_path.open("rb") as log_file:
        log_file.seek(offset)
        return log_file.read().decode(errors="replace")


def test_a_websocket_to_an_unknown_path_gets_404_quietly(server, hostile_report):
    offset = log_size(server)
    for path in ("/nope/", "/ws/extra/", "/ws", "/admin/", "/api/identity/", "/" + "x" * 2000):
        started = time.monotonic()
        status = handshake_status(server, path, server.origin)
        assert status == 404, f"{path[:40]}: HTTP {status}"
        hostile_report.add(
            f"WebSocket handshake to {path[:30]!r}", "the routes", "HTTP 404", ms(time.monotonic() - started)
        )
    assert handshake_status(server, "/ws/", server.origin) == 101
    time.sleep(0.5)
    logged = log_since(server, offset)
    assert "Traceback" not in logged and "ERROR" not in logged, logged[-3000:]


@pytest.mark.parametrize(
    "variant", ["{origin}?", "{origin}#", "{origin}/", "HTTP://{host}", "{origin}?x=1", "{origin}, {origin}"]
)
def test_an_origin_that_is_not_exactly_the_sites_is_refused(server, hostile_report, variant):
    host = server.origin.removeprefix("http://")
    origin = variant.format(origin=server.origin, host=host)
    status = handshake_status(server, "/ws/", origin)
    # 400: autobahn itself refuses an Origin it cannot parse (a list), before the application runs.
    assert status == (400 if "," in origin else 403)
    hostile_report.add(f"handshake with Origin {origin!r}", "ALLOWED_ORIGINS, exact", f"HTTP {status}", "-")


def test_the_exact_origin_is_still_accepted(server, hostile_report):
    assert handshake_status(server, "/ws/", server.origin) == 101
    # Spaces and tabs around a header value are not part of it (RFC 9110 5.5): the HTTP parser
    # removes them before any application sees the header, so this is the site's own origin. The
    # comparison itself refuses them (tests/backend/test_consumer.py).
    for padded in (f"{server.origin} ", f"{server.origin}\t"):
        assert handshake_status(server, "/ws/", padded) == 101
    hostile_report.add(
        "handshake with Origin + trailing space or tab",
        "RFC 9110: not part of the value",
        "HTTP 101: the HTTP parser strips it, the value compared is the site's",
        "-",
    )


# --- Numbers and bodies --------------------------------------------------------------------------


def test_numbers_of_thousands_of_digits_are_bad_field_on_the_socket_and_400_over_http(server, hostile_report):
    token = fetch_token(server.http_url, "numbers")["token"]
    room = "holes-numbers"
    digits = "1" + "0" * 5000

    async def attack() -> list[str]:
        peer = await open_authenticated(server, next(_ips), "numbers", token, room)
        codes = []
        for frame in (
            f'{{"type":"load_older","room":"{room}","before_seq":{digits}}}',
            f'{{"type":"join","room":"{room}","after_seq":{digits}}}',
            f'{{"type":"load_older","room":"{room}","before_seq":-{digits}}}',
        ):
            await peer.send(frame)
            _, event = await peer.next_event(timeout=REACTION_SECS)
            codes.append(event.get("code"))
        await peer.assert_usable()
        await peer.close()
        return codes

    assert run(attack()) == ["bad_field"] * 3
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("GET", f"/api/rooms/lobby/messages/?before_seq={digits}")
    response = connection.getresponse()
    body = json.load(response)
    connection.close()
    assert (response.status, body["error"]["code"]) == (400, "bad_field")
    hostile_report.add(
        "seq of 5001 digits: load_older, join, and ?before_seq= over HTTP",
        "1 ≤ seq ≤ 2**63-1",
        "error bad_field (socket usable); HTTP 400 bad_field",
        "-",
    )


@pytest.mark.parametrize("path", ["/api/identity/", "/api/identity/staff/"])
def test_the_identity_api_refuses_bodies_not_sent_as_json(server, hostile_report, path):
    body = json.dumps({"username": "x", "password": "y", "name": "Ann"})
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request(
        "POST", path, body, headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://foreign.example"}
    )
    response = connection.getresponse()
    error = json.load(response)["error"]
    connection.close()
    assert (response.status, error["code"]) == (415, "unsupported_media_type")
    hostile_report.add(
        f"POST {path} as text/plain from a foreign page (no preflight)",
        "application/json only",
        f"HTTP 415 {error['code']}: {error['message']}",
        "-",
    )
