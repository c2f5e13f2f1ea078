"""HTTP side: /healthz for platform checkers, and the CORS-enabled JSON API."""

from __future__ import annotations

import pytest

from chat import services

SITE_ORIGIN = "http://localhost:1313"

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_channel_layer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "channel_layer": "ok", "status": "ok"}


def test_healthz_answers_whatever_host_and_scheme_the_checker_uses(client):
    # An internal IP is not in ALLOWED_HOSTS, and plain http would be redirected to https.
    response = client.get("/healthz", headers={"host": "10.1.2.3:5000"})
    assert response.status_code == 200


def test_other_paths_still_validate_the_host(client):
    assert client.get("/api/rooms/lobby/messages/", headers={"host": "10.1.2.3"}, secure=True).status_code == 400


def test_history_api_returns_the_latest_messages_oldest_first(client, settings):
    settings.BACKCHANNEL_HISTORY_LIMIT = 2
    for text in ("one", "two", "three"):
        services.post_message(room_name="lobby", author="Ann", text=text, client_id=text)
    response = client.get("/api/rooms/lobby/messages/", secure=True, headers={"origin": SITE_ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SITE_ORIGIN
    assert "access-control-allow-credentials" not in response.headers
    body = response.json()
    assert [(message["seq"], message["text"]) for message in body["messages"]] == [(2, "two"), (3, "three")]
    assert body["has_older"] is True
    older = client.get("/api/rooms/lobby/messages/?before_seq=2", secure=True).json()
    assert ([message["seq"] for message in older["messages"]], older["has_older"]) == ([1], False)
    assert client.get("/api/rooms/lobby/messages/?before_seq=x", secure=True).status_code == 400


def test_cors_is_only_for_the_site_origin(client):
    response = client.get("/api/rooms/lobby/messages/", secure=True, headers={"origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_history_api_refuses_invalid_room_names(client):
    response = client.get("/api/rooms/Not%20A%20Room/messages/", secure=True)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_room"


def test_production_redirects_plain_http_to_https(client):
    assert client.get("/api/rooms/lobby/messages/").status_code == 301
