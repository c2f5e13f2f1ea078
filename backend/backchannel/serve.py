"""daphne, with a bound on what a slow reader can make the server hold.

    python -m backchannel.serve [daphne's options] backchannel.asgi:application

Same command line as ``daphne``. ASGI has no backpressure: ``send`` returns at once and Twisted
keeps every frame for a socket whose reader is slower than its room, without limit (a reader on a
bad phone link in a busy room grows the process by megabytes a second). Twisted does say when a
socket's write buffer is over its high-water mark (64 KiB): it pauses the socket's registered
producer. We register one per WebSocket and count what the application writes while it is paused;
past ``SLOW_SOCKET_BUFFER_BYTES`` the connection is dropped. The client reconnects and resumes
from its last seq (ARCHITECTURE.md, delivery guarantees), and the room never waits for it.

Control frames are budgeted too. autobahn answers every ping itself, below the application, so a
client that sends pings and never reads made the server queue pongs without limit (48 MiB of pings
grew a process by 63 MiB). Here every byte autobahn writes (pongs included) is charged to the
socket's write budget, and every ping or pong the client sends takes a token from the socket's
frame bucket, the one its consumer charges text frames to (``FRAME_BURST``/``FRAME_PER_SEC``): a
control frame over it is ignored (no pong), and ``FLOOD_STRIKES`` of those in a row close the socket
(4008) and stop reading it.

A WebSocket to a path no route serves gets HTTP 404: the server offers ASGI's WebSocket denial
response extension, which daphne lacks, and the router's fallback (chat/routing.py) uses it.

Fan-out writes are the server's hottest path (one per member per room message), and Twisted's
own write path costs about half of it: every write registers the socket with the event loop and
the next loop turn sends and unregisters it (py-spy, 1000 members). ``FrameWriter`` builds a room
frame's WebSocket bytes once for all members (the fan-out hands every member the same str) and
sends them on the socket at once when Twisted holds nothing queued for it; whatever the kernel
does not take goes to Twisted's queue as before, so bytes never reorder. The scope offers it to
the consumer as a plain function (``write_text_now``, chat.outbox): the fan-out writes a room frame
to each member without a coroutine per member (chat.fanout, ``deliver_now``).

An idle socket costs what it holds, times every open socket (issue 19: at most 20 KiB each,
``make bench``'s idle scenario). Per socket, the stack would keep what only the handshake needed
(the request's headers, twice, and autobahn's raw request and response), autobahn's ~30 options
copied from its factory into every protocol's attributes, a send queue daphne never uses, and
an ``asyncio.Queue`` (four deques and an Event) for the frames a client sends. Here the options
are read from the factory, the handshake's leftovers are released once the socket is open, the
send queue is made only if autobahn needs one, and the input queue is ``InputQueue``.

Graceful shutdown: on SIGTERM (a deploy, a platform restart) the server stops accepting, closes
every WebSocket with 1012 "service restart" and gives the consumers ``SHUTDOWN_GRACE_SECS`` to
finish (presence leaves, so nobody lingers "online"); only then are leftovers cancelled. The
sockets' presence goes in one statement first (chat.shutdown), so hundreds of disconnects finish
well within the grace. Visitors reconnect, to this process's successor, and resume from their
last seq. (daphne itself cancels everything at once: clients see 1006 and presence rows wait to
be swept.)

The cyclic garbage collector's young collections run less often (``GC_THRESHOLDS``). With
CPython's default (a young collection every 700 container allocations) a join storm of 5,000
spent about 16 % of the server's CPU in the collector: every handshake allocates hundreds of
containers, nearly all of which live as long as their socket, so each collection examined objects
that were never garbage. Reference counting still frees everything without a cycle at once.

Also: the open-files limit is raised to its hard maximum, since every socket is a file; and the
WebSocket limits below are the defaults, so every launcher (Procfile, systemd unit, make run)
gets them without repeating them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
import socket
import struct
import sys
import time
from collections import deque
from functools import partial
from http import HTTPStatus
from typing import Any

import autobahn.twisted.websocket as autobahn_twisted
import autobahn.websocket.protocol as autobahn_protocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import defer, tcp
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from backchannel.websocket_limits import MAX_MESSAGE_BYTES, PING_INTERVAL_SECS, PING_TIMEOUT_SECS
from chat.ratelimit import TokenBucket

# autobahn pretty-prints its ~40 options on every new connection for a debug line that is never
# written unless debug logging is on (about 3 % of a join storm's CPU): its log gets the list as it
# is, which its logger formats only when it writes the line. (A stand-in, not pformat's type.)
autobahn_protocol.pformat = lambda value: value  # type: ignore[assignment,misc]


def _as_is(value, *_style, **_options):
    return value


# The same for the names of functions and values in autobahn's debug lines (hltype, hlval): each
# call inspects its argument and styles it with click, on every connection and on every chunk a
# socket receives, for lines never written (about 1.5 % of a join storm's CPU). A debug line that
# is written shows them unstyled.
for _module in (autobahn_protocol, autobahn_twisted):
    _module.hltype = _module.hlval = _as_is  # type: ignore[attr-defined]

logger = logging.getLogger("backchannel.serve")

# The kernel's send buffer per WebSocket. Linux grows it on its own up to tcp_wmem's maximum
# (4 MiB here), and all of that would fill before a stalled reader showed up in Twisted's queue;
# a fixed size bounds the kernel's share too. A chat socket never needs more in flight.
SOCKET_SEND_BUFFER_BYTES = 256 * 1024

# How long a consumer may take to finish after its socket closed before daphne cancels it. daphne's
# 10 s cancelled ~1,800 of 2,000 disconnect handlers when 2,000 members left at once over two
# processes (each waits its turn on its process's database thread): their rooms were never told
# and their presence rows stayed "online" until swept. A stuck consumer costs little meanwhile.
APPLICATION_CLOSE_TIMEOUT_SECS = 60

# MAX_MESSAGE_BYTES, PING_INTERVAL_SECS, PING_TIMEOUT_SECS: one value for every launcher
# (backchannel.websocket_limits).
# daphne options a command line gets unless it names them itself.
DEFAULT_OPTIONS = {
    "--application-close-timeout": str(APPLICATION_CLOSE_TIMEOUT_SECS),
    "--websocket-max-message-size": str(MAX_MESSAGE_BYTES),
    "--websocket-max-frame-size": str(MAX_MESSAGE_BYTES),
    "--ping-interval": str(PING_INTERVAL_SECS),
    "--ping-timeout": str(PING_TIMEOUT_SECS),
}

# The collector's thresholds (see the module's doc): a young collection after 20,000 container
# allocations, not CPython's 700, and each older generation after 2 of the one below, not 10, so a
# full collection still comes about every 80,000 allocations (CPython's: 70,000). In make bench's
# 5,000-member join storm the collector's share of the server's CPU went from 1.2-1.4 s to about
# 0.2 s. The full collections' pace is what bounds memory: with only the young threshold raised,
# garbage cycles of closed sockets waited in the oldest generation and the hostile suite's
# repeated attacks grew the server 8 MiB a round (its bound: 1.5); with these it levels off.
GC_THRESHOLDS = (20_000, 2, 2)

# RFC 6455 registry: 1012 "Service Restart", the client is expected to reconnect.
SHUTDOWN_CLOSE_CODE = 1012
SHUTDOWN_CLOSE_REASON = "server restarting"
SHUTDOWN_POLL_SECS = 0.05

# RFC 6455 opcodes of the control frames a client may send (close ends the connection anyway).
PING_OPCODE, PONG_OPCODE = 0x9, 0xA


@implementer(IPushProducer)
class WriteBudget:
    """Twisted's view of one socket's write buffer, and what was queued while it was full."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.paused = False
        self.queued_while_paused_bytes = 0

    # IPushProducer: Twisted calls these as the socket's buffer fills and drains.
    def pauseProducing(self) -> None:  # noqa: N802 - Twisted's interface
        self.paused = True

    def resumeProducing(self) -> None:  # noqa: N802
        self.paused = False
        self.queued_while_paused_bytes = 0

    def stopProducing(self) -> None:  # noqa: N802
        self.paused = False

    def admits(self, size_bytes: int) -> bool:
        """Charge a frame to the budget; False once the reader is too far behind."""
        if not self.paused:
            return True
        self.queued_while_paused_bytes += size_bytes
        return self.queued_while_paused_bytes <= self.limit_bytes


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked WebSocket text frame (RFC 6455 5.2): what a server sends."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


