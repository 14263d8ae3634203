"""The events an order's recorded fills set in motion, written in the recording transaction,
whoever recorded them (the worker's job, a re-run, the reconciler, a cancel):

* ``entry.filled``: an entry carrying a stop-loss or take-profit has filled (FILLED, or
  CANCELED / EXPIRED after a partial fill); its protective orders are to be placed;
* ``position.flat``: a fill left the account flat in the symbol while protective orders are
  open there; they are to be cancelled (a filled stop-loss cancels its take-profit);
* ``ladder.order``: an order of a native exit ladder changed state (the venue acknowledged it,
  it filled, it was cancelled); the ladder moves on it (``app.followups.native_ladder``).

That the order no longer holds its symbol's line (``order.terminal`` / ``order.accepted``) is
emitted by the ledger with the transition itself. The handlers live above this stage, in
``app.followups``; nothing here calls back up the signal's path.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app import events
from app.domain.orders import OPEN_STATE_VALUES, OrderStatus
from app.execution import ledger
from app.persistence.models import ExitLadderRecord, OrderIntentRecord, OrderRecord

FILL_FINAL = (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED)
PROTECTIVE = ("stop_loss", "take_profit")
_NATIVE_LADDER = select(ExitLadderRecord.id).where(ExitLadderRecord.entry_intent_id == bindparam("entry"),
                                                   ExitLadderRecord.mode == "native")


@dataclass(frozen=True)
class IntentFacts:
    """What the outcome events need of an order's intent, taken from the row already loaded."""

    intent_id: uuid.UUID
    entry: bool
    wants_protection: bool
    signal_id: uuid.UUID
    sequence: int
    protects: uuid.UUID | None = None  # a protective order's entry intent (a native ladder's orders)
    wants_ladder: bool = False  # an entry its signal or strategy gives an exit ladder


def facts(intent: OrderIntentRecord) -> IntentFacts:
    wants = not intent.reduce_only and (intent.stop_loss is not None or intent.take_profit is not None)
    protects = intent.parent_intent_id if intent.purpose in PROTECTIVE else None
    return IntentFacts(intent.id, intent.purpose == "entry", wants, intent.signal_id, intent.sequence, protects,
                       bool(intent.exit_ladder))


def emit_for(session: Session, order: OrderRecord, before: OrderStatus, filled_before: Decimal,
             status: OrderStatus, known: IntentFacts) -> None:
    """Write the events of this recording: ``before`` / ``filled_before`` are the order's
    state and cumulative fill before it (a repeated answer that changed nothing emits nothing)."""
    if status == before and order.filled_quantity == filled_before:
        return
    payload = {"order_id": str(order.id), "account_id": str(order.account_id), "symbol": order.symbol,
               "venue": order.venue} | ({"position_side": order.position_side} if order.position_side else {})
    if known.entry and known.wants_protection and status in FILL_FINAL and before not in FILL_FINAL \
            and order.filled_quantity > 0:
        events.emit(session, events.ENTRY_FILLED, payload | {"intent_id": str(known.intent_id)},
                    signal_id=known.signal_id, order_id=order.id)
    elif known.entry and known.wants_ladder and order.filled_quantity > filled_before:
        # an exit ladder is sized on every fill of its entry, partial ones included
        events.emit(session, events.ENTRY_FILLED, payload | {"intent_id": str(known.intent_id)},
                    signal_id=known.signal_id, order_id=order.id)
    if known.protects is not None and status != before:
        ladder_id = session.execute(_NATIVE_LADDER, {"entry": known.protects}).scalar_one_or_none()
        if ladder_id is not None:
            events.emit(session, events.LADDER_ORDER, payload | {"ladder_id": str(ladder_id), "status": status.value},
                        signal_id=known.signal_id, order_id=order.id)
    if order.filled_quantity > filled_before and ledger.position_quantity(session, order.account_id, order.symbol,
                                                                                order.position_side) == 0 \
            and (_protective_open(session, order) or _ladder_active(session, order)):
        events.emit(session, events.POSITION_FLAT, payload, signal_id=known.signal_id, order_id=order.id)


def _protective_open(session: Session, order: OrderRecord) -> bool:
    return session.execute(
        select(OrderRecord.id)
        .join(OrderIntentRecord, OrderIntentRecord.id == OrderRecord.intent_id)
        .where(OrderRecord.account_id == order.account_id, OrderRecord.symbol == order.symbol,
               OrderRecord.status.in_(OPEN_STATE_VALUES), OrderIntentRecord.purpose.in_(PROTECTIVE))
        .limit(1)
    ).first() is not None


def _ladder_active(session: Session, order: OrderRecord) -> bool:
    return session.execute(
        select(ExitLadderRecord.id)
        .where(ExitLadderRecord.account_id == order.account_id, ExitLadderRecord.symbol == order.symbol,
               ExitLadderRecord.status == "active")
        .limit(1)
    ).first() is not None
