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
