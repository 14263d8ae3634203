"""Protective orders: the stop-loss / take-profit of a filled entry, placed as reduce-only
trigger orders, and cancelled when the position they protect is closed.

* On ``entry.filled`` (an entry carrying ``stop_loss`` / ``take_profit`` has filled: FILLED,
  or CANCELED / EXPIRED after a partial fill), one protective intent per price is written —
  side opposite to the entry, quantity = the entry's filled quantity, a market order
  triggered at the price (``purpose`` ``stop_loss`` / ``take_profit``, ``trigger_price``),
  ``reduce_only`` — with its ``intent.ready`` event. Their ids derive from the entry's
  (uuid5), so a repeated event writes nothing twice; they run through the same never-twice
  lifecycle.
* The venue places them with ccxt's unified ``stopLossPrice`` / ``takeProfitPrice``
  (https://docs.ccxt.com/#/README?id=stop-loss-orders); where the adapter says it cannot
  (Binance spot has no reduce-only and no two stops on one balance) none are written and a
  warning is logged. A native exit ladder's take-profits and stops are protective intents of
  the same kind (``app.followups.native_ladder``), so the cancel below covers them too.
* On ``position.flat`` (a fill left the account flat in the symbol), every open protective
  order of that symbol is cancelled: a filled stop-loss cancels its take-profit
  (one-cancels-the-other).
"""

import logging
import uuid
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from app import events
from app.db import unit_of_work
from app.domain.enums import IntentStatus, OrderSide, OrderType
from app.domain.intents import client_order_id_for
from app.domain.orders import OPEN_STATE_VALUES
from app.errors import AppError, Conflict
from app.execution.cancel import cancel_order
from app.execution.venues.base import Trigger
from app.execution.venues.registry import venue_for
from app.persistence.models import OrderIntentRecord, OrderRecord

log = logging.getLogger(__name__)
NAMESPACE = uuid.UUID("0b6f9d3e-5a41-4c8e-9f0e-7d2a4c1b8e53")
PROTECTIVE = (Trigger.STOP_LOSS.value, Trigger.TAKE_PROFIT.value)
SEQUENCE_OFFSET = 1000  # after every entry of the signal


def place_for(entry_intent_id: uuid.UUID) -> list[uuid.UUID]:
    """Write the entry's protective intents and their ``intent.ready`` events (idempotent);
    returns the new ids."""
    with unit_of_work() as session:
        entry = session.get(OrderIntentRecord, entry_intent_id)
        order = session.execute(select(OrderRecord).where(OrderRecord.intent_id == entry_intent_id)).scalar_one()
        if not _venue_can(entry):
            return []
        created = []
        for trigger, price in ((Trigger.STOP_LOSS, entry.stop_loss), (Trigger.TAKE_PROFIT, entry.take_profit)):
            if price is None:
                continue
            new_id = uuid.uuid5(NAMESPACE, f"{entry.id}:{trigger.value}")
            inserted = session.execute(
                pg_insert(OrderIntentRecord).values(**_protective_values(entry, order, trigger, price, new_id))
                .on_conflict_do_nothing().returning(OrderIntentRecord.id)
            ).scalar_one_or_none()
            if inserted is not None:
                created.append(inserted)
                events.emit(session, events.INTENT_READY, {"intent_id": str(inserted), "venue": entry.venue},
                            signal_id=entry.signal_id, job_id=client_order_id_for(inserted))
    if created:
        log.info("protective orders queued for entry %s: %d", entry_intent_id, len(created))
    return created


def cancel_open(account_id: uuid.UUID, symbol: str, order_ids: list[uuid.UUID] | None = None,
                position_side: str | None = None) -> int:
    """Cancel the account's open protective orders in ``symbol`` (the position is closed;
    ``order_ids``: them, already read; ``position_side``: in hedge mode, only the orders of
    that position). Returns how many were cancelled; failures are logged and left to the
    reconciler."""
    if order_ids is None:
        with unit_of_work() as session:
            order_ids = open_protective(session, account_id, symbol, position_side)
    done = 0
    for order_id in order_ids:
        try:
            cancel_order(order_id)
            done += 1
        except Conflict:
            pass  # finished meanwhile (a nested follow-up cancelled it)
        except AppError as e:
            log.warning("protective order %s not cancelled after the position closed: %s", order_id, e.message)
    return done


def open_protective(session: Session, account_id: uuid.UUID, symbol: str,
                    position_side: str | None = None) -> list[uuid.UUID]:
    """The ids of the account's open protective orders in ``symbol`` (of the hedge-mode
    ``position_side`` when given, else of every position in the symbol)."""
    query = (
        select(OrderRecord.id)
        .join(OrderIntentRecord, OrderIntentRecord.id == OrderRecord.intent_id)
        .where(OrderRecord.account_id == account_id, OrderRecord.symbol == symbol,
               OrderRecord.status.in_(OPEN_STATE_VALUES), OrderIntentRecord.purpose.in_(PROTECTIVE))
    )
    if position_side is not None:
        query = query.where(OrderIntentRecord.position_side == position_side)
    return list(session.execute(query).scalars())


def _venue_can(entry: OrderIntentRecord) -> bool:
    try:
        venue = venue_for(entry.account_id)
    except AppError as e:
        log.warning("protective orders of intent %s not placed: %s", entry.id, e.message)
        return False
    if not venue.supports_protective_orders:
        log.warning("stop-loss / take-profit of intent %s not placed: %s cannot hold protective orders for %s",
                    entry.id, venue.name, entry.symbol)
        return False
    return True


def _protective_values(entry: OrderIntentRecord, order: OrderRecord, trigger: Trigger, price: Decimal,
                       new_id: uuid.UUID) -> dict[str, object]:
    side = OrderSide.SELL if entry.side == OrderSide.BUY.value else OrderSide.BUY
    return {
        "id": new_id, "signal_id": entry.signal_id, "decision_id": entry.decision_id, "account_id": entry.account_id,
        "venue": entry.venue, "symbol": entry.symbol, "side": side.value, "order_type": OrderType.MARKET.value,
        "quantity": order.filled_quantity, "limit_price": None, "reference_price": price, "time_in_force": None,
        "reduce_only": True, "stop_loss": None, "take_profit": None,
        "sequence": entry.sequence + SEQUENCE_OFFSET + (0 if trigger == Trigger.STOP_LOSS else 1),
        "client_order_id": client_order_id_for(new_id), "status": IntentStatus.PENDING.value,
        "purpose": trigger.value, "parent_intent_id": entry.id, "trigger_price": price,
        "position_side": entry.position_side,
    }
