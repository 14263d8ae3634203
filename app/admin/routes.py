"""Admin endpoints (an operator token whose role allows the route: ``app.security.policy``): lists with filters and cursor pagination, a
signal's trace, statistics; accounts, strategies and re-drive live in their own modules and
are included here. Money is returned as decimal strings, never floats.

Lists answer ``{"items": [...], "limit": n, "next_cursor": "..."|null}``, newest first.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from app.admin import accounts, operators, redrive, strategies
from app.admin.pagination import Cursor, Filter, Limit, Since, Until, described, page, time_range
from app.admin.schemas import (
    Check,
    DecisionView,
    FillView,
    OrderDetail,
    OrderView,
    Page,
    PositionView,
    SignalSummary,
    SignalTrace,
)
from app.admin.stats import StatsAnswer, compute_stats
from app.admin.strategies import webhook_url
from app.admin.trace import fill_view, order_detail, order_view, signal_trace
from app.shadow.routes import router as shadow_router
from app.deps import AdminDep, SessionDep
from app.serialize import jsonable
from app.errors import NotFound
from app.persistence.models import (
    Account,
    FillRecord,
    OrderRecord,
    PositionRecord,
    RiskDecisionRecord,
    SignalRecord,
    Strategy,
)

__all__ = ["jsonable", "router", "webhook_url"]

router = APIRouter(prefix="/api/v1", tags=["admin"], dependencies=[AdminDep])
router.include_router(accounts.router)
router.include_router(strategies.router)
router.include_router(redrive.router)
router.include_router(operators.router)
router.include_router(shadow_router)



@router.get("/signals/{signal_id}", summary="A signal's full trace: checks, intents, orders, fills, timeline",
            response_model=SignalTrace, responses={404: {"description": "No such signal."}})
def get_signal(signal_id: uuid.UUID, session: SessionDep) -> SignalTrace:
    """received → parsed → decided → enqueued → claimed → submitted → acknowledged → filled,
    each with its time and milliseconds since receipt and since the previous step."""
    return signal_trace(session, signal_id)


@router.get("/signals", summary="Signals, newest first, filtered", response_model=Page[SignalSummary])
def list_signals(
    session: SessionDep, strategy: Filter = None, source: Filter = None, dialect: Filter = None,
    status: Annotated[str | None, described("accepted, rejected, duplicate or invalid")] = None,
    symbol: Annotated[str | None, described("ccxt unified symbol, e.g. BTC/USDT")] = None,
    since: Since = None, until: Until = None, limit: Limit = 50, cursor: Cursor = None,
) -> Page[SignalSummary]:
    query = select(SignalRecord, Strategy.name).join(Strategy, Strategy.id == SignalRecord.strategy_id)
    for column, value in ((Strategy.name, strategy), (SignalRecord.source, source), (SignalRecord.dialect, dialect),
                          (SignalRecord.status, status), (SignalRecord.symbol, symbol)):
        if value is not None:
            query = query.where(column == value)
    query = time_range(query, SignalRecord.received_at, since, until)
    rows, next_cursor = page(session, query, SignalRecord.received_at, SignalRecord.id, limit, cursor)
    items = [
        SignalSummary(id=s.id, status=s.status, reason=s.reason, source=s.source, strategy=name, dialect=s.dialect,
                      symbol=s.symbol, action=s.action, received_at=s.received_at, decided_at=s.decided_at)
        for s, name in rows
    ]
    return Page[SignalSummary](items=items, limit=limit, next_cursor=next_cursor)


@router.get("/decisions", summary="Risk decisions, newest first, filtered", response_model=Page[DecisionView])
def list_decisions(
    session: SessionDep, approved: bool | None = None,
    failed_check: Annotated[str | None, described("Only denials by this check, e.g. `cooldown`")] = None,
    strategy: Filter = None, account: Filter = None, symbol: Filter = None,
    since: Since = None, until: Until = None, limit: Limit = 50, cursor: Cursor = None,
) -> Page[DecisionView]:
    query = (
        select(RiskDecisionRecord, Account.name, Strategy.name, SignalRecord.symbol)
        .join(SignalRecord, SignalRecord.id == RiskDecisionRecord.signal_id)
        .join(Strategy, Strategy.id == SignalRecord.strategy_id)
        .join(Account, Account.id == RiskDecisionRecord.account_id)
    )
    if approved is not None:
        query = query.where(RiskDecisionRecord.approved.is_(approved))
    if failed_check is not None:
        query = query.where(RiskDecisionRecord.checks.contains([{"check": failed_check, "passed": False}]))
    for column, value in ((Strategy.name, strategy), (Account.name, account), (SignalRecord.symbol, symbol)):
        if value is not None:
            query = query.where(column == value)
    query = time_range(query, RiskDecisionRecord.created_at, since, until)
    rows, next_cursor = page(session, query, RiskDecisionRecord.created_at, RiskDecisionRecord.id, limit, cursor)
    items = [_decision(d, account_name, strategy_name, sym) for d, account_name, strategy_name, sym in rows]
    return Page[DecisionView](items=items, limit=limit, next_cursor=next_cursor)


def _decision(d: RiskDecisionRecord, account: str, strategy: str | None, symbol: str | None) -> DecisionView:
    checks = [Check.model_validate(c) for c in d.checks or []]
    failed = next((c.check for c in checks if not c.passed), None)
    return DecisionView(id=d.id, signal_id=d.signal_id, account=account, strategy=strategy, symbol=symbol,
                        approved=d.approved, reason=d.reason, failed_check=failed, quantity=d.quantity,
                        checks=checks, decided_at=d.created_at)


@router.get("/orders", summary="Orders, newest first, filtered", response_model=Page[OrderView])
def list_orders(
    session: SessionDep,
    status: Annotated[str | None, described("Order state, e.g. FILLED, REJECTED (any case)")] = None,
    venue: Filter = None, symbol: Filter = None, account: Filter = None,
    since: Since = None, until: Until = None, limit: Limit = 50, cursor: Cursor = None,
) -> Page[OrderView]:
    query = select(OrderRecord, Account.name).join(Account, Account.id == OrderRecord.account_id)
    for column, value in ((OrderRecord.status, status.upper() if status else None), (OrderRecord.venue, venue),
                          (OrderRecord.symbol, symbol), (Account.name, account)):
        if value is not None:
            query = query.where(column == value)
    query = time_range(query, OrderRecord.created_at, since, until)
    rows, next_cursor = page(session, query, OrderRecord.created_at, OrderRecord.id, limit, cursor)
    return Page[OrderView](items=[order_view(o, name) for o, name in rows], limit=limit, next_cursor=next_cursor)


@router.get("/orders/{order_id}", summary="One order with its state transitions and fills",
            response_model=OrderDetail, responses={404: {"description": "No such order."}})
def get_order(order_id: uuid.UUID, session: SessionDep) -> OrderDetail:
    order = session.get(OrderRecord, order_id)
    if order is None:
        raise NotFound(f"no order {order_id}")
    return order_detail(session, order)


@router.get("/fills", summary="Fills, newest first (venue time), filtered", response_model=Page[FillView])
def list_fills(
    session: SessionDep, venue: Filter = None, symbol: Filter = None, account: Filter = None,
    side: Annotated[str | None, described("buy or sell")] = None,
    since: Since = None, until: Until = None, limit: Limit = 50, cursor: Cursor = None,
) -> Page[FillView]:
    query = select(FillRecord, Account.name).join(Account, Account.id == FillRecord.account_id)
    for column, value in ((FillRecord.venue, venue), (FillRecord.symbol, symbol), (Account.name, account),
                          (FillRecord.side, side)):
        if value is not None:
            query = query.where(column == value)
    query = time_range(query, FillRecord.ts_event, since, until)
    rows, next_cursor = page(session, query, FillRecord.ts_event, FillRecord.id, limit, cursor)
    return Page[FillView](items=[fill_view(f, name) for f, name in rows], limit=limit, next_cursor=next_cursor)


@router.get("/positions", summary="Positions per account and symbol (signed base quantity)",
            response_model=list[PositionView])
def list_positions(
    session: SessionDep, account: Filter = None, symbol: Filter = None,
    open: Annotated[bool, Query(description="Only non-zero positions")] = False,
) -> list[PositionView]:
    """Not paginated: one row per (account, symbol, position side) ever traded, a bounded set."""
    query = select(PositionRecord, Account.name).join(Account, Account.id == PositionRecord.account_id)
    for column, value in ((Account.name, account), (PositionRecord.symbol, symbol)):
        if value is not None:
            query = query.where(column == value)
    if open:
        query = query.where(PositionRecord.quantity != 0)
    rows = session.execute(query.order_by(Account.name, PositionRecord.symbol, PositionRecord.position_side)).all()
    return [
        PositionView(id=p.id, account=name, symbol=p.symbol, position_side=p.position_side, quantity=p.quantity,
                     average_price=p.average_price,
                     realized_pnl=p.realized_pnl, updated_at=p.updated_at)
        for p, name in rows
    ]


@router.get("/stats", summary="Per strategy, source and confidence bucket: outcomes, PnL, drawdown, slippage, latency",
            response_model=StatsAnswer)
def get_stats(
    session: SessionDep, since: Since = None, until: Until = None,
    strategy: Annotated[str | None, described("Only this strategy")] = None,
) -> StatsAnswer:
    """Signals are counted by ``received_at`` and fills by ``ts_event`` within [from, to).
    Formulas: ``app.admin.stats``."""
    return compute_stats(session, since=since, until=until, strategy=strategy)
