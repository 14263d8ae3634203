"""Positions checked against the venue, and the futures settings remembered per (account,
symbol) (admin token). Thin: the work is in ``app.execution.drift`` and ``app.execution.futures``."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from app.admin.schemas import Money
from app.deps import AdminDep, SessionDep
from app.persistence.models import Account, FuturesSettingRecord, PositionDriftRecord

router = APIRouter(prefix="/api/v1", tags=["admin"], dependencies=[AdminDep])


class DriftView(BaseModel):
    """A difference between the ledger's position and the venue's. ``action``: ``reported``
    (sync_mode report) or ``adopted`` (the ledger was set to the venue's quantity, not a fill);
    ``resolved_at`` empty while it lasts."""

    account: str
    venue: str
    symbol: str
    position_side: str = "net"
    kind: str
    ledger_quantity: Money
    venue_quantity: Money
    sync_mode: str
    action: str
    detail: str
    detected_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None


class FuturesSettingView(BaseModel):
    """What Tradewire set (or found) on the venue for one (account, symbol)."""

    account: str
    symbol: str
    leverage: Money | None
    margin_mode: str | None
    position_mode: str | None
    updated_at: datetime


@router.get("/drifts", summary="Positions that differ from the venue (liquidation, manual close, missed alert)",
            response_model=list[DriftView])
def list_drifts(session: SessionDep, resolved: Annotated[bool, Query(
        description="also the drifts that are over (resolved or adopted)")] = False) -> list[DriftView]:
    query = select(PositionDriftRecord, Account.name).join(Account, Account.id == PositionDriftRecord.account_id)
    if not resolved:
        query = query.where(PositionDriftRecord.resolved_at.is_(None))
    rows = session.execute(query.order_by(PositionDriftRecord.detected_at.desc()).limit(500)).all()
    fields = set(DriftView.model_fields) - {"account"}
    return [DriftView(account=name, **{k: getattr(d, k) for k in fields}) for d, name in rows]


@router.get("/futures-settings", summary="Leverage, margin and position mode set on the venues, per account and symbol",
            response_model=list[FuturesSettingView])
def list_futures_settings(session: SessionDep) -> list[FuturesSettingView]:
    rows = session.execute(select(FuturesSettingRecord, Account.name)
                           .join(Account, Account.id == FuturesSettingRecord.account_id)
                           .order_by(Account.name, FuturesSettingRecord.symbol)).all()
    fields = set(FuturesSettingView.model_fields) - {"account"}
    return [FuturesSettingView(account=name, **{k: getattr(f, k) for k in fields}) for f, name in rows]
