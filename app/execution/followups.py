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
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import unit_of_work
from app.domain.enums import IntentStatus
from app.domain.orders import TERMINAL, OrderStatus
from app.jobs.queue import enqueue_intent
from app.persistence.models import OrderIntentRecord, OrderRecord

log = logging.getLogger(__name__)
FILL_STATES = (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED)


@dataclass(frozen=True)
class IntentFacts:
    """What the follow-ups need of an order's intent, taken from the row already loaded.
    ``has_next``: the signal has an entry intent after this one (None: not known)."""

    intent_id: uuid.UUID
    entry: bool
    wants_protection: bool
    signal_id: uuid.UUID
    sequence: int
    has_next: bool | None


@dataclass(frozen=True)
class Prepared:
    """The follow-ups of an order just recorded, read inside its recording transaction:
    the next intent to enqueue, and the protective work (``protective.Filled`` or None,
    with the open protective orders to cancel when the position is flat)."""

    next_target: tuple[uuid.UUID, str, str] | None
    filled: object | None
    open_protective: list[uuid.UUID] = field(default_factory=list)


def facts(intent: OrderIntentRecord, has_next: bool | None = None) -> IntentFacts:
    wants = not intent.reduce_only and (intent.stop_loss is not None or intent.take_profit is not None)
    return IntentFacts(intent.id, intent.purpose == "entry", wants, intent.signal_id, intent.sequence, has_next)


def prepare(session: Session, order: OrderRecord, status: OrderStatus, known: IntentFacts | None) -> Prepared | None:
    """Read what ``after_record`` needs in the caller's (recording) transaction, skipping the
    reads that cannot apply. None when the intent's facts are not known (``after_record``
    then reads them itself)."""
    from app.execution import ledger, protective

    if known is None:
        return None
    target = None
    if status in TERMINAL and known.entry and known.has_next is not False:
        nxt = _pending_after(session, known.signal_id, known.sequence)
        target = (nxt.id, nxt.client_order_id, nxt.venue) if nxt is not None else None
    if status not in FILL_STATES:
        return Prepared(target, None)
    position = ledger.position_quantity(session, order.account_id, order.symbol)
    filled = protective.Filled(known.intent_id, order.account_id, order.symbol, known.entry, order.status,
                               order.filled_quantity, known.wants_protection, position)
    open_ids = protective.open_protective(session, order.account_id, order.symbol) if position == 0 else []
    return Prepared(target, filled, open_ids)


def after_record(order_id: uuid.UUID, status: OrderStatus, prepared: Prepared | None = None) -> None:
    """Run the follow-ups of an order now at ``status`` (``prepared``: read by ``prepare`` in
    the recording transaction, else read here)."""
    from app.execution import protective  # protective places orders through the lifecycle

    try:
        if prepared is not None:
            if prepared.next_target is not None:
                enqueue_intent(*prepared.next_target)
            if prepared.filled is not None:
                protective.after_filled(prepared.filled, prepared.open_protective)  # type: ignore[arg-type]
            return
        if status in TERMINAL:
            enqueue_next(_intent_of(order_id))
        if status in FILL_STATES:
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
    return _pending_after(session, current.signal_id, current.sequence)


def _pending_after(session: Session, signal_id: uuid.UUID, sequence: int) -> OrderIntentRecord | None:
    return session.execute(
        select(OrderIntentRecord).where(
            OrderIntentRecord.signal_id == signal_id,
            OrderIntentRecord.sequence == sequence + 1,
            OrderIntentRecord.purpose == "entry",
            OrderIntentRecord.status == IntentStatus.PENDING.value,
        )
    ).scalar_one_or_none()


def _intent_of(order_id: uuid.UUID) -> uuid.UUID | None:
    with unit_of_work() as session:
        return session.execute(select(OrderRecord.intent_id).where(OrderRecord.id == order_id)).scalar_one_or_none()
