"""The tutorial's ASGI app, less the auth and origin middleware (see __init__.py).

python -m daphne -b 127.0.0.1 -p PORT bench.tutorial.asgi:application
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.tutorial.settings")
# Set up Django before the consumer is imported, as the tutorial does.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from bench.tutorial.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
