"""What the console pages read and do, as thin functions over the admin API's own services
(``app.admin.*``) and the dry run's code: no second source of truth, no SQL of its own.

The admin route functions are plain functions; the console calls them with plain values.
"""

import json
import uuid
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from app.admin import api_keys, orders, stats
from app.admin.pagination import NO_NUL
from app.admin.routes import list_fills, list_orders, list_positions, list_signals
from app.admin.schemas import FillView, OrderView, SignalSummary, SignalTrace, Step
from app.admin.stats import percentile
from app.admin.strategies import list_strategies
from app.admin.trace import signal_trace
from app.bootstrap import DEFAULT_STRATEGY
from app.domain.enums import Source
from app.domain.orders import OrderStatus
from app.errors import Conflict
from app.config import get_settings
from app.ingest import parsers, service
from app.ingest.parsers.mapped import compile_all
from app.ingest.auth import Caller, Credentials, resolve_strategy, strategy_named
from app.ingest.entry import ingest_exit
from app.ingest.service import InvalidSignal
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
        mapped = compile_all(get_settings().dialects)  # the file's [dialects] mappings, read as the API does
        signal = parsers.parse(body, datetime.now(UTC), dialect=dialect, mapped=mapped).signal
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


def equity_curve(session: Session, since: datetime | None, until: datetime | None, account: str | None,
                 strategy: str | None = None, source: str | None = None, bucket: str | None = None) -> Curve:
    """The curve ``app.admin.stats.max_drawdown`` measures: of the fills of one strategy, source
    or prediction confidence bucket when one is chosen (the stats' own fill rows), else from the
    fills list of ``GET /api/v1/fills`` (same period and account filter)."""
    cursor = None
    if strategy is not None or source is not None or bucket is not None:
        rows = stats.fill_rows(session, since, until, strategy, source=source, bucket=bucket)[-_MAX_CHART_FILLS:]
        points_in = [(r.ts_event, r.realized_pnl) for r in rows if r.ts_event is not None]
    else:
        fills: list[FillView] = []
        while len(fills) < _MAX_CHART_FILLS:
            page = list_fills(session, account=account, since=since, until=until, limit=500, cursor=cursor)
            fills.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        points_in = [(f.ts_event, f.realized_pnl) for f in reversed(fills)]
    equity = peak = Decimal(0)
    by_second: dict[int, tuple[Decimal, Decimal]] = {}
    for ts_event, pnl in points_in:
        equity += pnl
        peak = max(peak, equity)
        by_second[int(ts_event.timestamp())] = (equity, equity - peak)
    points = sorted(by_second.items())
    if points:  # the curve starts at E_0 = 0, just before the first fill
        points.insert(0, (points[0][0] - 1, (Decimal(0), Decimal(0))))
    return Curve(
        equity=[{"time": t, "value": float(e)} for t, (e, _) in points],
        drawdown=[{"time": t, "value": float(d)} for t, (_, d) in points],
        fills=len(points_in),
        truncated=cursor is not None,
    )


@dataclass(frozen=True)
class PositionRow:
    """A position of ``GET /api/v1/positions`` with, while it is open, its mark from the
    account view (``mark_price``, ``notional``, ``unrealized_pnl``; None when not marked)."""

    position: Any
    is_open: bool
    mark_price: Decimal | None
    notional: Decimal | None
    unrealized_pnl: Decimal | None


def marked_positions(session: Session, accounts: list[Any]) -> list[PositionRow]:
    """Every position (open and closed), the open ones with the marks of their account's view."""
    marks = {(a.name, p.symbol, p.position_side): p for a in accounts for p in a.open_positions}
    rows = []
    for p in positions(session):
        marked = marks.get((p.account, p.symbol, p.position_side))
        rows.append(PositionRow(p, p.quantity != 0, marked.mark_price if marked else None,
                                marked.notional if marked else None, marked.unrealized_pnl if marked else None))
    return rows


@dataclass(frozen=True)
class Closed:
    """What closing a position did: the ``exit`` signal's id (None when nothing was recorded),
    its status and reason, and the strategy it went through."""

    signal_id: uuid.UUID | None
    status: str
    reason: str | None
    strategy: str


def exit_strategy(session: Session, account: str) -> str | None:
    """The account's first enabled strategy, which a console exit goes through (as /closeall)."""
    return next((s.name for s in list_strategies(session) if s.account == account and s.enabled), None)


def close_position(session: Session, account: str, symbol: str, actor: str, side: str = "net") -> Closed:
    """Post a canonical ``exit`` of ``symbol`` (a hedge-mode account's ``side``, long / short)
    through the normal ingest path in-process, as a REST signal of the account's first enabled
    strategy (risk decides, the relay queues the order), as the Telegram /closeall does.
    Raises ``Conflict`` without an open position or an enabled strategy, and what ingest raises."""
    open_positions = {(p.symbol, p.position_side) for p in list_positions(session, account=account, open=True)}
    strategy = exit_strategy(session, account)
    session.rollback()  # ingest runs in its own session; hold nothing meanwhile
    if (symbol, side) not in open_positions:
        which = symbol if side == "net" else f"{symbol} {side}"
        raise Conflict(f"{account} has no open {which} position; nothing sent")
    if strategy is None:
        raise Conflict(f"{account} has no enabled strategy to send the exit through; nothing sent")
    outcome = ingest_exit(symbol, strategy, comment=f"console close by {actor}", position_side=side,
                          idempotency_key=f"console-close-{uuid.uuid4()}-{symbol}")
    if isinstance(outcome, InvalidSignal):
        return Closed(None, "invalid", outcome.message, strategy)
    assert outcome is not None, "this admit never drops a request"
    return Closed(outcome.signal_id, outcome.status.value, outcome.reason, strategy)


@dataclass(frozen=True)
class LatencyBucket:
    """One bar of the signal→fill latency histogram: ``[low, high)`` ms (``high`` None: and
    above), how many fills, and the bar's width in percent of the fullest bucket."""

    label: str
    low: float
    high: float | None
    count: int
    width: float


LATENCY_EDGES_MS = (0.0, 10.0, 50.0, 100.0, 500.0, 1000.0)


@dataclass(frozen=True)
class LatencyHistogram:
    buckets: list[LatencyBucket]
    total: int
    p50: float | None
    p99: float | None


def latency_histogram(latencies_ms: list[float], edges: tuple[float, ...] = LATENCY_EDGES_MS) -> LatencyHistogram:
    """Bars by bucket (``0–10``, ``10–50`` … ``>1000`` ms; a value on an edge goes in the upper
    bucket, a negative one in the first) with the nearest-rank p50 / p99 of
    ``app.admin.stats.percentile``, so they match the statistics tables."""
    counts = [0] * len(edges)
    for value in latencies_ms:
        counts[max(bisect_right(edges, value) - 1, 0)] += 1
    fullest = max(counts, default=0) or 1
    buckets = []
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else None
        label = f"{low:g}–{high:g} ms" if high is not None else f">{low:g} ms"
        buckets.append(LatencyBucket(label, low, high, counts[i], round(counts[i] / fullest * 100, 2)))
    ordered = sorted(latencies_ms)
    return LatencyHistogram(buckets, len(ordered), percentile(ordered, 50), percentile(ordered, 99))


def fill_latencies(session: Session, since: datetime | None, until: datetime | None,
                   strategy: str | None) -> list[float]:
    """Per fill, signal received → fill recorded in ms: the rows ``compute_stats`` measures
    (``app.admin.stats.fill_rows``), for the same period and strategy."""
    return [row.latency_ms for row in stats.fill_rows(session, since, until, strategy)]
