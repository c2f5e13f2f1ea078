"""The identity fast path (chat.fast_identity) answers as Django's stack does.

Every test of tests/backend/test_http.py runs again here with a client whose token requests go
through the fast path (the rest, and whatever the fast path leaves to Django, through Django as
before); then the two paths answer the same requests side by side, header by header.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client
from django.utils import timezone

from chat.challenge import solve
from chat.models import Sanction
from tests.backend.fast_path_client import FastPathClient
from tests.backend.test_http import *  # noqa: F403 (every HTTP test, run again through the fast path)
from tests.backend.test_http import POW_BITS, SITE_ORIGIN

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    return FastPathClient()


def test_the_fast_path_answers_token_requests_and_only_them():
    fast = FastPathClient()
    body = {"name": "Ann", **solved(fast)}
    assert fast.fast_answers == 1
    assert fast.post("/api/identity/", body, content_type="application/json", secure=True).status_code == 200
    assert fast.fast_answers == 2
    fast.options(  # the token request's CORS preflight
        "/api/identity/", secure=True, headers={"origin": SITE_ORIGIN, "access-control-request-method": "POST"}
    )
    assert fast.fast_answers == 3
    fast.get("/api/identity/", secure=True)  # 405: Django's
    fast.options("/api/identity/", secure=True, headers={"origin": SITE_ORIGIN})  # no preflight: Django's
    fast.options(
        "/api/identity/challenge/", secure=True, headers={"origin": SITE_ORIGIN, "access-control-request-method": "GET"}
    )
    fast.get("/api/identity/challenge/", secure=True, headers={"cookie": "csrftoken=bad"})
    fast.get("/api/identity/challenge/", secure=True, headers={"host": "10.1.2.3"})
    fast.get("/api/identity/challenge/")  # plain http: the SSL redirect
    fast.post("/api/identity/", b"{" * 5000, content_type="application/json", secure=True)  # over the body limit
    fast.post("/api/identity/staff/", {}, content_type="application/json", secure=True)
    assert fast.fast_answers == 3


def solved(client) -> dict:
    challenge = client.get("/api/identity/challenge/", secure=True).json()["challenge"]
    return {"challenge": challenge, "nonce": solve(challenge, POW_BITS)}


RANDOM_FIELDS = {"challenge", "token", "visitor"}  # differ between any two answers
SENDERS = [
    {},
    {"origin": SITE_ORIGIN},
    {"origin": "https://evil.example"},
    {"origin": "null"},
    {"origin": SITE_ORIGIN, "x-forwarded-proto": "https"},
    {"origin": SITE_ORIGIN + "/"},
    {"origin": SITE_ORIGIN, "user-agent": "curl/8", "accept": "*/*"},
]


def same_answer(fast_response, django_response) -> None:
    assert fast_response.status_code == django_response.status_code
    fast_headers = dict(fast_response.headers)
    django_headers = dict(django_response.headers)
    assert fast_headers.keys() == django_headers.keys()
    assert list(fast_headers) == list(django_headers), "the same headers in the same order"
    for name in fast_headers:
        if name == "Content-Length":
            continue  # random fields of one length; compared to the body below
        assert fast_headers[name] == django_headers[name], name
    for response in (fast_response, django_response):
        assert int(response.headers["Content-Length"]) == len(response.content)
    fast_body, django_body = json.loads(fast_response.content), json.loads(django_response.content)
    assert fast_body.keys() == django_body.keys()
    for key in fast_body.keys() - RANDOM_FIELDS:
        assert fast_body[key] == django_body[key], key
    assert fast_response.cookies.keys() == django_response.cookies.keys() == set()


@pytest.mark.parametrize("sender", SENDERS)
def test_a_challenge_is_answered_alike(sender):
    fast, django = FastPathClient(), Client()
    same_answer(
        fast.get("/api/identity/challenge/?x=1", secure=True, headers=sender),
        django.get("/api/identity/challenge/?x=1", secure=True, headers=sender),
    )
    assert fast.fast_answers == 1


PREFLIGHTS = [
    {"origin": SITE_ORIGIN, "access-control-request-method": "POST"},
    {"origin": SITE_ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "content-type"},
    {"origin": "https://evil.example", "access-control-request-method": "POST"},
    {"access-control-request-method": "POST"},
    {"origin": SITE_ORIGIN, "access-control-request-method": "POST", "access-control-request-private-network": "true"},
    {"origin": SITE_ORIGIN, "access-control-request-method": "POST", "host": "10.1.2.3"},  # no host check first
]


@pytest.mark.parametrize("secure", [True, False], ids=["https", "http"])  # no SSL redirect ahead of CORS
@pytest.mark.parametrize("sender", PREFLIGHTS)
def test_the_token_requests_preflight_is_answered_alike(sender, secure):
    fast, django = FastPathClient(), Client()
    answers = [client.options("/api/identity/", secure=secure, headers=sender) for client in (fast, django)]
    assert fast.fast_answers == 1
    fast_answer, django_answer = answers
    assert fast_answer.status_code == django_answer.status_code == 200
    assert list(fast_answer.headers.items()) == list(django_answer.headers.items())
    assert fast_answer.content == django_answer.content == b""
    if sender.get("origin") == SITE_ORIGIN:
        assert fast_answer.headers["Access-Control-Allow-Origin"] == SITE_ORIGIN
        assert "POST" in fast_answer.headers["Access-Control-Allow-Methods"]
        assert "content-type" in fast_answer.headers["Access-Control-Allow-Headers"]
        assert int(fast_answer.headers["Access-Control-Max-Age"]) > 0
    else:
        assert "Access-Control-Allow-Origin" not in fast_answer.headers


def test_a_preflight_is_left_to_django_when_cors_is_off_for_the_api(settings):
    settings.CORS_URLS_REGEX = r"^/nothing/$"
    fast = FastPathClient()
    sender = {"origin": SITE_ORIGIN, "access-control-request-method": "POST"}
    fast.options("/api/identity/", secure=True, headers=sender)
    assert fast.fast_answers == 0


def token_request(client, sender: dict, change=None, *, content_type="application/json", remote_addr="127.0.0.1"):
    body = {"name": "Ann", **solved(client)}
    if change:
        body = change(body)
    raw = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(
        "/api/identity/", raw, content_type=content_type, secure=True, headers=sender, REMOTE_ADDR=remote_addr
    )


CHANGES = {
    "a token": None,
    "a bad name": lambda body: {**body, "name": " Ann"},
    "a reserved name": lambda body: {**body, "name": "ADMIN"},
    "no name": lambda body: {key: value for key, value in body.items() if key != "name"},
    "the honeypot": lambda body: {**body, "website": "x"},
    "a nonce too long": lambda body: {**body, "nonce": "x" * 33},
    "no challenge": lambda body: {**body, "challenge": None},
    "not json": lambda body: b"not json",
    "not an object": lambda body: b"[1]",
    "a renewal": lambda body: {**body, "token": "junk"},
}


@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.parametrize("sender", SENDERS[:4])
def test_a_token_request_is_answered_alike(sender, change):
    fast, django = FastPathClient(), Client()
    same_answer(token_request(fast, sender, CHANGES[change]), token_request(django, sender, CHANGES[change]))
    assert fast.fast_answers == 2


@pytest.mark.parametrize("content_type", ["text/plain", "", "application/json; charset=utf-8", "APPLICATION/JSON"])
def test_content_types_are_answered_alike(content_type):
    fast, django = FastPathClient(), Client()
    sender = {"origin": SITE_ORIGIN}
    same_answer(
        token_request(fast, sender, content_type=content_type), token_request(django, sender, content_type=content_type)
    )


def test_a_spent_challenge_is_answered_alike():
    fast, django = FastPathClient(), Client()
    body = solved(fast)
    for client in (fast, django):
        client.post("/api/identity/", body, content_type="application/json", secure=True)
    again = [
        client.post("/api/identity/", body, content_type="application/json", secure=True) for client in (fast, django)
    ]
    same_answer(*again)
    assert again[0].status_code == 400


def test_a_ban_is_answered_alike():
    Sanction.objects.create(kind=Sanction.Kind.BAN, ip="203.0.113.9", reason="spam", created_at=timezone.now())
    fast, django = FastPathClient(), Client()
    answers = [token_request(client, {"origin": SITE_ORIGIN}, remote_addr="203.0.113.9") for client in (fast, django)]
    same_answer(*answers)
    assert answers[0].status_code == 403


def test_a_carried_mute_is_given_alike():
    """A mute seen at the address within SANCTION_ADDRESS_CARRY_SECS reaches a new name on both paths."""
    Sanction.objects.create(kind=Sanction.Kind.MUTE, visitor="v-old", seen_ip="203.0.113.7", created_at=timezone.now())
    fast, django = FastPathClient(), Client()
    answers = [token_request(client, {}, remote_addr="203.0.113.7") for client in (fast, django)]
    same_answer(*answers)
    for answer in answers:
        visitor = answer.json()["visitor"]
        assert Sanction.objects.filter(kind=Sanction.Kind.MUTE, visitor=visitor, carried_from__isnull=False).exists()


def test_the_rate_limit_is_answered_alike(settings):
    settings.BACKCHANNEL_IDENTITY_BURST = 1
    answers = []
    for client in (FastPathClient(), Client()):
        # Each path's own address, so one does not spend the other's budget.
        address = "198.51.100.1" if isinstance(client, FastPathClient) else "198.51.100.2"
        assert token_request(client, {}, remote_addr=address).status_code == 200
        answers.append(token_request(client, {"origin": SITE_ORIGIN}, remote_addr=address))
    same_answer(*answers)
    assert answers[0].status_code == 429 and "Retry-After" in answers[0].headers


def test_refusals_are_logged_alike(caplog):
    fast, django = FastPathClient(), Client()
    records = []
    for client in (fast, django):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="django.request"):
            token_request(client, {}, CHANGES["a reserved name"])
        records.append([(record.name, record.levelno, record.getMessage()) for record in caplog.records])
    assert records[0] == records[1] == [("django.request", logging.WARNING, "Bad Request: /api/identity/")]
