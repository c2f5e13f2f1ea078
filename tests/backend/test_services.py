"""The room log's write side: sequence numbers and idempotency, including under concurrency."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from chat import services
from chat.models import Message

WRITER_THREADS = 4
MESSAGES_PER_WRITER = 25


@pytest.mark.django_db
def test_sequence_numbers_are_per_room_and_gapless():
    seqs = [services.post_message(room_name=room, author="Ann", text="x").message.seq for room in "abaab"]
    assert seqs == [1, 1, 2, 3, 2]


@pytest.mark.django_db
def test_a_client_id_is_stored_once_per_room():
    first = services.post_message(room_name="a", author="Ann", text="hi", client_id="k1")
    again = services.post_message(room_name="a", author="Ann", text="hi", client_id="k1")
    other_room = services.post_message(room_name="b", author="Ann", text="hi", client_id="k1")
    assert (first.created, again.created, other_room.created) == (True, False, True)
    assert again.message.pk == first.message.pk
    assert Message.objects.filter(client_id="k1").count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_get_distinct_gapless_seqs_and_resends_are_stored_once():
    failures: list[BaseException] = []
    start = threading.Barrier(WRITER_THREADS)

    def write(writer: int) -> None:
        try:
            start.wait()
            for number in range(MESSAGES_PER_WRITER):
                # Every message twice, as a retrying client would: the second must store nothing.
                for _ in range(2):
                    services.post_message(room_name="busy", author=f"w{writer}", text="x",
                                          client_id=f"w{writer}-{number}")
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(WRITER_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    seqs = sorted(Message.objects.filter(room__name="busy").values_list("seq", flat=True))
    assert seqs == list(range(1, WRITER_THREADS * MESSAGES_PER_WRITER + 1))
