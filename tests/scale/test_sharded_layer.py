"""The channel layer sharded over two redis-servers (REDIS_URL with two URLs): rooms whose groups
live on either shard still reach members on both daphne processes, in both directions."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from scripts.processes import backend_env, free_port, migrate, start_daphne, start_redis, stop_process
from tests.identity_client import TEST_IDENTITY_ENV, UNLIMITED_MESSAGES_ENV, enter_rooms, next_event

pytestmark = pytest.mark.scale

SITE_ORIGIN = "http://127.0.0.1:1313"
# Groups are placed by CRC32 of their name: these six land on both shards (checked below).
ROOMS = ["lobby", "garden", "kitchen", "cellar", "porch", "studio"]


@pytest.fixture(scope="module")
def sharded_backends(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("sharded")
    started = []
    try:
        redis_ports = [free_port(), free_port()]
        for number, port in enumerate(redis_ports):
            started.append(("redis-server", start_redis(port=port, data_dir=work_dir / f"redis-{number}")))
        env = backend_env(
            {
                "SECRET_KEY": "sharded-" + "k" * 50,
                "SECURE_SSL_REDIRECT": "0",
                "ALLOWED_ORIGINS": SITE_ORIGIN,
                "REDIS_URL": ",".join(f"redis://127.0.0.1:{port}/0" for port in redis_ports),
                "DATABASE_URL": f"sqlite:///{work_dir / 'db.sqlite3'}",
                **TEST_IDENTITY_ENV,
                **UNLIMITED_MESSAGES_ENV,
            }
        )
        migrate(env)
        daphne_ports = [free_port(), free_port()]
        for port in daphne_ports:
            started.append(("daphne", start_daphne(port=port, env=env, log_path=work_dir / f"daphne-{port}.log")))
        yield {"daphne_ports": daphne_ports, "redis_ports": redis_ports}
    finally:
        for what, process in reversed(started):
            stop_process(process, what=what)


def redis_keys(port: int) -> list[str]:
    """KEYS * on a redis-server, spoken in RESP by hand (no client library needed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(b"*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n")
        reply = b""
        while not reply.endswith(b"\r\n") or reply.count(b"\r\n") < 2 * int(reply[1 : reply.index(b"\r\n")] or 0) + 1:
            reply += connection.recv(65536)
    return [line.decode() for line in reply.split(b"\r\n") if line and line[:1] not in (b"*", b"$")]


async def exchange(ports: list[int], redis_ports: list[int]) -> dict:
    on_first = await enter_rooms(ports[0], "Ada", ROOMS, origin=SITE_ORIGIN)
    on_second = await enter_rooms(ports[1], "Ben", ROOMS, origin=SITE_ORIGIN)
    keys = [redis_keys(port) for port in redis_ports]
    heard: dict[str, list[str]] = {"Ada": [], "Ben": []}
    for room in ROOMS:
        for sender, receiver, listener in ((on_first, on_second, "Ben"), (on_second, on_first, "Ada")):
            text = f"{room} from the other process"
            await sender.send(
                json.dumps({"type": "send", "room": room, "text": text, "client_id": f"{listener}-{room}"})
            )
            event = await next_event(receiver, "message", lambda event, text=text: event["text"] == text)
            heard[listener].append(event["room"])
    for ws in (on_first, on_second):
        await ws.close()
    return {"heard": heard, "keys": keys}


def test_rooms_on_either_shard_reach_both_processes(sharded_backends):
    result = asyncio.run(exchange(sharded_backends["daphne_ports"], sharded_backends["redis_ports"]))
    assert result["heard"] == {"Ada": ROOMS, "Ben": ROOMS}
    group_keys = [[key for key in keys if ":group:room." in key] for keys in result["keys"]]
    assert all(group_keys), f"both shards hold some rooms' groups: {group_keys}"
