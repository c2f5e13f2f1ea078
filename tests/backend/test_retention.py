"""Retention: RETENTION_DAYS and `manage.py prune_messages`, through call_command and real sockets.
What a site owner and the room's visitors would notice: old messages gone with their edits and
reactions, seqs still gapless, history that ends cleanly where the log now starts, resumes that
replace a view reaching below it, replies whose original is gone showing it removed."""

from __future__ import annotations

import itertools
from datetime import timedelta
from io import StringIO

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command
from django.utils import timezone

from chat import changes, retention, services
from chat.checks import check_retention
from chat.conf import conf
from chat.identity import Identity
from chat.models import HeldMessage, Message, MessageChange, Reaction, Report, Room
from chat.resume import should_resume
from tests.backend.concurrency import side_by_side
from tests.backend.sockets import connected, opened
from tests.backend.test_settings import PRODUCTION_ENV, run_backend

ANN = Identity(visitor="v-ann", name="Ann")
BOB = Identity(visitor="v-bob", name="Bob")
_client_ids = itertools.count(1)


def post(text: str, *, days_ago: float = 0, room: str = "lobby", who: Identity = ANN, reply_to: int | None = None):
    return services.store_message(
        room_name=room, identity=who, text=text, client_id=f"c{next(_client_ids)}", ip="192.0.2.1",
        now=timezone.now() - timedelta(days=days_ago), reply_to=reply_to,
    ).message  # fmt: skip


def prune(*args: str) -> str:
    out = StringIO()
    call_command("prune_messages", *args, stdout=out)
    return out.getvalue()


def seqs(room: str = "lobby") -> list[int]:
    return list(Message.objects.filter(room__name=room).order_by("seq").values_list("seq", flat=True))


# --- The command ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_old_messages_go_and_the_log_starts_later_without_gaps(settings):
    settings.BACKCHANNEL_RETENTION_DAYS = 30
    for number in range(10):
        post(f"old {number}", days_ago=40)
    for number in range(5):
        post(f"new {number}", days_ago=1)
    post("elsewhere, old", days_ago=90, room="help")

    said = prune()
    assert "Deleted 11 message(s)" in said and "lobby: deleted 10 message(s)" in said
    assert seqs() == [11, 12, 13, 14, 15]
    assert seqs("help") == []
    lobby = Room.objects.get(name="lobby")
    assert (lobby.pruned_seq, lobby.last_seq) == (10, 15)
    assert post("after the prune").seq == 16
    # Nothing left to do: a scheduler may run it as often as it likes.
    assert "Deleted 0 message(s)" in prune()
    assert seqs() == [11, 12, 13, 14, 15, 16]


@pytest.mark.django_db
def test_only_a_prefix_of_the_log_is_removed(settings):
    """A message stored out of date order (an old held message approved late) waits for the
    messages before it: removing it alone would leave a hole in seq."""
    settings.BACKCHANNEL_RETENTION_DAYS = 30
    post("old", days_ago=40)
    post("recent", days_ago=2)
    post("old but after a recent one", days_ago=50)
    prune()
    assert seqs() == [2, 3]
    assert Room.objects.get(name="lobby").pruned_seq == 1


@pytest.mark.django_db
def test_edits_reactions_and_reports_of_removed_messages_go_with_them(settings):
    settings.BACKCHANNEL_RETENTION_DAYS = 30
    old = post("old, edited, liked, reported", days_ago=40)
    kept = post("kept, edited, liked", days_ago=1)
    for message in (old, kept):
        Message.objects.filter(pk=message.pk).update(sent_at=timezone.now())  # inside the edit window
        seq = message.seq
        changes.edit_message(room_name="lobby", identity=ANN, seq=seq, text="edited", client_id=f"e{seq}")
        changes.react(room_name="lobby", identity=BOB, seq=seq, emoji="👍", on=True, client_id=f"r{seq}")
    Message.objects.filter(pk=old.pk).update(sent_at=timezone.now() - timedelta(days=40))
    Report.objects.create(message=old, visitor=BOB.visitor, name="Bob")
    held = HeldMessage.objects.create(room_name="lobby", author="Ann", text="held then approved", message=old)

    prune()
    assert seqs() == [2]
    assert list(MessageChange.objects.order_by("rev").values_list("seq", "kind")) == [(2, "edit"), (2, "react")]
    assert list(Reaction.objects.values_list("message__seq", flat=True)) == [2]
    assert not Report.objects.exists()
    held.refresh_from_db()
    assert held.message is None and held.text == "held then approved"  # the moderation record stays


