"""The room-name rule. Mirrored by ``themes/backchannel/assets/backchannel/js/rooms.js``.

1 to 40 characters of a-z, 0-9 and '-', starting and ending with a letter or digit: safe in a
URL, in a channel-layer group name and in a Redis key without escaping.
"""

from __future__ import annotations

import hashlib
import re

ROOM_NAME_MAX_CHARS = 40
ROOM_NAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")


def is_valid_room_name(name: str) -> bool:
    # fullmatch, not match: "$" alone would accept a trailing newline.
    return ROOM_NAME_PATTERN.fullmatch(name) is not None


def group_name_for(room: str) -> str:
    """The channel-layer group whose members receive the room's events."""
    return f"room.{room}"


def visitor_group_for(visitor: str) -> str:
    """The group of every socket one identity has open (moderation reaches them all)."""
    # Visitor ids are A-Za-z0-9_- (chat.identity), all allowed in a group name.
    return f"visitor.{visitor}"


def ip_group_for(ip: str) -> str:
    """The group of every socket from one IP address (an IP ban reaches them all)."""
    # ':' of IPv6 is not allowed in a group name; a digest also keeps addresses out of Redis keys.
    return f"ip.{hashlib.sha256(ip.encode()).hexdigest()[:32]}"
