"""The two token endpoints, answered ahead of Django's HTTP handler (issue 19: token minting).

Every visitor's first visit costs a ``GET /api/identity/challenge/``, the CORS preflight of the
token request (``OPTIONS /api/identity/``: a JSON POST is not a "simple" cross-origin request)
and the ``POST /api/identity/``.
Through Django each cost about 4-6 ms of CPU, nearly all of it the request cycle rather than the
view: the per-request thread for request_started/finished and one worker-thread hop per
middleware hook. Here the same requests are answered in the event loop, running the view's
own steps (chat.views: check_token_request, redeem_token_request, issue_visitor_token) and the
header logic of the real middleware instances of the stack (CORS, security, common,
X-Frame-Options), so an answer is the Django path's answer, header for header
(tests/backend/test_fast_identity.py compares them).

The preflight is answered as CorsMiddleware answers it, ahead of the rest of the stack (it is
the stack's second middleware, and the first, HealthCheckMiddleware, concerns /healthz only): its
empty 200 and its CORS headers, with no host check, redirect or other middleware's headers.

Only a plain request takes this path; anything else goes to Django as before, unread:
another method (an OPTIONS that is no preflight, HEAD, PUT: the 405's answers stay Django's), a
request with a cookie (CSRF and sessions may then answer with cookies), a Host outside
ALLOWED_HOSTS (Django's 400 and its security log), one the SSL redirect or CommonMiddleware
would redirect, a ``root_path``, a POST without a Content-Length within the view's body limit,
or a GET with a body. If settings.MIDDLEWARE is not the stack this module was written against,
nothing takes this path.

A token is answered in the event loop, with no database, when the process's copy of the
sanctions in force (chat.sanction_cache) shows that none can concern it: the fan-out is started
for that on the first token request, if no socket started it. Other database work runs on the
consumers' database thread (chat.db, one connection kept per process); a redemption against the
shared limits (Redis, which may block up to its timeout) on a worker thread of its own, so a
slow Redis never holds up the consumers' database calls.
"""

from __future__ import annotations

import io
import logging
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync
from corsheaders.middleware import CorsMiddleware
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest, get_script_prefix
from django.http import JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.log import log_response

from chat import views
from chat.conf import conf
from chat.db import db_call
from chat.runtime import runtime

logger = logging.getLogger(__name__)

CHALLENGE_PATH = "/api/identity/challenge/"
IDENTITY_PATH = "/api/identity/"

# The stack whose effect on these two endpoints this module reproduces (see the module's doc).
MIDDLEWARE_REPRODUCED = (
    "chat.middleware.HealthCheckMiddleware",  # /healthz only
    "corsheaders.middleware.CorsMiddleware",  # reproduced: add_response_headers (preflights go to Django)
    "django.middleware.security.SecurityMiddleware",  # reproduced: the SSL redirect goes to Django, headers
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files only (STATIC_URL)
    "django.contrib.sessions.middleware.SessionMiddleware",  # untouched session, no cookie: adds nothing
    "django.middleware.common.CommonMiddleware",  # reproduced: redirects go to Django, Content-Length
    "django.middleware.csrf.CsrfViewMiddleware",  # a safe GET and a csrf_exempt POST, no cookie: nothing
    "django.contrib.auth.middleware.AuthenticationMiddleware",  # a lazy request.user the views never read
    "django.contrib.messages.middleware.MessageMiddleware",  # no message stored: nothing
    "django.middleware.clickjacking.XFrameOptionsMiddleware",  # reproduced: X-Frame-Options
)

# Redemptions against Redis (blocking, up to the shared limits' timeout) wait here, not on the
# consumers' database thread.
_redis_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="identity-limits")


def _never_called(request):  # the middleware instances are used for their hooks only
    raise AssertionError("the identity fast path calls no get_response")


