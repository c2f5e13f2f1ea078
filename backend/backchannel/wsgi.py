"""WSGI entry point, for the split layout: a WSGI server (gunicorn) serves plain HTTP (the identity
API, the admin, /healthz) while daphne serves /ws/ (deploy/selfhost/README.md, "Split layout").

    gunicorn backchannel.wsgi:application --bind 127.0.0.1:8001

Moderation done here (the admin, the staff API) reaches open sockets through the channel layer:
this process needs the same REDIS_URL (and DATABASE_URL) as the daphne processes, or its notices
go to an in-memory layer no socket reads.

The visitor's address is read as the ASGI app reads it (chat.proxy): behind TRUSTED_PROXY_HOPS
proxies, from X-Forwarded-For. Without this every request would come from nginx's 127.0.0.1, and
every visitor would share one budget of new names (IDENTITY_BURST) and one staff sign-in bucket.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backchannel.settings")
django_application = get_wsgi_application()

from chat.checks import fail_on_serious_problems  # noqa: E402 - Django is set up above
from chat.conf import conf  # noqa: E402
from chat.proxy import forwarded_client  # noqa: E402

# The same refusal as the ASGI app: a misconfigured server stops here, before it takes traffic.
fail_on_serious_problems()


class ForwardedClientMiddleware:
    """WSGI middleware: ``REMOTE_ADDR`` becomes the forwarded visitor address (chat.proxy's rule:
    the entry TRUSTED_PROXY_HOPS places from the right of X-Forwarded-For)."""

    def __init__(self, application, trusted_hops: int) -> None:
        self.application = application
        self.trusted_hops = trusted_hops

    def __call__(self, environ, start_response):
        if self.trusted_hops:
            header = environ.get("HTTP_X_FORWARDED_FOR")
            # A WSGI server joins repeated headers with ", ", which forwarded_client splits again.
            address = forwarded_client([header.encode("latin-1")], self.trusted_hops) if header else None
            if address is not None:
                environ = {**environ, "REMOTE_ADDR": address}
        return self.application(environ, start_response)


application = ForwardedClientMiddleware(django_application, conf.TRUSTED_PROXY_HOPS)
