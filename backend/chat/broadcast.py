"""The channel-layer messages that carry frames to sockets, and how to publish them.

Every message names its group and carries a ready-encoded frame: a process reads it once from
the layer (``chat.fanout``) and writes the same frame to each of its local members. The database
already holds whatever a frame announces, so a layer failure is logged, never raised: open pages
catch up from the log (and moderation state is re-read on every send).
"""

from __future__ import annotations

import logging
from typing import Final, Literal, NotRequired, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from chat import metrics
from chat.protocol import ServerEvent, encode_event
from chat.rooms import group_name_for

logger = logging.getLogger(__name__)

# Layer message types. chat.fanout hands each message to the member sockets of its group.
ROOM_FRAME: Final = "room.frame"  # written to every member of a room
MODERATION_NOTICE: Final = "moderation.notice"  # written to a visitor's/IP's sockets, which may then close
SANCTIONS_CHANGED: Final = "sanctions.changed"  # to every process (chat.sanction_cache): drop its copy


class LayerMessage(TypedDict):
    type: Literal["room.frame", "moderation.notice", "sanctions.changed"]
    group: str  # the group it was sent to: the fan-out finds the local members by it
    frame: str  # the encoded server event, written as it is ("": nothing, for version-2 sockets)
    # For version-3 sockets, when they get something else than ``frame`` ("": nothing): a message
    # in its current state, `changed` where version 2 gets `deleted` or nothing.
    frame_v3: NotRequired[str]
    skip_socket: NotRequired[str]  # a socket that must not get it (a typist's own typing)
    close_code: NotRequired[int | None]  # moderation: close the socket after writing the frame
    # A room frame that announces no change of the room's log (presence, typing): the process's
    # copy of the room's latest page (chat.page_cache) stays.
    log_unchanged: NotRequired[bool]


def room_frame(
    room: str, frame: str, *, skip_socket: str | None = None, frame_v3: str | None = None, log_unchanged: bool = False
) -> LayerMessage:
    message: LayerMessage = {"type": ROOM_FRAME, "group": group_name_for(room), "frame": frame}
    if log_unchanged:
        message["log_unchanged"] = True
    if skip_socket is not None:
        message["skip_socket"] = skip_socket
    if frame_v3 is not None:
        message["frame_v3"] = frame_v3
    return message


def frame_for(message: LayerMessage, protocol: int) -> str:
    """What a socket speaking ``protocol`` writes of ``message`` ("": nothing)."""
    if protocol >= 3:
        return message.get("frame_v3", message["frame"])
    return message["frame"]


def moderation_notice(group: str, event: ServerEvent, close_code: int | None) -> LayerMessage:
    return {"type": MODERATION_NOTICE, "group": group, "frame": encode_event(event), "close_code": close_code}


async def publish(message: LayerMessage) -> None:
    """Hand a message to its group on every process."""
    try:
        await get_channel_layer().group_send(message["group"], message)
    except Exception:  # noqa: BLE001 - any layer failure; the log is the source of truth
        metrics.layer_publish_errors.inc()
        logger.exception("publishing to %s failed; open pages will catch up from the log", message["group"])


def send_to_room(room: str, event: ServerEvent) -> None:
    """From sync code (the admin, a service): tell every member of ``room``."""
    async_to_sync(publish)(room_frame(room, encode_event(event)))


def send_frames_to_room(room: str, frames: list[tuple[str, str]]) -> None:
    """From sync code: hand every member of ``room`` each ``(frame, frame_v3)`` in turn, the one
    its version reads ("": nothing)."""

    async def publish_all() -> None:
        for frame, frame_v3 in frames:
            await publish(room_frame(room, frame, frame_v3=frame_v3))

    async_to_sync(publish_all)()


def send_to_group(message: LayerMessage) -> None:
    """From sync code: hand ``message`` to its group."""
    async_to_sync(publish)(message)
