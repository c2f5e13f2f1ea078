"""HTTP side: /healthz for platform checkers, and the CORS-enabled JSON API (history, identity)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from backchannel import __version__
from chat import moderation, presence, services
from chat.challenge import solve
from chat.identity import Identity, issue_token, verify_token
from chat.models import Sanction

SITE_ORIGIN = "http://localhost:1313"
POW_BITS = 4

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cheap_proof_of_work(settings):
    settings.BACKCHANNEL_IDENTITY_POW_BITS = POW_BITS


def post_json(client, path: str, body: dict, **kwargs):
    return client.post(path, body, content_type="application/json", secure=True, **kwargs)


def solved_challenge(client) -> dict:
    response = client.get("/api/identity/challenge/", secure=True)
    assert response.status_code == 200
    challenge = response.json()["challenge"]
    return {"challenge": challenge, "nonce": solve(challenge, POW_BITS)}


def ask_identity(client, name: object = "Ann", *, remote_addr: str = "127.0.0.1", headers=None, **fields):
    """POST /api/identity/ with a solved challenge, from ``remote_addr``; ``fields`` go in the body."""
    body = {"name": name, **solved_challenge(client), **fields}
    return post_json(client, "/api/identity/", body, headers=headers or {}, REMOTE_ADDR=remote_addr)


def error_of(response) -> str:
    return response.json()["error"]["code"]


def test_healthz_reports_database_and_channel_layer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "channel_layer": "ok", "status": "ok"}
    assert response["X-Backchannel-Version"] == __version__


def test_healthz_answers_whatever_host_and_scheme_the_checker_uses(client):
    # An internal IP is not in ALLOWED_HOSTS, and plain http would be redirected to https.
    response = client.get("/healthz", headers={"host": "10.1.2.3:5000"})
    assert response.status_code == 200


def test_other_paths_still_validate_the_host(client):
    assert client.get("/api/rooms/lobby/messages/", headers={"host": "10.1.2.3"}, secure=True).status_code == 400


def test_history_api_returns_the_latest_messages_oldest_first(client, settings):
    settings.BACKCHANNEL_HISTORY_LIMIT = 2
    ann = Identity(visitor="v-ann", name="Ann")
    for text in ("one", "two", "three"):
        services.post_message(room_name="lobby", identity=ann, text=text, client_id=text)
    response = client.get("/api/rooms/lobby/messages/", secure=True, headers={"origin": SITE_ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SITE_ORIGIN
    assert "access-control-allow-credentials" not in response.headers
    body = response.json()
    assert [(message["seq"], message["text"], message["author"]) for message in body["messages"]] == [
        (2, "two", "Ann"),
        (3, "three", "Ann"),
    ]
    assert body["has_older"] is True
    older = client.get("/api/rooms/lobby/messages/?before_seq=2", secure=True).json()
    assert ([message["seq"] for message in older["messages"]], older["has_older"]) == ([1], False)


@pytest.mark.parametrize(
    "before_seq", ["x", "0", "-1", "²", "1.5", "9223372036854775808", "1" + "0" * 5000, "0" * 20 + "1"]
)
def test_history_api_refuses_a_bad_before_seq(client, before_seq):
    response = client.get("/api/rooms/lobby/messages/", {"before_seq": before_seq}, secure=True)
    assert response.status_code == 400
    assert error_of(response) == "bad_field"


def test_history_api_shows_deleted_messages_as_tombstones(client):
    message = services.post_message(room_name="lobby", identity=Identity("v", "Ann"), text="nasty").message
    moderation.delete_message(message=message, by="mod")
    [tombstone] = client.get("/api/rooms/lobby/messages/", secure=True).json()["messages"]
    assert (tombstone["seq"], tombstone["deleted"], tombstone["author"], tombstone["text"]) == (1, True, "", "")


def test_cors_is_only_for_the_site_origin(client):
    response = client.get("/api/rooms/lobby/messages/", secure=True, headers={"origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_history_api_refuses_invalid_room_names(client):
    response = client.get("/api/rooms/Not%20A%20Room/messages/", secure=True)
    assert response.status_code == 400
    assert error_of(response) == "invalid_room"


def test_production_redirects_plain_http_to_https(client):
    assert client.get("/api/rooms/lobby/messages/").status_code == 301


class TestIdentity:
    def test_a_challenge_says_how_hard_it_is(self, client, settings):
        settings.BACKCHANNEL_CHALLENGE_TTL_SECS = 120
        body = client.get("/api/identity/challenge/", secure=True).json()
        assert (body["difficulty_bits"], body["expires_in_secs"]) == (POW_BITS, 120)
        assert body["challenge"] != client.get("/api/identity/challenge/", secure=True).json()["challenge"]

    def test_a_solved_challenge_buys_a_token_for_the_name(self, client):
        response = ask_identity(client, "Ann Lee")
        assert response.status_code == 200
        body = response.json()
        assert (body["name"], body["staff"], body["expires_in_secs"]) == ("Ann Lee", False, 3600)
        verified = verify_token(body["token"], now=time.time(), max_age_secs=3600)
        assert verified.identity == Identity(visitor=body["visitor"], name="Ann Lee", staff=False)
        assert ask_identity(client, "Ann Lee").json()["visitor"] != body["visitor"], "each token is a new visitor"

    def test_a_previous_token_keeps_the_visitor_id_even_expired(self, client):
        old = issue_token(Identity(visitor="v-ann", name="Ann"), now=time.time() - 5 * 24 * 3600)
        body = ask_identity(client, "Annie", token=old).json()
        assert (body["visitor"], body["name"]) == ("v-ann", "Annie")

    @pytest.mark.parametrize(
        "token",
        [
            "forged:token",
            issue_token(Identity(visitor="staff-1", name="mod", staff=True), now=time.time()),
            issue_token(Identity(visitor="v-ann", name="Ann"), now=time.time() - 31 * 24 * 3600),
        ],
    )
    def test_a_previous_token_that_does_not_qualify_gives_a_new_visitor(self, client, token):
        body = ask_identity(client, "Ann", token=token).json()
        assert body["visitor"] not in ("v-ann", "staff-1")
        assert body["staff"] is False

    @pytest.mark.parametrize(
        ("name", "code"),
        [
            ("", "invalid_name"),
            (" Ann", "invalid_name"),
            ("a" * 33, "invalid_name"),
            ("Ann\u200b", "invalid_name"),
            (5, "invalid_name"),
            (None, "invalid_name"),
            ("Admin", "reserved_name"),
            ("Ａｄｍｉｎ", "reserved_name"),
            ("STAFF", "reserved_name"),
        ],
    )
    def test_bad_and_reserved_names_are_refused(self, client, name, code):
        response = ask_identity(client, name)
        assert (response.status_code, error_of(response)) == (400, code)
        assert response.json()["error"]["message"]

    def test_the_honeypot_refuses_what_a_bot_fills_in(self, client):
        response = ask_identity(client, "Ann", website="http://spam.example")
        assert (response.status_code, error_of(response)) == (400, "bad_request")
        assert ask_identity(client, "Ann", website="").status_code == 200

    @pytest.mark.parametrize(
        "change",
        [
            {"nonce": "not-a-solution-probably"},
            {"challenge": "made.up"},
            {"nonce": "x" * 33},
            {"nonce": None},
        ],
    )
    def test_an_unsolved_challenge_is_refused(self, client, settings, change):
        settings.BACKCHANNEL_IDENTITY_POW_BITS = 20  # a random nonce will not do
        body = {"name": "Ann", **solved_challenge(client), **change}
        response = post_json(client, "/api/identity/", body)
        assert (response.status_code, error_of(response)) == (400, "bad_challenge")

    def test_a_challenge_buys_one_token_only(self, client):
        body = {"name": "Ann", **solved_challenge(client)}
        assert post_json(client, "/api/identity/", body).status_code == 200
        again = post_json(client, "/api/identity/", {**body, "name": "Bob"})
        assert (again.status_code, error_of(again)) == (400, "bad_challenge")
        assert "already used" in again.json()["error"]["message"]

    @pytest.mark.parametrize("body", [b"not json", b"[1]", b'"Ann"', b"{" * 5000])
    def test_a_body_that_is_not_a_json_object_is_refused(self, client, body):
        response = client.post("/api/identity/", body, content_type="application/json", secure=True)
        assert response.status_code in (400, 413)
        assert error_of(response) == "bad_request"

    def test_only_post(self, client):
        assert client.get("/api/identity/", secure=True).status_code == 405

    @pytest.mark.parametrize("path", ["/api/identity/", "/api/identity/staff/"])
    @pytest.mark.parametrize(
        "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]
    )
    def test_a_body_not_sent_as_json_is_refused_with_415(self, client, path, content_type):
        """text/plain and form bodies skip the CORS preflight: a foreign page could post them with
        its visitors' addresses. Nothing is read (the challenge stays unspent, no password is tried)."""
        body = {"name": "Ann", **solved_challenge(client)}
        response = client.post(path, json.dumps(body), content_type=content_type, secure=True)
        assert (response.status_code, error_of(response)) == (415, "unsupported_media_type")
        assert "application/json" in response.json()["error"]["message"]
        assert post_json(client, "/api/identity/", body).status_code == 200, "the challenge was not spent"

    def test_json_with_a_charset_is_json(self, client):
        body = {"name": "Ann", **solved_challenge(client)}
        response = client.post(
            "/api/identity/", json.dumps(body), content_type="Application/JSON; charset=utf-8", secure=True
        )
        assert response.status_code == 200

    def test_a_banned_visitor_gets_no_new_token(self, client):
        moderation.impose(kind=Sanction.Kind.BAN, visitor="v-ann", duration=timedelta(days=1), reason="spam")
        old = issue_token(Identity(visitor="v-ann", name="Ann"), now=time.time())
        response = ask_identity(client, "Ann", token=old)
        assert (response.status_code, error_of(response)) == (403, "banned")
        assert "spam" in response.json()["error"]["message"]

    def test_a_banned_address_gets_no_token(self, client):
        moderation.impose(kind=Sanction.Kind.BAN, ip="127.0.0.1")
        response = ask_identity(client, "Ann")
        assert (response.status_code, error_of(response)) == (403, "banned")
        other = ask_identity(client, "Ann", remote_addr="10.9.9.9")
        assert other.status_code == 200

    def test_a_classroom_behind_one_address_gets_its_names_and_a_script_does_not(self, client):
        """The defaults: ~20 people picking names within a minute from one address (a classroom, a
        site owner's test windows) all get one; a script minting a hundred is refused."""
        answers = [ask_identity(client, f"Student {n}") for n in range(100)]
        assert [response.status_code for response in answers[:20]] == [200] * 20
        refused = [response for response in answers if response.status_code != 200]
        assert len(refused) >= 60
        for response in refused:
            assert (response.status_code, error_of(response)) == (429, "identity_rate_limited")
            error = response.json()["error"]
            assert error["retry_after_secs"] > 0 and "new names from this address" in error["message"]
        visitors = {response.json()["visitor"] for response in answers if response.status_code == 200}
        assert len(visitors) == 100 - len(refused), "every name accepted is a visitor of its own"

    def test_new_names_per_address_are_rate_limited(self, client, settings):
        settings.BACKCHANNEL_IDENTITY_BURST = 2
        settings.BACKCHANNEL_IDENTITY_PER_MIN = 1.0
        assert [ask_identity(client, "Ann").status_code for _ in range(2)] == [200, 200]
        response = ask_identity(client, "Ann")
        assert (response.status_code, error_of(response)) == (429, "identity_rate_limited")
        retry_after = response.json()["error"]["retry_after_secs"]
        assert 59 < retry_after <= 60
        assert response.headers["Retry-After"] == "60"
        assert ask_identity(client, "Ann", remote_addr="10.9.9.9").status_code == 200, "per address"

    def test_refused_requests_and_challenges_do_not_use_up_the_address(self, client, settings):
        settings.BACKCHANNEL_IDENTITY_BURST = 1
        settings.BACKCHANNEL_IDENTITY_PER_MIN = 0.01
        for _ in range(10):
            assert error_of(ask_identity(client, " ")) == "invalid_name"
            assert error_of(ask_identity(client, "Admin")) == "reserved_name"
            wrong = post_json(client, "/api/identity/", {"name": "Ann", "challenge": "x", "nonce": "1"})
            assert error_of(wrong) == "bad_challenge"
        assert ask_identity(client, "Ann").status_code == 200
        assert error_of(ask_identity(client, "Bob")) == "identity_rate_limited"

    def test_a_rate_limited_request_keeps_its_challenge_for_after_the_wait(self, client, settings):
        settings.BACKCHANNEL_IDENTITY_BURST = 1
        assert ask_identity(client, "Ann").status_code == 200
        body = {"name": "Bob", **solved_challenge(client)}
        assert error_of(post_json(client, "/api/identity/", body)) == "identity_rate_limited"
        # The same solution still buys a name (here from an address with budget left: no waiting).
        assert post_json(client, "/api/identity/", body, REMOTE_ADDR="10.9.9.9").status_code == 200
        again = post_json(client, "/api/identity/", body, REMOTE_ADDR="10.9.9.10")
        assert (again.status_code, error_of(again)) == (400, "bad_challenge"), "and only one"

    def test_renewing_an_identity_does_not_count_as_a_new_name(self, client, settings):
        """Every open tab renews its expired token: the same visitor, so not a new name."""
        settings.BACKCHANNEL_IDENTITY_BURST = 1
        settings.BACKCHANNEL_IDENTITY_PER_MIN = 0.01
        first = ask_identity(client, "Ann").json()
        expired = issue_token(Identity(visitor=first["visitor"], name="Ann"), now=time.time() - 7200)
        for _ in range(5):
            renewed = ask_identity(client, "Ann", token=expired)
            assert (renewed.status_code, renewed.json()["visitor"]) == (200, first["visitor"])
        assert error_of(ask_identity(client, "Bob")) == "identity_rate_limited"
        assert error_of(ask_identity(client, "Bob", token="not a token")) == "identity_rate_limited"


