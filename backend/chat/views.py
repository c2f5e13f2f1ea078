"""The JSON API (CORS-enabled for the site's origins; see CORS_URLS_REGEX)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from chat import selectors
from chat.conf import conf
from chat.events import message_event_for
from chat.protocol import ErrorCode
from chat.rooms import is_valid_room_name


@require_GET
def room_messages(request: HttpRequest, room: str) -> JsonResponse:
    """A page of the room's log, oldest first: the latest page, or the one before ``?before_seq=``."""
    if not is_valid_room_name(room):
        return _error(ErrorCode.INVALID_ROOM, "no such room name")
    before_seq = request.GET.get("before_seq")
    if before_seq is not None:
        if not before_seq.isdigit() or int(before_seq) < 1:
            return _error(ErrorCode.BAD_FIELD, "before_seq must be a whole number >= 1")
        before_seq = int(before_seq)
    page = selectors.messages_before(room_name=room, before_seq=before_seq, limit=conf.HISTORY_LIMIT)
    return JsonResponse(
        {
            "room": room,
            "messages": [message_event_for(message) for message in page.messages],
            "has_older": page.has_older,
        }
    )


def _error(code: ErrorCode, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=400)
