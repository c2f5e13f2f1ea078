"""The channel-layer messages consumers exchange, and how to send them from sync code.

Every message carries a ready-encoded frame, so each receiving consumer only writes it.
The database already holds whatever a frame announces, so a layer failure is logged, never
raised: open pages catch up from the log (and moderation state is re-read on every send).
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from chat.protocol import ServerEvent, encode_event
from chat.rooms import group_name_for

logger = logging.getLogger(__name__)

# Layer message types; channels routes each to the consumer method of the same name with '_'.
ROOM_FRAME = "room.frame"  # {"frame": str} written to every member of a room
MODERATION_NOTICE = "moderation.notice"  # {"frame": str, "close_code": int | None} to a visitor's/IP's sockets


def room_frame(event: ServerEvent) -> dict[str, str]:
    return {"type": ROOM_FRAME, "frame": encode_event(event)}


def moderation_notice(event: ServerEvent, close_code: int | None) -> dict[str, object]:
    return {"type": MODERATION_NOTICE, "frame": encode_event(event), "close_code": close_code}


def send_to_room(room: str, event: ServerEvent) -> None:
    """From sync code (the admin, a service): tell every member of ``room``."""
    send_to_group(group_name_for(room), room_frame(event))


def send_to_group(group: str, message: dict[str, object]) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(group, message)
    except Exception:  # noqa: BLE001 - any layer failure; the database holds the truth
        logger.exception("telling group %s failed; open pages will see it after their next rejoin", group)
