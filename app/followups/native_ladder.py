"""Native exit ladders: the take-profits and the stop rest on the venue as reduce-only trigger
orders, so they act while Tradewire is down; Tradewire moves the ladder on their outcomes.

A ladder runs native (``exit_ladders.mode`` ``native``) when its entry's venue is a real one
whose adapter can hold protective orders for the symbol (``Venue.supports_protective_orders``:
Bybit and OKX perpetuals, Binance futures; not Binance spot, which has no reduce-only and no
two stops on one balance). Elsewhere — the paper venue, Binance spot — it is emulated from
market data (``app.followups.ladder``).

A trailing stop is followed by Tradewire from market data (``follow_price``, called by the
emulated ladder's listener for native ladders with a trailing stop, which keep a ``source``):
each raise of the trail replaces the stop order on the venue by one at the trail, so the venue
always holds the last trail level, also while Tradewire is down (it just stops rising). It is
not a native trailing order because ccxt has none on Bybit: its ``trailingAmount`` /
``trailingTriggerPrice`` set the position's trading stop (``/v5/position/trading-stop``), which
has no client order id and could not run through the never-twice intent → order lifecycle
(https://docs.ccxt.com/#/exchanges/bybit?id=createorder,
https://bybit-exchange.github.io/docs/v5/position/trading-stop).

The orders (``model.resting``): one per take-profit not yet taken (a market order triggered at
its price for ``fraction`` × the entry's filled quantity, the last one the whole remainder when
no stop follows it) and one stop for the whole remainder (the ladder's stop, else the entry's
``stop_loss``; after take-profit ``break_even_after``, the entry price plus
``break_even_offset_percent`` in profit; once the trailing stop is tighter, at the trail).
They are ordinary protective intents (``purpose`` ``take_profit`` / ``stop_loss``,
``parent_intent_id`` the entry, ``trigger_price``): the venue places them with ccxt's ``takeProfitPrice`` / ``stopLossPrice`` (on Bybit ``triggerPrice`` +
``triggerDirection``, reduce-only), the reconciler follows them like any open order, and the
cancel-on-flat path (``protective.cancel_open``) cancels them with the rest. Quantities are
truncated and trigger prices rounded to the venue's precision (``app.risk.rules``, from the
stored market).

``exit_ladders.orders`` holds ``{"current": {"tp1": intent id, …, "stop": intent id},
"placed": {intent id: "tp1" | … | "stop"}, "counted": [intent ids whose fill is in the state]}``.
``sync(session, row)`` is the one unit of work, run under the row's lock (FOR UPDATE) by every
path that can move the ladder — the entry's fills (start, re-size), an order of the ladder
changing state (``ladder.order``, emitted by the outcome that recorded it: acknowledged,
filled, cancelled), the trail rising (``follow_price``), ``position.flat``, the scheduler's
``check_positions``:

1. each placed order that ended with a fill and is not counted yet moves the state
   (``model.take_profit_filled`` / ``model.stop_filled``);
2. if the position is gone by another path (an exit alert, a manual close), the ladder is
   cancelled;
3. what the venue should hold is compared with the current orders; an order whose trigger or
   quantity differs is replaced: a new intent (id uuid5 of the ladder, the slot and the row's
   version: written once) with its ``intent.ready``;
4. returns the open orders that are no longer current — replaced ones once the venue has
   acknowledged their replacement (so a refused new stop leaves the old one protecting), or all
   once the ladder is done or cancelled; the caller cancels them after commit
   (``cancel_stale``). Both old and new stops are reduce-only, so their overlap can never open
   a position.

Every step is a ``ladder.step`` on the signal's trace and an ``exit_ladder`` notification:
``started`` (mode native), ``order_placed`` (slot, trigger, quantity, intent id, the one it
replaces), ``take_profit`` / ``break_even`` / ``stop_loss`` / ``trailing_exit`` (from the fill:
price, quantity), ``trailing_raised``, ``order_cancelled``, ``cancelled``.

Left as is: an intent replaced before it was sent is sent and then cancelled; an order the
venue rejects is not placed again (its REJECTED order is in the trace, with a ``rejection``
notification): a refused take-profit stays untaken, a refused stop leaves the previous stop on
the venue while the ladder's ``stop`` says the refused level, until the next change places a
stop again.
"""

