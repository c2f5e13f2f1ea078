"""The shared limits' pure parts and their choice: keys, replies, which store a process uses, the
local socket tally, and what a visitor gets while Redis does not answer (no Redis needed: the
Redis side is tests/redis/test_shared_limits.py and test_shared_limits_processes.py)."""

from __future__ import annotations

import asyncio

import pytest

from chat.conf import conf
from chat.limits import redeem_challenge
from chat.runtime import runtime
from chat.shared_limits import (
    KEY_PREFIX,
    LocalSocketTally,
    Redemption,
    SharedSocketTally,
    address_digest,
    bucket_key,
    challenge_key,
    new_process_id,
    process_tally_key,
    redemption_from_reply,
    renew_interval_secs,
)
from scripts.processes import free_port
from tests.backend.test_http import POW_BITS, ask_identity, error_of, post_json

SECRET = "a-secret-" + "x" * 40


class TestKeys:
    def test_an_address_is_named_by_a_keyed_digest(self):
        digest = address_digest("203.0.113.7", secret=SECRET)
        assert digest == address_digest("203.0.113.7", secret=SECRET), "stable across processes"
        assert len(digest) == 32 and "203" not in digest
        assert digest != address_digest("203.0.113.8", secret=SECRET)
        assert digest != address_digest("203.0.113.7", secret="another-" + SECRET), "keyed by the secret"

    def test_every_key_is_namespaced(self):
        for key in (
            bucket_key("new-names", "abc"),
            challenge_key("challenge.1234:signature"),
            process_tally_key(new_process_id()),
        ):
            assert key.startswith(f"{KEY_PREFIX}:")
        assert len(challenge_key("c" * 500)) < 100, "a long challenge still makes a short key"

    def test_process_ids_differ(self):
        assert len({new_process_id() for _ in range(100)}) == 100

    def test_a_lease_is_renewed_three_times(self):
        assert renew_interval_secs(30) == 10


class TestReplies:
    @pytest.mark.parametrize(
        ("reply", "expected"),
        [
            (b"ok", Redemption()),
            (b"spent", Redemption(spent=True)),
            (b"10000.000", Redemption(wait_secs=10.0)),
            ("0.500", Redemption(wait_secs=0.0005)),
        ],
    )
    def test_redeem_replies(self, reply, expected):
        assert redemption_from_reply(reply) == expected

    def test_only_a_redemption_with_neither_spent_nor_wait_is_granted(self):
        assert Redemption().granted
        assert not Redemption(spent=True).granted
        assert not Redemption(wait_secs=0.1).granted


class TestStoreChoice:
    def test_without_redis_each_process_keeps_its_own(self, settings):
        settings.REDIS_URLS = []
        assert conf.LIMITS_REDIS_URL is None

        async def tally():
            return type(runtime().loop().socket_tally())

        assert asyncio.run(tally()) is LocalSocketTally

    def test_with_redis_the_limits_live_on_the_first_url(self, settings):
        settings.REDIS_URLS = ["redis://10.0.0.1:6380/0", "redis://10.0.0.2:6380/0"]
        assert conf.LIMITS_REDIS_URL == "redis://10.0.0.1:6380/0"

        async def tally():
            current = runtime().loop().socket_tally()
            assert current is runtime().loop().socket_tally(), "one per event loop"
            return current

        shared = asyncio.run(tally())
        assert isinstance(shared, SharedSocketTally)
        assert shared.lease_ms == conf.SOCKET_LEASE_SECS * 1000


class TestLocalTally:
    def test_an_address_holds_at_most_the_limit_and_a_refusal_costs_nothing(self):
        async def scenario():
            tally = LocalSocketTally()
            granted = [await tally.acquire("10.0.0.1", limit=3) for _ in range(5)]
            assert granted == [True, True, True, False, False]
            assert tally.counts["10.0.0.1"] == 3
            await tally.release("10.0.0.1")
            assert await tally.acquire("10.0.0.1", limit=3)
            assert await tally.acquire("10.0.0.2", limit=3)

        asyncio.run(scenario())

    def test_without_redis_a_challenge_buys_one_token_and_a_wait_keeps_it(self, settings):
        settings.REDIS_URLS = []
        settings.BACKCHANNEL_IDENTITY_BURST = 1
        assert redeem_challenge("c1", ip="10.0.0.1", new_identity=True).granted
        assert redeem_challenge("c1", ip="10.0.0.1", new_identity=False).spent
        waiting = redeem_challenge("c2", ip="10.0.0.1", new_identity=True)
        assert waiting.wait_secs > 0
        assert redeem_challenge("c2", ip="10.0.0.1", new_identity=False).granted, "the wait left c2 unspent"


@pytest.mark.django_db
class TestRedisAway:
    """With REDIS_URL set and nothing answering: token requests are refused (fail closed), with a
    wait, and say so; nothing is issued that another process could issue again."""

    @pytest.fixture(autouse=True)
    def unreachable_redis(self, settings):
        settings.BACKCHANNEL_IDENTITY_POW_BITS = POW_BITS
        settings.REDIS_URLS = [f"redis://127.0.0.1:{free_port()}/0"]

    def test_a_new_name_waits_for_the_shared_limits(self, client):
        response = ask_identity(client, "Ann")
        assert response.status_code == 503
        assert error_of(response) == "server_error"
        assert response.json()["error"]["retry_after_secs"] == 5
        assert response["Retry-After"] == "5"

    def test_a_staff_sign_in_waits_too(self, client):
        response = post_json(client, "/api/identity/staff/", {"username": "mod", "password": "x"})
        assert response.status_code == 503
        assert error_of(response) == "server_error"
