"""Exporting a room (`manage.py export_room`, the admin's "Export as JSON/CSV" on rooms): what a
site owner opening the file would see."""

from __future__ import annotations

import csv
import io
import itertools
import json
import warnings
from datetime import timedelta
from io import StringIO

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import AsyncClient
from django.utils import timezone

from chat import changes, export, moderation, services
from chat.identity import Identity, visitor_tag
from chat.models import Message, Room

pytestmark = pytest.mark.django_db

ANN = Identity(visitor="v-ann", name="Ann")
BOB = Identity(visitor="v-bob", name="Bob")
_client_ids = itertools.count(1)


def post(text: str, *, room: str = "lobby", who: Identity = ANN, reply_to: int | None = None, days_ago: float = 0):
    return services.store_message(
        room_name=room, identity=who, text=text, client_id=f"c{next(_client_ids)}", ip="192.0.2.1",
        now=timezone.now() - timedelta(days=days_ago), reply_to=reply_to,
    ).message  # fmt: skip


@pytest.fixture
def conversation() -> Room:
    """Five messages: an edit, a deletion, a reply, reactions, Japanese, and a formula-like text."""
    post("helo everyone")
    post("こんにちは、東京から", who=BOB)
    post("buy pills now", who=Identity(visitor="v-spam", name="Spammer"))
    post("welcome!", who=BOB, reply_to=1)
    post('=HYPERLINK("http://evil.example","click")', who=Identity(visitor="v-eve", name="@eve"))
    changes.edit_message(room_name="lobby", identity=ANN, seq=1, text="hello everyone", client_id="e1")
    moderation.delete_message(message=Message.objects.get(seq=3), by="mod", reason="spam")
    for number, (who, emoji) in enumerate([(BOB, "🎉"), (ANN, "🎉"), (ANN, "👍")]):
        changes.react(room_name="lobby", identity=who, seq=1, emoji=emoji, on=True, client_id=f"r{number}")
    return Room.objects.get(name="lobby")


def export_room(*args: str) -> str:
    out = StringIO()
    call_command("export_room", *args, stdout=out)
    return out.getvalue()


def test_json_holds_every_message_in_seq_order_in_its_current_state(conversation):
    document = json.loads(export_room("lobby", "--format", "json"))
    assert (document["room"], document["first_seq"]) == ("lobby", 1)
    assert document["exported_at"].endswith("Z")
    messages = document["messages"]
    assert [message["seq"] for message in messages] == [1, 2, 3, 4, 5]
    first, japanese, deleted, reply, _ = messages
    assert first == {
        "seq": 1, "sent_at": first["sent_at"], "author": "Ann", "visitor": "v-ann", "tag": visitor_tag("v-ann"),
        "staff": False, "text": "hello everyone", "edited": True, "edited_at": first["edited_at"], "deleted": False,
        "reply_to": None, "reactions": {"👍": 1, "🎉": 2},
    }  # fmt: skip
    assert first["edited_at"] is not None
    assert (japanese["text"], japanese["edited"], japanese["reactions"]) == ("こんにちは、東京から", False, {})
    assert deleted == {
        "seq": 3, "sent_at": deleted["sent_at"], "author": "", "visitor": "", "tag": "", "staff": False, "text": "",
        "edited": False, "edited_at": None, "deleted": True, "reply_to": None, "reactions": {},
    }  # fmt: skip
    assert (reply["text"], reply["reply_to"]) == ("welcome!", 1)
    assert "192.0.2.1" not in json.dumps(document)  # addresses stay out


def test_csv_opens_with_one_row_per_message(conversation, tmp_path):
    path = tmp_path / "lobby.csv"
    export_room("lobby", "--format", "csv", "--output", str(path))
    raw = path.read_bytes()
    assert raw.startswith("\ufeff".encode())  # the byte-order mark spreadsheets need for Japanese
    with path.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == export.CSV_COLUMNS
    assert [(row["seq"], row["author"], row["text"]) for row in rows] == [
        ("1", "Ann", "hello everyone"),
        ("2", "Bob", "こんにちは、東京から"),
        ("3", "", ""),
        ("4", "Bob", "welcome!"),
        # Would be a live formula in a spreadsheet: shown as text instead.
        ("5", "'@eve", '\'=HYPERLINK("http://evil.example","click")'),
    ]
    first, _, deleted, reply, _ = rows
    assert (first["edited"], first["deleted"], first["reply_to"]) == ("true", "false", "")
    assert first["reactions"] == "👍 1 🎉 2"
    assert (deleted["deleted"], deleted["edited"]) == ("true", "false")
    assert reply["reply_to"] == "1"