class InputQueue:
    """What daphne hands the application as ``receive``: the frames and events of one connection,
    in order, for its one reader. daphne makes an ``asyncio.Queue`` (four deques of ~760 bytes and
    an Event) per connection; this holds a list while something waits to be read, else nothing."""

    __slots__ = ("items", "waiter")

    def __init__(self) -> None:
        self.items: list[dict] | None = None
        self.waiter: asyncio.Future | None = None

    def put_nowait(self, item: dict) -> None:
        if self.items is None:
            self.items = [item]
        else:
            self.items.append(item)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> dict:
        while not self.items:
            # A reader cancelled while waiting leaves the items in place for the next get().
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        items = self.items
        item = items.pop(0)
        if not items:
            self.items = None
        return item

    def qsize(self) -> int:
        return len(self.items or ())


class FactoryOption:
    """An autobahn option read from the protocol's factory: autobahn copies each option it does
    not find on the protocol into the protocol's own attributes, for every connection. A non-data
    descriptor, so a protocol given a value of its own (autobahn's setTrackTimings) keeps it."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, protocol, owner=None):
        return self if protocol is None else getattr(protocol.factory, self.name)


# Attributes only the opening handshake reads: autobahn's parsed and raw request and response.
HANDSHAKE_ONLY_ATTRIBUTES = (
    "http_request_data", "http_response_data", "http_headers", "http_status_line", "http_request_uri",
    "http_request_path", "http_request_params", "http_request_host", "websocket_origin",
    "websocket_protocols", "websocket_extensions",
)  # fmt: skip


class HandshakeRequest:
    """What daphne reads of autobahn's ``ConnectionRequest`` once the socket is open: its path."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


