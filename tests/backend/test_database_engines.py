"""What every supported database (SQLite, PostgreSQL, MySQL/MariaDB) must hold under concurrent
writers, as a room's members would notice it: a room's first messages posted from several sockets
at once are all stored, numbered 1..N without gaps (no deadlock turned into `server_error`); a
message resent from two sockets at once is stored once; emoji are stored as sent.

These run on every engine (`make test`, `make test-postgres`, `make test-mysql`); the ones marked
``mysql`` need a MySQL/MariaDB and run in `make test-mysql` (TEST_MYSQL_URL) only.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from chat import services
from chat.identity import Identity
from chat.models import HeldMessage, Message, Room
from scripts.processes import BACKEND_DIR, backend_env
from tests.backend.concurrency import side_by_side

FIRST_POST_ROUNDS = 10
FIRST_POST_WRITERS = 4
FIRST_POSTS_PER_WRITER = 3
DUPLICATE_RACES = 20
DUPLICATE_SENDERS = 4


def post(room: str, visitor: str, client_id: str, text: str) -> services.PostResult:
    return services.post_message(
        room_name=room, identity=Identity(visitor=visitor, name=visitor), text=text, client_id=client_id
    )


@pytest.mark.django_db(transaction=True)
def test_four_writers_posting_a_rooms_first_messages_at_once_all_get_gapless_seqs():
    for round_number in range(FIRST_POST_ROUNDS):
        room = f"first-{round_number}"

        def write(writer: int, room: str = room) -> list[int]:
            return [
                post(room, f"w{writer}", f"w{writer}-{number}", f"hello {number}").message.seq
                for number in range(FIRST_POSTS_PER_WRITER)
            ]

        seqs = sorted(seq for writer_seqs in side_by_side(write, FIRST_POST_WRITERS) for seq in writer_seqs)
        expected = list(range(1, FIRST_POST_WRITERS * FIRST_POSTS_PER_WRITER + 1))
        assert seqs == expected, f"round {round_number}: {seqs}"
        assert Room.objects.filter(name=room).count() == 1
        assert Room.objects.get(name=room).last_seq == expected[-1]


@pytest.mark.django_db(transaction=True)
def test_one_client_id_sent_from_four_sockets_at_once_is_stored_once():
    stored_twice = []
    for race in range(DUPLICATE_RACES):
        room = f"race-{race % 3}"  # rooms with history as well as fresh ones
        client_id = f"dup-{race}"

        def send(_sender: int, room: str = room, client_id: str = client_id) -> tuple[int, bool]:
            result = post(room, "ann", client_id, f"only once {client_id}")
            return result.message.seq, result.created

        results = side_by_side(send, DUPLICATE_SENDERS)
        stored = Message.objects.filter(room__name=room, client_id=client_id).count()
        if stored != 1 or sum(created for _, created in results) != 1 or len({seq for seq, _ in results}) != 1:
            stored_twice.append((race, stored, results))
    assert stored_twice == []
    for room in Room.objects.filter(name__startswith="race-"):
        seqs = list(room.messages.order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1)), f"{room.name} has gaps: {seqs}"


@pytest.mark.django_db(transaction=True)
def test_the_database_itself_refuses_a_second_message_with_the_same_client_id():
    """Not only the service's check: the unique constraint exists on this engine (on MySQL a
    conditional one was silently never created), while messages without a client_id may repeat."""
    room = Room.objects.create(name="constraint")
    Message.objects.create(room=room, seq=1, author="a", text="x", client_id="same")
    Message.objects.create(room=room, seq=2, author="a", text="x", client_id=None)
    Message.objects.create(room=room, seq=3, author="a", text="x", client_id=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(room=room, seq=4, author="a", text="x", client_id="same")
    HeldMessage.objects.create(room_name="constraint", author="a", text="x", client_id="held")
    with pytest.raises(IntegrityError), transaction.atomic():
        HeldMessage.objects.create(room_name="constraint", author="a", text="x", client_id="held")


@pytest.mark.django_db
def test_emoji_and_other_characters_past_u_ffff_are_stored_as_sent():
    text = "party 🎉 𝒳 𠀀"
    stored = post("emoji", "ann", "e1", text).message
    assert Message.objects.get(pk=stored.pk).text == text


@pytest.mark.django_db
def test_no_model_check_warns_on_this_engine(capsys):
    """models.W036 (a constraint the engine cannot make, skipped) would mean lost idempotency."""
    call_command("check", databases=["default"], fail_level="WARNING")


# --- MySQL/MariaDB only ------------------------------------------------------------------------


def _mysql_admin(statement: str) -> None:
    import MySQLdb

    settings = connection.settings_dict
    with MySQLdb.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=int(settings["PORT"] or 3306),
        user=settings["USER"] or "root",
        password=settings["PASSWORD"] or "",
        connect_timeout=10,
    ) as admin:
        admin.cursor().execute(statement)


@pytest.mark.mysql
def test_a_mysql_database_that_is_not_utf8mb4_is_refused_at_start_up():
    settings = connection.settings_dict
    name = f"backchannel_utf8mb3_{uuid.uuid4().hex[:10]}"
    _mysql_admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci")
    try:
        user = settings["USER"] or "root"
        password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
        url = f"mysql://{user}{password}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 3306}/{name}"
        env = backend_env({"SECRET_KEY": "charset-" + "k" * 50, "DATABASE_URL": url})
        started = subprocess.run(
            [sys.executable, "-c", "import backchannel.asgi"],
            cwd=BACKEND_DIR, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert started.returncode != 0
        assert "backchannel.E010" in started.stderr and "utf8mb3" in started.stderr, started.stderr[-2000:]
        migrated = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input"],
            cwd=BACKEND_DIR, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert migrated.returncode != 0 and "backchannel.E010" in migrated.stderr, migrated.stderr[-2000:]
    finally:
        _mysql_admin(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.mark.mysql
@pytest.mark.django_db
def test_the_test_database_is_utf8mb4_and_passes_the_charset_check():
    from chat.checks import check_database_charset

    assert connection.vendor == "mysql"
    assert check_database_charset(databases=["default"]) == []
