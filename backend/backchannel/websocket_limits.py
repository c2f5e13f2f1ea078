"""The WebSocket limits every launcher of ours sets, one value each: daphne's (backchannel.serve),
uvicorn's (its command line) and gunicorn's uvicorn workers' (backchannel.workers).

No import of daphne or Twisted here: daphne installs Twisted's asyncio reactor when it is imported,
which a uvicorn worker must not get.
"""

from __future__ import annotations

from backchannel.setting_specs import MAX_FRAME_BYTES

# The largest WebSocket message, either way. daphne drops a larger inbound frame with the connection
# before our code runs; under uvicorn the consumer closes the socket with 1009 itself (uvicorn takes
# frames up to --ws-max-size). Twice MAX_FRAME_BYTES' default, so a frame between the two still
# gets a readable `frame_too_large`; it caps outbound pages too (chat.conf PAGE_BUDGET_BYTES).
MAX_MESSAGE_BYTES = 2 * MAX_FRAME_BYTES.default  # 64 KiB
# Server pings keep idle sockets busy: platforms cut idle connections (Heroku after 55 s, many
# load balancers after 60 s). The widget also pings every 25 s.
PING_INTERVAL_SECS = 20
PING_TIMEOUT_SECS = 30

# uvicorn's spelling of them: `uvicorn backchannel.asgi:application <UVICORN_OPTIONS>`; the
# gunicorn worker class passes UVICORN_SETTINGS. No lifespan: Django Channels does not speak it.
UVICORN_OPTIONS = [
    "--ws-max-size", str(MAX_MESSAGE_BYTES),
    "--ws-ping-interval", str(PING_INTERVAL_SECS),
    "--ws-ping-timeout", str(PING_TIMEOUT_SECS),
    "--lifespan", "off",
]  # fmt: skip
UVICORN_SETTINGS = {
    "ws_max_size": MAX_MESSAGE_BYTES,
    "ws_ping_interval": float(PING_INTERVAL_SECS),
    "ws_ping_timeout": float(PING_TIMEOUT_SECS),
    "lifespan": "off",
}
