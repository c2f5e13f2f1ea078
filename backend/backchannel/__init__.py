"""Backchannel's Django project (settings, ASGI/WSGI entry points, the daphne launcher).

``__version__`` is the project's one version: /healthz answers with it in ``X-Backchannel-Version``,
``make doctor SITE_URL=...`` shows the deployed one, and CHANGELOG.md's newest release must equal it
(tests/deploy/test_version.py).
"""

__version__ = "0.2.0"
