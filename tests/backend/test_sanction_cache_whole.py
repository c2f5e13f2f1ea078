"""While few sanctions are in force, each process keeps all of them (chat.sanction_cache): a
visitor id or address it has never seen is answered without the database, with the same rules
as the per-visitor copy (dropped when any sanction changes, ``until`` checked on every use, none
kept while the process may miss invalidations, none over MAX_WHOLE_ROWS)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chat import moderation, sanction_cache
from chat.models import Sanction

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def listening():
    """As when the process's fan-out is in the `sanctions` group."""
    sanction_cache.reset()
    sanction_cache.listening(True)
    yield
    sanction_cache.reset()


def rows_only(**fields: object) -> Sanction:
    """A sanction written without the services (as another process's rows arrive)."""
    return Sanction.objects.bulk_create([Sanction(**fields)])[0]


def test_after_one_read_every_visitor_and_address_is_answered_from_the_copy(django_assert_num_queries):
    ban = rows_only(kind=Sanction.Kind.BAN, visitor="v-troll")
    mute = rows_only(kind=Sanction.Kind.MUTE, ip="2001:db8::7")
    now = timezone.now()
    assert sanction_cache.read_in_force(visitor="v-first", ip="192.0.2.1", now=now) == {}
    with django_assert_num_queries(0):
        assert sanction_cache.cached_in_force(visitor="v-never-seen", ip="192.0.2.99", now=now) == {}
        assert sanction_cache.cached_in_force(visitor="v-troll", ip=None, now=now) == {Sanction.Kind.BAN: ban}
        # The address as a client may write it: the copy looks it up as the database stores it.
        found = sanction_cache.cached_in_force(visitor="v-other", ip="2001:DB8:0::7", now=now)
        assert found == {Sanction.Kind.MUTE: mute}
        assert sanction_cache.cached_address_ban(ip="192.0.2.50", now=now) == (True, None)


def test_a_sanction_written_through_the_services_drops_the_copy():
    now = timezone.now()
    sanction_cache.read_in_force(visitor="v-first", ip=None, now=now)
    moderation.impose(kind=Sanction.Kind.BAN, visitor="v-new-troll")
    assert sanction_cache.cached_in_force(visitor="v-new-troll", ip=None, now=now) is None
    in_force = sanction_cache.read_in_force(visitor="v-new-troll", ip=None, now=timezone.now())
    assert Sanction.Kind.BAN in in_force


def test_a_sanction_that_runs_out_ends_on_time():
    now = timezone.now()
    rows_only(kind=Sanction.Kind.MUTE, visitor="v-brief", until=now + timedelta(minutes=1))
    sanction_cache.read_in_force(visitor="v-first", ip=None, now=now)
    assert Sanction.Kind.MUTE in sanction_cache.cached_in_force(visitor="v-brief", ip=None, now=now)
    later = now + timedelta(minutes=2)
    assert sanction_cache.cached_in_force(visitor="v-brief", ip=None, now=later) == {}


def test_over_the_limit_only_what_was_read_is_kept(monkeypatch):
    monkeypatch.setattr(sanction_cache, "MAX_WHOLE_ROWS", 2)
    for number in range(3):
        rows_only(kind=Sanction.Kind.BAN, visitor=f"v-{number}")
    now = timezone.now()
    assert sanction_cache.read_in_force(visitor="v-first", ip=None, now=now) == {}
    assert sanction_cache.cached_in_force(visitor="v-first", ip=None, now=now) == {}
    assert sanction_cache.cached_in_force(visitor="v-never-seen", ip=None, now=now) is None
    assert Sanction.Kind.BAN in sanction_cache.read_in_force(visitor="v-2", ip=None, now=now)


def test_nothing_is_kept_while_invalidations_may_be_missed():
    sanction_cache.listening(False)
    now = timezone.now()
    sanction_cache.read_in_force(visitor="v-first", ip=None, now=now)
    assert sanction_cache.cached_in_force(visitor="v-never-seen", ip=None, now=now) is None


