"""The execution service: claim an intent, send its order, record the outcome.

Three short transactions and no session held across the venue call:
1. claim: ``pending → submitting`` by a conditional UPDATE (a job run twice claims once),
   and the order row written as SUBMITTED before anything is sent;
2. the venue call;
3. record: order state (with an ``order_events`` row per transition), fills (unique per
   venue and trade id), position and, for the paper venue, balances, in one transaction.
"""

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import unit_of_work
from app.domain.enums import IntentStatus, OrderSide, OrderType, TimeInForce
from app.domain.orders import OrderStatus
from app.errors import OrderRejected, TemporaryVenueError
from app.execution.ledger import record_rejection, record_venue_order, transition
from app.execution.venues.base import OrderRequest, Venue
from app.execution.venues.registry import venue_for
from app.jobs.queue import enqueue_intent
from app.persistence.models import Account, OrderIntentRecord, OrderRecord

log = logging.getLogger(__name__)


def execute_intent(intent_id: uuid.UUID, *, enqueued_at: datetime | None = None) -> OrderStatus | None:
    """Execute one intent end to end. Returns the order's status, or None if the intent
    was not ours to run (already claimed or finished). ``enqueued_at`` is when its job was
    queued (RQ's record), kept for the trace."""
    claimed = claim(intent_id, enqueued_at=enqueued_at)
    if claimed is None:
        log.info("intent not pending, nothing to do", extra={"intent_id": str(intent_id)})
        return None
    order_id, account_id, venue_name, request = claimed
    venue = venue_for(venue_name)
    try:
        result = venue.create_order(request)
    except OrderRejected as e:
        with unit_of_work() as session:
            record_rejection(session, order_id, e.message)
        _enqueue_next(intent_id)
        return OrderStatus.REJECTED
    except TemporaryVenueError as e:
        log.warning("order in doubt after a venue error", extra={"intent_id": str(intent_id), "error": e.message})
        return OrderStatus.SUBMITTED
    status = _record(order_id, account_id, venue, request, result)
    _enqueue_next(intent_id)
    return status


def claim(intent_id: uuid.UUID, *, enqueued_at: datetime | None = None) -> tuple[uuid.UUID, uuid.UUID, str, OrderRequest] | None:
    """Transaction 1: move the intent to ``submitting`` and write its order as SUBMITTED.

    Returns (order id, account id, venue name, request), or None if the intent is not pending.
    """
    now = datetime.now(UTC)
    with unit_of_work() as session:
        intent = session.execute(
            update(OrderIntentRecord)
            .where(OrderIntentRecord.id == intent_id, OrderIntentRecord.status == IntentStatus.PENDING.value)
            .values(
                status=IntentStatus.SUBMITTING.value,
                claimed_at=now,
                enqueued_at=enqueued_at,
                attempts=OrderIntentRecord.attempts + 1,
            )
            .returning(OrderIntentRecord)
        ).scalar_one_or_none()
        if intent is None:
            return None
        order = OrderRecord(
            id=uuid.uuid4(),
            intent_id=intent.id,
            account_id=intent.account_id,
            venue=intent.venue,
            symbol=intent.symbol,
            side=intent.side,
            order_type=intent.order_type,
            quantity=intent.quantity,
            limit_price=intent.limit_price,
            client_order_id=intent.client_order_id,
            status=OrderStatus.INITIALIZED.value,
            created_at=now,
        )
        session.add(order)
        session.flush()
        transition(session, order, OrderStatus.SUBMITTED, ts_event=now)
        return order.id, intent.account_id, intent.venue, _request(intent)


def _request(intent: OrderIntentRecord) -> OrderRequest:
    return OrderRequest(
        client_order_id=intent.client_order_id,
        symbol=intent.symbol,
        side=OrderSide(intent.side),
        order_type=OrderType(intent.order_type),
        quantity=intent.quantity,
        limit_price=intent.limit_price,
        time_in_force=TimeInForce(intent.time_in_force) if intent.time_in_force else None,
        reduce_only=intent.reduce_only,
        reference_price=intent.reference_price,
    )


def _record(order_id: uuid.UUID, account_id: uuid.UUID, venue: Venue, request: OrderRequest, result) -> OrderStatus:
    try:
        with unit_of_work() as session:
            venue.settle(session, account_id, request, result)
            return record_venue_order(session, order_id, venue.name, result)
    except OrderRejected as e:
        with unit_of_work() as session:
            record_rejection(session, order_id, e.message)
        return OrderStatus.REJECTED


def _enqueue_next(intent_id: uuid.UUID) -> None:
    """After a reversal's close, enqueue its open (the signal's next intent by sequence)."""
    with unit_of_work() as session:
        nxt = _next_intent(session, intent_id)
    if nxt is not None:
        enqueue_intent(nxt.id, nxt.client_order_id, nxt.venue)


def _next_intent(session: Session, intent_id: uuid.UUID) -> OrderIntentRecord | None:
    current = session.get(OrderIntentRecord, intent_id)
    if current is None:
        return None
    return session.execute(
        select(OrderIntentRecord).where(
            OrderIntentRecord.signal_id == current.signal_id,
            OrderIntentRecord.sequence == current.sequence + 1,
            OrderIntentRecord.status == IntentStatus.PENDING.value,
        )
    ).scalar_one_or_none()


def account_venue(session: Session, account_id: uuid.UUID) -> str:
    return session.execute(select(Account.venue).where(Account.id == account_id)).scalar_one()
