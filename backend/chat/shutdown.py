"""A process shutting down (SIGTERM): its sockets leave their rooms together.

Each socket's own disconnect costs a presence transaction and a room announcement, run one after
another on the process's database thread: 400 sockets took 3-5 s, and on a loaded machine more
than SHUTDOWN_GRACE_SECS, so daphne cancelled them ("Killed 400 pending application instances")
and their presence rows waited 90 s to be swept. Here the server (backchannel.serve), before it
closes the sockets, removes every local socket's presence rows in one statement and tells each
room once; the consumers' disconnects then only tidy up what is in memory.
"""

from __future__ import annotations

import logging

from chat import presence
from chat.broadcast import publish, room_frame
from chat.conf import conf
from chat.db import db_call
from chat.events import presence_event
from chat.protocol import encode_event
from chat.rooms import group_name_for
from chat.runtime import runtime

logger = logging.getLogger(__name__)


async def leave_all_rooms() -> int:
    """Every local socket leaves every room: one delete, one announcement per room. Returns the
    number of rooms told."""
    fanout = runtime().loop().fanout
    room_prefix = group_name_for("")
    sockets = sorted({socket for group, members in fanout.members.items() if group.startswith(room_prefix)
                      for socket in members})  # fmt: skip
    runtime().left_together = True  # the consumers' disconnects then skip their own leave
    if not sockets:
        return 0
    rooms = await db_call(presence.leave_many)(channel_names=sockets)
    for room in rooms:
        snapshot = await db_call(presence.snapshot)(room=room, list_limit=conf.PRESENCE_LIST_LIMIT)
        await publish(room_frame(room, encode_event(presence_event(room, snapshot, None)), log_unchanged=True))
    logger.info("shutdown: %d sockets left %d rooms together", len(sockets), len(rooms))
    return len(rooms)
