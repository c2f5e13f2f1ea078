"""A Django test client whose requests reach the identity fast path (chat.fast_identity) when it
would take them in production, and Django's stack (the ordinary test client) otherwise.

Django's test client calls the handler in the test's thread; so does this one: the fast path runs
under ``async_to_sync`` from the test thread, where its database calls (thread-sensitive, chat.db)
run too, inside the test's transaction like the view's.
"""

from __future__ import annotations

import io
import json

from asgiref.sync import async_to_sync
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.test import Client

from chat.fast_identity import IdentityFastPath


def _not_django(scope, receive, send):  # the fast path hands nothing here: _takes checked first
    raise AssertionError(f"the fast path passed {scope['method']} {scope['path']} on")


def scope_from_environ(environ: dict) -> dict:
    """The ASGI scope of the request the test client built as a WSGI environ."""
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").lower().encode("latin1"), str(value).encode("latin1")))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value != "":
            headers.append((key.replace("_", "-").lower().encode("latin1"), str(value).encode("latin1")))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": environ["REQUEST_METHOD"],
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": environ["PATH_INFO"],
        "raw_path": environ["PATH_INFO"].encode("latin1"),
        "root_path": environ.get("SCRIPT_NAME", ""),
        "query_string": environ.get("QUERY_STRING", "").encode("latin1"),
        "headers": headers,
        "client": [environ["REMOTE_ADDR"], 0] if environ.get("REMOTE_ADDR") else None,
        "server": [environ["SERVER_NAME"], int(environ["SERVER_PORT"])],
    }


class FastPathClient(Client):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fast = IdentityFastPath(_not_django)
        self.fast_answers = 0  # requests the fast path answered

    def takes(self, scope: dict) -> bool:
        if not self.fast.enabled or not self.fast._plain(scope):
            return False
        return self.fast.answers_itself(ASGIRequest(scope, io.BytesIO()))

    def request(self, **request):
        environ = self._base_environ(**request)
        scope = scope_from_environ(environ)
        if not self.takes(scope):
            return super().request(**request)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        self.fast_answers += 1
        return async_to_sync(self._call)(scope, body)

    async def _call(self, scope: dict, body: bytes) -> HttpResponse:
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict] = []

        async def receive():
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        await self.fast(scope, receive, send)
        start, content = sent[0], b"".join(message.get("body", b"") for message in sent[1:])
        response = HttpResponse(content, status=start["status"])
        for header in list(response.headers):
            del response.headers[header]
        for name, value in start["headers"]:
            response.headers[name.decode("latin1")] = value.decode("latin1")
        response.raw_headers = [(name.decode("latin1"), value.decode("latin1")) for name, value in start["headers"]]
        response.json = lambda: json.loads(content)
        return response
