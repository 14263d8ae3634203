"""Which role a request needs, from its method and route: one table for the whole admin side.

Reads (GET, HEAD, OPTIONS) need ``viewer``. The trading levers need ``operator``: the kill
switch (``PUT …/trading-state``), cancelling orders, closing positions and re-driving intents —
any write whose route ends in one of ``LEVERS``. Every other write (configuration, strategies,
API keys, credentials, tokens) needs ``admin``.
"""

import re

from app.security.operators import Role

READS = frozenset({"GET", "HEAD", "OPTIONS"})
LEVERS = ("trading-state", "cancel", "close", "redrive", "kill-switch")
_LEVER = re.compile(r"/(?:" + "|".join(re.escape(lever) for lever in LEVERS) + r")/?$")


def required_role(method: str, route_path: str) -> Role:
    """The least role allowed to call ``method`` on ``route_path`` (the route's template, e.g.
    ``/api/v1/orders/{order_id}/cancel``)."""
    if method.upper() in READS:
        return Role.VIEWER
    if _LEVER.search(route_path):
        return Role.OPERATOR
    return Role.ADMIN
