"""Rooms and their messages: each room is an ordered log numbered by ``seq`` from 1, without gaps."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from chat.names import DISPLAY_NAME_MAX_CHARS
from chat.rooms import ROOM_NAME_MAX_CHARS, is_valid_room_name


def validate_room_name(value: str) -> None:
    if not is_valid_room_name(value):
        raise ValidationError("1-40 of a-z 0-9 and '-', starting and ending with a letter or digit")


class Room(models.Model):
    name = models.CharField(max_length=ROOM_NAME_MAX_CHARS, unique=True, validators=[validate_room_name])
    created_at = models.DateTimeField(default=timezone.now)
    # The seq of the newest message. Bumped in the same transaction that stores the message, so
    # the row lock on it hands out sequence numbers one writer at a time.
    last_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField()
    author = models.CharField(max_length=DISPLAY_NAME_MAX_CHARS)
    text = models.TextField()
    sent_at = models.DateTimeField(default=timezone.now)
    # The sender's own id for the message, echoed back so its client can match it.
    client_id = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="chat_message_room_seq_unique"),
            # The idempotency key: a resent message (retry, second tab, replayed outbox) is stored once.
            models.UniqueConstraint(
                fields=["room", "client_id"],
                condition=models.Q(client_id__isnull=False),
                name="chat_message_room_client_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room.name}#{self.seq} {self.author}: {self.text[:40]}"
