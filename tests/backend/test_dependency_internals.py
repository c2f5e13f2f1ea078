"""The internals of Twisted, autobahn, asgiref and daphne that our code leans on, held to the shape
it expects on the installed versions.

backend/requirements.in names daphne and channels; Twisted, autobahn and asgiref come with them, pinned
and hashed in the lock compiled from it (backend/requirements.txt, `make lock`), so they move only
when the lock is compiled again. Two files reach past their public APIs:

- backend/backchannel/serve.py: ``FrameWriter.can_write_now`` reads Twisted's private write queue
  of a ``tcp.Server`` transport (``_tempDataBuffer``, ``dataBuffer``, ``offset``, ``connected``,
  ``disconnecting``, ``getHandle()``) to send a frame straight to the socket when nothing is queued;
  ``BudgetedWebSocketProtocol`` overrides autobahn's ``processControlFrame`` and ``sendData`` and
  reads ``current_frame.opcode``, ``control_frame_data``, ``send_queue``, ``state``/``STATE_OPEN``,
  ``maxMessagePayloadSize``; it reads autobahn's options through the class (``_connectionMade`` copies
  only those a protocol lacks), leaves ``send_queue`` empty until ``sendData`` queues, and releases the
  handshake's attributes once open (daphne reads only ``request.path`` after); it sends
  ``sendCloseFrame(code=, reasonUtf8=)`` and ``dropConnection(abort=)``; the module replaces
  autobahn's ``pformat``, ``hltype`` and ``hlval``; ``BoundedServer`` overrides daphne's ``Server``
  (``ws_factory``, ``http_factory``, ``listen_success``, ``kill_all_applications``,
  ``create_application``, ``handle_reply``, ``connections``, ``protocol_disconnected``) and
  answers a handshake through daphne's ``handshake_deferred`` with autobahn's ``ConnectionDeny``;
  ``BoundedServer.start_application`` is daphne's ``create_application`` with a lighter input
  queue (daphne's protocols only ``put_nowait`` into it); ``UnparsedFormRequest`` passes Twisted's
  ``parsePOSTFormSubmission=False`` through daphne's ``WebRequest``.
- backend/chat/db.py: ``DatabaseCall`` overrides asgiref's ``SyncToAsync.thread_handler(loop, ...)``
  to run a check on the database thread before every call.

When a check here fails, an upgrade changed one of these (`make lock UPGRADE=1` or a new pin): the
message names the package, the version these checks were written against, the installed one and the
file to revisit.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
from importlib.metadata import version

# The versions the code above was written and checked against (the ones installed when it was).
CHECKED_AGAINST = {"Twisted": "26.10.0", "autobahn": "26.11.1", "asgiref": "3.13.0", "daphne": "4.2.3"}

SERVE = "backend/backchannel/serve.py"
DB = "backend/chat/db.py"


def changed(distribution: str, what: str, where: str) -> str:
    path = SERVE if where == "serve" else DB
    return (
        f"{distribution} {version(distribution)} is installed, and it changed what {path} relies on: {what}, "
        f"as in {distribution} {CHECKED_AGAINST[distribution]} (the version {path} was checked against). "
        f"Revisit {path} for this {distribution}, or pin {distribution}=={CHECKED_AGAINST[distribution]} "
        f"in backend/requirements.in and run `make lock`."
    )


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


# Twisted ------------------------------------------------------------------------------------------


class _Reactor:
    """Just what FileDescriptor's write path asks of a reactor (no global reactor is installed)."""

    def addWriter(self, _):  # noqa: N802 - Twisted's interface
        pass

    def removeWriter(self, _):  # noqa: N802
        pass


def test_twisted_tcp_server_keeps_its_write_queue_where_frame_writer_reads_it():
    from twisted.internet import abstract, tcp

    assert issubclass(tcp.Server, abstract.FileDescriptor), changed(
        "Twisted", "tcp.Server being an abstract.FileDescriptor (its write queue)", "serve"
    )
    assert callable(getattr(tcp.Server, "getHandle", None)), changed("Twisted", "tcp.Server.getHandle()", "serve")
    for name in ("connected", "disconnecting", "dataBuffer", "offset"):
        assert hasattr(abstract.FileDescriptor, name), changed("Twisted", f"FileDescriptor.{name}", "serve")

    descriptor = abstract.FileDescriptor(reactor=_Reactor())
    descriptor.connected = 1
    assert descriptor._tempDataBuffer == [], changed("Twisted", "FileDescriptor._tempDataBuffer (a list)", "serve")

    def queued_nothing() -> bool:  # FrameWriter.can_write_now's test of Twisted's queue, verbatim
        return not descriptor._tempDataBuffer and len(descriptor.dataBuffer) == descriptor.offset

    assert queued_nothing(), changed("Twisted", "an idle transport's empty write queue", "serve")
    descriptor.write(b"frame")
    assert not queued_nothing(), changed(
        "Twisted", "transport.write() queuing bytes in _tempDataBuffer/dataBuffer (not sending at once)", "serve"
    )
    written: list[bytes] = []
    descriptor.writeSomeData = lambda data: written.append(bytes(data)) or len(data)
    descriptor.doWrite()
    assert b"".join(written) == b"frame" and queued_nothing(), changed(
        "Twisted", "doWrite() draining the queue so that not _tempDataBuffer and len(dataBuffer) == offset", "serve"
    )