def test_architecture_states_the_limit_the_code_has():
    from pathlib import Path

    text = " ".join((Path(__file__).resolve().parents[2] / "ARCHITECTURE.md").read_text().split())
    assert f"While at most {sanction_cache.MAX_WHOLE_ROWS:,} sanctions are in force anywhere (`MAX_WHOLE_ROWS`)" in text


# --- The token endpoint's question: may any sanction concern a new token? -----------------------

CARRY_SECS = 600


def sql_probe_says(*, visitor: str, ip: str | None, now) -> bool:
    """chat.views.sanction_may_apply's own query: while nobody listens no copy is kept or read,
    so the database answers."""
    from chat.views import sanction_may_apply

    with_copy = sanction_cache._whole
    sanction_cache.listening(False)
    try:
        return sanction_may_apply(visitor=visitor, ip=ip, now=now)
    finally:
        sanction_cache.listening(True)
        sanction_cache._whole = with_copy


def test_the_copy_answers_the_token_question_as_the_database_does(settings):
    settings.BACKCHANNEL_SANCTION_ADDRESS_CARRY_SECS = CARRY_SECS
    now = timezone.now()
    long_ago = now - timedelta(seconds=CARRY_SECS + 60)
    original = rows_only(kind=Sanction.Kind.MUTE, visitor="v-orig", seen_ip="192.0.2.30", created_at=now)
    rows_only(kind=Sanction.Kind.BAN, visitor="v-banned", created_at=long_ago)
    rows_only(kind=Sanction.Kind.BAN, ip="192.0.2.10", created_at=long_ago)
    rows_only(kind=Sanction.Kind.MUTE, ip="2001:db8::5", created_at=now, until=now + timedelta(hours=1))
    rows_only(kind=Sanction.Kind.BAN, ip="192.0.2.11", created_at=long_ago, until=now - timedelta(seconds=1))  # over
    rows_only(kind=Sanction.Kind.BAN, ip="192.0.2.12", created_at=long_ago, lifted_at=now)  # lifted
    rows_only(kind=Sanction.Kind.MUTE, visitor="v-old", seen_ip="192.0.2.31", created_at=long_ago)  # window passed
    rows_only(kind=Sanction.Kind.MUTE, visitor="v-copy", seen_ip="192.0.2.32", created_at=now, carried_from=original)
    asked = [
        (visitor, ip)
        for visitor in ("v-new", "v-banned", "v-orig")
        for ip in (None, "192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.30", "192.0.2.31", "192.0.2.32",
                   "2001:DB8:0::5", "198.51.100.1")
    ]  # fmt: skip
    assert sanction_cache.may_apply(visitor="v-first", ip=None, now=now, carry_secs=CARRY_SECS) is False
    answers = {}
    for visitor, ip in asked:
        answers[visitor, ip] = sanction_cache.cached_may_apply(visitor=visitor, ip=ip, now=now, carry_secs=CARRY_SECS)
        assert answers[visitor, ip] == sql_probe_says(visitor=visitor, ip=ip, now=now), (visitor, ip)
    assert answers["v-new", "198.51.100.1"] is False and answers["v-new", "192.0.2.30"] is True
    assert answers["v-banned", None] is True and answers["v-new", "2001:DB8:0::5"] is True


def test_a_token_for_a_new_visitor_needs_no_database_once_the_copy_is_kept(django_assert_num_queries):
    from chat.views import TokenRequest, issue_visitor_token, token_without_database

    checked = TokenRequest(name="Ann", challenge="c", visitor=None, now=timezone.now().timestamp())
    assert token_without_database(checked, "192.0.2.1") is None  # no copy yet: the database answers
    assert issue_visitor_token(checked, "192.0.2.1").status_code == 200  # ... and the copy is made
    with django_assert_num_queries(0):
        answer = token_without_database(checked, "192.0.2.2")
        assert answer is not None and answer.status_code == 200
    rows_only(kind=Sanction.Kind.BAN, ip="192.0.2.3")
    sanction_cache.clear()  # as the write's invalidation does
    assert issue_visitor_token(checked, "192.0.2.3").status_code == 403
    assert token_without_database(checked, "192.0.2.3") is None  # the database decides a refusal
