"""Moderation from the chat page on a real daphne over real sockets (issue 16): a staff token
from /api/identity/staff/ mutes, then bans, a visitor through /api/moderation/actions/; the
visitor's open socket is told at once and, banned, closed with 4003; once the ban is lifted (the
record stays) the page's next retry gets in, with nothing cached on the server to stop it.

Run: .venv/bin/python -m pytest tests/hostile/test_moderation_live.py -p no:cacheprovider -s
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from scripts.processes import backend_env, free_port, migrate, start_daphne, stop_process
from tests.hostile.wire import Peer, Server, open_authenticated
from tests.identity_client import fetch_staff_token, fetch_token

pytestmark = [pytest.mark.hostile]

REPO_DIR = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
VISITOR_IP = "127.0.6.10"  # the moderator's requests come from 127.0.0.1: not the same address


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("moderation-live") / "db.sqlite3"


@pytest.fixture(scope="module")
def server(database):
    site_port, port = free_port(), free_port()
    env = backend_env(
        {
            "SECRET_KEY": "moderation-live-only-" + "m" * 50,
            "SECURE_SSL_REDIRECT": "0",
            "ALLOWED_ORIGINS": f"http://127.0.0.1:{site_port}",
            "DATABASE_URL": f"sqlite:///{database}",
            "IDENTITY_POW_BITS": "4",
        }
    )
    migrate(env)
    log_path = REPO_DIR / "artifacts" / f"moderation-live-daphne-{port}.log"
    process = start_daphne(port=port, env=env, log_path=log_path)
    yield Server(port=port, origin=f"http://127.0.0.1:{site_port}", pid=process.pid, log_path=log_path)
    stop_process(process, what="daphne")


def moderate(server: Server, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{server.http_url}/api/moderation/actions/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_a_mute_and_a_ban_from_the_page_reach_the_visitor_live_and_a_lifted_ban_lets_it_back(server, database):
    with sqlite3.connect(database) as db:
        db.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,"
            " is_active, date_joined) VALUES (?, 0, 'mod', '', '', '', 1, 1, ?)",
            (make_password(PASSWORD), timezone.now().isoformat()),
        )
    staff = fetch_staff_token(server.http_url, "mod", PASSWORD)["token"]
    eve = fetch_token(server.http_url, "Eve")

    async def scenario() -> dict:
        peer = await open_authenticated(server, VISITOR_IP, "eve", eve["token"], "live-mod")
        muted_at = time.monotonic()
        answer = await asyncio.to_thread(
            moderate, server, staff, {"room": "live-mod", "action": "mute", "visitor": eve["visitor"],
                                      "duration_secs": 3600, "reason": "cool down"},
        )  # fmt: skip
        _, muted = await peer.expect("moderated", timeout=5)
        mute_secs = time.monotonic() - muted_at
        await asyncio.to_thread(
            moderate, server, staff, {"room": "live-mod", "action": "ban", "visitor": eve["visitor"]}
        )
        _, banned = await peer.expect("moderated", timeout=5)
        await peer.wait_closed(timeout=5)
        retry = await Peer.open(server, VISITOR_IP, "retry")
        await retry.expect("ready", timeout=5)
        await retry.send({"type": "auth", "token": eve["token"]})
        _, refused = await retry.expect("error", code="banned", timeout=5)
        await retry.wait_closed(timeout=5)
        with sqlite3.connect(database) as db:  # what lifting writes; the record stays
            db.execute("UPDATE chat_sanction SET lifted_at = ?, lifted_by = 'mod'", (timezone.now().isoformat(),))
        back = await open_authenticated(server, VISITOR_IP, "back", eve["token"], "live-mod")
        me = [event for _, event in back.events if event["type"] == "authenticated"][0]
        await back.close()
        return {
            "answer": answer,
            "muted": muted,
            "mute_secs": mute_secs,
            "banned": banned,
            "code": peer.close_code,
            "refused": refused,
            "back": me,
        }

    result = asyncio.run(scenario())
    assert result["answer"] == {"action": "mute", "affected_online": 1}
    assert (result["muted"]["action"], result["muted"]["reason"]) == ("muted", "cool down")
    assert result["mute_secs"] < 2
    assert result["banned"]["action"] == "banned" and result["code"] == 4003
    assert result["back"]["visitor"] == eve["visitor"]
    assert result["back"]["muted"] is None, "the lifted mute no longer holds either"
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM chat_sanction WHERE lifted_at IS NOT NULL").fetchone() == (2,)