def test_the_room_is_read_in_batches_and_written_as_it_is_read(conversation, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(export, "EXPORT_BATCH_SIZE", 2)
    chunks = export.chunks(conversation, "json")
    with django_assert_num_queries(0):
        head = next(chunks)  # nothing read before the first message is asked for
    assert head.startswith('{"room": "lobby"')
    with django_assert_num_queries(1):
        first_batch = next(chunks)
    assert [json.loads(line.rstrip(","))["seq"] for line in first_batch.strip().splitlines()] == [1, 2]
    rest = list(chunks)
    assert len(rest) == 3  # messages 3-4, message 5, the end
    document = json.loads(head + first_batch + "".join(rest))
    assert [message["seq"] for message in document["messages"]] == [1, 2, 3, 4, 5]


def test_an_empty_or_pruned_room_exports_what_is_left(conversation):
    Room.objects.create(name="quiet")
    assert json.loads(export_room("quiet"))["messages"] == []
    assert export_room("quiet", "--format", "csv").strip() == "\ufeff" + ",".join(export.CSV_COLUMNS)
    post("much later")
    Message.objects.filter(seq__lte=5).update(sent_at=timezone.now() - timedelta(days=40))
    call_command("prune_messages", "--days", "30", stdout=StringIO())
    document = json.loads(export_room("lobby"))
    assert (document["first_seq"], [message["seq"] for message in document["messages"]]) == (6, [6])


def test_unknown_rooms_and_formats_are_refused():
    with pytest.raises(CommandError, match="no room 'nobody'"):
        export_room("nobody")
    with pytest.raises(CommandError, match="not a room name"):
        export_room("Not A Room")
    with pytest.raises(CommandError, match="invalid choice"):
        export_room("lobby", "--format", "xml")


# --- The admin --------------------------------------------------------------------------------------


def admin_export(client, action: str, *rooms: Room):
    data = {"action": action, "_selected_action": [str(room.pk) for room in rooms], "index": "0"}
    return client.post("/admin/chat/room/", data, secure=True)


def test_staff_download_a_room_from_the_admin(conversation, admin_client):
    response = admin_export(admin_client, "export_csv", conversation)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="lobby-{timezone.now():%Y%m%d}.csv"'
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [row["text"] for row in rows][:2] == ["hello everyone", "こんにちは、東京から"]

    response = admin_export(admin_client, "export_json", conversation)
    assert response["Content-Type"] == "application/json; charset=utf-8"
    document = json.loads(b"".join(response.streaming_content))
    assert len(document["messages"]) == 5


def test_the_admin_exports_one_room_at_a_time(conversation, admin_client):
    other = Room.objects.create(name="help")
    response = admin_export(admin_client, "export_json", conversation, other)
    assert response.status_code == 302
    followed = admin_client.get(response["Location"], secure=True)
    assert "Export one room at a time" in followed.content.decode()


def test_only_staff_who_may_read_messages_can_export(conversation, client):
    room_keeper = User.objects.create_user("keeper", password="x", is_staff=True)
    room_keeper.user_permissions.add(Permission.objects.get(codename="view_room"))
    client.force_login(room_keeper)
    page = client.get("/admin/chat/room/", secure=True).content.decode()
    assert "export_json" not in page
    response = admin_export(client, "export_json", conversation)
    assert not getattr(response, "streaming", False)

    room_keeper.user_permissions.add(Permission.objects.get(codename="view_message"))
    room_keeper = User.objects.get(pk=room_keeper.pk)  # permissions are cached on the instance
    client.force_login(room_keeper)
    assert "export_json" in client.get("/admin/chat/room/", secure=True).content.decode()
    assert admin_export(client, "export_json", conversation).streaming

    visitor = User.objects.create_user("visitor", password="x")
    client.force_login(visitor)
    assert admin_export(client, "export_json", conversation).status_code == 302  # to the login page


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_admin_streams_the_room_a_batch_at_a_time(conversation, monkeypatch):
    """daphne serves the admin in the one-process layout: Django would read a plain iterator
    whole into memory there; the export goes out as it is read instead."""
    monkeypatch.setattr(export, "EXPORT_BATCH_SIZE", 2)
    boss = await sync_to_async(User.objects.create_superuser)("boss", password="x")
    client = AsyncClient()
    await client.aforce_login(boss)
    data = {"action": "export_json", "_selected_action": [str(conversation.pk)], "index": "0"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = await client.post("/admin/chat/room/", data, secure=True)
        assert response.streaming and response.is_async
        chunks = [chunk async for chunk in response.streaming_content]
    assert not [warning for warning in caught if "must consume" in str(warning.message)]
    assert len(chunks) == 5  # the head, messages 1-2, 3-4, 5, the end
    document = json.loads(b"".join(chunks))
    assert [message["seq"] for message in document["messages"]] == [1, 2, 3, 4, 5]