class TestStaffIdentity:
    @pytest.fixture
    def staff_user(self, db):
        return User.objects.create_user("moderator", password="long-enough-pass-1", is_staff=True)

    def test_a_staff_user_gets_a_staff_token_named_after_the_username(self, client, staff_user):
        response = post_json(
            client, "/api/identity/staff/", {"username": "moderator", "password": "long-enough-pass-1"}
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["name"], body["staff"], body["visitor"]) == ("moderator", True, f"staff-{staff_user.pk}")
        verified = verify_token(body["token"], now=time.time(), max_age_secs=3600)
        assert verified.identity == Identity(visitor=f"staff-{staff_user.pk}", name="moderator", staff=True)

    @pytest.mark.parametrize(
        ("username", "password"),
        [("moderator", "wrong"), ("nobody", "long-enough-pass-1"), ("visitor", "long-enough-pass-1")],
    )
    def test_wrong_password_unknown_or_non_staff_users_are_refused(self, client, staff_user, username, password):
        User.objects.create_user("visitor", password="long-enough-pass-1", is_staff=False)
        response = post_json(client, "/api/identity/staff/", {"username": username, "password": password})
        assert (response.status_code, error_of(response)) == (403, "bad_credentials")

    def test_fields_must_be_strings(self, client):
        response = post_json(client, "/api/identity/staff/", {"username": ["moderator"], "password": 1})
        assert (response.status_code, error_of(response)) == (400, "bad_request")

    def test_password_guessing_is_rate_limited(self, client, settings, staff_user):
        settings.BACKCHANNEL_IDENTITY_BURST = 2
        for _ in range(2):
            post_json(client, "/api/identity/staff/", {"username": "moderator", "password": "guess"})
        response = post_json(
            client, "/api/identity/staff/", {"username": "moderator", "password": "long-enough-pass-1"}
        )
        assert (response.status_code, error_of(response)) == (429, "identity_rate_limited")
        assert "staff sign-ins" in response.json()["error"]["message"]

    def test_staff_sign_ins_and_new_names_have_budgets_of_their_own(self, client, settings, staff_user):
        settings.BACKCHANNEL_IDENTITY_BURST = 1
        assert ask_identity(client, "Student").status_code == 200
        credentials = {"username": "moderator", "password": "long-enough-pass-1"}
        assert post_json(client, "/api/identity/staff/", credentials).status_code == 200


