"""ASGI entry point: HTTP goes to Django, WebSockets to the chat consumer behind the Origin check.

daphne -b 127.0.0.1 -p 8000 backchannel.asgi:application
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backchannel.settings")
# Set up Django (apps, models) before anything below imports a model.
django_http_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.checks import fail_on_serious_problems  # noqa: E402
from chat.conf import conf  # noqa: E402
from chat.fast_identity import IdentityFastPath  # noqa: E402
from chat.origins import SiteOriginValidator  # noqa: E402
from chat.proxy import ForwardedClientMiddleware  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402

# A misconfiguration stops the server here, with the check's message, before it takes traffic.
fail_on_serious_problems()

# The visitor's address (per-address limits and bans) from X-Forwarded-For when proxies of ours
# sit in front (TRUSTED_PROXY_HOPS); the TCP peer otherwise.
application = ForwardedClientMiddleware(
    ProtocolTypeRouter(
        {
            # The two token endpoints are answered ahead of Django's request cycle, as Django would.
            "http": IdentityFastPath(django_http_application),
            # Checked against the site's origins, not ALLOWED_HOSTS: the site is on another origin.
            "websocket": SiteOriginValidator(URLRouter(websocket_urlpatterns), conf.ALLOWED_ORIGINS),
        }
    ),
    conf.TRUSTED_PROXY_HOPS,
)
