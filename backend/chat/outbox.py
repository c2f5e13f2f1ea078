"""Each socket's outbound frames, bounded, on any ASGI server.

Under uvicorn (and gunicorn's uvicorn workers) an ASGI ``send`` waits while the connection's
write buffer is full: for a peer that stops reading it waits for ever. The fan-out hands a room's
frame to each local member in turn (chat.fanout), so one stalled reader stalled live delivery to
everyone on the process (measured: a healthy reader stopped at 1,373 of 4,000 messages and got
nothing for 75 s). Here each socket gets a queue and a task that writes it: handing a frame over
never waits, and a socket whose queue grows past ``SLOW_SOCKET_BUFFER_BYTES`` is dropped (its
frames discarded, its consumer told it disconnected); its client reconnects and resumes from its
last seq, as with daphne.

Our daphne launcher (backchannel.serve) bounds each socket in Twisted instead, where a send never
waits, and writes room frames without a loop turn; it says so in the scope
(``BOUNDED_WRITES_SCOPE_KEY``) and its sockets write directly, without this queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

# Set (true) in the scope by a server that bounds each socket's writes itself and whose send never
# waits for the peer: backchannel.serve.
BOUNDED_WRITES_SCOPE_KEY = "backchannel.bounded_writes"
# Set in the scope by backchannel.serve: ``write_text_now(text) -> bool`` writes a text frame
# synchronously (no coroutine, no loop turn) and says True, or says False when the socket needs
# the usual ``send`` (closing, TLS, a frame over the outbound limit): the fan-out's path, run once
# per member of a room for every message.
WRITE_TEXT_NOW_SCOPE_KEY = "backchannel.write_text_now"

Send = Callable[[dict], Awaitable[None]]


class SocketOutbox:
    """ASGI messages for one socket, written in order by one task. ``put`` never waits."""

    def __init__(self, send: Send, *, limit_bytes: int) -> None:
        self.send = send
        self.limit_bytes = limit_bytes
        self.messages: deque[tuple[dict, int]] = deque()
        self.queued_bytes = 0  # text frames handed over and not yet taken by the server
        self.overflowed = False
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task | None = None

    def put_text(self, frame: str) -> bool:
        """Queue a text frame; False (and nothing queued, ever again) once the reader is
        ``limit_bytes`` behind."""
        return self._put({"type": "websocket.send", "text": frame}, len(frame.encode()))

    def put_close(self, code: int) -> None:
        """Close after the frames queued before it (a refusal's error event, then its close)."""
        self._put({"type": "websocket.close", "code": code}, 0)

    def _put(self, message: dict, size_bytes: int) -> bool:
        if self.overflowed:
            return False
        if self.queued_bytes + size_bytes > self.limit_bytes:
            self.overflowed = True
            self.messages.clear()
            self.queued_bytes = 0
            self.stop()  # the task may be stuck in a send that will never return
            return False
        self.messages.append((message, size_bytes))
        self.queued_bytes += size_bytes
        if self.task is None:
            self.task = asyncio.create_task(self._write_forever())
        self.wakeup.set()
        return True

    async def _write_forever(self) -> None:
        while True:
            while self.messages:
                message, size_bytes = self.messages[0]
                try:
                    await self.send(message)
                except Exception:  # noqa: BLE001 - the client went; the disconnect that follows cleans up
                    logger.debug("a frame could not be sent; the socket is closing")
                    self.messages.clear()
                    self.queued_bytes = 0
                    return
                self.messages.popleft()
                self.queued_bytes -= size_bytes
                if message["type"] == "websocket.close":
                    self.messages.clear()
                    self.queued_bytes = 0
                    return
            self.wakeup.clear()
            await self.wakeup.wait()

    def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
