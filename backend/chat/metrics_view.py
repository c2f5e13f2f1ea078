"""``GET /metrics``: this process's figures (chat.metrics) in Prometheus's text format.

Off unless ``METRICS_TOKEN`` is set (404, as if the route did not exist). With it, a request must
carry ``Authorization: Bearer <METRICS_TOKEN>``; anything else gets 401. The comparison takes the
same time whatever the token sent, so its answer times leak nothing about the real one.
"""

from __future__ import annotations

import hmac

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chat.conf import conf
from chat.metrics import registry

BEARER_PREFIX = "Bearer "


def bearer_token_matches(header: str | None, expected: str) -> bool:
    """True when ``header`` is ``Bearer <expected>``, compared in constant time."""
    sent = header[len(BEARER_PREFIX) :] if header and header.startswith(BEARER_PREFIX) else ""
    return hmac.compare_digest(sent.strip().encode(), expected.encode())


@require_GET
async def metrics(request: HttpRequest) -> HttpResponse:
    expected = conf.METRICS_TOKEN
    if expected is None:
        raise Http404("metrics are off: set METRICS_TOKEN")
    if not bearer_token_matches(request.headers.get("Authorization"), expected):
        response = HttpResponse("a bearer token is needed\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