def test_twisted_apis_serve_uses():
    from twisted.internet import defer
    from twisted.internet.interfaces import IPushProducer

    from_future = changed("Twisted", "Deferred.fromFuture(future)", "serve")
    assert parameters(defer.Deferred.fromFuture) == ["future"], from_future
    assert {"pauseProducing", "resumeProducing", "stopProducing"} <= set(IPushProducer.names(all=True)), changed(
        "Twisted", "IPushProducer's pause/resume/stopProducing (WriteBudget implements them)", "serve"
    )


# autobahn -----------------------------------------------------------------------------------------


def test_autobahn_protocol_methods_serve_overrides_and_calls():
    from autobahn.websocket.protocol import WebSocketProtocol

    expected = {
        "processControlFrame": ["self"],
        "sendData": ["self", "data", "sync", "chopsize"],
        "sendCloseFrame": ["self", "code", "reasonUtf8", "isReply"],
        "dropConnection": ["self", "abort"],
    }
    for name, names in expected.items():
        method = getattr(WebSocketProtocol, name, None)
        assert method is not None and parameters(method)[: len(names)] == names, changed(
            "autobahn", f"WebSocketProtocol.{name}({', '.join(names[1:])})", "serve"
        )
    assert isinstance(getattr(WebSocketProtocol, "STATE_OPEN", None), int), changed(
        "autobahn", "WebSocketProtocol.STATE_OPEN", "serve"
    )


def test_autobahn_protocol_attributes_serve_reads():
    import autobahn.websocket.protocol as autobahn_protocol

    source = inspect.getsource(autobahn_protocol)
    for attribute in ("send_queue", "control_frame_data", "current_frame", "state", "maxMessagePayloadSize"):
        assert f"self.{attribute} = " in source, changed("autobahn", f"the protocol attribute {attribute}", "serve")
    assert "self.current_frame.opcode" in source, changed("autobahn", "current_frame.opcode", "serve")
    # serve.py replaces the module's pformat (a debug line's argument on every connection).
    assert hasattr(autobahn_protocol, "pformat") and "pformat(" in source, changed(
        "autobahn", "autobahn.websocket.protocol calling the module-level pformat()", "serve"
    )
    # ... and the module-level hltype and hlval of both protocol modules (debug lines' arguments).
    import autobahn.twisted.websocket as autobahn_twisted

    for module in (autobahn_protocol, autobahn_twisted):
        module_source = inspect.getsource(module)
        assert "hltype(" in module_source and "from autobahn.util import" in module_source, changed(
            "autobahn", f"{module.__name__} calling the module-level hltype() and hlval()", "serve"
        )


def test_autobahn_copies_only_the_options_a_protocol_lacks_and_queues_writes_only_in_send_data():
    from autobahn.websocket.protocol import WebSocketProtocol, WebSocketServerProtocol

    # serve.py's FactoryOption: options found on the protocol's class are not copied per socket.
    connection_made = inspect.getsource(WebSocketProtocol._connectionMade)
    assert "for configAttr in self.CONFIG_ATTRS" in connection_made and "if not hasattr(self, configAttr)" in (
        connection_made
    ), changed("autobahn", "_connectionMade copying each CONFIG_ATTRS option the protocol lacks", "serve")
    assert "maxMessagePayloadSize" in WebSocketServerProtocol.CONFIG_ATTRS, changed(
        "autobahn", "WebSocketServerProtocol.CONFIG_ATTRS", "serve"
    )
    # serve.py leaves an empty tuple as the send queue until sendData is asked to queue.
    source = inspect.getsource(WebSocketProtocol)
    assert (
        source.count("send_queue.append(")
        == inspect.getsource(WebSocketProtocol.sendData).count("send_queue.append(")
        == 2
    ), changed("autobahn", "send_queue appended to only in sendData (chopsize, sync)", "serve")
    # serve.py's HANDSHAKE_ONLY_ATTRIBUTES, released once the socket is open.
    server_source = inspect.getsource(WebSocketServerProtocol)
    for attribute in ("http_request_data", "http_headers", "http_request_params", "websocket_origin"):
        assert f"self.{attribute}" in server_source, changed(
            "autobahn", f"the handshake attribute {attribute}", "serve"
        )


