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
    """The room's latest messages, oldest first: what a `joined` event carries as history."""
    if not is_valid_room_name(room):
        return JsonResponse(
            {"error": {"code": ErrorCode.INVALID_ROOM, "message": "no such room name"}}, status=400
        )
    messages = selectors.recent_messages(room_name=room, limit=conf.HISTORY_LIMIT)
    return JsonResponse({"room": room, "messages": [message_event_for(message) for message in messages]})