class TestCors:
    def preflight(self, client, origin: str, path: str = "/api/identity/"):
        return client.options(
            path,
            secure=True,
            headers={
                "origin": origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            },
        )

    def test_the_site_may_post_json_for_an_identity(self, client):
        response = self.preflight(client, SITE_ORIGIN)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == SITE_ORIGIN
        assert "POST" in response.headers["access-control-allow-methods"]
        assert "content-type" in response.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in response.headers
        assert self.preflight(client, SITE_ORIGIN, "/api/identity/staff/").status_code == 200

    def test_another_origin_is_not_allowed(self, client):
        response = self.preflight(client, "https://evil.example")
        assert "access-control-allow-origin" not in response.headers

    def test_the_answer_to_the_site_carries_cors_but_no_credentials(self, client):
        response = ask_identity(client, "Ann", headers={"origin": SITE_ORIGIN})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == SITE_ORIGIN
        assert "access-control-allow-credentials" not in response.headers
        assert "set-cookie" not in {name.lower() for name in response.headers}

    def test_the_admin_is_not_cross_origin(self, client):
        response = client.get("/admin/login/", secure=True, headers={"origin": SITE_ORIGIN})
        assert "access-control-allow-origin" not in response.headers


class TestOnlineCounts:
    """GET /api/rooms/online/?rooms=…: the landing page's room cards, without a socket each."""

    @pytest.fixture
    def rooms(self, db):
        now = timezone.now()
        ann, bob, cy = (Identity(visitor=f"v-{name}", name=name) for name in ("ann", "bob", "cy"))
        for room, channel, identity in [
            ("lobby", "s1", ann),
            ("lobby", "s2", ann),  # a second tab: Ann counts once
            ("lobby", "s3", bob),
            ("lobby", "s4", None),  # a reader: not online
            ("help", "s5", cy),
            ("random", "s6", None),
        ]:
            presence.enter(room=room, channel_name=channel, identity=identity, now=now)

    def test_the_online_count_of_each_room_in_one_query(self, client, rooms, django_assert_num_queries):
        with django_assert_num_queries(1):
            response = client.get("/api/rooms/online/?rooms=lobby,help,random,nowhere", secure=True)
        assert response.status_code == 200
        assert response.json() == {"rooms": {"lobby": 2, "help": 1, "random": 0, "nowhere": 0}}
        assert "max-age=10" in response.headers["Cache-Control"]

    def test_counts_mean_what_presence_says(self, client, rooms):
        counts = client.get("/api/rooms/online/?rooms=lobby,help", secure=True).json()["rooms"]
        for room, count in counts.items():
            assert count == presence.snapshot(room=room, list_limit=100).online_count

    @pytest.mark.parametrize(
        ("query", "named"),
        [("rooms=lobby,Bad_Room", "'Bad_Room'"), ("rooms=lobby,-x", "'-x'"), ("rooms=", "rooms"), ("", "rooms")],
    )
    def test_a_bad_room_name_is_refused_by_name(self, client, query, named):
        response = client.get(f"/api/rooms/online/?{query}", secure=True)
        assert (response.status_code, error_of(response)) == (400, "bad_request")
        assert named in response.json()["error"]["message"]

    def test_at_most_50_rooms_per_request(self, client, db):
        fifty = ",".join(f"room-{n}" for n in range(50))
        assert len(client.get(f"/api/rooms/online/?rooms={fifty}", secure=True).json()["rooms"]) == 50
        response = client.get(f"/api/rooms/online/?rooms={fifty},one-more", secure=True)
        assert (response.status_code, error_of(response)) == (400, "bad_request")
        assert "50" in response.json()["error"]["message"]

    def test_the_site_may_read_them_and_other_origins_may_not(self, client, db):
        allowed = client.get("/api/rooms/online/?rooms=lobby", secure=True, headers={"origin": SITE_ORIGIN})
        assert allowed.headers["access-control-allow-origin"] == SITE_ORIGIN
        assert "origin" in allowed.headers["Vary"].lower(), "a shared cache keeps one answer per origin"
        foreign = client.get("/api/rooms/online/?rooms=lobby", secure=True, headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in foreign.headers