import logging
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from app import events
from app.db import unit_of_work
from app.domain import ladder as model
from app.domain.enums import IntentStatus, OrderType
from app.domain.intents import client_order_id_for
from app.domain.orders import OPEN_STATE_VALUES, TERMINAL, OrderStatus
from app.errors import AppError, Conflict, TemporaryVenueError
from app.execution.cancel import cancel_order
from app.execution.venues.base import Trigger
from app.execution.venues.registry import venue_for
from app.followups.ladder_rows import position_gone, record, state_of, write
from app.persistence.models import ExitLadderRecord, MarketRecord, OrderIntentRecord, OrderRecord
from app.risk.rules import MarketRules, ccxt_rules

log = logging.getLogger(__name__)
NAMESPACE = uuid.UUID("8e3f2b71-4c9a-4d05-b6e1-2a7c9d0f5e36")
SEQUENCE_OFFSET = 3000  # after the entry, its protective orders and the emulated ladder's exits
NATIVE = "native"


def native_capable(entry: OrderIntentRecord, spec: model.ExitLadder) -> bool:
    """The ladder of ``entry`` can rest on its venue (module docstring)."""
    try:
        venue = venue_for(entry.account_id)
    except AppError:
        return False
    return bool(venue.remote and venue.supports_protective_orders)


def sync(session: Session, row: ExitLadderRecord) -> list[uuid.UUID]:
    """Bring the native ladder ``row`` (locked by the caller) up to date with its orders and
    its position, write the orders it now needs; returns the ids of the open orders to cancel
    after commit (module docstring)."""
    orders = _orders(row)
    if row.status != model.ACTIVE:
        return _stale(session, orders, state_of(row))  # ended: what it left open is cancelled
    spec = model.ExitLadder.model_validate(row.spec)
    state, moves = _apply_fills(spec, state_of(row), session, orders)
    if state.status == model.ACTIVE and position_gone(session, row):
        moves.append(("cancelled", {"reason": "the position was closed", "left": state.remaining,
                                    "taken": state.taken}))
        state = model.cancel(state)
    entry = session.get(OrderIntentRecord, row.entry_intent_id)
    placed = _wanted(session, row, entry, spec, state, orders)
    changed = state != state_of(row) or placed or orders != _orders(row)
    if changed and not write(session, row, state, orders):
        return []  # not active any more (cancelled by a path that does not lock): nothing to do
    for kind, detail in moves:
        record(session, row, kind, detail)
    for detail in placed:
        record(session, row, "order_placed", detail)
    return _stale(session, orders, state)


def _orders(row: ExitLadderRecord) -> dict[str, Any]:
    raw = row.orders or {}
    return {"current": dict(raw.get("current") or {}), "placed": dict(raw.get("placed") or {}),
            "counted": list(raw.get("counted") or [])}


def _apply_fills(spec: model.ExitLadder, state: model.LadderState, session: Session,
                 orders: dict[str, Any]) -> tuple[model.LadderState, list[tuple[str, dict[str, Any]]]]:
    """Step 1: the placed orders that ended with a fill, take-profits in order, then the stop."""
    ids = [uuid.UUID(i) for i in orders["placed"] if i not in orders["counted"]]
    ended = session.execute(
        select(OrderRecord.intent_id, OrderRecord.filled_quantity, OrderRecord.average_price)
        .where(OrderRecord.intent_id.in_(ids or [uuid.uuid4()]), OrderRecord.filled_quantity > 0,
               OrderRecord.status.in_([s.value for s in TERMINAL]))).all()
    slots = sorted(((orders["placed"][str(e.intent_id)], e) for e in ended), key=lambda s: _slot_order(s[0]))
    moves: list[tuple[str, dict[str, Any]]] = []
    for slot, e in slots:
        orders["counted"].append(str(e.intent_id))
        if slot == "stop":
            state, made = model.stop_filled(state, e.filled_quantity, e.average_price)
        else:
            state, made = model.take_profit_filled(spec, state, int(slot[2:]), e.filled_quantity, e.average_price)
        for move in made:
            moves.append((move.kind, {"index": move.index, "price": move.price, "trigger": move.trigger,
                                      "quantity": move.quantity, "stop": move.stop,
                                      "intent_id": e.intent_id if move.is_exit else None}))
    return state, moves


def _slot_order(slot: str) -> int:
    return 10_000 if slot == "stop" else int(slot[2:])


