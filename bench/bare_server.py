"""The floor: a minimal `websockets` broadcast server, one process, no framework.

Every text frame a client sends goes, as it is, to every connected client (the sender too).
No rooms, no JSON parsing, no storage: what is left is the cost of WebSocket framing and
socket writes in Python, which no chat server on the same stack can go below.

python -m bench.bare_server --port PORT
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

CONNECTIONS: set[ServerConnection] = set()


async def handler(connection: ServerConnection) -> None:
    CONNECTIONS.add(connection)
    try:
        async for message in connection:
            # broadcast() writes without waiting for slow readers (no backpressure), as a
            # fan-out loop must: one slow member cannot hold up the others.
            broadcast(CONNECTIONS, message)
    except ConnectionClosed:
        pass  # a client that went away without a close frame: nothing to report
    finally:
        CONNECTIONS.discard(connection)


async def serve_until_signalled(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    # Same limits as daphne's launch in this repo; no compression, no keepalive pings, like the
    # clients (which disable both for every server under test).
    async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None, max_size=64 * 1024):
        print(f"bare broadcast server listening on 127.0.0.1:{port}", flush=True)
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve_until_signalled(parser.parse_args().port))


if __name__ == "__main__":
    main()
