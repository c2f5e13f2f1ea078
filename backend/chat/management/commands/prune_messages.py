"""``manage.py prune_messages``: delete messages older than RETENTION_DAYS (chat.retention).

Meant for a scheduler (cron, a systemd timer, Heroku Scheduler), daily: it is idempotent, works in
short batches and is safe while the server runs. With RETENTION_DAYS at 0 (the default) it does
nothing and says so.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.conf import RETENTION_MAX_DAYS, conf
from chat.retention import DEFAULT_BATCH_SIZE, prune
from chat.rooms import is_valid_room_name


class Command(BaseCommand):
    help = (
        "Delete messages older than RETENTION_DAYS days (with their edits, reactions and reports), "
        "oldest first, so each room's log keeps gapless seqs and simply starts later."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=None,
            help="keep this many days instead of RETENTION_DAYS (for a one-off clean-up)",
        )  # fmt: skip
        parser.add_argument("--room", default=None, help="prune this room only")
        parser.add_argument(
            "--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
            help=f"messages deleted per transaction (default {DEFAULT_BATCH_SIZE})",
        )  # fmt: skip
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")

    def handle(self, *args: object, days: int | None, room: str | None, batch_size: int, dry_run: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more")
        if room is not None and not is_valid_room_name(room):
            raise CommandError(f"{room!r} is not a room name")
        if days is None:
            days = conf.RETENTION_DAYS
            if days == 0:
                self.stdout.write("RETENTION_DAYS is 0: messages are kept for ever; nothing to do.")
                return
        if not 1 <= days <= RETENTION_MAX_DAYS:
            raise CommandError(f"--days must be 1 to {RETENTION_MAX_DAYS}")
        done = prune(days=days, batch_size=batch_size, room_name=room, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        for name, count in sorted(done.rooms.items()):
            self.stdout.write(f"{name}: {verb.lower()} {count} message(s)")
        self.stdout.write(
            f"{verb} {done.messages} message(s) sent before {done.cutoff:%Y-%m-%d %H:%M:%S %Z} "
            f"in {len(done.rooms)} room(s)."
        )
