"""Admin levers of execution (admin token): cancel an order, and the venues' health —
circuit breakers, orders in doubt, open orders on the venue that Tradewire did not place.

Thin: the work is in ``app.execution.cancel``, ``app.execution.breaker`` and the reconciler's
``foreign_orders`` report.
"""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.admin.schemas import Money, OrderDetail, OrderView
from app.admin.trace import order_detail, order_view
from app.deps import AdminDep, SessionDep
from app.domain.orders import OrderStatus
from app.errors import NotFound
from app.execution import breaker, cancel
from app.persistence.models import Account, ForeignOrderRecord, OrderRecord

router = APIRouter(prefix="/api/v1", tags=["admin"], dependencies=[AdminDep])
OrderId = Annotated[uuid.UUID, Path(description="Order id")]


class BreakerView(BaseModel):
    """``open``: the venue's intents wait (pending) until a probe succeeds."""

    open: bool
    consecutive_failures: int
    opened_at: datetime | None
    last_error: str | None
    last_failure_at: datetime | None
    last_probe_at: datetime | None


class ForeignOrderView(BaseModel):
    """An open order on the venue that Tradewire did not place; reported, never touched."""

    account: str
    venue_order_id: str
    client_order_id: str | None
    symbol: str
    side: str | None
    order_type: str | None
    quantity: Money | None
    price: Money | None
    status: str | None
    note: str | None
    first_seen_at: datetime
    last_seen_at: datetime


class VenueView(BaseModel):
    venue: str = Field(description="ccxt exchange id, or paper")
    accounts: list[str]
    breaker: BreakerView | None = Field(description="null: the venue never failed")
    in_doubt: list[OrderView] = Field(description="SUBMITTED orders whose send has an unknown outcome; "
                                      "the reconciler resolves them by client order id")
    foreign_open_orders: list[ForeignOrderView]


@router.post("/orders/{order_id}/cancel", summary="Cancel an order on its venue", response_model=OrderDetail,
             responses={404: {"description": "No such order."},
                        409: {"description": "Finished already, or its send may still land: the message says when "
                              "to retry."},
                        502: {"description": "The venue did not answer; retry."}})
def post_cancel(order_id: OrderId, session: SessionDep) -> OrderDetail:
    """Cancels the order on the venue and records the venue's answer (fills made before the
    cancel included): the order comes back CANCELED, or FILLED if it filled first."""
    cancel.cancel_order(order_id)
    order = session.get(OrderRecord, order_id)
    if order is None:  # pragma: no cover - cancel_order raised NotFound already
        raise NotFound(f"no order {order_id}")
    return order_detail(session, order)


@router.get("/venues", summary="Venues: circuit breaker, orders in doubt, foreign open orders",
            response_model=list[VenueView])
def list_venues(session: SessionDep) -> list[VenueView]:
    accounts = session.execute(select(Account.id, Account.name, Account.venue).order_by(Account.name)).all()
    names = {a.id: a.name for a in accounts}
    breakers = {b.venue: b for b in breaker.states()}
    doubtful = session.execute(
        select(OrderRecord).where(OrderRecord.in_doubt_since.is_not(None), OrderRecord.status == OrderStatus.SUBMITTED.value)
        .order_by(OrderRecord.in_doubt_since)
    ).scalars().all()
    foreign = session.execute(select(ForeignOrderRecord).order_by(ForeignOrderRecord.first_seen_at)).scalars().all()
    views = []
    for venue in sorted({a.venue for a in accounts} | set(breakers)):
        state = breakers.get(venue)
        views.append(VenueView(
            venue=venue,
            accounts=[a.name for a in accounts if a.venue == venue],
            breaker=BreakerView(**{k: getattr(state, k) for k in BreakerView.model_fields}) if state else None,
            in_doubt=[order_view(o, names.get(o.account_id)) for o in doubtful if o.venue == venue],
            foreign_open_orders=[
                ForeignOrderView(account=names.get(f.account_id, str(f.account_id)), **{
                    k: getattr(f, k) for k in ForeignOrderView.model_fields if k != "account"})
                for f in foreign if f.venue == venue
            ],
        ))
    return views