class BudgetedWebSocketProtocol(WebSocketProtocol):
    """daphne's WebSocket protocol, with what autobahn does on its own under the socket's budgets:
    the pongs it writes (``write_budget``) and the control frames it reads (``frame_bucket``);
    and without the per-socket state an open socket no longer needs (module docstring)."""

    write_budget: WriteBudget | None = None  # None once the socket is dropped
    frame_bucket: TokenBucket | None = None  # shared with the socket's consumer (its scope)
    refused_in_a_row = 0  # control frames ignored since the last one the bucket admitted
    # autobahn's, until onOpen: its ConnectionRequest, then only what daphne reads of it.
    request: ConnectionRequest | HandshakeRequest
    send_queue: deque[Any] | tuple[()]  # autobahn's write queue, made only when used (sendData)

    def _connectionMade(self) -> None:  # noqa: N802 - autobahn's name
        super()._connectionMade()
        # A deque is ~760 bytes; autobahn queues only chopped or "sync" writes (sendData below),
        # and never empties an empty queue.
        self.send_queue = ()

    def onOpen(self) -> None:  # noqa: N802 - autobahn's name
        super().onOpen()
        self.request = HandshakeRequest(self.request.path)
        for name in HANDSHAKE_ONLY_ATTRIBUTES:
            self.__dict__.pop(name, None)

    def processControlFrame(self) -> bool:  # noqa: N802 - autobahn's name
        bucket = self.frame_bucket
        if bucket is not None and self.current_frame.opcode in (PING_OPCODE, PONG_OPCODE):
            if bucket.take(time.monotonic()):
                self.control_frame_data = None  # ignored: a refused ping gets no pong
                process_metrics().rate_limit_refusals.labels("control_frames").inc()
                self.refused_in_a_row += 1
                if self.refused_in_a_row >= flood_strikes() and self.state == self.STATE_OPEN:
                    self.close_for_flooding()
                return True
            self.refused_in_a_row = 0
        return super().processControlFrame()

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:  # noqa: N802
        """Everything autobahn writes (pongs, close frames, daphne's own sends) goes through here."""
        budget = self.write_budget
        if budget is not None and not budget.admits(len(data)):
            self.factory.server_class.drop_slow_reader(self, budget)
            return
        if (sync or chopsize) and not isinstance(self.send_queue, deque):
            self.send_queue = deque()  # autobahn queues these writes (_connectionMade left none)
        super().sendData(data, sync, chopsize)

    def close_for_flooding(self) -> None:
        logger.warning("closing %s: it kept sending control frames past its frame bucket", self.client_addr)
        self.sendCloseFrame(code=flooding_close_code(), reasonUtf8=b"too many control frames")
        # Read nothing more from it. A peer that does not answer the close within autobahn's close
        # handshake timeout (1 s) is dropped; one that reads has seen 4008 by then.
        pause = getattr(self.transport, "pauseProducing", None)
        if pause is not None:
            pause()