def test_autobahn_connection_deny():
    from autobahn.websocket.types import ConnectionDeny

    assert parameters(ConnectionDeny.__init__)[:3] == ["self", "code", "reason"], changed(
        "autobahn", "ConnectionDeny(code=, reason=)", "serve"
    )


# daphne (pinned itself, but BoundedServer subclasses its internals) ----------------------------------


def test_daphne_server_methods_bounded_server_overrides():
    from daphne import ws_protocol
    from daphne.cli import CommandLineInterface
    from daphne.server import Server

    expected = {
        "listen_success": ["self", "port"],
        "kill_all_applications": ["self"],
        "create_application": ["self", "protocol", "scope"],
        "handle_reply": ["self", "protocol", "message"],
        "protocol_disconnected": ["self", "protocol"],
    }
    for name, names in expected.items():
        method = getattr(Server, name, None)
        assert method is not None and parameters(method) == names, changed(
            "daphne", f"Server.{name}({', '.join(names[1:])})", "serve"
        )
    assert inspect.iscoroutinefunction(Server.handle_reply), changed("daphne", "async Server.handle_reply", "serve")
    server_source = inspect.getsource(Server)
    for assignment in ("self.ws_factory = ", "self.http_factory = HTTPFactory(self)", "self.connections = "):
        assert assignment in server_source, changed("daphne", f"Server.run()'s {assignment.strip()} ...", "serve")
    assert "handshake_deferred" in inspect.getsource(ws_protocol), changed(
        "daphne", "WebSocketProtocol.handshake_deferred", "serve"
    )
    # BoundedServer.start_application is create_application with an InputQueue: daphne's
    # protocols put into it and never read it (put_nowait only).
    create = inspect.getsource(Server.create_application)
    assert "asyncio.Queue()" in create and "receive=input_queue.get" in create, changed(
        "daphne", "Server.create_application (copied by BoundedServer.start_application)", "serve"
    )
    uses = set(re.findall(r"application_queue\.(\w+)", inspect.getsource(ws_protocol)))
    assert uses == {"put_nowait"}, changed("daphne", "the protocols' use of the input queue (put_nowait)", "serve")
    # BudgetedWebSocketProtocol.onOpen keeps only request.path of the handshake's request.
    assert set(re.findall(r"self\.request\.(\w+)", inspect.getsource(ws_protocol))) == {"path"}, changed(
        "daphne", "WebSocketProtocol reading only request.path after the handshake", "serve"
    )
    assert "server_class" in inspect.getsource(CommandLineInterface), changed(
        "daphne", "CommandLineInterface.server_class", "serve"
    )


def test_daphne_requests_leave_forms_unparsed_as_serve_asks():
    from daphne.http_protocol import HTTPFactory, WebRequest
    from twisted.web.http import Request

    # UnparsedFormHTTPFactory replaces the request factory daphne's buildProtocol sets, and
    # UnparsedFormRequest passes Twisted's parsePOSTFormSubmission through WebRequest.
    assert "protocol.requestFactory = WebRequest" in inspect.getsource(HTTPFactory.buildProtocol), changed(
        "daphne", "HTTPFactory.buildProtocol setting requestFactory = WebRequest", "serve"
    )
    assert parameters(WebRequest.__init__) == ["self", "args", "kwargs"], changed(
        "daphne", "WebRequest.__init__(*args, **kwargs) passed to Twisted's Request", "serve"
    )
    assert "parsePOSTFormSubmission" in parameters(Request.__init__), changed(
        "Twisted", "Request(parsePOSTFormSubmission=...)", "serve"
    )


# asgiref ------------------------------------------------------------------------------------------


def test_asgiref_thread_handler_signature():
    from asgiref.sync import SyncToAsync

    handler = getattr(SyncToAsync, "thread_handler", None)
    assert handler is not None and parameters(handler)[:2] == ["self", "loop"], changed(
        "asgiref", "SyncToAsync.thread_handler(self, loop, *args, **kwargs)", "db"
    )
    assert "self.thread_handler" in inspect.getsource(SyncToAsync.__call__), changed(
        "asgiref", "SyncToAsync.__call__ running each call through self.thread_handler", "db"
    )


def test_asgiref_runs_the_overridden_thread_handler_on_the_calls_thread(monkeypatch):
    from chat import db

    checks: list[int] = []
    monkeypatch.setattr(db, "close_broken_connections", lambda: checks.append(threading.get_ident()))

    def call() -> int:
        return threading.get_ident()

    ran_on = asyncio.run(db.db_call(call)())
    assert checks == [ran_on], changed(
        "asgiref", "thread_handler running once per call, on the thread that then runs the function", "db"
    )
