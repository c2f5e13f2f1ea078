"""What /healthz reports: can we reach the database and the channel layer right now?"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)

CHANNEL_LAYER_TIMEOUT_SECS = 2.0


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        logger.exception("health check: database unreachable")
        return "error"
    return "ok"


async def channel_layer_status() -> str:
    """Round-trip one message through the layer (through Redis when it is configured)."""
    layer = get_channel_layer()
    try:
        channel = await layer.new_channel("health.")
        await layer.send(channel, {"type": "health.ping"})
        await asyncio.wait_for(layer.receive(channel), timeout=CHANNEL_LAYER_TIMEOUT_SECS)
    except Exception:  # any failure means "not healthy"; the log says which
        logger.exception("health check: channel layer unreachable")
        return "error"
    return "ok"


async def health_report() -> dict[str, str]:
    report = {
        "database": await sync_to_async(database_status)(),
        "channel_layer": await channel_layer_status(),
    }
    report["status"] = "ok" if all(value == "ok" for value in report.values()) else "error"
    return report
