"""The write side: sequence numbers, idempotency (also under concurrency) and the rules that
refuse a message (sanctions, locks, slow mode, duplicates)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chat import moderation, services
from chat.identity import Identity
from chat.models import Message, Room, Sanction
from chat.protocol import ErrorCode
from tests.backend.concurrency import side_by_side

WRITER_THREADS = 4
MESSAGES_PER_WRITER = 25
ANN = Identity(visitor="v-ann", name="Ann")
BOB = Identity(visitor="v-bob", name="Bob")
MOD = Identity(visitor="staff-1", name="mod", staff=True)


def post(room: str = "lobby", text: str = "hi", identity: Identity = ANN, **kwargs) -> services.PostResult:
    return services.post_message(room_name=room, identity=identity, text=text, **kwargs)


def refusal(**kwargs) -> services.PostRefused:
    count = Message.objects.count()
    with pytest.raises(services.PostRefused) as caught:
        post(**kwargs)
    assert Message.objects.count() == count, "a refused message is not stored"
    assert caught.value.message
    return caught.value


@pytest.mark.django_db
def test_sequence_numbers_are_per_room_and_gapless():
    seqs = [post(room=room, text=f"x{number}").message.seq for number, room in enumerate("abaab")]
    assert seqs == [1, 1, 2, 3, 2]
    assert Room.objects.get(name="a").last_seq == 3


@pytest.mark.django_db
def test_the_author_is_the_identity():
    message = post(identity=MOD, ip="10.0.0.1").message
    assert (message.author, message.visitor, message.staff, message.ip) == ("mod", "staff-1", True, "10.0.0.1")


@pytest.mark.django_db
def test_a_client_id_is_stored_once_per_room():
    first = post(room="a", client_id="k1")
    again = post(room="a", client_id="k1")
    other_room = post(room="b", client_id="k1")
    assert (first.created, again.created, other_room.created) == (True, False, True)
    assert again.message.pk == first.message.pk
    assert Message.objects.filter(client_id="k1").count() == 2


@pytest.mark.django_db
def test_a_resend_is_acked_even_when_a_rule_would_now_refuse_a_new_message():
    first = post(client_id="k1")
    moderation.impose(kind=Sanction.Kind.MUTE, visitor=ANN.visitor)
    again = post(client_id="k1")
    assert (again.created, again.message.pk) == (False, first.message.pk)
    assert refusal(text="new", client_id="k2").code == ErrorCode.MUTED


@pytest.mark.django_db
def test_muted_and_banned_visitors_cannot_post():
    moderation.impose(kind=Sanction.Kind.MUTE, visitor=ANN.visitor, duration=timedelta(hours=1), reason="spam")
    refused = refusal()
    assert refused.code == ErrorCode.MUTED
    assert "until" in refused.message and "spam" in refused.message
    moderation.impose(kind=Sanction.Kind.BAN, ip="10.0.0.9")
    assert refusal(identity=BOB, ip="10.0.0.9").code == ErrorCode.BANNED
    assert post(identity=BOB, ip="10.0.0.8").created


@pytest.mark.django_db
def test_a_sanction_that_ended_no_longer_applies():
    sanction = moderation.impose(kind=Sanction.Kind.MUTE, visitor=ANN.visitor, duration=timedelta(hours=1))
    Sanction.objects.filter(pk=sanction.pk).update(until=timezone.now() - timedelta(seconds=1))
    assert post().created


@pytest.mark.django_db
def test_a_locked_room_is_read_only_except_for_staff():
    post(text="before")
    moderation.set_room_state(room=Room.objects.get(name="lobby"), locked=True, slow_mode_secs=0)
    assert refusal(text="after").code == ErrorCode.ROOM_LOCKED
    assert post(identity=MOD, text="staff may").created


@pytest.mark.django_db
def test_slow_mode_says_how_long_to_wait_and_spares_staff():
    start = timezone.now()
    post(text="first", now=start)
    moderation.set_room_state(room=Room.objects.get(name="lobby"), locked=False, slow_mode_secs=30)
    refused = refusal(text="second", now=start + timedelta(seconds=10))
    assert refused.code == ErrorCode.SLOW_MODE
    assert refused.retry_after_secs == pytest.approx(20)
    assert post(text="second", now=start + timedelta(seconds=30)).created
    assert post(identity=BOB, text="someone else", now=start + timedelta(seconds=31)).created
    assert post(identity=MOD, text="one", now=start + timedelta(seconds=31)).created
    assert post(identity=MOD, text="two", now=start + timedelta(seconds=31)).created


@pytest.mark.django_db
def test_the_same_text_again_soon_is_refused_ignoring_case_and_spacing(settings):
    settings.BACKCHANNEL_DUPLICATE_WINDOW_SECS = 60
    start = timezone.now()
    post(text="Buy  cheap\nstuff", now=start)
    assert refusal(text="buy cheap STUFF ", now=start + timedelta(seconds=5)).code == ErrorCode.DUPLICATE_TEXT
    assert post(room="other", text="buy cheap stuff", now=start + timedelta(seconds=5)).created
    assert post(identity=BOB, text="buy cheap stuff", now=start + timedelta(seconds=5)).created
    assert post(text="buy cheap stuff", now=start + timedelta(seconds=61)).created


@pytest.mark.django_db
def test_duplicate_rule_off(settings):
    settings.BACKCHANNEL_DUPLICATE_WINDOW_SECS = 0
    assert post(text="ok").created and post(text="ok").created


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_get_distinct_gapless_seqs_and_resends_are_stored_once():
    def write(writer: int) -> None:
        identity = Identity(visitor=f"w{writer}", name=f"w{writer}")
        for number in range(MESSAGES_PER_WRITER):
            # Every message twice, as a retrying client would: the second must store nothing.
            for _ in range(2):
                services.post_message(
                    room_name="busy", identity=identity, text=f"x{number}", client_id=f"w{writer}-{number}"
                )

    side_by_side(write, WRITER_THREADS)
    seqs = sorted(Message.objects.filter(room__name="busy").values_list("seq", flat=True))
    assert seqs == list(range(1, WRITER_THREADS * MESSAGES_PER_WRITER + 1))


def test_a_message_is_stored_as_the_orms_own_save_stores_it(db):
    """post_message's INSERT (built once per engine) writes what Message.objects.create writes."""
    room = Room.objects.create(name="lobby")
    fields = [field.attname for field in Message._meta.concrete_fields if not field.primary_key]
    stored = post(text="hello", client_id="c1", ip="203.0.113.5").message
    reference = Message.objects.create(
        room=room, seq=99, author=ANN.name, visitor=ANN.visitor, ip="203.0.113.5", text="hello", client_id="c2",
        sent_at=stored.sent_at,
    )  # fmt: skip
    stored_row, reference_row = (Message.objects.filter(pk=m.pk).values(*fields).get() for m in (stored, reference))
    differing = {name for name in fields if stored_row[name] != reference_row[name]}
    assert differing == {"seq", "client_id"}
    assert stored.pk is not None and not stored._state.adding
    assert [getattr(stored, name) for name in fields] == [stored_row[name] for name in fields]
    reply = post(text="re", client_id="c3", reply_to=stored.seq).message
    assert Message.objects.get(pk=reply.pk).reply_quote == reply.reply_quote == {
        "author": ANN.name, "excerpt": "hello", "deleted": False,
    }  # fmt: skip


def test_a_signal_handler_on_message_saves_still_hears_a_post(db):
    from django.db.models.signals import post_save

    heard = []

    def handler(sender, instance, created, **kwargs):
        heard.append((instance.text, created))

    post_save.connect(handler, sender=Message)
    try:
        post(text="heard")
    finally:
        post_save.disconnect(handler, sender=Message)
    assert heard == [("heard", True)]
