"""The room-name rule. Mirrored by ``themes/backchannel/assets/backchannel/js/rooms.js``.

1 to 40 characters of a-z, 0-9 and '-', starting and ending with a letter or digit: safe in a
URL, in a channel-layer group name and in a Redis key without escaping.
"""

from __future__ import annotations

import re

ROOM_NAME_MAX_CHARS = 40
ROOM_NAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")


def is_valid_room_name(name: str) -> bool:
    # fullmatch, not match: "$" alone would accept a trailing newline.
    return ROOM_NAME_PATTERN.fullmatch(name) is not None


def group_name_for(room: str) -> str:
    """The channel-layer group whose members receive the room's events."""
    return f"room.{room}"