@pytest.mark.django_db
def test_it_works_in_batches_and_a_dry_run_deletes_nothing(settings, monkeypatch):
    settings.BACKCHANNEL_RETENTION_DAYS = 7
    for number in range(10):
        post(f"old {number}", days_ago=8)
    post("new")
    assert "Would delete 10 message(s)" in prune("--dry-run")
    assert seqs() == list(range(1, 12))

    transactions = []
    batch = retention._batch
    monkeypatch.setattr(retention, "_batch", lambda **kwargs: transactions.append(kwargs) or batch(**kwargs))
    prune("--batch-size", "3")
    assert [each["end_seq"] for each in transactions] == [3, 6, 9, 10]
    assert seqs() == [11]


@pytest.mark.django_db
def test_retention_off_keeps_everything_and_days_can_be_given(settings):
    post("ancient", days_ago=3000)
    assert conf.RETENTION_DAYS == 0
    assert "nothing to do" in prune()
    assert seqs() == [1]
    assert "Deleted 1 message(s)" in prune("--days", "365")
    assert seqs() == []
    for bad in (["--days", "0"], ["--days", "40000"], ["--batch-size", "0"], ["--room", "Not A Room"]):
        with pytest.raises(CommandError):
            prune(*bad)


@pytest.mark.django_db
def test_one_room_can_be_pruned_alone(settings):
    settings.BACKCHANNEL_RETENTION_DAYS = 30
    post("old lobby", days_ago=40)
    post("old help", days_ago=40, room="help")
    prune("--room", "help")
    assert (seqs(), seqs("help")) == ([1], [])


@pytest.mark.django_db(transaction=True)
def test_pruning_while_people_post_leaves_every_new_message_and_no_gap():
    for number in range(40):
        post(f"old {number}", days_ago=10)

    def work(index: int) -> int:
        if index == 0:
            return retention.prune(days=5, batch_size=2).messages
        for number in range(20):
            post(f"new {number}", who=Identity(visitor=f"v-{number}", name="Cy"))
        return 0

    removed, _ = side_by_side(work, 2)
    assert removed == 40
    room = Room.objects.get(name="lobby")
    assert seqs() == list(range(room.pruned_seq + 1, room.last_seq + 1)) == list(range(41, 61))


# --- The setting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 36_501, "30", 1.5, True])
def test_a_bad_retention_is_refused_by_a_check_and_read_as_off(settings, value):
    settings.BACKCHANNEL_RETENTION_DAYS = value
    [problem] = check_retention()
    assert problem.id == "backchannel.E012" and "RETENTION_DAYS" in problem.msg
    assert conf.RETENTION_DAYS == 0


@pytest.mark.parametrize("value", [0, 1, 30, 36_500])
def test_a_good_retention_passes_the_check(settings, value):
    settings.BACKCHANNEL_RETENTION_DAYS = value
    assert check_retention() == []
    assert conf.RETENTION_DAYS == value


def test_the_backend_refuses_to_start_with_a_retention_over_a_century():
    # The environment's bound (the table's maximum) stops it before Django is set up, naming the
    # variable; check E012 holds a value set in code to the same century.
    result = run_backend("import django; django.setup()", {**PRODUCTION_ENV, "RETENTION_DAYS": "40000"})
    assert result.returncode != 0 and "RETENTION_DAYS=40000 must be at most 36500" in result.stderr
    result = run_backend("import django; django.setup()", {**PRODUCTION_ENV, "RETENTION_DAYS": "-3"})
    assert result.returncode != 0 and "RETENTION_DAYS" in result.stderr


@pytest.mark.parametrize(
    ("after_seq", "expected"),
    [(None, False), (0, False), (9, False), (10, True), (12, True), (15, True), (16, False)],
)
def test_a_resume_needs_a_view_that_reaches_no_removed_message(after_seq, expected):
    """Log: pruned through 10, latest 15. A view ending below 10 waits for a seq that is gone."""
    assert should_resume(after_seq=after_seq, latest_seq=15, resume_limit=500, pruned_seq=10) is expected


