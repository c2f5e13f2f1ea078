"""/metrics as an operator configures it: off without METRICS_TOKEN, refused without the token,
a short token refused at start-up (backchannel.E011); and LOG_FORMAT=json lines."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from chat.checks import check_metrics_token
from chat.conf import METRICS_TOKEN_MIN_CHARS
from chat.jsonlog import JsonFormatter
from chat.metrics_view import bearer_token_matches

TOKEN = "t" * METRICS_TOKEN_MIN_CHARS


def test_metrics_are_off_without_a_token(client, settings):
    settings.BACKCHANNEL_METRICS_TOKEN = None
    assert client.get("/metrics", secure=True, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


def test_metrics_need_the_bearer_token(client, settings):
    settings.BACKCHANNEL_METRICS_TOKEN = TOKEN
    assert client.get("/metrics", secure=True).status_code == 401
    assert client.get("/metrics", secure=True, HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    answer = client.get("/metrics", secure=True, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain")
    assert b"backchannel_open_sockets" in answer.content
    assert client.post("/metrics", secure=True, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


@pytest.mark.parametrize(
    ("header", "matches"),
    [(f"Bearer {TOKEN}", True), (None, False), ("", False), (TOKEN, False), (f"bearer {TOKEN}", False),
     (f"Bearer {TOKEN[:-1]}", False), (f"Bearer {TOKEN}t", False), (f"Basic {TOKEN}", False)],
)  # fmt: skip
def test_the_bearer_token_must_match_exactly(header, matches):
    assert bearer_token_matches(header, TOKEN) is matches


def test_a_short_metrics_token_is_refused(settings):
    settings.BACKCHANNEL_METRICS_TOKEN = "short"
    [problem] = check_metrics_token()
    assert problem.id == "backchannel.E011"
    settings.BACKCHANNEL_METRICS_TOKEN = TOKEN
    assert check_metrics_token() == []
    settings.BACKCHANNEL_METRICS_TOKEN = None
    assert check_metrics_token() == []


def test_json_log_lines_carry_the_message_and_the_traceback_on_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("chat.x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed here"
    assert entry["level"] == "ERROR"
    assert "ValueError: boom" in entry["exception"]


def test_an_unknown_log_format_stops_the_backend_naming_the_variable():
    from django.core.exceptions import ImproperlyConfigured

    from backchannel.env import Env

    assert Env({"LOG_FORMAT": "JSON"}).choice("LOG_FORMAT", "plain", ["plain", "json"]) == "json"
    assert Env({}).choice("LOG_FORMAT", "plain", ["plain", "json"]) == "plain"
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT='xml' must be one of: plain, json"):
        Env({"LOG_FORMAT": "xml"}).choice("LOG_FORMAT", "plain", ["plain", "json"])
