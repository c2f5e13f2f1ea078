"""Rooms and their messages (each room an ordered log numbered by ``seq`` from 1, without gaps),
the sanctions moderators set, and who is online where."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from chat.names import DISPLAY_NAME_MAX_CHARS
from chat.rooms import ROOM_NAME_MAX_CHARS, is_valid_room_name

VISITOR_ID_MAX_CHARS = 40


def column_of(model: type[models.Model], field_name: str) -> str:
    """The database column of one of ``model``'s concrete fields, for SQL written out."""
    field = model._meta.get_field(field_name)
    if not isinstance(field, models.Field) or field.column is None:
        raise ValueError(f"{model.__name__}.{field_name} has no column of its own")
    return field.column


def validate_room_name(value: str) -> None:
    if not is_valid_room_name(value):
        raise ValidationError("1-40 of a-z 0-9 and '-', starting and ending with a letter or digit")


class Room(models.Model):
    name = models.CharField(max_length=ROOM_NAME_MAX_CHARS, unique=True, validators=[validate_room_name])
    created_at = models.DateTimeField(default=timezone.now)
    # The seq of the newest message. Bumped in the same transaction that stores the message, so
    # the row lock on it hands out sequence numbers one writer at a time.
    last_seq = models.PositiveBigIntegerField(default=0)
    # The rev of the newest change to a message of the room (an edit, a deletion, a reaction):
    # the room's second gapless sequence, bumped like last_seq in the change's own transaction
    # (chat.changes), so version-3 clients resume changes as they resume messages.
    last_rev = models.PositiveBigIntegerField(default=0)
    # The highest seq the retention (chat.retention, RETENTION_DAYS) removed: the log now starts
    # right after it, still gapless (0: nothing removed). Only a prefix of the log is ever removed.
    pruned_seq = models.PositiveBigIntegerField(default=0)
    # Set by moderators (chat.moderation): a locked room is read-only for visitors; in slow mode a
    # visitor posts at most once every slow_mode_secs. Staff are exempt from both.
    locked = models.BooleanField(default=False)
    slow_mode_secs = models.PositiveIntegerField(default=0, help_text="0 turns slow mode off")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField()
    author = models.CharField(max_length=DISPLAY_NAME_MAX_CHARS)
    # The author's identity (chat.identity): the public visitor id and whether staff posted it.
    visitor = models.CharField(max_length=VISITOR_ID_MAX_CHARS, blank=True, default="")
    staff = models.BooleanField(default=False)
    # Where it came from, so a moderator can ban the address along with the identity.
    ip = models.GenericIPAddressField(null=True, blank=True)
    text = models.TextField()
    sent_at = models.DateTimeField(default=timezone.now)
    # The sender's own id for the message, echoed back so its client can match it.
    client_id = models.CharField(max_length=64, null=True, blank=True)
    # A deleted message stays in the log as a tombstone so seq keeps no gaps; it is sent without
    # author or text.
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.CharField(max_length=150, blank=True, default="")
    deleted_reason = models.CharField(max_length=200, blank=True, default="")
    # The message's current state beyond its text (protocol version 3), kept on the row so a page
    # of history stays one query. ``rev``: the room rev of its latest change (0: never changed).
    rev = models.PositiveBigIntegerField(default=0)
    edited_at = models.DateTimeField(null=True, blank=True)
    # The message this one replies to, and its quote ({author, excerpt, deleted}) as read when this
    # one was sent; a deletion of the original marks the quote deleted (chat.changes).
    reply_to_seq = models.PositiveBigIntegerField(null=True, blank=True)
    reply_quote = models.JSONField(null=True, blank=True)
    # [{emoji, count, names, visitors}] in REACTION_EMOJI order, names (and their visitor ids) the
    # first reactors: what pages show, derived from the Reaction rows whenever they change.
    reactions = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="chat_message_room_seq_unique"),
            # The idempotency key: a resent message (retry, second tab, replayed outbox) is stored once.
            # Unconditional: MySQL/MariaDB cannot make a conditional unique index (Django skips it
            # with models.W036), and every engine lets NULLs repeat in a unique index anyway, so
            # messages without a client_id (the admin, scripts) are not constrained on any of them.
            models.UniqueConstraint(fields=["room", "client_id"], name="chat_message_room_client_id_unique"),
        ]
        indexes = [
            # Slow mode and duplicate checks read a visitor's latest messages in a room.
            models.Index(fields=["room", "visitor", "sent_at"], name="chat_message_visitor_recent"),
            # A resume reads the messages changed since the client's rev.
            models.Index(fields=["room", "rev"], name="chat_message_room_rev"),
            # A deletion refreshes the quotes of the replies to the deleted message.
            models.Index(fields=["room", "reply_to_seq"], name="chat_message_replies"),
        ]

    def __str__(self) -> str:
        return f"{self.room.name}#{self.seq} {self.author}: {self.text[:40]}"


