"""``manage.py export_room <room> --format json|csv [--output FILE]``: a room's log, for its owner
(chat.export: messages in seq order in their current state, written as they are read)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat import export
from chat.models import Room
from chat.rooms import is_valid_room_name


class Command(BaseCommand):
    help = (
        "Write a room's messages in seq order, edits applied, deleted ones as tombstones, with the seq each "
        "replies to and its reaction counts, as JSON or CSV (to a file, or standard output)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("room", help="the room's name")
        parser.add_argument("--format", choices=export.FORMATS, default="json", help="json (the default) or csv")
        parser.add_argument("--output", "-o", default=None, help="a file to write (default: standard output)")

    def handle(self, *args: object, room: str, format: export.Format, output: str | None, **options) -> None:  # noqa: A002
        if not is_valid_room_name(room):
            raise CommandError(f"{room!r} is not a room name")
        found = Room.objects.filter(name=room).first()
        if found is None:
            raise CommandError(f"there is no room {room!r}")
        if output is None:
            for chunk in export.chunks(found, format):
                self.stdout.write(chunk, ending="")
            return
        # newline="": the csv module writes its own line endings (\r\n), as RFC 4180 says.
        with open(output, "w", encoding="utf-8", newline="") as file:
            for chunk in export.chunks(found, format):
                file.write(chunk)
        self.stderr.write(f"Exported {room} as {format} to {output}.")