def _wanted(session: Session, row: ExitLadderRecord, entry: OrderIntentRecord, spec: model.ExitLadder,
            state: model.LadderState, orders: dict[str, Any]) -> list[dict[str, Any]]:
    """Step 3: a new intent for each order the venue should hold and does not; ``orders`` is
    updated in place. Returns what was placed, for the trace."""
    rules = _rules(session, row)
    current: dict[str, str] = {}
    placed = []
    for slot_number, resting in enumerate(model.resting(spec, state)):
        slot = "stop" if resting.kind == "stop_loss" else f"tp{resting.index}"
        quantity = rules.amount_to_precision(resting.quantity)
        trigger = rules.price_to_precision(resting.trigger)
        if quantity <= 0:
            continue  # below the venue's step: nothing to place (the stop covers the rest)
        old = orders["current"].get(slot)
        if old is not None and _same(session, old, trigger, quantity):
            current[slot] = old
            continue
        new_id = _write_intent(session, row, entry, resting.kind, trigger, quantity, slot, slot_number)
        current[slot] = str(new_id)
        orders["placed"][str(new_id)] = slot
        placed.append({"order": resting.kind, "index": resting.index, "trigger": trigger, "quantity": quantity,
                       "intent_id": new_id, "replaces": old})
    orders["current"] = current
    return placed


def _same(session: Session, intent_id: str, trigger: Decimal, quantity: Decimal) -> bool:
    row = session.execute(select(OrderIntentRecord.trigger_price, OrderIntentRecord.quantity)
                          .where(OrderIntentRecord.id == uuid.UUID(intent_id))).one_or_none()
    return row is not None and row.trigger_price == trigger and row.quantity == quantity


def _write_intent(session: Session, row: ExitLadderRecord, entry: OrderIntentRecord, kind: str, trigger: Decimal,
                  quantity: Decimal, slot: str, slot_number: int) -> uuid.UUID:
    """The reduce-only trigger intent of one slot at this version, and its ``intent.ready`` (once)."""
    intent_id = uuid.uuid5(NAMESPACE, f"{row.id}:{slot}:{row.version}")
    purpose = Trigger.STOP_LOSS if kind == "stop_loss" else Trigger.TAKE_PROFIT
    inserted = session.execute(pg_insert(OrderIntentRecord).values(
        id=intent_id, signal_id=entry.signal_id, decision_id=entry.decision_id, account_id=entry.account_id,
        venue=entry.venue, symbol=entry.symbol, side=state_of(row).exit_side.value,
        order_type=OrderType.MARKET.value, quantity=quantity, limit_price=None, reference_price=trigger,
        time_in_force=None, reduce_only=True, stop_loss=None, take_profit=None,
        sequence=entry.sequence + SEQUENCE_OFFSET + row.version * (model.MAX_TAKE_PROFITS + 1) + slot_number,
        client_order_id=client_order_id_for(intent_id), status=IntentStatus.PENDING.value, purpose=purpose.value,
        parent_intent_id=entry.id, trigger_price=trigger, position_side=row.position_side,
    ).on_conflict_do_nothing().returning(OrderIntentRecord.id)).scalar_one_or_none()
    if inserted is not None:
        events.emit(session, events.INTENT_READY, {"intent_id": str(intent_id), "venue": entry.venue},
                    signal_id=entry.signal_id, job_id=client_order_id_for(intent_id))
    return intent_id


def _rules(session: Session, row: ExitLadderRecord) -> MarketRules:
    market = session.execute(select(MarketRecord.market).where(
        MarketRecord.venue == row.venue, MarketRecord.symbol == row.symbol)).scalar_one_or_none()
    return ccxt_rules(row.venue, row.symbol, market)


def _stale(session: Session, orders: dict[str, Any], state: model.LadderState) -> list[uuid.UUID]:
    """Step 4: open orders of the ladder that are not current (all of them once it ended). A
    replaced order is cancelled only once the venue has acknowledged its replacement: a new
    stop the venue refuses (its trigger already crossed) leaves the old one protecting."""
    active = state.status == model.ACTIVE
    current = orders["current"] if active else {}
    old = [i for i in orders["placed"] if i not in current.values()]
    if not old:
        return []
    status = dict(session.execute(select(OrderRecord.intent_id, OrderRecord.status).where(
        OrderRecord.intent_id.in_([uuid.UUID(i) for i in old + list(current.values())]))).all())
    stale = []
    for intent_id in old:
        replacement = current.get(orders["placed"][intent_id])
        if replacement is not None and status.get(uuid.UUID(replacement)) not in _ACKNOWLEDGED:
            continue  # the replacement is not on the venue yet (its ladder.order comes back here)
        if status.get(uuid.UUID(intent_id)) in OPEN_STATE_VALUES:
            stale.append(uuid.UUID(intent_id))
    if not stale:
        return []
    return list(session.execute(select(OrderRecord.id).where(OrderRecord.intent_id.in_(stale))).scalars())


