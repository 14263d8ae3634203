"""What happens after an order's outcome is recorded, whoever recorded it (the worker's job,
a re-run, the reconciler, a cancel):

* the signal's next intent (a reversal's open after its close) is enqueued once this one is
  finished;
* protective orders (``app.execution.protective``): placed when an entry with a stop-loss or
  take-profit fills, cancelled when the position they protect is closed.

Failures here are logged, never raised: the outcome is already committed, and the sweeper
(next intent) and the reconciler (protective orders) catch up.
"""

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import unit_of_work
from app.domain.enums import IntentStatus
from app.domain.orders import TERMINAL, OrderStatus
from app.jobs.queue import enqueue_intent
from app.persistence.models import OrderIntentRecord, OrderRecord

log = logging.getLogger(__name__)


def after_record(order_id: uuid.UUID, status: OrderStatus) -> None:
    """Run the follow-ups of an order now at ``status``."""
    from app.execution import protective  # protective places orders through the lifecycle

    try:
        if status in TERMINAL:
            enqueue_next(_intent_of(order_id))
        if status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED):
            protective.after_fill(order_id)
    except Exception:  # the outcome is committed; the sweeper and the reconciler catch up
        log.exception("follow-up of order %s failed", order_id)


def enqueue_next(intent_id: uuid.UUID | None) -> None:
    """After a reversal's close, enqueue its open (the signal's next intent by sequence)."""
    if intent_id is None:
        return
    with unit_of_work() as session:
        nxt = next_intent(session, intent_id)
        target = (nxt.id, nxt.client_order_id, nxt.venue) if nxt is not None else None
    if target is not None:
        enqueue_intent(*target)


def next_intent(session: Session, intent_id: uuid.UUID) -> OrderIntentRecord | None:
    current = session.get(OrderIntentRecord, intent_id)
    if current is None or current.purpose != "entry":
        return None
    return session.execute(
        select(OrderIntentRecord).where(
            OrderIntentRecord.signal_id == current.signal_id,
            OrderIntentRecord.sequence == current.sequence + 1,
            OrderIntentRecord.purpose == "entry",
            OrderIntentRecord.status == IntentStatus.PENDING.value,
        )
    ).scalar_one_or_none()


def _intent_of(order_id: uuid.UUID) -> uuid.UUID | None:
    with unit_of_work() as session:
        return session.execute(select(OrderRecord.intent_id).where(OrderRecord.id == order_id)).scalar_one_or_none()
