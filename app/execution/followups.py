"""What happens after an order's outcome is recorded, whoever recorded it (the worker's job,
a re-run, the reconciler, a cancel):

* the next intent in line for the same (account, symbol) — a reversal's open after its
  close, or a later signal's order — is enqueued once this one no longer holds the line
  (``app.execution.service`` executes one symbol's intents in decision order);
* protective orders (``app.execution.protective``): placed when an entry with a stop-loss or
  take-profit fills, cancelled when the position they protect is closed.

Failures here are logged, never raised: the outcome is already committed, and the sweeper
(next intent) and the reconciler (protective orders) catch up.
"""

import logging
import uuid
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select
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
    """What the follow-ups need of an order's intent, taken from the row already loaded."""

    intent_id: uuid.UUID
    entry: bool
    wants_protection: bool
    signal_id: uuid.UUID
    sequence: int


@dataclass(frozen=True)
class Prepared:
    """The follow-ups of an order just recorded, read inside its recording transaction:
    the protective work (``protective.Filled`` or None, with the open protective orders to
    cancel when the position is flat). The next intent in line is looked up after commit."""

    filled: object | None
    open_protective: list[uuid.UUID] = field(default_factory=list)


def facts(intent: OrderIntentRecord) -> IntentFacts:
    wants = not intent.reduce_only and (intent.stop_loss is not None or intent.take_profit is not None)
    return IntentFacts(intent.id, intent.purpose == "entry", wants, intent.signal_id, intent.sequence)


def prepare(session: Session, order: OrderRecord, status: OrderStatus, known: IntentFacts | None) -> Prepared | None:
    """Read what ``after_record`` needs in the caller's (recording) transaction, skipping the
    reads that cannot apply. None when the intent's facts are not known (``after_record``
    then reads them itself)."""
    from app.execution import ledger, protective

    if known is None:
        return None
    if status not in FILL_STATES:
        return Prepared(None)
    position = ledger.position_quantity(session, order.account_id, order.symbol)
    filled = protective.Filled(known.intent_id, order.account_id, order.symbol, known.entry, order.status,
                               order.filled_quantity, known.wants_protection, position)
    open_ids = protective.open_protective(session, order.account_id, order.symbol) if position == 0 else []
    return Prepared(filled, open_ids)


def after_record(order_id: uuid.UUID, status: OrderStatus, prepared: Prepared | None = None) -> None:
    """Run the follow-ups of an order now at ``status`` (``prepared``: read by ``prepare`` in
    the recording transaction, else read here)."""
    from app.execution import protective  # protective places orders through the lifecycle

    try:
        if status != OrderStatus.SUBMITTED:
            enqueue_next_in_line(order_id)
        if prepared is not None:
            if prepared.filled is not None:
                protective.after_filled(prepared.filled, prepared.open_protective)  # type: ignore[arg-type]
            return
        if status in FILL_STATES:
            protective.after_fill(order_id)
    except Exception:  # the outcome is committed; the sweeper and the reconciler catch up
        log.exception("follow-up of order %s failed", order_id)


def enqueue_next_in_line(order_id: uuid.UUID) -> None:
    """Enqueue the oldest pending entry intent of the order's (account, symbol), if any.

    Runs after the order's outcome is committed, so an intent whose claim found this order
    still holding the line is seen here as pending and enqueued again (no lost wake-up).
    Enqueuing an intent that is still blocked is harmless: its claim waits again.
    """
    with unit_of_work() as session:
        nxt = session.execute(_NEXT_IN_LINE, {"order_id": order_id}).first()
    if nxt is not None:
        enqueue_intent(nxt.id, nxt.client_order_id, nxt.venue)


def _next_in_line_query():
    I, O = OrderIntentRecord, OrderRecord
    of_order = select(O.account_id, O.symbol).where(O.id == bindparam("order_id")).subquery()
    return (
        select(I.id, I.client_order_id, I.venue)
        .join(of_order, (I.account_id == of_order.c.account_id) & (I.symbol == of_order.c.symbol))
        .where(I.status == IntentStatus.PENDING.value, I.purpose == "entry")
        .order_by(I.created_at, I.sequence)
        .limit(1)
    )


_NEXT_IN_LINE = _next_in_line_query()


def _intent_of(order_id: uuid.UUID) -> uuid.UUID | None:
    with unit_of_work() as session:
        return session.execute(select(OrderRecord.intent_id).where(OrderRecord.id == order_id)).scalar_one_or_none()
