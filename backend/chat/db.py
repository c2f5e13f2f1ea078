"""How consumers reach the database: on one worker thread, over one connection kept open.

channels' ``database_sync_to_async`` closes the connection after every call when CONN_MAX_AGE
is 0 (it must stay 0 under ASGI: Django's HTTP handler runs each request on a thread of its own,
where a persistent connection would be left behind). Every socket frame then paid for a connect,
a close and, with SQLite in WAL mode, a checkpoint: about half the server's CPU per message
(py-spy, 10 members, saturating). Consumers' calls all run on asgiref's one thread-sensitive
thread, so keeping that thread's connection costs one connection per process. A connection that
failed (the database restarted) is dropped before the next call, which opens a fresh one.
"""

from __future__ import annotations

from asgiref.sync import SyncToAsync
from django.db import connections


def close_broken_connections() -> None:
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and connection.errors_occurred:
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()


class DatabaseCall(SyncToAsync):
    """``sync_to_async`` for the consumers' database work (thread-sensitive: one thread)."""

    def thread_handler(self, loop, *args, **kwargs):
        close_broken_connections()
        return super().thread_handler(loop, *args, **kwargs)


# Used like channels' database_sync_to_async: ``await db_call(services.post_message)(...)``.
db_call = DatabaseCall
