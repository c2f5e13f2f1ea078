"""Client-side pieces of the hostile suite: a loop thread, a recording WebSocket peer, a raw
RFC 6455 client for frames no well-behaved library sends, and the control probe.

Every attacker binds its own loopback source address (127.0.0.2, 127.0.0.3, ... all route to
the daphne on 127.0.0.1), so the backend sees each attack from an IP address of its own: the
per-IP limits stay at their production defaults without the attackers starving the control
client, which speaks from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import struct
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

CONTROL_IP = "127.0.0.1"
ABNORMAL_CLOSURE = 1006  # no close frame: the TCP connection just ended


def log(message: str) -> None:
    print(f"[hostile {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass(frozen=True)
class Server:
    port: int
    origin: str  # the allowed site origin, sent on every handshake
    pid: int
    log_path: Any

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for pid {self.pid}")

    def cpu_secs(self) -> float:
        """CPU time (user + system) the daphne process has used so far."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def room_messages(self, room: str) -> dict:
        """GET /api/rooms/<room>/messages/ (blocking: call through asyncio.to_thread in the loop)."""
        with urllib.request.urlopen(f"{self.http_url}/api/rooms/{room}/messages/", timeout=5) as response:
            return json.load(response)


class LoopThread:
    """One asyncio loop on a daemon thread for the whole module: the control client lives in it
    from the first attack to the last, and each test's attack coroutine runs in it too."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="hostile-loop", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_all() -> None:
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(cancel_all(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)


class Peer:
    """One WebSocket that records every event it receives (with the time) and how it closed."""

    def __init__(self, websocket, label: str, on_event: Callable[[float, dict], None] | None = None) -> None:
        self.ws = websocket
        self.label = label
        self.on_event = on_event
        self.events: list[tuple[float, dict]] = []
        self.cursor = 0  # expect() looks at events from here on
        self.closed_at: float | None = None
        self.close_code: int | None = None
        self.close_frame_received = False
        self._changed = asyncio.Event()
        self.reader = asyncio.get_running_loop().create_task(self._read(), name=f"peer-{label}")

    @classmethod
    async def open(
        cls,
        server: Server,
        ip: str,
        label: str,
        *,
        origin: str | None = "",
        on_event: Callable[[float, dict], None] | None = None,
        open_timeout: float = 10,
    ) -> Peer:
        websocket = await connect(
            server.ws_url,
            origin=server.origin if origin == "" else origin,
            local_addr=(ip, 0),  # passed through to loop.create_connection: the source address
            max_size=None,
            compression=None,  # frame sizes on the wire are the sizes the tests name
            proxy=None,
            ping_interval=None,  # no library keepalive: only the frames a test sends go out
            open_timeout=open_timeout,
            close_timeout=2,
        )
        return cls(websocket, label, on_event)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                event = json.loads(frame) if isinstance(frame, str) else {"type": "<binary>", "data": frame}
                now = time.monotonic()
                self.events.append((now, event))
                if self.on_event is not None:
                    self.on_event(now, event)
                self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            self.closed_at = time.monotonic()
            received = self.ws.protocol.close_rcvd
            self.close_frame_received = received is not None
            self.close_code = received.code if received is not None else ABNORMAL_CLOSURE
            self._changed.set()

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    async def send(self, event: dict | str | bytes) -> float:
        """Send a frame (a dict as JSON; str as a text frame; bytes as a binary frame) and return the time."""
        await self.ws.send(json.dumps(event) if isinstance(event, dict) else event)
        return time.monotonic()

    def summary(self, start: int = 0) -> list[str]:
        return [_short(event) for _, event in self.events[start:] if event.get("type") != "presence"]

    async def wait_for(
        self, predicate: Callable[[dict], bool], *, timeout: float, what: str, consume: bool = True
    ) -> tuple[float, dict]:
        """The first event from the cursor on that matches; fails with what did arrive."""
        deadline = time.monotonic() + timeout
        index = self.cursor
        while True:
            self._changed.clear()
            while index < len(self.events):
                at, event = self.events[index]
                index += 1
                if predicate(event):
                    if consume:
                        self.cursor = index
                    return at, event
            if self.closed:
                raise AssertionError(
                    f"{self.label}: closed ({self.close_code}) before {what}; got {self.summary(self.cursor)}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.label}: no {what} within {timeout} s; got {self.summary(self.cursor)}")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass

    async def expect(self, kind: str, *, code: str | None = None, timeout: float = 1.0) -> tuple[float, dict]:
        """The next event of this type (an error with this code), skipping presence and typing."""
        what = f"{kind} {code}" if code else kind
        return await self.wait_for(
            lambda event: event.get("type") == kind and (code is None or event.get("code") == code),
            timeout=timeout,
            what=what,
        )

    async def next_event(self, *, timeout: float = 1.0) -> tuple[float, dict]:
        """The next event that is not presence/typing (chatter the test did not cause)."""
        return await self.wait_for(
            lambda event: event.get("type") not in ("presence", "typing"), timeout=timeout, what="an event"
        )

    async def wait_closed(self, *, timeout: float) -> float:
        try:
            await asyncio.wait_for(asyncio.shield(self.reader), timeout)
        except TimeoutError:
            raise AssertionError(
                f"{self.label}: still open {timeout} s later; got {self.summary(self.cursor)}"
            ) from None
        return self.closed_at

    async def authenticate(self, token: str) -> dict:
        await self.expect("ready", timeout=5)
        await self.send({"type": "auth", "token": token})
        _, event = await self.expect("authenticated", timeout=5)
        return event

    async def join(self, room: str) -> dict:
        await self.send({"type": "join", "room": room})
        _, event = await self.expect("joined", timeout=5)
        return event

    async def assert_usable(self) -> float:
        """A ping gets its pong: the socket still works. Returns the round trip in seconds."""
        sent = await self.send({"type": "ping"})
        at, _ = await self.expect("pong", timeout=1.0)
        return at - sent

    async def close(self) -> None:
        if not self.closed:
            await self.ws.close()
        await asyncio.gather(self.reader, return_exceptions=True)


def _short(event: dict) -> str:
    if event.get("type") == "error":
        return f"error:{event.get('code')}"
    return str(event.get("type"))


async def open_authenticated(
    server: Server, ip: str, label: str, token: str, room: str | None = None, **kwargs
) -> Peer:
    peer = await Peer.open(server, ip, label, **kwargs)
    await peer.authenticate(token)
    if room is not None:
        await peer.join(room)
    return peer


# --- A raw RFC 6455 client, for frames websockets refuses to send ---------------------------------


class RawSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, server: Server, ip: str) -> RawSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port, local_addr=(ip, 0))
        raw = cls(reader, writer)
        await raw._handshake(server)
        return raw

    async def _handshake(self, server: Server) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            (
                f"GET /ws/ HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: {server.origin}\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 5)
        status_line = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status_line:
            raise AssertionError(f"handshake refused: {status_line!r}")

    def send_frame(self, opcode: int, payload: bytes, *, masked: bool = True, fin: bool = True) -> float:
        self.writer.write(frame_bytes(opcode, payload, masked=masked, fin=fin))
        return time.monotonic()

    async def read_frame(self) -> tuple[int, bytes] | None:
        """(opcode, payload) of the next server frame, or None at EOF / reset."""
        try:
            head = await self.reader.readexactly(2)
            length = head[1] & 0x7F
            if length == 126:
                (length,) = struct.unpack(">H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack(">Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(length)  # server frames are never masked
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return head[0] & 0x0F, payload

    async def read_until_closed(self, timeout: float) -> tuple[int | str, float, list[tuple[int, bytes]]]:
        """Read frames until a close frame or EOF: (close code, "EOF" or "still open"; when;
        the frames before it)."""
        frames = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                frame = await asyncio.wait_for(self.read_frame(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return "still open", time.monotonic(), frames
            if frame is None:
                return "EOF", time.monotonic(), frames
            opcode, payload = frame
            if opcode == 0x8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else "close frame without code"
                return code, time.monotonic(), frames
            frames.append(frame)

    def close(self) -> None:
        self.writer.close()


def frame_bytes(opcode: int, payload: bytes, *, masked: bool = True, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        header = struct.pack(">BB", first, mask_bit | length)
    elif length < 1 << 16:
        header = struct.pack(">BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack(">BBQ", first, mask_bit | 127, length)
    if not masked:
        return header + payload
    mask = os.urandom(4)
    return header + mask + bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))


# --- The control: one reader and a few legitimate senders in a room of their own --------------


@dataclass
class Window:
    """What the control saw between two checkpoints."""

    probes: int
    delivered: int
    latencies_ms: list[float]
    rtts_ms: list[float]
    echo_ms: list[float]
    problems: list[str] = field(default_factory=list)

    def describe(self) -> str:
        def p50_max(values: list[float]) -> str:
            return f"{statistics.median(values):.0f}/{max(values):.0f} ms" if values else "n/a"

        return (
            f"{self.delivered}/{self.probes} delivered, msg latency p50/max {p50_max(self.latencies_ms)}, "
            f"ping RTT p50/max {p50_max(self.rtts_ms)}, no-DB echo RTT p50/max {p50_max(self.echo_ms)}"
        )


class Probe:
    """Legitimate traffic throughout the suite: every ``interval`` seconds one of the senders
    posts a message to the control room and the control pings. Each message must reach the
    control (message latency = its arrival there - its send), each ping must get its pong.

    An echo socket also sends a frame of an unknown type each time: its `unknown_type` answer
    needs no database, so its round trip shows daphne's event loop alone, while `send` and `ping`
    also wait for the consumer's database thread."""

    ROOM = "hostile-control"

    def __init__(self, server: Server, *, interval: float = 0.5) -> None:
        self.server = server
        self.interval = interval
        self.sent: dict[str, float] = {}  # client_id -> when sent
        self.arrived: dict[str, float] = {}
        self.acked: set[str] = set()
        self.rtts: list[tuple[float, float]] = []  # (when pong arrived, RTT secs)
        self.pings: deque[float] = deque()
        self.echoes: deque[float] = deque()
        self.echo_rtts: list[tuple[float, float]] = []
        self.echo: Peer | None = None
        self.problems: list[tuple[float, str]] = []
        self.count = 0
        self.control: Peer | None = None
        self.senders: list[Peer] = []
        self.task: asyncio.Task | None = None

    def _control_event(self, at: float, event: dict) -> None:
        kind = event.get("type")
        if kind == "message" and event.get("room") == self.ROOM and event.get("client_id") in self.sent:
            self.arrived.setdefault(event["client_id"], at)
        elif kind == "pong" and self.pings:
            self.rtts.append((at, at - self.pings.popleft()))
        elif kind == "error":
            self.problems.append((at, f"control got error {event.get('code')}: {event.get('message')}"))

    def _echo_event(self, at: float, event: dict) -> None:
        if event.get("code") == "unknown_type" and self.echoes:
            self.echo_rtts.append((at, at - self.echoes.popleft()))

    def _sender_event(self, at: float, event: dict) -> None:
        if event.get("type") == "ack":
            self.acked.add(event["client_id"])
        elif event.get("type") == "error":
            self.problems.append((at, f"sender got error {event.get('code')}: {event.get('message')}"))

    async def start(self, control_token: str, sender_tokens: list[str]) -> None:
        self.control = await open_authenticated(
            self.server, CONTROL_IP, "control", control_token, self.ROOM, on_event=self._control_event
        )
        for index, token in enumerate(sender_tokens):
            self.senders.append(
                await open_authenticated(
                    self.server, CONTROL_IP, f"sender{index}", token, self.ROOM, on_event=self._sender_event
                )
            )
        self.echo = await open_authenticated(self.server, CONTROL_IP, "echo", control_token, on_event=self._echo_event)
        self.task = asyncio.get_running_loop().create_task(self._trickle(), name="probe-trickle")

    async def _trickle(self) -> None:
        while True:
            await self.send_probe()
            await asyncio.sleep(self.interval)

    async def send_probe(self) -> None:
        self.count += 1
        client_id = f"probe-{self.count}"
        sender = self.senders[self.count % len(self.senders)]
        for peer in (self.control, self.echo, *self.senders):
            if peer.closed:
                self.problems.append((time.monotonic(), f"{peer.label} was closed ({peer.close_code})"))
        try:
            self.sent[client_id] = time.monotonic()
            await sender.send(
                {"type": "send", "room": self.ROOM, "text": f"legitimate message {self.count}", "client_id": client_id}
            )
            self.pings.append(time.monotonic())
            await self.control.send({"type": "ping"})
            self.echoes.append(time.monotonic())
            await self.echo.send({"type": "echo-probe"})
        except ConnectionClosed as error:
            self.problems.append((time.monotonic(), f"probe send failed: {error!r}"))

    def mark(self) -> float:
        return time.monotonic()

    async def checkpoint(self, since: float, *, timeout: float = 3.0) -> Window:
        """One more probe now, then wait for every probe sent since ``since`` to reach the control."""
        await self.send_probe()
        wanted = [cid for cid, at in self.sent.items() if at >= since]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(cid in self.arrived for cid in wanted):
            await asyncio.sleep(0.02)
        latencies = [(self.arrived[cid] - self.sent[cid]) * 1000 for cid in wanted if cid in self.arrived]
        window = Window(
            probes=len(wanted),
            delivered=len(latencies),
            latencies_ms=latencies,
            rtts_ms=[rtt * 1000 for at, rtt in self.rtts if at >= since],
            echo_ms=[rtt * 1000 for at, rtt in self.echo_rtts if at >= since],
            problems=[problem for at, problem in self.problems if at >= since],
        )
        missing = [cid for cid in wanted if cid not in self.arrived]
        if missing:
            window.problems.append(f"never reached the control: {missing}")
        return window

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        for peer in (self.control, self.echo, *self.senders):
            if peer is not None:
                await peer.close()
