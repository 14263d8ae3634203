"""Rebalances (admin token): ``GET /api/v1/rebalances`` and ``GET /api/v1/rebalances/{id}``.
Thin: the rows are written by ``app.portfolio.store``."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.deps import AdminDep, SessionDep
from app.errors import NotFound
from app.persistence.models import Account, RebalanceRecord, Strategy

router = APIRouter(prefix="/api/v1", tags=["admin"], dependencies=[AdminDep])

Status = Literal["pending_sells", "buying", "complete", "incomplete", "rejected"]


class RebalanceView(BaseModel):
    """One rebalance of an account to target weights. ``status``: ``pending_sells`` (its sells are
    on their way, its buys wait for them), ``buying``, ``complete``, ``incomplete`` (``reason``
    names each leg that failed and why; the others stand), ``rejected`` (nothing ordered).
    ``plan``: weights, prices per asset and their source, holdings (base units), cash, equity and
    fee rate as decided (amounts as decimal strings, quote currency). ``legs``: sells first, then
    buys: symbol, side, quantity (base), price, notional and fee (quote), weights before / target
    / after and drift, ``status`` (planned, ordered, filled, partial, failed, denied, skipped),
    ``reason``, and once ordered the intent, its order's status, filled quantity and average price
    (a buy re-sized after the sells keeps its first figures in ``planned``)."""

    id: uuid.UUID
    signal_id: uuid.UUID
    account: str
    strategy: str
    venue: str
    status: Status
    reason: str | None
    plan: dict[str, Any]
    legs: list[dict[str, Any]] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


_BY = select(RebalanceRecord, Account.name, Strategy.name).join(Account, Account.id == RebalanceRecord.account_id) \
    .join(Strategy, Strategy.id == RebalanceRecord.strategy_id)


def _view(row: RebalanceRecord, account: str, strategy: str) -> RebalanceView:
    fields = set(RebalanceView.model_fields) - {"account", "strategy"}
    return RebalanceView(account=account, strategy=strategy, **{k: getattr(row, k) for k in fields})


@router.get("/rebalances", summary="Rebalances, newest first", response_model=list[RebalanceView])
def list_rebalances(
    session: SessionDep,
    strategy: Annotated[str | None, Query(description="only this strategy's")] = None,
    status: Annotated[Status | None, Query(description="only those in this status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[RebalanceView]:
    query = _BY
    if strategy is not None:
        query = query.where(Strategy.name == strategy)
    if status is not None:
        query = query.where(RebalanceRecord.status == status)
    rows = session.execute(query.order_by(RebalanceRecord.created_at.desc()).limit(limit)).all()
    return [_view(*row) for row in rows]


@router.get("/rebalances/{rebalance_id}", summary="One rebalance: its plan, legs and status",
            response_model=RebalanceView, responses={404: {"description": "No such rebalance."}})
def get_rebalance(rebalance_id: uuid.UUID, session: SessionDep) -> RebalanceView:
    row = session.execute(_BY.where(RebalanceRecord.id == rebalance_id)).first()
    if row is None:
        raise NotFound(f"no rebalance {rebalance_id}")
    return _view(*row)
