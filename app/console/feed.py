"""Page 1, the live feed (polled by htmx every 2 s), and page 2, one signal's trace."""

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from app.console import services
from app.console.web import Signed, field_errors, render
from app.deps import SessionDep
from app.domain.enums import SignalStatus, Source
from app.errors import IngestError, NotFound
from app.ingest.parsers import DIALECTS

router = APIRouter()
_FILTERS = ("strategy", "source", "dialect", "status", "symbol", "from", "to", "limit")


def _filters(request: Request) -> tuple[services.FeedFilters | None, dict[str, str], dict[str, str]]:
    """The feed's filters from the query string (blank fields ignored), the raw values to
    show back in the form, and field → error."""
    raw = {k: v.strip() for k, v in request.query_params.items() if k in (*_FILTERS, "cursor") and v.strip()}
    try:
        return services.FeedFilters.model_validate(raw), raw, {}
    except ValidationError as e:
        return None, raw, {("from" if k == "since" else "to" if k == "until" else k): v
                           for k, v in field_errors(e).items()}


def _feed_context(request: Request, session: SessionDep) -> dict[str, Any]:
    filters, raw, errors = _filters(request)
    rows: list[services.FeedRow] = []
    next_cursor = None
    if filters is not None:
        try:
            rows, next_cursor = services.feed(session, filters)
        except IngestError as e:
            errors[e.field or "cursor"] = e.message
    query = {k: v for k, v in raw.items() if k != "cursor"}
    return {"rows": rows, "next_cursor": next_cursor, "filters": raw, "errors": errors, "query": query,
            "live": "cursor" not in raw and not errors, "statuses": [s.value for s in SignalStatus],
            "sources": [s.value for s in Source], "dialects": list(DIALECTS)}


@router.get("/", response_class=HTMLResponse)
def feed_page(request: Request, session: SessionDep, console: Signed) -> HTMLResponse:
    return render(request, "feed.html", console, **_feed_context(request, session))


@router.get("/feed/rows", response_class=HTMLResponse)
def feed_rows(request: Request, session: SessionDep, console: Signed) -> HTMLResponse:
    """The feed's table body alone, for htmx's polling."""
    return render(request, "feed_rows.html", console, **_feed_context(request, session))


@router.get("/signals/{signal_id}", response_class=HTMLResponse)
def signal_page(signal_id: str, request: Request, session: SessionDep, console: Signed) -> HTMLResponse:
    try:
        trace, bars = services.trace(session, uuid.UUID(signal_id))
    except (ValueError, NotFound):
        return render(request, "not_found.html", console, status_code=404, what=f"signal {signal_id}")
    return render(request, "signal.html", console, trace=trace, bars=bars)