# --- Pages after a prune --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_history_api_ends_cleanly_where_the_log_now_starts(client, settings):
    settings.BACKCHANNEL_RETENTION_DAYS = 30
    settings.BACKCHANNEL_HISTORY_LIMIT = 3
    for number in range(5):
        post(f"old {number}", days_ago=40)
    for number in range(5):
        post(f"new {number}")
    prune()
    latest = client.get("/api/rooms/lobby/messages/", secure=True).json()
    assert ([message["seq"] for message in latest["messages"]], latest["has_older"]) == ([8, 9, 10], True)
    older = client.get("/api/rooms/lobby/messages/?before_seq=8", secure=True).json()
    assert ([message["seq"] for message in older["messages"]], older["has_older"]) == ([6, 7], False)
    gone = client.get("/api/rooms/lobby/messages/?before_seq=6", secure=True).json()
    assert (gone["messages"], gone["has_older"]) == ([], False)
    # Search never finds what is gone.
    search = client.get("/api/rooms/lobby/search/", {"q": "old"}, secure=True).json()
    assert search == {"results": [], "has_more": False}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("protocol", [None, 3])
async def test_joins_and_older_pages_after_a_prune(protocol):
    def setup() -> None:
        for number in range(5):
            post(f"old {number}", days_ago=40)
        for number in range(5):
            post(f"new {number}")
        call_command("prune_messages", "--days", "30", stdout=StringIO())

    await sync_to_async(setup)()
    async with opened(protocol=protocol) as reader:
        fresh = await reader.join("lobby", arrives=False)
        assert (fresh["resumed"], fresh["has_older"]) == (False, False)
        assert [message["seq"] for message in fresh["history"]] == [6, 7, 8, 9, 10]
        await reader.send(type="load_older", room="lobby", before_seq=6)
        older = await reader.expect("older")
        assert (older["messages"], older["has_older"]) == ([], False)

        # A view reaching below the new start (it still shows seq 3, and would wait for 4 and 5
        # for ever): the latest page replaces it, with nothing older.
        below = await reader.join("lobby", after_seq=3, arrives=False)
        assert (below["resumed"], below["has_older"]) == (False, False)
        assert [message["seq"] for message in below["history"]] == [6, 7, 8, 9, 10]
        # From the room's start (after_seq 0): that start is gone too.
        start = await reader.join("lobby", after_seq=0, arrives=False)
        assert (start["resumed"], [message["seq"] for message in start["history"]]) == (False, [6, 7, 8, 9, 10])
        # A view that ends at or after the start resumes as before; only above the start is older.
        at_start = await reader.join("lobby", after_seq=5, arrives=False)
        assert (at_start["resumed"], at_start["has_older"]) == (True, False)
        assert [message["seq"] for message in at_start["history"]] == [6, 7, 8, 9, 10]
        inside = await reader.join("lobby", after_seq=8, arrives=False)
        assert (inside["resumed"], inside["has_older"], [message["seq"] for message in inside["history"]]) == (
            True, True, [9, 10],
        )  # fmt: skip


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_reply_to_a_removed_message_shows_its_original_removed_on_open_pages():
    def old_and_reply() -> None:
        post("the original, long ago", days_ago=40)
        post("an unrelated old one", days_ago=40)
        post("a reply to it", who=BOB, reply_to=1)

    await sync_to_async(old_and_reply)()
    async with connected("Cy", protocol=3) as page, connected("Old") as old_page:
        joined = await page.join("lobby")
        assert joined["history"][-1]["reply_to"] == {
            "seq": 1, "author": "Ann", "excerpt": "the original, long ago", "deleted": False,
        }  # fmt: skip
        await old_page.join("lobby")
        await page.next()  # Old's arrival
        await sync_to_async(call_command)("prune_messages", "--days", "30", stdout=StringIO())

        changed = await page.expect("changed")
        assert (changed["rev"], changed["message"]["seq"]) == (1, 3)
        assert changed["message"]["reply_to"] == {"seq": 1, "author": "", "excerpt": "", "deleted": True}
        assert changed["message"]["text"] == "a reply to it"
        assert await old_page.silent()  # version 2 shows no quotes: nothing to tell it

        # A page that was away catches up by rev, like any change.
        rejoined = await page.join("lobby", after_seq=3, arrives=False, after_rev=0, first_seq=1)
        assert rejoined["resumed"] is True and rejoined["latest_rev"] == 1
        assert [(each["seq"], each["reply_to"]["deleted"]) for each in rejoined["changes"]] == [(3, True)]

        # Replying to a removed message is replying to nothing.
        await page.send(type="send", room="lobby", text="to the void", client_id="r9", reply_to=1)
        error = await page.error()
        assert (error["code"], error["client_id"]) == ("not_found", "r9")

    change = await sync_to_async(MessageChange.objects.get)()
    assert (change.kind, change.seq, change.payload) == ("prune", 3, {"through_seq": 2, "replies": [3]})
