"""The shared per-address limits (chat.shared_limits) on a real redis-server: several stores stand
for several processes. One challenge is one token everywhere, an address's buckets and sockets are
counted once across processes, a crashed process's sockets stop counting after its lease, and a
Redis that is gone fails token requests closed and socket checks open to the local count."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest
import redis

from chat.shared_limits import (
    KEY_PREFIX,
    LimitsUnavailable,
    SharedIdentityLimits,
    SharedSocketTally,
    challenge_key,
)
from scripts.processes import free_port

pytestmark = pytest.mark.redis

SECRET = "shared-limits-test-" + "s" * 40
LIMIT = 20
ADDRESS = "203.0.113.7"


@pytest.fixture
def store(redis_url):
    """A clean Redis for each test."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    yield client
    client.close()


def identity_limits(url: str) -> SharedIdentityLimits:
    return SharedIdentityLimits(url, secret=SECRET)


def redeem(limits: SharedIdentityLimits, challenge: str, *, ip: str = ADDRESS, new: bool = True, burst: int = 30):
    return limits.redeem(
        challenge, ip=ip, bucket="new-names" if new else None, burst=burst, per_sec=0.1, challenge_ttl_secs=300
    )


def test_a_challenge_buys_one_token_across_processes(redis_url, store):
    first, second = identity_limits(redis_url), identity_limits(redis_url)
    assert redeem(first, "challenge-a").granted
    again = redeem(second, "challenge-a")
    assert again.spent and not again.granted
    assert redeem(first, "challenge-a").spent
    assert redeem(second, "challenge-b").granted, "another challenge is not affected"
    # A renewal (no bucket) cannot reuse a spent challenge either.
    assert redeem(second, "challenge-a", new=False).spent


def test_an_address_gets_its_burst_of_new_names_once_across_processes(redis_url, store):
    processes = [identity_limits(redis_url) for _ in range(3)]
    answers = [redeem(processes[n % 3], f"c{n}", burst=5) for n in range(8)]
    assert [answer.granted for answer in answers] == [True] * 5 + [False] * 3
    wait = answers[5].wait_secs
    assert 9 < wait <= 10.01, "at 6 a minute the next name comes 10 s later"
    # Refused for the wait: the challenge is kept for the retry, not burnt.
    assert not store.exists(challenge_key("c5"))
    assert redeem(processes[0], "c5", new=False).granted, "a renewal does not count against the bucket"
    assert redeem(processes[1], "c9", ip="198.51.100.1", burst=5).granted, "another address has its own"


def test_staff_sign_ins_share_one_bucket(redis_url, store):
    first, second = identity_limits(redis_url), identity_limits(redis_url)
    waits = [(first if n % 2 else second).take("staff-sign-ins", ip=ADDRESS, burst=4, per_sec=1.0) for n in range(6)]
    assert waits[:4] == [0.0] * 4
    # A refused attempt takes nothing: both wait for the same next token, a second away.
    assert all(0.9 < wait <= 1.0 for wait in waits[4:]), waits


def test_keys_are_namespaced_expire_and_hold_no_address(redis_url, store):
    limits = identity_limits(redis_url)
    redeem(limits, "challenge-k")
    limits.take("staff-sign-ins", ip=ADDRESS, burst=4, per_sec=1.0)

    async def open_one():
        tally = SharedSocketTally(redis_url, secret=SECRET, lease_secs=30)
        assert await tally.acquire(ADDRESS, limit=LIMIT)
        tally.stop()

    asyncio.run(open_one())
    keys = [key.decode() for key in store.keys("*")]
    assert len(keys) == 5, keys  # the challenge, two buckets, the live processes, one tally
    for key in keys:
        assert key.startswith(f"{KEY_PREFIX}:"), key
        assert 0 < store.pttl(key) <= 301_000, f"{key} must expire"
        assert ADDRESS not in key
        if store.type(key) == b"hash":
            assert all(ADDRESS.encode() not in field for field in store.hkeys(key))


async def open_sockets(tallies: list[SharedSocketTally], count: int, ip: str = ADDRESS) -> list[bool]:
    return [await tallies[n % len(tallies)].acquire(ip, limit=LIMIT) for n in range(count)]


def test_sockets_per_address_hold_across_processes(redis_url, store):
    async def scenario():
        first, second = (SharedSocketTally(redis_url, secret=SECRET, lease_secs=30) for _ in range(2))
        granted = await open_sockets([first, second], 25)
        assert granted.count(True) == LIMIT and granted[LIMIT:] == [False] * 5
        assert first.counts[ADDRESS] + second.counts[ADDRESS] == LIMIT
        assert await first.acquire("198.51.100.2", limit=LIMIT), "another address is not affected"
        # Two close on the first process: two may open on the second.
        await first.release(ADDRESS)
        await first.release(ADDRESS)
        assert await open_sockets([second], 3) == [True, True, False]
        # Concurrent handshakes on both processes still stop at the limit.
        for tally in (first, second):
            for _ in range(tally.counts[ADDRESS]):
                await tally.release(ADDRESS)
        results = await asyncio.gather(*(tally.acquire(ADDRESS, limit=LIMIT) for tally in [first, second] * 15))
        assert results.count(True) == LIMIT
        first.stop()
        second.stop()

    asyncio.run(scenario())


