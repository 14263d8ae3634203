"""What the console pages read and do, as thin functions over the admin API's own services
(``app.admin.*``) and the dry run's code: no second source of truth, no SQL of its own.

The admin route functions are plain functions; the console calls them with plain values.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from app.admin import api_keys, orders
from app.admin.pagination import NO_NUL
from app.admin.routes import list_fills, list_orders, list_positions, list_signals
from app.admin.schemas import FillView, OrderView, SignalSummary, SignalTrace, Step
from app.admin.trace import signal_trace
from app.bootstrap import DEFAULT_STRATEGY
from app.domain.enums import Source
from app.domain.orders import OrderStatus
from app.ingest import parsers, service
from app.ingest.auth import Caller, Credentials, resolve_strategy, strategy_named
from app.risk.dry_run import dry_run

OPEN_ORDER_STATUSES = (OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)
_ADMIN = Caller(key_id=None, strategy_ids=frozenset(), is_admin=True)
_MAX_CHART_FILLS = 10_000


class FeedFilters(BaseModel):
    """The filters of ``GET /api/v1/signals``, with its limits."""

    strategy: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    source: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    dialect: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    status: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    symbol: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    since: datetime | None = Field(default=None, alias="from")
    until: datetime | None = Field(default=None, alias="to")
    limit: int = Field(default=25, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500)

    model_config = {"populate_by_name": True}


@dataclass(frozen=True)
class FeedRow:
    """A signal of the feed with how far its orders got: ``order_status`` of its last order
    (None without one) and ``latency_ms`` from receipt to its last recorded step."""

    signal: SignalSummary
    order_status: str | None
    latency_ms: float | None


def feed(session: Session, filters: FeedFilters) -> tuple[list[FeedRow], str | None]:
    """A page of signals (newest first) and the next page's cursor. Raises ``IngestError``
    for a cursor the API did not give out."""
    page = list_signals(
        session, strategy=filters.strategy, source=filters.source, dialect=filters.dialect, status=filters.status,
        symbol=filters.symbol, since=filters.since, until=filters.until, limit=filters.limit, cursor=filters.cursor,
    )
    rows = []
    for signal in page.items:
        trace = signal_trace(session, signal.id) if signal.status == "accepted" else None
        rows.append(FeedRow(signal=signal, order_status=_last_order_status(trace),
                            latency_ms=_latency(signal, trace)))
    return rows, page.next_cursor


def _last_order_status(trace: SignalTrace | None) -> str | None:
    statuses = [i.order.status for i in trace.intents if i.order is not None] if trace else []
    return statuses[-1] if statuses else None


def _latency(signal: SignalSummary, trace: SignalTrace | None) -> float | None:
    if trace is not None:
        timed = [s.ms_since_received for s in trace.timeline if s.ms_since_received is not None]
        return timed[-1] if timed else None
    if signal.decided_at is None:
        return None
    return round((signal.decided_at - signal.received_at).total_seconds() * 1000, 3)


@dataclass(frozen=True)
class Bar:
    """One step of the waterfall: where its bar starts and how wide it is, in percent of the
    signal's whole timeline."""

    step: Step
    left: float
    width: float


def waterfall(timeline: list[Step]) -> list[Bar]:
    """Bars from each timed step's previous step to itself, scaled to the last step."""
    total = max((s.ms_since_received or 0.0 for s in timeline), default=0.0) or 1.0
    bars = []
    for step in timeline:
        if step.ms_since_received is None:
            bars.append(Bar(step, 0.0, 0.0))
            continue
        start = step.ms_since_received - (step.ms_since_previous or 0.0)
        bars.append(Bar(step, round(start / total * 100, 2), round((step.ms_since_previous or 0.0) / total * 100, 2)))
    return bars


def trace(session: Session, signal_id: uuid.UUID) -> tuple[SignalTrace, list[Bar]]:
    """The signal's trace and its waterfall. Raises ``NotFound``."""
    found = signal_trace(session, signal_id)
    return found, waterfall(found.timeline)


def open_orders(session: Session) -> list[OrderView]:
    """Orders live on a venue (submitted, accepted, partially filled), newest first."""
    found: list[OrderView] = []
    for status in OPEN_ORDER_STATUSES:
        cursor = None
        while True:
            page = list_orders(session, status=status.value, limit=500, cursor=cursor)
            found.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
    return sorted(found, key=lambda o: o.created_at, reverse=True)


def positions(session: Session) -> list[Any]:
    return list_positions(session, open=False)


def cancel(session: Session, order_id: uuid.UUID) -> OrderView:
    """Cancel on the venue, as ``POST /api/v1/orders/{id}/cancel``. Raises its ``AppError``s."""
    return orders.post_cancel(order_id, session)


def api_key_list(session: Session) -> list[dict[str, Any]]:
    return json.loads(api_keys.list_api_keys(session).body)


def api_key_create(session: Session, body: api_keys.ApiKeyCreate) -> dict[str, Any]:
    """The new key's fields with the plaintext ``key`` (shown once). Raises ``IngestError``."""
    return json.loads(api_keys.post_api_key(body, session).body)


def api_key_revoke(session: Session, key_id: uuid.UUID) -> dict[str, Any]:
    return json.loads(api_keys.revoke_api_key(key_id, session).body)


def dry_run_payload(session: Session, body: bytes, strategy: str | None, dialect: str | None) -> dict[str, Any]:
    """What ``POST /api/v1/signals/dry-run`` answers the admin for ``body``: the same steps
    (strategy, parse, check, risk engine on a rolled-back session), recording nothing.
    Raises ``IngestError`` / ``SignalParseError`` as it does."""
    try:
        named = strategy_named(strategy, body)
        ref = resolve_strategy(session, _ADMIN, named, Credentials(None), default=DEFAULT_STRATEGY)
        signal = parsers.parse(body, datetime.now(UTC), dialect=dialect).signal
        signal = signal.model_copy(update={"source": Source.REST, "strategy": ref.name})
        service.check_signal(signal, ref)
        return dry_run(session, ref, signal)
    finally:
        session.rollback()


@dataclass(frozen=True)
class Curve:
    """Realised equity (cumulative realised PnL, quote) and its drawdown below the running
    peak (≤ 0), one point per second of venue time (``ts_event``), oldest first."""

    equity: list[dict[str, float]]
    drawdown: list[dict[str, float]]
    fills: int
    truncated: bool


def equity_curve(session: Session, since: datetime | None, until: datetime | None, account: str | None) -> Curve:
    """From the fills list of ``GET /api/v1/fills`` (same period and account filter), the
    curve that ``app.admin.stats.max_drawdown`` measures."""
    fills: list[FillView] = []
    cursor = None
    while len(fills) < _MAX_CHART_FILLS:
        page = list_fills(session, account=account, since=since, until=until, limit=500, cursor=cursor)
        fills.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    equity = peak = Decimal(0)
    by_second: dict[int, tuple[Decimal, Decimal]] = {}
    for fill in reversed(fills):
        equity += fill.realized_pnl
        peak = max(peak, equity)
        by_second[int(fill.ts_event.timestamp())] = (equity, equity - peak)
    points = sorted(by_second.items())
    if points:  # the curve starts at E_0 = 0, just before the first fill
        points.insert(0, (points[0][0] - 1, (Decimal(0), Decimal(0))))
    return Curve(
        equity=[{"time": t, "value": float(e)} for t, (e, _) in points],
        drawdown=[{"time": t, "value": float(d)} for t, (_, d) in points],
        fills=len(fills),
        truncated=cursor is not None,
    )