class MessageChange(models.Model):
    """One change to a message, numbered by the room's rev (gapless, from 1): the log version-3
    clients resume changes from, and the edit history moderators read in the admin."""

    class Kind(models.TextChoices):
        EDIT = "edit", "edit"
        DELETE = "delete", "delete"
        REACT = "react", "react"
        UNREACT = "unreact", "unreact"
        # The retention removed the originals some replies quote: their quotes show them removed.
        PRUNE = "prune", "prune"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="changes")
    rev = models.PositiveBigIntegerField()
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # Who made it: the visitor id (a staff identity's too); empty for a moderator in the admin.
    visitor = models.CharField(max_length=VISITOR_ID_MAX_CHARS, blank=True, default="")
    # The client's idempotency key: a resent change (the outbox after a reconnect) is applied once.
    client_id = models.CharField(max_length=64, null=True, blank=True)
    # What changed: an edit's text and the text before it, a reaction's emoji, a deletion's
    # moderator and reason.
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["room", "rev"]
        constraints = [
            models.UniqueConstraint(fields=["room", "rev"], name="chat_messagechange_room_rev_unique"),
            # Unconditional, for MySQL/MariaDB (as Message's key): NULL client_ids repeat freely.
            models.UniqueConstraint(
                fields=["room", "visitor", "client_id"], name="chat_messagechange_room_client_id_unique"
            ),
        ]
        indexes = [
            # A message's history (the admin); the retention's deletes of a prefix of the log.
            models.Index(fields=["room", "seq"], name="chat_messagechange_room_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.room.name} rev {self.rev}: {self.kind} #{self.seq}"


class Reaction(models.Model):
    """Who reacted with which emoji to which message: one per person per emoji."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reaction_rows")
    emoji = models.CharField(max_length=16)  # changes.emoji_key: code points in hex, not the glyph
    visitor = models.CharField(max_length=VISITOR_ID_MAX_CHARS)
    name = models.CharField(max_length=DISPLAY_NAME_MAX_CHARS)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "emoji", "visitor"], name="chat_reaction_once_per_person"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.emoji} {self.message_id}"


class Sanction(models.Model):
    """A mute (can read, cannot post) or a ban (cannot connect) of a visitor, an IP address or both.

    ``ip`` is an address sanction (everyone on that address: an explicit choice). ``seen_ip`` is
    only where the sanctioned identity was last seen: new identities issued to that address within
    SANCTION_ADDRESS_CARRY_SECS get the sanction too (chat.moderation.carry_over), so clearing
    storage for a new name does not shake off a mute. Lifting keeps the row (lifted_at)."""

    class Kind(models.TextChoices):
        MUTE = "mute", "mute"
        BAN = "ban", "ban"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    visitor = models.CharField(max_length=VISITOR_ID_MAX_CHARS, blank=True, default="", db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    reason = models.CharField(max_length=200, blank=True, default="")
    until = models.DateTimeField(null=True, blank=True, help_text="empty: until lifted")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150, blank=True, default="")
    # The display name the visitor went by when sanctioned (moderators search and read names).
    visitor_name = models.CharField(max_length=DISPLAY_NAME_MAX_CHARS, blank=True, default="")
    seen_ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    # Set on the copy a new identity from seen_ip got; lifting the original lifts its copies.
    carried_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="carried_copies"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.CharField(max_length=150, blank=True, default="")
    lifted_reason = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(visitor="") | models.Q(ip__isnull=False), name="chat_sanction_has_target"
            ),
        ]

    def __str__(self) -> str:
        target = " ".join(part for part in (self.visitor, self.ip or "") if part)
        return f"{self.kind} {target}"


class Presence(models.Model):
    """One joined socket in one room. Shared by every process through the database."""

    room_name = models.CharField(max_length=ROOM_NAME_MAX_CHARS)
    channel_name = models.CharField(max_length=200)
    visitor = models.CharField(max_length=VISITOR_ID_MAX_CHARS)
    name = models.CharField(max_length=DISPLAY_NAME_MAX_CHARS)
    staff = models.BooleanField(default=False)
    # The socket's address: how many people an address ban would reach, and which addresses are
    # signed-in staff's (never sanctioned).
    ip = models.GenericIPAddressField(null=True, blank=True)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room_name", "channel_name"], name="chat_presence_socket_unique"),
        ]
        indexes = [
            models.Index(fields=["ip"], name="chat_presence_ip"),
            models.Index(fields=["room_name", "visitor"], name="chat_presence_room_visitor"),
            models.Index(fields=["channel_name"], name="chat_presence_channel"),
            models.Index(fields=["last_seen"], name="chat_presence_last_seen"),
        ]

    def __str__(self) -> str:
        return f"{self.name} in {self.room_name}"


class BlockedWord(models.Model):
    """A word, phrase or pattern of the word filter (chat.wordfilter), kept by moderators in the
    admin. Matched in folded text: case, width, look-alike letters, accents, invisible characters
    and spaced-out letters ("b a d") do not get around it."""

    class Kind(models.TextChoices):
        WORD = "word", "word or phrase"
        PATTERN = "pattern", "pattern (Python regular expression)"

    class Action(models.TextChoices):
        REFUSE = "refuse", "refuse (the sender is told, nothing is stored)"
        HOLD = "hold", "hold for review (posted once a moderator approves it)"

    text = models.CharField(
        max_length=200,
        help_text="A word or phrase as you would write it; a pattern is matched against the folded text "
        "(lower case, look-alike letters as Latin, no accents, single spaces).",
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.WORD)
    action = models.CharField(max_length=8, choices=Action.choices, default=Action.REFUSE)
    note = models.CharField(max_length=200, blank=True, default="", help_text="why it is here (moderators only)")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        ordering = ["text"]

    def __str__(self) -> str:
        return f"{self.text} ({self.action})"

    def clean(self) -> None:
        from chat.wordfilter import entry_problem  # the filter owns what an entry may be

        problem = entry_problem(self.text, self.kind)
        if problem:
            raise ValidationError({"text": problem})


class HeldMessage(models.Model):
    """A message the word filter held for review: stored here, not in the room's log, until a
    moderator approves it (it is then posted with the room's next seq) or rejects it."""

    class Status(models.TextChoices):
        HELD = "held", "waiting for review"
        APPROVED = "approved", "approved (posted)"
        REJECTED = "rejected", "rejected"

    room_name = models.CharField(max_length=ROOM_NAME_MAX_CHARS, validators=[validate_room_name])
    author = models.CharField(max_length=DISPLAY_NAME_MAX_CHARS)
    visitor = models.CharField(max_length=VISITOR_ID_MAX_CHARS, blank=True, default="")
    staff = models.BooleanField(default=False)
    ip = models.GenericIPAddressField(null=True, blank=True)
    text = models.TextField()
    client_id = models.CharField(max_length=64, null=True, blank=True)
    sent_at = models.DateTimeField(default=timezone.now)
    # What matched, as it read when the message was held (the entry may change or go later).
    matched = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.HELD, db_index=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.CharField(max_length=150, blank=True, default="")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            # A resend of a held message (the outbox after a reconnect) is held once. Unconditional,
            # for MySQL/MariaDB, as Message's idempotency key above.
            models.UniqueConstraint(fields=["room_name", "client_id"], name="chat_heldmessage_room_client_id_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.room_name}: {self.author}: {self.text[:40]}"


class Report(models.Model):
    """A visitor's report of someone else's message, for moderators (one per visitor and message;
    dismissing keeps it on record)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reports")
    visitor = models.CharField(max_length=VISITOR_ID_MAX_CHARS)
    name = models.CharField(max_length=DISPLAY_NAME_MAX_CHARS)
    ip = models.GenericIPAddressField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["message", "visitor"], name="chat_report_once_per_visitor"),
        ]

    def __str__(self) -> str:
        return f"{self.name} reported {self.message_id}"
