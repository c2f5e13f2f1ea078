"""Searching a room (GET /api/rooms/<room>/search/?q=) through Django's test client, on whichever
engine the run uses (SQLite's FTS5 trigram table, PostgreSQL's full-text search, LIKE on
MySQL/MariaDB): what a visitor searching would notice."""

from __future__ import annotations

import itertools
import re

import pytest
from django.db import connection
from django.utils import timezone

from chat import changes, limits, moderation, search, services
from chat.identity import Identity
from chat.limits import SEARCH_BURST
from chat.models import Message
from chat.shared_limits import LimitsUnavailable

pytestmark = pytest.mark.django_db

SITE_ORIGIN = "http://localhost:1313"
ANN = Identity(visitor="v-ann", name="Ann")
BOB = Identity(visitor="v-bob", name="Bob")
RESULT_KEYS = {"seq", "author", "tag", "staff", "text", "sent_at", "edited"}
_client_ids = itertools.count(1)


def post(text: str, *, room: str = "lobby", who: Identity = ANN, reply_to: int | None = None):
    """Store a message as the socket would (no anti-spam rule in the way of a test's setup)."""
    return services.store_message(
        room_name=room, identity=who, text=text, client_id=f"c{next(_client_ids)}", ip="192.0.2.1",
        now=timezone.now(), reply_to=reply_to,
    ).message  # fmt: skip


def find(client, q: str, room: str = "lobby", *, ip: str = "198.51.100.7", headers=None, **params):
    return client.get(
        f"/api/rooms/{room}/search/", {"q": q, **params}, secure=True, headers=headers or {}, REMOTE_ADDR=ip
    )


