"""The operator console: server-rendered pages at ``/`` over the admin API's services.

Jinja2 templates in ``templates/``, htmx and lightweight-charts vendored in ``static/vendor``
(no Node toolchain at install or run time). ``router`` holds every page; ``STATIC_DIR`` is
mounted at ``STATIC_URL``.
"""

from fastapi import APIRouter

from app.console import accounts, analytics, feed, signin, strategies
from app.console.web import STATIC_DIR, STATIC_URL

router = APIRouter(include_in_schema=False)
for _module in (signin, feed, accounts, strategies, analytics):
    router.include_router(_module.router)

__all__ = ["STATIC_DIR", "STATIC_URL", "router"]