_ACKNOWLEDGED = (OrderStatus.ACCEPTED.value, OrderStatus.PARTIALLY_FILLED.value, OrderStatus.FILLED.value)


def follow_price(session: Session, row: ExitLadderRecord, price: Decimal) -> tuple[int, list[uuid.UUID]]:
    """The trailing stop of native ladder ``row`` (locked by the caller) at market ``price``:
    the best price and the trail follow it, and a raised trail replaces the stop order
    (``sync``). Returns the moves made and the orders to cancel after commit."""
    spec = model.ExitLadder.model_validate(row.spec)
    state = state_of(row)
    new, moves = model.trail(spec, state, price)
    if new != state and write(session, row, new):
        for move in moves:
            record(session, row, move.kind, {"price": move.price, "trigger": move.trigger, "stop": move.stop})
    return len(moves), sync(session, row)


# --------------------------------------------------------------------------- after commit
def cancel_stale(ladder_id: uuid.UUID, order_ids: list[uuid.UUID]) -> int:
    """Cancel the orders ``sync`` found stale, each cancel in the ladder's trace. Returns how
    many could not be cancelled yet (their send may still land, the venue did not answer):
    the caller's event is then retried."""
    pending = 0
    for order_id in order_ids:
        try:
            status = cancel_order(order_id)
        except Conflict as e:
            if "there is nothing to cancel" in e.message:
                continue  # finished meanwhile: its outcome comes with its own ladder.order
            pending += 1
            log.info("exit ladder %s: order %s not cancelled yet: %s", ladder_id, order_id, e.message)
            continue
        except AppError as e:
            pending += 1
            log.warning("exit ladder %s: order %s not cancelled: %s", ladder_id, order_id, e.message)
            continue
        _record_cancel(ladder_id, order_id, status)
    return pending


def _record_cancel(ladder_id: uuid.UUID, order_id: uuid.UUID, status: OrderStatus) -> None:
    with unit_of_work() as session:
        row = session.get(ExitLadderRecord, ladder_id)
        order = session.get(OrderRecord, order_id)
        slot = (row.orders or {}).get("placed", {}).get(str(order.intent_id))
        record(session, row, "order_cancelled", {"slot": slot, "intent_id": order.intent_id,
                                                  "status": status.value})


def on_order(payload: dict[str, Any]) -> str:
    """``ladder.order``: an order of native ladder ``payload['ladder_id']`` ended; the ladder
    moves (``sync``) and what it no longer needs is cancelled. Raises ``TemporaryVenueError``
    when a cancel must be tried again (the event stays unhandled and is swept)."""
    ladder_id = uuid.UUID(payload["ladder_id"])
    with unit_of_work() as session:
        row = session.get(ExitLadderRecord, ladder_id, with_for_update=True, populate_existing=True)
        if row is None or row.mode != NATIVE:
            return "no native exit ladder"
        stale = sync(session, row)
        outcome = f"exit ladder {row.status}, taken {row.taken}, {len(stale)} order(s) to cancel"
    if cancel_stale(ladder_id, stale):
        raise TemporaryVenueError(f"exit ladder {ladder_id}: some replaced orders are not cancelled yet")
    return outcome


def check_positions() -> int:
    """Run by the scheduler after each reconciler pass: each active native ladder whose
    position is gone without an order of its own ending (closed by hand on the exchange and
    adopted by the reconciler's drift check, ``sync_mode = "adopt"``) is cancelled with what it
    has open. Returns how many were cancelled; venue errors are logged (the next pass retries)."""
    with unit_of_work() as session:
        rows = session.execute(select(ExitLadderRecord).where(
            ExitLadderRecord.mode == NATIVE, ExitLadderRecord.status == model.ACTIVE)).scalars().all()
        gone = [row.id for row in rows if position_gone(session, row)]
    for ladder_id in gone:
        with unit_of_work() as session:
            row = session.get(ExitLadderRecord, ladder_id, with_for_update=True, populate_existing=True)
            stale = sync(session, row)
        cancel_stale(ladder_id, stale)
    return len(gone)
