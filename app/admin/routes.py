"""Admin endpoints (admin token required). Money is returned as decimal strings, never floats."""

import uuid
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.admin.trace import fill_json, order_json, signal_trace
from app.bootstrap import create_strategy
from app.config import get_settings
from app.deps import AdminDep, SessionDep
from app.domain.enums import TradingState
from app.domain.money import fmt
from app.errors import IngestError, NotFound
from app.risk.state import OPERATOR_REASON, record_state_change
from app.persistence.models import Account, BalanceRecord, FillRecord, OrderRecord, PositionRecord, SignalRecord, Strategy

router = APIRouter(prefix="/api/v1", tags=["admin"], dependencies=[AdminDep])
Limit = Annotated[int, Query(ge=1, le=500)]


def jsonable(value: Any) -> Any:
    """Decimal → exact string, datetime → ISO-8601, UUID → string, recursively."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, Enum)):
        return str(value.value if isinstance(value, Enum) else value)
    return value


def _ok(content: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(jsonable(content), status_code=status_code)


@router.get("/signals/{signal_id}", summary="A signal's full trace: decision, intents, orders, fills, timeline")
def get_signal(signal_id: uuid.UUID, session: SessionDep) -> JSONResponse:
    return _ok(signal_trace(session, signal_id))


@router.get("/signals", summary="Recent signals, newest first")
def list_signals(session: SessionDep, status: str | None = None, limit: Limit = 50) -> JSONResponse:
    query = select(SignalRecord).order_by(SignalRecord.received_at.desc()).limit(limit)
    if status:
        query = query.where(SignalRecord.status == status)
    rows = session.execute(query).scalars().all()
    return _ok([
        {"id": r.id, "status": r.status, "reason": r.reason, "source": r.source, "dialect": r.dialect,
         "symbol": r.symbol, "action": r.action, "received_at": r.received_at}
        for r in rows
    ])


@router.get("/orders", summary="Orders, newest first")
def list_orders(session: SessionDep, status: str | None = None, limit: Limit = 50) -> JSONResponse:
    query = select(OrderRecord).order_by(OrderRecord.created_at.desc()).limit(limit)
    if status:
        query = query.where(OrderRecord.status == status.upper())
    return _ok([order_json(o) for o in session.execute(query).scalars().all()])


@router.get("/orders/{order_id}", summary="One order")
def get_order(order_id: uuid.UUID, session: SessionDep) -> JSONResponse:
    order = session.get(OrderRecord, order_id)
    if order is None:
        raise NotFound(f"no order {order_id}")
    return _ok(order_json(order))


@router.get("/fills", summary="Fills, newest first")
def list_fills(session: SessionDep, limit: Limit = 50) -> JSONResponse:
    rows = session.execute(select(FillRecord).order_by(FillRecord.ts_event.desc()).limit(limit)).scalars().all()
    return _ok([fill_json(f) for f in rows])


@router.get("/positions", summary="Positions per account and symbol (signed base quantity)")
def list_positions(session: SessionDep) -> JSONResponse:
    rows = session.execute(
        select(PositionRecord, Account.name).join(Account, Account.id == PositionRecord.account_id)
    ).all()
    return _ok([
        {"account": name, "symbol": p.symbol, "quantity": p.quantity, "average_price": p.average_price,
         "realized_pnl": p.realized_pnl, "updated_at": p.updated_at}
        for p, name in rows
    ])


@router.get("/accounts", summary="Accounts with venue, trading state and balances")
def list_accounts(session: SessionDep) -> JSONResponse:
    accounts = session.execute(select(Account).order_by(Account.name)).scalars().all()
    balances = session.execute(select(BalanceRecord)).scalars().all()
    return _ok([
        {"name": a.name, "venue": a.venue, "trading_state": a.trading_state,
         "balances": {b.currency: b.total for b in balances if b.account_id == a.id}}
        for a in accounts
    ])


class TradingStateBody(BaseModel):
    state: TradingState = Field(description="ACTIVE, REDUCING or HALTED (the kill switch)")


@router.put("/accounts/{name}/trading-state", summary="Set an account's trading state (kill switch)")
def set_trading_state(name: str, body: TradingStateBody, session: SessionDep) -> JSONResponse:
    with session.begin():
        account = session.execute(select(Account).where(Account.name == name).with_for_update()).scalar_one_or_none()
        if account is None:
            raise NotFound(f"no account {name!r}")
        record_state_change(account, body.state, OPERATOR_REASON)
    return _ok({"name": name, "trading_state": body.state.value})


class StrategyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    account: str = "paper"


@router.get("/strategies", summary="Strategies (tokens are never shown after creation)")
def list_strategies(session: SessionDep) -> JSONResponse:
    rows = session.execute(select(Strategy, Account.name).join(Account, Account.id == Strategy.account_id)).all()
    return _ok([{"id": s.id, "name": s.name, "account": a, "enabled": s.enabled, "created_at": s.created_at} for s, a in rows])


@router.post("/strategies", summary="Create a strategy; the answer holds its token and webhook URL, shown once", status_code=201)
def post_strategy(body: StrategyCreate, session: SessionDep) -> JSONResponse:
    with session.begin():
        account = session.execute(select(Account).where(Account.name == body.account)).scalar_one_or_none()
        if account is None:
            raise IngestError(f"no account {body.account!r}", field="account")
        if session.execute(select(Strategy.id).where(Strategy.name == body.name)).first():
            raise IngestError(f"a strategy named {body.name!r} exists", field="name")
        created = create_strategy(session, body.name, account)
    return _ok(
        {"id": created.id, "name": created.name, "account": created.account, "token": created.token,
         "webhook_url": webhook_url(created.token)},
        status_code=201,
    )


def webhook_url(token: str) -> str:
    return f"{get_settings().base_url}/webhooks/tradingview/{token}"
