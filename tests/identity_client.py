"""Getting identity tokens from a running backend the way the widget does (tests' own client).

``fetch_token`` asks for a challenge, solves the proof of work with ``chat.challenge.solve`` and
posts the name: the real HTTP path, so live-server tests exercise it. Live backends started by
tests use ``TEST_IDENTITY_ENV``: a cheap proof of work and a roomy token-request rate, because
one test machine plays many visitors from one address.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from chat.challenge import solve
from scripts.processes import TEST_IDENTITY_ENV, UNLIMITED_MESSAGES_ENV  # noqa: F401 - re-exported for the tests


class IdentityRefused(Exception):
    def __init__(self, status: int, error: dict) -> None:
        super().__init__(f"HTTP {status}: {error}")
        self.status = status
        self.error = error


def post_json(url: str, body: dict, *, origin: str | None = None, timeout_secs: float = 10) -> dict:
    headers = {"Content-Type": "application/json"}
    if origin:
        headers["Origin"] = origin
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_secs) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise IdentityRefused(error.code, json.load(error).get("error", {})) from None


def fetch_token(backend_http_url: str, name: str, *, previous_token: str | None = None) -> dict:
    """``{token, name, visitor, staff, expires_in_secs}`` for a new visitor called ``name``."""
    base = backend_http_url.rstrip("/")
    with urllib.request.urlopen(f"{base}/api/identity/challenge/", timeout=10) as response:
        challenge = json.load(response)
    body = {
        "name": name,
        "challenge": challenge["challenge"],
        "nonce": solve(challenge["challenge"], challenge["difficulty_bits"]),
    }
    if previous_token:
        body["token"] = previous_token
    return post_json(f"{base}/api/identity/", body)


def fetch_staff_token(backend_http_url: str, username: str, password: str) -> dict:
    return post_json(
        f"{backend_http_url.rstrip('/')}/api/identity/staff/", {"username": username, "password": password}
    )
