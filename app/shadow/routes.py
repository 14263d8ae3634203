"""``GET /api/v1/strategies/{name}/shadow``: live vs paper shadow, per signal and per strategy.
Included by the admin router (operator token, viewer role); ``app.shadow.compare`` does the work."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Path

from app.admin.pagination import NO_NUL, Cursor, Limit, Since, Until, as_utc, decode_cursor, encode_cursor
from app.deps import SessionDep
from app.shadow.compare import strategy_rows, strategy_sides, totals
from app.shadow.schemas import ShadowRow, StrategyShadow

router = APIRouter()
Name = Annotated[str, Path(max_length=64, pattern=NO_NUL, description="Strategy name")]


@router.get("/strategies/{name}/shadow", summary="Live vs paper shadow: both fills per signal, PnL per strategy",
            response_model=StrategyShadow, responses={404: {"description": "No such strategy."}})
def get_shadow(name: Name, session: SessionDep, since: Since = None, until: Until = None, limit: Limit = 50,
               cursor: Cursor = None) -> StrategyShadow:
    """Every signal the strategy's live account accepted is also executed on its paper shadow
    (``shadow`` in the strategy's configuration). ``rows``: one page, newest first, of each
    signal's sender price, market price at receipt, live and shadow fills and the slippage
    between them; ``totals`` and ``daily``: live vs shadow realised PnL and fees over every
    shadowed signal received in [from, to). Formulas: ``app.shadow.compare``."""
    since, until = (as_utc(t) if t is not None else None for t in (since, until))
    strategy_id, live_account, shadow_account = strategy_sides(session, name)
    rows = strategy_rows(session, strategy_id, since, until)
    summed, daily = totals(session, strategy_id, since, until, rows)
    page, next_cursor = _page(rows, limit, cursor)
    return StrategyShadow(strategy=name, live_account=live_account, shadow_account=shadow_account, since=since,
                          until=until, totals=summed, daily=daily, rows=page, limit=limit, next_cursor=next_cursor)


def _page(rows: list[ShadowRow], limit: int, cursor: str | None) -> tuple[list[ShadowRow], str | None]:
    """Newest first by (received_at, signal id), after ``cursor`` (``app.admin.pagination``'s
    keyset cursor; a bad one is a 400 naming ``cursor``)."""
    newest = sorted(rows, key=lambda r: (r.received_at, r.signal_id), reverse=True)
    if cursor is not None:
        at, key = decode_cursor(cursor, uuid.UUID)
        newest = [r for r in newest if (r.received_at, r.signal_id) < (as_utc(at), key)]
    # A signal's rows (several symbols: close_all) stay on one page.
    ids = list(dict.fromkeys(r.signal_id for r in newest))
    keep = set(ids[:limit])
    page = [r for r in newest if r.signal_id in keep]
    more = len(ids) > limit and page
    return page, encode_cursor(page[-1].received_at, page[-1].signal_id) if more else None
