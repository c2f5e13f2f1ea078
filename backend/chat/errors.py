"""The one base of the errors the backend answers a client with: ``BackchannelError``.

Each carries what the answer says, whatever the door: ``code`` (a ``chat.protocol.ErrorCode``, or
another of the wire's code strings), ``message`` (for the person: shown by the widget, read by a
moderator's script) and ``retry_after_secs`` (when trying again later will do). A socket sends
them as an ``error`` event (``chat.protocol.error_event``), the JSON API as ``{"error": ...}``.
Kept free of imports so that every module may raise one.
"""

from __future__ import annotations


class BackchannelError(Exception):
    def __init__(self, code: str, message: str, *, retry_after_secs: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_secs = retry_after_secs
