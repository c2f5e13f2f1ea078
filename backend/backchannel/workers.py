"""gunicorn with uvicorn workers, with the WebSocket limits our daphne launcher sets:

    gunicorn backchannel.asgi:application -k backchannel.workers.UvicornWorker --bind 0.0.0.0:$PORT

gunicorn's command line cannot pass uvicorn's options, so they live here (backchannel.websocket_limits):
the same 64 KiB message limit (uvicorn's default is 16 MiB, buffered before the application sees
a byte), server pings every 20 s with a 30 s timeout, and no lifespan protocol. What our daphne
launcher does besides (a write budget in Twisted, control frames charged to the frame bucket, the
faster write path, 1012 on shutdown) is not here; the consumer bounds each socket's outbound
queue itself on any server (chat.outbox). README, "Servers", says what each server gives.
"""

from __future__ import annotations

from uvicorn_worker import UvicornWorker as _UvicornWorker

from backchannel.websocket_limits import UVICORN_SETTINGS


class UvicornWorker(_UvicornWorker):
    CONFIG_KWARGS = {**_UvicornWorker.CONFIG_KWARGS, **UVICORN_SETTINGS}  # noqa: RUF012 - gunicorn reads it