# Found on the class, autobahn's _connectionMade copies none of them into the instance.
for _option in WebSocketProtocol.CONFIG_ATTRS:
    setattr(BudgetedWebSocketProtocol, _option, FactoryOption(_option))


class FrameWriter:
    """Room frames to sockets: encoded once per frame, sent without a loop turn when possible."""

    def __init__(self) -> None:
        self.last_text: str | None = None
        self.last_frame: bytes | None = b""

    def frame_for(self, text: str, limit_bytes: int = 0) -> bytes | None:
        """The frame of ``text``; None when its payload is over ``limit_bytes`` (0: no limit).
        One server has one limit (its factory's), so the answer is kept with the frame."""
        # The fan-out passes one str object to all of a room's members: an identity check finds
        # the frame built for the previous member.
        if text is not self.last_text:
            payload = text.encode("utf-8")
            self.last_text = text
            self.last_frame = None if limit_bytes and len(payload) > limit_bytes else text_frame(payload)
        return self.last_frame

    @staticmethod
    def can_write_now(protocol: WebSocketProtocol) -> bool:
        transport = protocol.transport
        return (
            protocol.state == protocol.STATE_OPEN
            and not protocol.send_queue  # autobahn's own queue (unused by daphne; checked anyway)
            and type(transport) is tcp.Server  # plain TCP: under TLS the socket must not be written raw
            and transport.connected == 1  # Twisted's flag is 1 or 0: compared, the answer is a bool
            and not transport.disconnecting
            # Nothing queued in Twisted, so these bytes go out after everything written before.
            and not transport._tempDataBuffer
            and len(transport.dataBuffer) == transport.offset
        )

    @staticmethod
    def write(protocol: WebSocketProtocol, frame: bytes) -> None:
        sent = 0
        if FrameWriter.can_write_now(protocol):
            try:
                sent = protocol.transport.getHandle().send(frame)
            except OSError:  # full (EAGAIN) or broken: Twisted queues it, or sees the error and closes
                sent = 0
        if sent < len(frame):
            protocol.transport.write(frame[sent:] if sent else frame)


