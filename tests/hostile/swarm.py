"""Socket-hoarding attackers, run in a process of their own.

Hundreds of client sockets keep an asyncio loop (and the GIL) busy; in the test's own process
they would delay the control client's reading too, and its latency would measure the test
rather than the server. So the tests run these scenarios as

    python -m tests.hostile.swarm '<json arguments>'

and read one JSON object (the measurements) from the last line of its output.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time

from tests.hostile.wire import Peer, Server


async def hoard(server: Server, *, ip: str, attempts: int, limit: int, token: str) -> dict:
    """``attempts`` sockets from ``ip`` at once; then close the accepted ones and fill the slots again."""

    async def open_one(n: int) -> tuple[Peer, float, str]:
        started = time.monotonic()
        peer = await Peer.open(server, ip, f"hoard{n}", open_timeout=30)
        _, first = await peer.next_event(timeout=10)
        return peer, started, first.get("code") or first["type"]

    results = await asyncio.gather(*(open_one(n) for n in range(attempts)), return_exceptions=True)
    failures = [repr(result) for result in results if isinstance(result, BaseException)]
    opened = [result for result in results if not isinstance(result, BaseException)]
    accepted = [peer for peer, _, first in opened if first == "ready"]
    refused = [(peer, started) for peer, started, first in opened if first == "too_many_sockets"]
    others = sorted({first for _, _, first in opened} - {"ready", "too_many_sockets"})
    for peer in accepted:  # keep them past AUTH_TIMEOUT_SECS
        await peer.send({"type": "auth", "token": token})
    for peer, _ in refused:
        await peer.wait_closed(timeout=5)
    refusal_secs = [peer.closed_at - started for peer, started in refused]
    codes = sorted({peer.close_code for peer, _ in refused})
    still_open = sum(not peer.closed for peer in accepted)

    # Closing the accepted ones frees the slots: a new socket gets `ready` again.
    for peer in accepted:
        await peer.close()
    freed_started = time.monotonic()
    while True:
        first_new = await Peer.open(server, ip, "after")
        _, first = await first_new.next_event(timeout=5)
        if first["type"] == "ready" or time.monotonic() - freed_started > 2:
            break
        await first_new.wait_closed(timeout=2)
    freed_after = time.monotonic() - freed_started
    refill = [first_new] + [await Peer.open(server, ip, f"refill{n}") for n in range(limit - 1)]
    firsts = [first["type"]] + [(await peer.next_event(timeout=5))[1]["type"] for peer in refill[1:]]
    extra = await Peer.open(server, ip, "extra")
    _, extra_first = await extra.next_event(timeout=5)
    await extra.wait_closed(timeout=2)
    for peer in refill:
        await peer.close()
    return {
        "failures": failures,
        "others": others,
        "accepted": len(accepted),
        "refused": len(refused),
        "codes": codes,
        "refusal_p50": statistics.median(refusal_secs) if refusal_secs else None,
        "refusal_max": max(refusal_secs, default=None),
        "still_open": still_open,
        "freed_after": freed_after,
        "firsts": firsts,
        "extra": [extra_first.get("code"), extra.close_code],
    }


async def storm(server: Server, *, ips: list[str], per_ip: int) -> dict:
    """``per_ip`` sockets from each of ``ips``, all at once; each closes as soon as it is ready."""
    started = time.monotonic()

    async def one(ip: str, n: int) -> tuple[str, float]:
        peer = await Peer.open(server, ip, f"storm-{ip}-{n}", open_timeout=60)
        at, first = await peer.next_event(timeout=60)
        await peer.close()
        return first.get("code") or first["type"], at - started

    results = await asyncio.gather(*(one(ip, n) for ip in ips for n in range(per_ip)), return_exceptions=True)
    failures = [result for result in results if isinstance(result, BaseException)]
    kinds: dict[str, int] = {}
    for failure in failures:
        kinds[type(failure).__name__] = kinds.get(type(failure).__name__, 0) + 1
    done = [result for result in results if not isinstance(result, BaseException)]
    return {
        "failures": [repr(failure) for failure in failures[:5]],
        "failed": len(failures),
        "failure_kinds": kinds,
        "firsts": sorted({first for first, _ in done}),
        "ready": sum(first == "ready" for first, _ in done),
        "last_ready_secs": max((at for _, at in done), default=None),
        "elapsed": time.monotonic() - started,
    }


async def churn(server: Server, *, ip: str, workers: int, secs: float) -> dict:
    """``workers`` loops on one address, each opening a socket, waiting for its first event and
    closing it, for ``secs`` seconds: never more than ``workers`` sockets open at once."""
    started = time.monotonic()
    ends = started + secs
    firsts: dict[str, int] = {}

    async def worker(n: int) -> None:
        while time.monotonic() < ends:
            peer = await Peer.open(server, ip, f"churn-{n}", open_timeout=30)
            _, first = await peer.next_event(timeout=30)
            kind = first.get("code") or first["type"]
            firsts[kind] = firsts.get(kind, 0) + 1
            await peer.close()

    await asyncio.gather(*(worker(n) for n in range(workers)))
    elapsed = time.monotonic() - started
    return {"firsts": firsts, "sockets": sum(firsts.values()), "elapsed": elapsed}


def main() -> None:
    arguments = json.loads(sys.argv[1])
    server = Server(port=arguments.pop("port"), origin=arguments.pop("origin"), pid=0, log_path=None)
    scenario = {"hoard": hoard, "storm": storm, "churn": churn}[arguments.pop("scenario")]
    print(json.dumps(asyncio.run(scenario(server, **arguments))), flush=True)


if __name__ == "__main__":
    main()
