"""Answers the platform's health checker before host validation and the HTTPS redirect.

A PaaS checker connects over plain HTTP with an internal IP as Host; Django would refuse that
Host (400) or redirect it to https (301), and the platform would call a healthy process dead.
"""

from __future__ import annotations

from asgiref.sync import markcoroutinefunction
from django.http import HttpRequest, JsonResponse

from backchannel import __version__
from chat.health import health_report

HEALTH_PATH = "/healthz"
# The running version, for whoever checks a deploy (make doctor SITE_URL=... shows it).
VERSION_HEADER = "X-Backchannel-Version"


class HealthCheckMiddleware:
    async_capable = True
    sync_capable = False

    def __init__(self, get_response):
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest):
        if request.path == HEALTH_PATH:
            report = await health_report()
            response = JsonResponse(report, status=200 if report["status"] == "ok" else 503)
            response[VERSION_HEADER] = __version__
            return response
        return await self.get_response(request)