def texts(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [result["text"] for result in response.json()["results"]]


def error_of(response) -> dict:
    return response.json()["error"]


# --- What is found --------------------------------------------------------------------------------


def test_a_japanese_word_is_found_inside_a_sentence(client):
    post("今日は駅前の店でラーメンを食べました")
    post("東京に着きました")
    post("I had ramen in Tokyo")
    assert texts(find(client, "ラーメン")) == ["今日は駅前の店でラーメンを食べました"]
    # Two characters: shorter than a trigram, still found.
    assert texts(find(client, "東京")) == ["東京に着きました"]
    assert texts(find(client, "ラーメン 駅前")) == ["今日は駅前の店でラーメンを食べました"]
    assert texts(find(client, "寿司")) == []


def test_every_word_must_be_there_in_any_order_and_case_does_not_matter(client):
    post("Ramen in Tokyo was great")
    post("Tokyo is big")
    post("great weather")
    assert texts(find(client, "tokyo RAMEN")) == ["Ramen in Tokyo was great"]
    assert texts(find(client, "Tokyo")) == ["Tokyo is big", "Ramen in Tokyo was great"]
    # The start of a word is enough ("ram" as someone types "ramen").
    assert texts(find(client, "ram")) == ["Ramen in Tokyo was great"]
    assert texts(find(client, "sushi")) == []


def test_results_are_the_newest_first_with_what_a_result_list_shows(client):
    post("first lunch", who=ANN)
    post("nothing here", who=BOB)
    staff = Identity(visitor="s-1", name="mod", staff=True)
    post("second lunch", who=staff)
    response = find(client, "lunch", headers={"origin": SITE_ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SITE_ORIGIN
    body = response.json()
    assert set(body) == {"results", "has_more"} and body["has_more"] is False
    newest, oldest = body["results"]
    assert set(newest) == RESULT_KEYS
    assert (newest["seq"], newest["author"], newest["staff"], newest["text"]) == (3, "mod", True, "second lunch")
    assert (oldest["seq"], oldest["author"], oldest["staff"], oldest["edited"]) == (1, "Ann", False, False)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", oldest["sent_at"])
    assert re.fullmatch(r"[0-9a-z]{4}", oldest["tag"]) and oldest["tag"] != newest["tag"]


def test_a_deleted_message_is_never_found(client):
    mine = post("my phone number is 5550123")
    theirs = post("spam spam buy pills", who=BOB)
    post("pills are bitter", who=BOB)
    changes.delete_message(room_name="lobby", identity=ANN, seq=mine.seq, client_id="d1")
    moderation.delete_message(message=theirs, by="mod")
    assert texts(find(client, "5550123")) == []
    assert texts(find(client, "pills")) == ["pills are bitter"]


def test_an_edited_message_is_found_by_its_new_text_only(client):
    post("meet at the statoin")
    changes.edit_message(room_name="lobby", identity=ANN, seq=1, text="meet at the station", client_id="e1")
    [result] = find(client, "station").json()["results"]
    assert (result["seq"], result["text"], result["edited"]) == (1, "meet at the station", True)
    assert texts(find(client, "statoin")) == []


def test_other_rooms_are_not_searched(client):
    post("secret plans", room="staff-room")
    post("public plans", room="lobby")
    assert texts(find(client, "plans")) == ["public plans"]
    assert texts(find(client, "plans", room="staff-room")) == ["secret plans"]


def test_wildcards_and_punctuation_in_a_query_are_plain_characters(client):
    post("scored 1000 points")
    post("100% sure")
    post("axb")
    post("a_b")
    post("see example.com for c++ tips :)")
    assert texts(find(client, "100%")) == ["100% sure"]
    assert texts(find(client, "a_b")) == ["a_b"]
    assert texts(find(client, "example.com")) == ["see example.com for c++ tips :)"]
    assert texts(find(client, "c++")) == ["see example.com for c++ tips :)"]
    assert texts(find(client, ":)")) == ["see example.com for c++ tips :)"]
    assert texts(find(client, "'\" OR 1=1 --")) == []


def test_results_come_a_page_at_a_time(client):
    for number in range(1, 26):
        post(f"lunch number {number}")
    first = find(client, "lunch").json()
    assert [result["seq"] for result in first["results"]] == list(range(25, 5, -1))
    assert first["has_more"] is True
    rest = find(client, "lunch", before_seq=first["results"][-1]["seq"]).json()
    assert ([result["seq"] for result in rest["results"]], rest["has_more"]) == ([5, 4, 3, 2, 1], False)


# --- Refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "why"),
    [
        ("", "words to look for"),
        ("   ", "words to look for"),
        ("x" * 101, "100 characters"),
        ("a b c d e f g h i", "8 words"),
        ("nul\x00byte", "control characters"),
    ],
)
def test_an_empty_or_overlong_query_is_refused(client, q, why):
    post("anything")
    response = find(client, q)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "bad_field" and why in error["message"]


def test_a_missing_query_a_bad_page_and_bad_rooms_are_refused(client):
    post("anything")
    response = client.get("/api/rooms/lobby/search/", secure=True)
    assert (response.status_code, error_of(response)["code"]) == (400, "bad_field")
    response = find(client, "any", before_seq="0")
    assert (response.status_code, error_of(response)["code"]) == (400, "bad_field")
    response = find(client, "any", room="Not A Room")
    assert (response.status_code, error_of(response)["code"]) == (400, "invalid_room")
    response = find(client, "any", room="nobody-here")
    assert (response.status_code, error_of(response)["code"]) == (404, "not_found")
    assert client.post("/api/rooms/lobby/search/?q=any", secure=True).status_code == 405


def test_searches_are_limited_per_address(client):
    post("hello")
    for _ in range(SEARCH_BURST):
        assert find(client, "hello", ip="203.0.113.5").status_code == 200
    refused = find(client, "hello", ip="203.0.113.5")
    assert refused.status_code == 429
    error = error_of(refused)
    assert error["code"] == "search_rate_limited" and 0 < error["retry_after_secs"] <= 2
    assert int(refused.headers["Retry-After"]) >= 1
    # Another address, and unknown rooms on it, are counted separately.
    assert find(client, "hello", ip="203.0.113.6").status_code == 200
    assert find(client, "hello", room="nobody-here", ip="203.0.113.5").status_code == 429


def test_a_redis_that_does_not_answer_leaves_each_process_its_own_search_limit(client, monkeypatch):
    class Down:
        def take(self, *args, **kwargs):
            raise LimitsUnavailable("connection refused")

    monkeypatch.setattr(limits, "_shared_identity_limits", lambda: Down())
    post("hello")
    answers = [find(client, "hello", ip="203.0.113.9").status_code for _ in range(SEARCH_BURST + 1)]
    assert answers == [200] * SEARCH_BURST + [429]


# --- The engines' indexes -------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 table")
def test_sqlite_looks_words_up_in_its_trigram_index(client):
    post("ラーメン食べたい")
    room = search.room_for_search(room_name="lobby")
    query = Message.objects.filter(room=room)
    sql, params = search._sqlite_matching(query, ["ラーメン"]).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "chat_message_fts VIRTUAL TABLE INDEX" in plan


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 triggers")
def test_sqlite_puts_back_the_index_triggers_a_table_rebuild_dropped(client):
    post("before the rebuild")
    with connection.cursor() as cursor:
        for name in search.SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}")
    post("written while the triggers were gone")
    assert search.ensure_sqlite_index() is True
    assert texts(find(client, "triggers")) == ["written while the triggers were gone"]
    assert search.ensure_sqlite_index() is False  # nothing missing: nothing done
    changes.edit_message(room_name="lobby", identity=ANN, seq=1, text="after the rebuild", client_id="e1")
    assert texts(find(client, "rebuild")) == ["after the rebuild"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's GIN index")
def test_postgres_filters_on_the_expression_its_gin_index_holds(client):
    """The index is usable only if the query's tsvector is the index's expression, character for
    character: with sequential scans off, the only way to answer is through it."""
    post("ramen tonight")
    sql, params = search._postgres_matching(Message.objects.all(), ["ramen"]).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "Bitmap Index Scan on chat_message_text_search" in plan