class IdentityFastPath:
    """ASGI app for HTTP: the two token endpoints itself, everything else to ``django_app``."""

    def __init__(self, django_app) -> None:
        self.django_app = django_app
        self.enabled = tuple(settings.MIDDLEWARE) == MIDDLEWARE_REPRODUCED
        self.cors = CorsMiddleware(_never_called)
        self.security = SecurityMiddleware(_never_called)
        self.common = CommonMiddleware(_never_called)
        self.xframe = XFrameOptionsMiddleware(_never_called)

    async def __call__(self, scope, receive, send):
        if not self.enabled or scope["type"] != "http" or not self._plain(scope):
            return await self.django_app(scope, receive, send)
        try:
            request = ASGIRequest(scope, io.BytesIO())
        except Exception:  # noqa: BLE001 (undecodable parts...: Django's own answer and log; nothing was read)
            return await self.django_app(scope, receive, send)
        if not self.answers_itself(request):
            return await self.django_app(scope, receive, send)
        if scope["method"] == "OPTIONS":
            return await self._preflight(request, receive, send)
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        if scope["method"] == "GET":
            response = views.identity_challenge_answer()
        else:
            response = await self._token(request, body[: int(request.META["CONTENT_LENGTH"])])
        self._finish(request, response)
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        await _send(response, send)

    async def _preflight(self, request, receive, send) -> None:
        """CorsMiddleware's answer to the token request's preflight (see the module's doc)."""
        response = self.cors.check_preflight(request)
        assert response is not None, "answers_itself checked that CORS answers it"
        if await _read_body(receive) is None:  # the client went away
            return
        self.cors.add_response_headers(request, response)
        await _send(response, send)

    @staticmethod
    def _plain(scope) -> bool:
        path, method = scope["path"], scope["method"]
        if method == "GET":
            if path != CHALLENGE_PATH:
                return False
        elif method == "OPTIONS":
            if path != IDENTITY_PATH or not any(
                name == b"access-control-request-method" for name, _ in scope["headers"]
            ):
                return False
        elif method != "POST" or path != IDENTITY_PATH:
            return False
        if get_script_prefix(scope):  # a root_path or FORCE_SCRIPT_NAME: Django resolves it
            return False
        content_length = None
        for name, value in scope["headers"]:
            if (name == b"cookie" and value.strip()) or name == b"transfer-encoding":
                return False
            if name == b"content-length":
                if content_length is not None:
                    return False
                content_length = value
        if method != "POST":
            return content_length in (None, b"0")
        if content_length is None or not content_length.isdigit():
            return False
        return int(content_length) <= views.MAX_BODY_BYTES

    def answers_itself(self, request) -> bool:
        """Whether this path answers a request ``_plain`` let through, or Django's stack must."""
        if request.method == "OPTIONS":  # CorsMiddleware answers it, unless CORS is off for the path
            return self.cors.is_enabled(request)
        return not self._django_would_answer_first(request)

    def _django_would_answer_first(self, request) -> bool:
        """True when Django's stack would answer before the view (or differently around it)."""
        try:
            request.get_host()
            return (
                self.security.process_request(request) is not None or self.common.process_request(request) is not None
            )
        except Exception:  # noqa: BLE001 (DisallowedHost, a refused user agent...: Django turns them into answers)
            return True

    async def _token(self, request, body: bytes) -> JsonResponse:
        checked = views.check_token_request(request.content_type, lambda: body)
        if isinstance(checked, JsonResponse):
            return checked
        ip = request.META.get("REMOTE_ADDR") or None  # as views._client_ip reads it
        if conf.LIMITS_REDIS_URL is None:
            refusal = views.redeem_token_request(checked, ip)  # process memory only
        else:
            refusal = await SyncToAsync(views.redeem_token_request, thread_sensitive=False, executor=_redis_executor)(
                checked, ip
            )
        if refusal is not None:
            return refusal
        await self._hear_of_sanctions()
        answer = views.token_without_database(checked, ip)
        if answer is not None:
            return answer
        return await db_call(views.issue_visitor_token)(checked, ip)

    @staticmethod
    async def _hear_of_sanctions() -> None:
        """Start this event loop's fan-out if no socket has: it hears of every sanction written
        anywhere, and only then may the process keep the sanctions in force (chat.sanction_cache),
        which answer most token requests without the database."""
        try:
            await runtime().loop().fanout.start()  # at once when it runs already
        except Exception:  # noqa: BLE001 - tokens do not need it: the database answers meanwhile
            logger.exception("starting the fan-out for the token endpoint failed; the database answers")

    def _finish(self, request, response) -> None:
        """The response hooks of the stack, innermost first, as Django runs them."""
        self.xframe.process_response(request, response)
        self.common.process_response(request, response)
        self.security.process_response(request, response)
        self.cors.add_response_headers(request, response)


async def _read_body(receive) -> bytes | None:
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


async def _send(response, send) -> None:
    # As django.core.handlers.asgi.ASGIHandler.send_response does for a small, non-streaming answer.
    headers = [(name.encode("ascii"), value.encode("latin1")) for name, value in response.items()]
    for cookie in response.cookies.values():
        headers.append((b"Set-Cookie", cookie.output(header="").encode("ascii").strip()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content, "more_body": False})
