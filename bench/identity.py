"""A pool of identity tokens from a running "ours", minted over HTTP before the timed phase.

Minting one token is what a visitor's browser sends, on one keep-alive connection: the challenge
(GET), the CORS preflight of the token request (OPTIONS: a cross-origin JSON POST is not a
"simple" request) and the token request (POST). Thousands would dominate the connect phase, so
the benchmark mints a pool of distinct visitors and its members reuse them round-robin, as
several tabs of one person (presence counts that person once).

``mint_measured_token_pool`` mints tokens without the preflight, then as many with it, and reports
the server CPU per token of each: the issue's measure (challenge + POST) and a first visit's
whole cost (a browser that cached the preflight sends only the first two).
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.config import SITE_ORIGIN

HTTP_TIMEOUT_SECS = 10.0


class VisitorConnection:
    """One visitor's HTTP/1.1 connection: the challenge and the token request share it, as a
    browser's keep-alive connection to the backend does (a connection per request would charge the
    server a TCP accept and close that a visitor does not cause)."""

    def __init__(self, http_base: str) -> None:
        parsed = urllib.parse.urlsplit(http_base)
        # No proxy: the benchmark talks to 127.0.0.1 only, whatever the environment's *_proxy says.
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=HTTP_TIMEOUT_SECS)

    def request_json(self, path: str, body: dict | None = None) -> dict:
        headers = {"Origin": SITE_ORIGIN, "Content-Type": "application/json"}
        data = None if body is None else json.dumps(body).encode()
        self.connection.request("GET" if body is None else "POST", path, body=data, headers=headers)
        response = self.connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered HTTP {response.status}: {payload[:200]!r}")
        return json.loads(payload)

    def preflight(self, path: str) -> None:
        """The CORS preflight a browser sends before a cross-origin JSON POST (Content-Type:
        application/json is not a "simple" request); its answer is read and dropped."""
        headers = {
            "Origin": SITE_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }
        self.connection.request("OPTIONS", path, headers=headers)
        response = self.connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"the preflight of {path} answered HTTP {response.status}")

    def close(self) -> None:
        self.connection.close()


def solve_nonce(difficulty_bits: int) -> str:
    """With IDENTITY_POW_BITS=0 any nonce solves the challenge (backend/chat/challenge.py)."""
    if difficulty_bits != 0:
        raise RuntimeError(f"the server asks for {difficulty_bits} bits of proof of work; bench sets 0")
    return "0"


def mint_token(http_base: str, name: str, *, preflight: bool = True) -> str:
    visitor = VisitorConnection(http_base)
    try:
        challenge = visitor.request_json("/api/identity/challenge/")
        if preflight:
            visitor.preflight("/api/identity/")
        answer = visitor.request_json(
            "/api/identity/",
            {"name": name, "challenge": challenge["challenge"], "nonce": solve_nonce(challenge["difficulty_bits"])},
        )
    finally:
        visitor.close()
    return answer["token"]


def mint_token_pool(http_base: str, count: int, *, threads: int, preflight: bool = True, first: int = 0) -> list[str]:
    """``count`` tokens of distinct visitors named bench-<first>, bench-<first + 1>, ..."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        names = (f"bench-{n}" for n in range(first, first + count))
        return list(pool.map(lambda name: mint_token(http_base, name, preflight=preflight), names))


@dataclass(frozen=True)
class MintedPool:
    tokens: list[str]
    cpu_ms_per_token: float | None  # challenge + POST
    cpu_ms_per_token_with_preflight: float | None  # challenge + preflight + POST


def mint_measured_token_pool(
    http_base: str, *, measured_per_kind: int, warm_up: int, threads: int, server_cpu_secs: Callable[[], float]
) -> MintedPool:
    """``warm_up`` tokens unmeasured, then ``measured_per_kind`` without the preflight and as many
    with it, and the server CPU per token of each kind (``server_cpu_secs``: the server processes'
    CPU time so far). Every token minted is in the pool, the warm-up's first."""
    tokens = mint_token_pool(http_base, warm_up, threads=threads)
    per_token: list[float | None] = []
    for preflight in (False, True):
        before = server_cpu_secs()
        tokens += mint_token_pool(http_base, measured_per_kind, threads=threads, preflight=preflight, first=len(tokens))
        per_token.append((server_cpu_secs() - before) / measured_per_kind * 1000 if measured_per_kind else None)
    return MintedPool(tokens, per_token[0], per_token[1])
