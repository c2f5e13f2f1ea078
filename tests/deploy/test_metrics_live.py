"""/metrics on a real daphne: what a scripted session did is what the counters say, and only the
bearer of METRICS_TOKEN may read them. The same process logs JSON lines (LOG_FORMAT=json)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scripts.processes import backend_env, free_port, migrate, start_daphne, stop_process
from tests.identity_client import TEST_IDENTITY_ENV, enter_rooms, next_event

pytestmark = [pytest.mark.deploy, pytest.mark.live]

SITE_ORIGIN = "http://127.0.0.1:1313"
ROOM = "metrics"
TOKEN = "metrics-token-" + "m" * 40
MESSAGES = 3  # the message bucket holds exactly these; the next send is refused (rate_limited)


def scrape(port: int, authorization: str | None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(text: str) -> dict[str, float]:
    """Every sample as ``name{label=value,...}`` (labels sorted) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


async def scripted_session(port: int) -> dict[str, dict[str, float]]:
    ada = await enter_rooms(port, "Ada", [ROOM], origin=SITE_ORIGIN)
    ben = await enter_rooms(port, "Ben", [ROOM], origin=SITE_ORIGIN)
    await next_event(ada, "presence", lambda event: event.get("online_count") == 2)
    for number in range(MESSAGES + 1):
        send = {"type": "send", "room": ROOM, "text": f"hello {number}", "client_id": f"m-{number}"}
        await ada.send(json.dumps(send))
    refused = await next_event(ada, "error")
    assert refused["code"] == "rate_limited", refused
    for number in range(MESSAGES):
        await next_event(ben, "message", lambda event, number=number: event["text"] == f"hello {number}")
    await asyncio.sleep(0.5)  # Ada's own copies are written by the same fan-out pass as Ben's
    during = samples((await asyncio.to_thread(scrape, port, f"Bearer {TOKEN}"))[1])
    await ben.close()
    await ada.close()
    await asyncio.sleep(1.0)  # the disconnects run after the close handshake
    after = samples((await asyncio.to_thread(scrape, port, f"Bearer {TOKEN}"))[1])
    return {"during": during, "after": after}


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("metrics")
    env = backend_env({
        "SECRET_KEY": "metrics-" + "k" * 50,
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_ORIGINS": SITE_ORIGIN,
        "DATABASE_URL": f"sqlite:///{work_dir / 'db.sqlite3'}",
        "METRICS_TOKEN": TOKEN,
        "LOG_FORMAT": "json",
        "MESSAGE_BURST": str(MESSAGES),
        "MESSAGE_PER_SEC": "0.01",
        **TEST_IDENTITY_ENV,
    })  # fmt: skip
    migrate(env)
    port = free_port()
    log_path = work_dir / "daphne.log"
    daphne = start_daphne(port=port, env=env, log_path=log_path)
    try:
        yield {"port": port, "log_path": log_path}
    finally:
        stop_process(daphne, what="daphne")


def test_metrics_count_what_a_session_did(backend):
    seen = asyncio.run(scripted_session(backend["port"]))
    during, after = seen["during"], seen["after"]
    print("during the session:", {name: value for name, value in during.items() if name.startswith("backchannel_")})
    assert during["backchannel_open_sockets"] == 2
    assert during["backchannel_joined_rooms"] == 1
    assert during["backchannel_messages_stored_total"] == MESSAGES
    assert during["backchannel_rate_limit_refusals_total{limit=messages}"] == 1
    assert during["backchannel_rate_limit_refusals_total{limit=frames}"] == 0
    assert during["backchannel_join_seconds_count"] == 2
    assert during["backchannel_join_seconds_bucket{le=+Inf}"] == 2
    # Each message to both members (6), and the presence updates: Ada's arrival to Ada, Ben's to both.
    assert during["backchannel_deliveries_total"] == 2 * MESSAGES + 3
    assert during["backchannel_slow_reader_drops_total"] == 0
    assert during["backchannel_layer_publish_errors_total"] == 0
    assert during["process_resident_memory_bytes"] > 0
    assert after["backchannel_open_sockets"] == 0
    assert after["backchannel_joined_rooms"] == 0
    assert after["backchannel_messages_stored_total"] == MESSAGES  # counters never go back


def test_metrics_refuse_a_missing_or_wrong_token(backend):
    port = backend["port"]
    wrong = "Bearer " + TOKEN[:-1] + "x"  # same length, last character differs
    for authorization in (None, "", wrong, f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x"):
        status, body = scrape(port, authorization)
        assert status == 401, (authorization, status)
        assert "backchannel_" not in body
    status, body = scrape(port, f"Bearer {TOKEN}")
    assert status == 200
    assert "# TYPE backchannel_join_seconds histogram" in body


def test_log_format_json_writes_one_object_per_line(backend):
    lines = [line for line in backend["log_path"].read_text().splitlines() if line.startswith("{")]
    assert lines, "no JSON log line"
    entries = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message", "process"} <= entries[0].keys()
    assert any(entry["logger"].startswith("daphne") for entry in entries)
