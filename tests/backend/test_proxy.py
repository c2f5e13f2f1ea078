"""The visitor's address behind proxies (chat.proxy): only our own proxies' entries count."""

from __future__ import annotations

import asyncio

import pytest

from chat.proxy import ForwardedClientMiddleware, forwarded_client


@pytest.mark.parametrize(
    ("values", "hops", "expected"),
    [
        ([b"203.0.113.7"], 1, "203.0.113.7"),
        # A visitor who sends their own header cannot choose the address: the router appended
        # the real one, and only that entry is trusted.
        ([b"6.6.6.6, 203.0.113.7"], 1, "203.0.113.7"),
        ([b"6.6.6.6", b"203.0.113.7"], 1, "203.0.113.7"),
        # Two proxies of ours (a CDN, then nginx): the CDN's entry is the visitor.
        ([b"6.6.6.6, 203.0.113.7, 10.0.0.2"], 2, "203.0.113.7"),
        ([b"2001:db8::1"], 1, "2001:db8::1"),
        ([b"not-an-address"], 1, None),
        ([b"203.0.113.7"], 2, None),  # fewer entries than trusted proxies: the header was not theirs
        ([], 1, None),
        ([b"203.0.113.7"], 0, None),
    ],
)
def test_the_trusted_entry_is_counted_from_the_right(values, hops, expected):
    assert forwarded_client(values, hops) == expected


def run_middleware(hops: int, headers: list[tuple[bytes, bytes]]) -> list:
    seen = {}

    async def application(scope, receive, send):
        seen["client"] = scope["client"]

    scope = {"type": "websocket", "client": ["10.1.1.1", 5555], "headers": headers}
    asyncio.run(ForwardedClientMiddleware(application, hops)(scope, None, None))
    return seen["client"]


def test_the_middleware_sets_the_forwarded_client_behind_a_trusted_proxy():
    assert run_middleware(1, [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.7")]) == ["203.0.113.7", 0]


def test_without_trusted_proxies_the_header_is_ignored():
    assert run_middleware(0, [(b"x-forwarded-for", b"6.6.6.6")]) == ["10.1.1.1", 5555]


def test_a_malformed_header_keeps_the_tcp_peer():
    assert run_middleware(1, [(b"x-forwarded-for", b"<script>")]) == ["10.1.1.1", 5555]
