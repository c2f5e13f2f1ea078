"""An in-test TCP proxy on loopback that can cut a client's connection *silently*.

``cut()`` models a network path that stops delivering packets without anybody closing anything
(a dead Wi-Fi, a NAT that forgot the flow): from then on no byte crosses the proxy in either
direction, and no close or reset is passed on either. Bytes already read are held, not dropped
(TCP would retransmit them); new connections are accepted (the SYN is answered locally) but get
no further. Neither the client nor daphne is told anything: each must notice on its own.

``restore()`` lets everything through again: held bytes are delivered, and a side that gave up
during the cut (closed or reset its socket) now has that close passed on, as the peer's next
retransmission would meet a reset in real life.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.chaos.client import log

CHUNK_BYTES = 64 * 1024


class BlackHoleProxy:
    def __init__(self, *, listen_port: int, target_port: int, label: str = "proxy") -> None:
        self.listen_port = listen_port
        self.target_port = target_port
        self.label = label
        self._open = asyncio.Event()
        self._open.set()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections_accepted = 0

    @property
    def is_cut(self) -> bool:
        return not self._open.is_set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.listen_port)
        log(f"{self.label}: 127.0.0.1:{self.listen_port} -> 127.0.0.1:{self.target_port}")

    def cut(self) -> None:
        log(f"{self.label}: CUT (black hole: nothing passes, nothing is closed)")
        self._open.clear()

    def restore(self) -> None:
        log(f"{self.label}: restored")
        self._open.set()

    async def close(self) -> None:
        self._open.set()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._links):
            task.cancel()
        for task in list(self._links):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections_accepted += 1
        task = asyncio.current_task()
        self._links.add(task)
        self._writers.add(client_writer)
        upstream_writer = None
        try:
            await self._open.wait()  # during a cut the connection gets no further than the SYN-ACK
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            self._writers.add(upstream_writer)
            pumps = [
                asyncio.create_task(self._pump(client_reader, upstream_writer)),
                asyncio.create_task(self._pump(upstream_reader, client_writer)),
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    self._writers.discard(writer)
                    writer.transport.abort()
            self._links.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                chunk = await reader.read(CHUNK_BYTES)
            except OSError:
                chunk = b""
            # Held here while cut: neither the bytes nor the EOF/reset go through.
            await self._open.wait()
            if not chunk:
                # One side is gone: pass that on as a reset of the other side.
                writer.transport.abort()
                raise ConnectionResetError("peer closed")
            writer.write(chunk)
            await writer.drain()
