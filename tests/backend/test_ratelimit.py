"""Token buckets and socket counters, pure: time is a parameter."""

from __future__ import annotations

import pytest

from chat.ratelimit import BucketMap, Counter, TokenBucket


def test_a_bucket_allows_its_burst_at_once_then_refuses():
    bucket = TokenBucket(burst=3, per_sec=1.0)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(1.0)


def test_the_wait_is_the_time_until_one_token_is_back():
    bucket = TokenBucket(burst=1, per_sec=2.0)
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.1) == pytest.approx(0.4)
    assert bucket.take(0.5) == 0.0, "waiting what it said is enough"


def test_a_refused_take_costs_nothing():
    bucket = TokenBucket(burst=1, per_sec=1.0)
    bucket.take(0.0)
    for moment in (0.2, 0.4, 0.6, 0.8):
        assert bucket.take(moment) > 0
    assert bucket.take(1.0) == 0.0


def test_refill_is_capped_at_the_burst():
    bucket = TokenBucket(burst=2, per_sec=1.0)
    bucket.take(0.0)
    bucket.take(0.0)
    assert [bucket.take(1000.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]


def test_sustained_rate():
    bucket = TokenBucket(burst=1, per_sec=10.0)
    allowed = sum(bucket.take(step / 100) == 0.0 for step in range(1000))  # 10 s, asking 100 times a second
    assert allowed == pytest.approx(100, abs=2)


def test_bucket_map_keeps_one_bucket_per_key():
    buckets = BucketMap(burst=1, per_sec=0.001)
    assert buckets.take("ann", 0.0) == 0.0
    assert buckets.take("ann", 0.0) > 0
    assert buckets.take("bob", 0.0) == 0.0


def test_bucket_map_forgets_the_least_recently_used_beyond_its_bound():
    buckets = BucketMap(burst=1, per_sec=0.001, max_keys=2)
    buckets.take("a", 0.0)
    buckets.take("b", 0.0)
    assert buckets.take("a", 0.0) > 0  # "a" is now the most recently used
    buckets.take("c", 0.0)  # over the bound: "b" goes
    assert len(buckets) == 2
    assert buckets.take("a", 0.0) > 0, "a recently used key keeps its (empty) bucket"
    assert buckets.take("b", 0.0) == 0.0, "a forgotten key comes back with a full bucket"
    assert len(buckets) == 2


def test_counter_counts_open_things_per_key():
    counter = Counter()
    assert [counter.add("ip") for _ in range(3)] == [1, 2, 3]
    counter.remove("ip")
    assert counter["ip"] == 2
    counter.remove("ip")
    counter.remove("ip")
    counter.remove("ip")  # one too many (a disconnect after a refused connect): never negative
    assert counter["ip"] == 0
    assert counter.add("ip") == 1
