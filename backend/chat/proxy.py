"""The visitor's address behind proxies: ``X-Forwarded-For``, trusting only our own proxies.

Every proxy that follows the convention (a PaaS router, nginx's ``$proxy_add_x_forwarded_for``)
appends the address it received the request from. The entries on the left are whatever the
client sent, so they prove nothing: with ``TRUSTED_PROXY_HOPS`` proxies of ours in front, the
visitor is the entry that many places from the right. (daphne's own ``--proxy-headers`` takes
the leftmost entry, which lets anyone pick an address and slip past per-address limits and bans.)

Per-address rate limits, socket counts and bans (chat.limits, chat.moderation) and the identity
API's limits all read ``scope["client"]``, which this middleware sets for HTTP and WebSockets.
"""

from __future__ import annotations

import ipaddress

FORWARDED_FOR_HEADER = b"x-forwarded-for"


def forwarded_client(header_values: list[bytes], trusted_hops: int) -> str | None:
    """The address ``trusted_hops`` entries from the right of X-Forwarded-For (several headers
    count as one list, in order), or None when the header is missing, too short or malformed."""
    entries = [entry.strip() for value in header_values for entry in value.decode("latin-1").split(",")]
    if trusted_hops < 1 or len(entries) < trusted_hops:
        return None
    candidate = entries[-trusted_hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


class ForwardedClientMiddleware:
    """ASGI middleware: ``scope["client"]`` becomes the forwarded visitor address."""

    def __init__(self, application, trusted_hops: int) -> None:
        self.application = application
        self.trusted_hops = trusted_hops

    async def __call__(self, scope, receive, send):
        if self.trusted_hops and scope["type"] in ("http", "websocket"):
            values = [value for name, value in scope.get("headers", ()) if name == FORWARDED_FOR_HEADER]
            address = forwarded_client(values, self.trusted_hops)
            if address is not None:
                scope = {**scope, "client": [address, 0]}
        return await self.application(scope, receive, send)
