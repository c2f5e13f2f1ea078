"""WSGI entry point, for the split layout: a WSGI server (gunicorn) serves plain HTTP (the identity
API, the admin, /healthz) while daphne serves /ws/ (deploy/selfhost/README.md).

    gunicorn backchannel.wsgi:application --bind 127.0.0.1:8001

Moderation done here (the admin, the staff API) reaches open sockets through the channel layer:
this process needs the same REDIS_URL (and DATABASE_URL) as the daphne processes, or its notices
go to an in-memory layer no socket reads.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backchannel.settings")
application = get_wsgi_application()

from chat.checks import fail_on_serious_problems  # noqa: E402 - Django is set up above

# The same refusal as the ASGI app: a misconfigured server stops here, before it takes traffic.
fail_on_serious_problems()
