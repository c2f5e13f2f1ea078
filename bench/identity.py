"""A pool of identity tokens from a running "ours", minted over HTTP before the timed phase.

Minting one token is two HTTP round trips (challenge, then POST); thousands would dominate the
connect phase, so the benchmark mints a pool of distinct visitors and its members reuse them
round-robin, as several tabs of one person (presence counts that person once).
"""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from bench.config import SITE_ORIGIN

HTTP_TIMEOUT_SECS = 10.0


def _http_json(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Origin": SITE_ORIGIN, "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method="GET" if body is None else "POST")
    # No proxy: the benchmark talks to 127.0.0.1 only, whatever the environment's *_proxy says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=HTTP_TIMEOUT_SECS) as response:
        return json.load(response)


def solve_nonce(difficulty_bits: int) -> str:
    """With IDENTITY_POW_BITS=0 any nonce solves the challenge (backend/chat/challenge.py)."""
    if difficulty_bits != 0:
        raise RuntimeError(f"the server asks for {difficulty_bits} bits of proof of work; bench sets 0")
    return "0"


def mint_token(http_base: str, name: str) -> str:
    challenge = _http_json(f"{http_base}/api/identity/challenge/")
    answer = _http_json(
        f"{http_base}/api/identity/",
        {"name": name, "challenge": challenge["challenge"], "nonce": solve_nonce(challenge["difficulty_bits"])},
    )
    return answer["token"]


def mint_token_pool(http_base: str, count: int, *, threads: int) -> list[str]:
    """``count`` tokens of distinct visitors named bench-0, bench-1, ..."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda n: mint_token(http_base, f"bench-{n}"), range(count)))