class UnparsedFormRequest(WebRequest):
    """daphne's HTTP request without Twisted's parse of a POSTed form into ``request.args``:
    daphne hands the application the body as it came and never reads ``args``. Twisted parsed
    every POST's Content-Type with the email package (about a tenth of a token request's CPU) and
    would hold a second, parsed copy of a multipart upload in memory."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs, parsePOSTFormSubmission=False)


class UnparsedFormHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr):  # noqa: N802 - Twisted's name
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = UnparsedFormRequest
        return protocol


class BoundedServer(Server):
    """daphne's server, with a ``WriteBudget`` and a frame bucket on every WebSocket
    (``BudgetedWebSocketProtocol``) and fan-out writes by ``FrameWriter``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.frames = FrameWriter()
        self.ports: list = []  # listening ports, closed first on shutdown

    # daphne's run() builds its WebSocket factory itself: have it build our protocol.
    @property
    def ws_factory(self):
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory) -> None:
        factory.protocol = BudgetedWebSocketProtocol
        self._ws_factory = factory

    # ... and its HTTP factory: have it build requests that leave forms unparsed.
    @property
    def http_factory(self):
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory: HTTPFactory) -> None:
        self._http_factory = UnparsedFormHTTPFactory(factory.server)

    def listen_success(self, port) -> None:
        self.ports.append(port)
        super().listen_success(port)

    def kill_all_applications(self):
        """daphne's shutdown step (a "before shutdown" trigger): close sockets gracefully first,
        then let daphne cancel whatever is still running."""
        closing = defer.Deferred.fromFuture(asyncio.ensure_future(self.close_websockets_for_shutdown()))
        closing.addErrback(lambda failure: logger.error("graceful shutdown failed: %s", failure.getErrorMessage()))
        closing.addCallback(lambda _: self.cancel_what_still_runs())
        return closing

    def cancel_what_still_runs(self):
        """daphne's kill_all_applications, without its KeyError: daphne's application_checker drops
        `application_instance` from a connection whose consumer finished before its socket was
        marked closed (which a graceful shutdown makes common), and daphne's own loop then stopped
        at the first such entry: nothing after it was cancelled and nothing was logged."""
        still_running = [
            details["application_instance"]
            for details in self.connections.values()
            if details.get("application_instance") is not None and not details["application_instance"].done()
        ]
        for instance in still_running:
            instance.cancel()
        logger.info("Killed %i pending application instances", len(still_running))
        waiting = defer.Deferred.fromFuture(asyncio.gather(*still_running))
        waiting.addErrback(lambda _: None)
        return waiting

    async def close_websockets_for_shutdown(self) -> None:
        for port in self.ports:
            port.stopListening()  # new visitors go to the other processes or the successor
        from chat.shutdown import leave_all_rooms  # Django is set up by now

        try:
            # Before the closes: their consumers' disconnects, one by one, outlasted the grace.
            await leave_all_rooms()
        except Exception:  # noqa: BLE001 - the consumers' own leaves (and the sweep) remain
            logger.exception("shutdown: leaving the rooms together failed")
        sockets = [
            protocol
            for protocol in self.connections
            if isinstance(protocol, WebSocketProtocol) and protocol.state == protocol.STATE_OPEN
        ]
        for protocol in sockets:
            # autobahn's sendClose() accepts only 1000 and 3000-4999 from applications; 1012 is
            # the registered code for this case, and the frame-level call sends it as is.
            protocol.sendCloseFrame(code=SHUTDOWN_CLOSE_CODE, reasonUtf8=SHUTDOWN_CLOSE_REASON.encode())
        started = time.monotonic()
        deadline = started + shutdown_grace_secs()
        while any(self.still_running(protocol) for protocol in sockets) and time.monotonic() < deadline:
            await asyncio.sleep(SHUTDOWN_POLL_SECS)
        left = sum(self.still_running(protocol) for protocol in sockets)
        logger.info(
            "shutdown: closed %d sockets with %d in %.2f s; %d consumers still running are cancelled",
            len(sockets),
            SHUTDOWN_CLOSE_CODE,
            time.monotonic() - started,
            left,
        )

    def still_running(self, protocol: WebSocketProtocol) -> bool:
        """The socket is open, or its consumer has not finished handling the disconnect."""
        details = self.connections.get(protocol)
        if details is None:
            return False
        application = details.get("application_instance")
        return "disconnected" not in details or (application is not None and not application.done())

    def create_application(self, protocol, scope):
        if isinstance(protocol, BudgetedWebSocketProtocol):
            # Django is set up by now.
            from chat.limits import FRAME_BUCKET_SCOPE_KEY, frame_bucket
            from chat.outbox import BOUNDED_WRITES_SCOPE_KEY, WRITE_TEXT_NOW_SCOPE_KEY
            from chat.routing import DENIAL_RESPONSE_EXTENSION

            budget = WriteBudget(slow_socket_buffer_bytes())
            # The HTTP channel that received the upgrade request is still registered as the
            # transport's producer, though it has handed the connection over: take its place.
            protocol.transport.unregisterProducer()
            protocol.transport.registerProducer(budget, True)
            protocol.write_budget = budget
            protocol.frame_bucket = frame_bucket()
            handle = protocol.transport.getHandle()
            if isinstance(handle, socket.socket):
                handle.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_SEND_BUFFER_BYTES)
            # daphne builds a scope per connection: completed in place, not copied.
            scope["extensions"] = {**(scope.get("extensions") or {}), DENIAL_RESPONSE_EXTENSION: {}}
            scope[FRAME_BUCKET_SCOPE_KEY] = protocol.frame_bucket
            # This socket's writes are bounded here (WriteBudget) and never wait: the consumer
            # writes directly instead of through its own queue (chat.outbox).
            scope[BOUNDED_WRITES_SCOPE_KEY] = True
            scope[WRITE_TEXT_NOW_SCOPE_KEY] = partial(self.write_text_now, protocol)
        return self.start_application(protocol, scope)

    def start_application(self, protocol, scope) -> InputQueue | None:
        """daphne's create_application, with an ``InputQueue`` for the connection's input."""
        assert "application_instance" not in self.connections[protocol]
        input_queue = InputQueue()
        scope.setdefault("asgi", {"version": "3.0"})
        application_instance = self.application(
            scope=scope, receive=input_queue.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(application_instance)
        return input_queue

    async def handle_reply(self, protocol, message) -> None:
        if message["type"] == "websocket.http.response.start":
            return self.deny_handshake(protocol, message["status"])
        if message["type"] == "websocket.http.response.body":
            return None  # autobahn writes the status's own short body
        if message["type"] == "websocket.send":
            text = message.get("text")
            budgeted = isinstance(protocol, BudgetedWebSocketProtocol)
            if text is not None and budgeted and self.write_text_now(protocol, text):
                return None
            # Anything else goes through autobahn's sendData, which charges the budget.
        return await super().handle_reply(protocol, message)

    def write_text_now(self, protocol: BudgetedWebSocketProtocol, text: str) -> bool:
        """Write a text frame to an open socket under its budget (or drop the socket as a slow
        reader): True. False when daphne's path must send it (its checks, autobahn's limits)."""
        budget = protocol.write_budget  # None once daphne was told of the disconnect (below)
        if budget is None or protocol.state != protocol.STATE_OPEN:
            return False
        # A frame over autobahn's outbound limit (daphne's --websocket-max-message-size) takes
        # daphne's path, which enforces it.
        frame = self.frames.frame_for(text, self._ws_factory.maxMessagePayloadSize)
        if frame is None:
            return False
        if budget.admits(len(frame)):
            FrameWriter.write(protocol, frame)
        else:
            self.drop_slow_reader(protocol, budget)
        return True

    def protocol_disconnected(self, protocol) -> None:
        # write_text_now reads this instead of looking the protocol up in self.connections
        # (daphne's protocols hash in Python: a lookup per member of every room message).
        if isinstance(protocol, BudgetedWebSocketProtocol):
            protocol.write_budget = None
        super().protocol_disconnected(protocol)

    def deny_handshake(self, protocol, status: int) -> None:
        """The application answered the handshake with an HTTP status (ASGI's denial response)."""
        handshake = getattr(protocol, "handshake_deferred", None)
        if handshake is None:
            return  # already accepted or refused: nothing left to answer
        del protocol.handshake_deferred
        handshake.errback(ConnectionDeny(code=status, reason=HTTPStatus(status).phrase))
        self.protocol_disconnected(protocol)

    def drop_slow_reader(self, protocol: BudgetedWebSocketProtocol, budget: WriteBudget) -> None:
        process_metrics().slow_reader_drops.inc()
        protocol.write_budget = None  # later frames to it pass to daphne, which ignores a closed socket
        logger.warning(
            "dropping %s: its reader fell %d bytes behind (SLOW_SOCKET_BUFFER_BYTES); it will resume on reconnect",
            protocol.client_addr,
            budget.queued_while_paused_bytes,
        )
        # A close frame would wait behind everything already queued: abort the TCP connection.
        protocol.dropConnection(abort=True)


def process_metrics():
    from chat import metrics  # Django is set up by the time sockets arrive

    return metrics


def slow_socket_buffer_bytes() -> int:
    from chat.conf import conf  # Django is set up by the time sockets arrive

    return conf.SLOW_SOCKET_BUFFER_BYTES


def shutdown_grace_secs() -> float:
    from chat.conf import conf

    return conf.SHUTDOWN_GRACE_SECS


def flood_strikes() -> int:
    from chat.conf import conf

    return conf.FLOOD_STRIKES


def flooding_close_code() -> int:
    from chat.protocol import CloseCode

    return CloseCode.FLOODING


def with_default_options(arguments: list[str]) -> list[str]:
    """``arguments`` with each of DEFAULT_OPTIONS it does not set put in front."""
    given = {argument.split("=", 1)[0] for argument in arguments if argument.startswith("--")}
    defaults = [part for option, value in DEFAULT_OPTIONS.items() if option not in given for part in (option, value)]
    return defaults + arguments


class BackchannelCommandLine(CommandLineInterface):
    description = "Backchannel's daphne: daphne with bounded per-socket write buffers"
    server_class = BoundedServer


def raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def collect_garbage_less_often() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def main() -> None:
    raise_open_files_limit()
    collect_garbage_less_often()
    BackchannelCommandLine().run(with_default_options(sys.argv[1:]))


if __name__ == "__main__":
    main()
