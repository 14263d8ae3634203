"""Follow-up work: the handlers of events (``app.events``), one place above the execution stage.

``handle(event_id)`` runs the handler of one event and marks it handled; the relay
(``app.jobs.relay``) runs it as an RQ job with the event's deterministic id. Handlers are
idempotent: a job run twice (a worker died after the work, the sweep dispatched it again)
changes nothing the second time.

- ``entry.filled`` → start or re-size the entry's exit ladder (``ladder.start_or_resize``), or
  else place its protective orders (``protective.place_for``)
- ``position.flat`` → cancel what is left of the symbol's exit ladders (``ladder.cancel_for``;
  first, so a native ladder's cancels are in its trace) and its open protective orders
  (``protective.cancel_open``)
- ``ladder.order`` → an order of a native exit ladder changed state: the ladder moves on it,
  replaced orders are cancelled (``native_ladder.on_order``)
- ``ladder.step`` → nothing more: the move was written with the step (``ladder.describe``)
- ``cancel.requested`` → cancel the account's open orders, in the symbol or all (the ``cancel`` action)
- ``order.terminal`` (while a rebalance of the account is under way) → advance it
  (``rebalance.on_order_terminal``: its buys once its sells ended, its outcome once its buys did)
- ``rebalance.step`` → nothing more: the move was written with the step
"""

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update

from app import events
from app.db import unit_of_work
from app.execution.cancel import cancel_open_orders
from app.followups import ladder, native_ladder, protective, rebalance
from app.persistence.models import EventRecord

log = logging.getLogger(__name__)


def _entry_filled(payload: dict[str, Any]) -> str:
    laddered = ladder.start_or_resize(uuid.UUID(payload["intent_id"]))
    if laddered is not None:
        return laddered  # the ladder carries the entry's stop-loss
    placed = protective.place_for(uuid.UUID(payload["intent_id"]))
    return f"{len(placed)} protective order(s) written"


def _position_flat(payload: dict[str, Any]) -> str:
    ladders = ladder.cancel_for(uuid.UUID(payload["account_id"]), payload["symbol"])
    cancelled = protective.cancel_open(uuid.UUID(payload["account_id"]), payload["symbol"],
                                       position_side=payload.get("position_side"))
    return f"{cancelled} protective order(s) cancelled" + (f", {ladders} exit ladder(s) cancelled" if ladders else "")


def _cancel_requested(payload: dict[str, Any]) -> str:
    counts = cancel_open_orders(uuid.UUID(payload["account_id"]), payload.get("symbol"))
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no open orders"


HANDLERS: dict[str, Callable[[dict[str, Any]], str]] = {
    events.ENTRY_FILLED: _entry_filled,
    events.POSITION_FLAT: _position_flat,
    events.CANCEL_REQUESTED: _cancel_requested,
    events.LADDER_STEP: ladder.describe,
    events.LADDER_ORDER: native_ladder.on_order,
    events.ORDER_TERMINAL: rebalance.on_order_terminal,  # dispatched only while a rebalance waits (app.jobs.relay)
    events.REBALANCE_STEP: rebalance.describe,
}


def handle(event_id: uuid.UUID) -> str:
    """Run the event's handler unless it was handled already; returns what it did."""
    with unit_of_work() as session:
        event = session.get(EventRecord, event_id)
        if event is None or event.handled_at is not None:
            return "nothing to do"
        kind, payload = event.kind, event.payload
    handler = HANDLERS.get(kind)
    if handler is None:
        log.error("event %s of kind %s has no handler here", event_id, kind)
        return f"no handler for {kind}"
    outcome = handler(payload)
    with unit_of_work() as session:
        session.execute(update(EventRecord).where(EventRecord.id == event_id, EventRecord.handled_at.is_(None))
                        .values(handled_at=datetime.now(UTC)))
    log.info("event %s (%s) handled: %s", event_id, kind, outcome)
    return outcome