def test_a_crashed_process_stops_counting_after_its_lease(redis_url, store):
    lease_secs = 0.6

    async def scenario():
        crashed = SharedSocketTally(redis_url, secret=SECRET, lease_secs=lease_secs)
        survivor = SharedSocketTally(redis_url, secret=SECRET, lease_secs=lease_secs)
        assert await open_sockets([crashed], 15) == [True] * 15
        crashed.stop()  # dies without releasing anything
        assert await open_sockets([survivor], 6) == [True] * 5 + [False]
        await asyncio.sleep(lease_secs * 1.5)  # the survivor renews meanwhile; the dead one cannot
        assert await open_sockets([survivor], 16) == [True] * 15 + [False]
        survivor.stop()

    asyncio.run(scenario())


def test_a_live_process_keeps_its_sockets_counted_past_the_lease(redis_url, store):
    async def scenario():
        holder = SharedSocketTally(redis_url, secret=SECRET, lease_secs=0.6)
        other = SharedSocketTally(redis_url, secret=SECRET, lease_secs=0.6)
        assert await open_sockets([holder], LIMIT) == [True] * LIMIT
        await asyncio.sleep(2.0)  # three leases: only the renewals keep the count alive
        assert not await other.acquire(ADDRESS, limit=LIMIT)
        holder.stop()
        other.stop()

    asyncio.run(scenario())


def test_a_redis_that_lost_its_data_is_told_every_count_again(redis_url, store):
    async def scenario():
        holder = SharedSocketTally(redis_url, secret=SECRET, lease_secs=30)
        other = SharedSocketTally(redis_url, secret=SECRET, lease_secs=30)
        assert await open_sockets([holder], LIMIT) == [True] * LIMIT
        store.flushall()  # a Redis restart without persistence
        await holder.renew()  # what its next renewal does
        assert not await other.acquire(ADDRESS, limit=LIMIT)
        holder.stop()
        other.stop()

    asyncio.run(scenario())


def test_without_redis_token_requests_fail_closed_and_sockets_count_locally():
    gone = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(LimitsUnavailable):
        redeem(identity_limits(gone), "challenge-x")
    with pytest.raises(LimitsUnavailable):
        identity_limits(gone).take("staff-sign-ins", ip=ADDRESS, burst=4, per_sec=1.0)
    assert time.monotonic() - started < 3, "a dead Redis is noticed quickly"

    async def scenario():
        # A limit of 3, not LIMIT: each handshake first tries the dead Redis (most of a second of
        # retries), and the local count holds any limit the same way.
        tally = SharedSocketTally(gone, secret=SECRET, lease_secs=30)
        granted = [await tally.acquire(ADDRESS, limit=3) for _ in range(5)]
        assert granted == [True] * 3 + [False] * 2, "the process's own limit still holds"
        await tally.release(ADDRESS)
        assert await tally.acquire(ADDRESS, limit=3)
        tally.stop()

    asyncio.run(scenario())


def count_commands(client) -> None:
    """Record each command ``client`` sends (a round trip each) in ``client.commands_sent``."""
    client.commands_sent = []
    send = client.execute_command

    def counting(*args, **options):
        client.commands_sent.append(args[0].encode() if isinstance(args[0], str) else args[0])
        return send(*args, **options)

    client.execute_command = counting


def test_each_check_costs_one_round_trip(redis_url, store, capsys):
    """The price of a handshake (acquire, and release at close) and of a token request (redeem):
    one script call each, whose median time is printed."""
    rounds = 500

    async def measure_sockets():
        tally = SharedSocketTally(redis_url, secret=SECRET, lease_secs=30)
        await tally.acquire(ADDRESS, limit=LIMIT)  # connects and loads the scripts
        await tally.release(ADDRESS)
        count_commands(tally.client)
        acquire_us, release_us = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            await tally.acquire(ADDRESS, limit=LIMIT)
            middle = time.perf_counter()
            await tally.release(ADDRESS)
            acquire_us.append((middle - started) * 1e6)
            release_us.append((time.perf_counter() - middle) * 1e6)
        tally.stop()
        return acquire_us, release_us, tally.client.commands_sent

    acquire_us, release_us, socket_commands = asyncio.run(measure_sockets())
    limits = identity_limits(redis_url)
    redeem(limits, "warm-up")
    count_commands(limits.client)
    redeem_us = []
    for n in range(rounds):
        started = time.perf_counter()
        redeem(limits, f"timing-{n}", ip=f"10.1.{n // 250}.{n % 250}")
        redeem_us.append((time.perf_counter() - started) * 1e6)
    redeem_commands = limits.client.commands_sent
    figures = {
        "acquire": statistics.median(acquire_us),
        "release": statistics.median(release_us),
        "redeem": statistics.median(redeem_us),
    }
    with capsys.disabled():
        shown = ", ".join(f"{name} {micros:.0f}" for name, micros in figures.items())
        print(f"\nshared limits, median µs per call on loopback: {shown}")
    assert socket_commands == [b"EVALSHA"] * (2 * rounds)
    assert redeem_commands == [b"EVALSHA"] * rounds
    assert all(value < 5000 for value in figures.values()), figures
