"""Writing an order's outcome: state transitions with events, fills, position. Takes a session,
never commits (the caller's unit of work does)."""

import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal, localcontext

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from app import events
from app.domain.enums import IntentStatus, OrderSide, OrderType
from app.domain.money import MONEY_CONTEXT
from app.domain.orders import (
    OPEN_STATES,
    TERMINAL,
    OrderStatus,
    check_intent_transition,
    intent_predecessors,
    path_to,
    reachable,
)
from app.domain.positions import PositionState, apply_fill
from app.domain.symbols import base_quote
from app.domain.reports import Trade, VenueOrder
from app.errors import InvalidTransition
from app.execution import balances
from app.notify import notify_on_commit
from app.persistence.models import FillRecord, OrderEventRecord, OrderIntentRecord, OrderRecord, PositionRecord

log = logging.getLogger(__name__)
_POSITIONS = "ledger.locked_positions"  # session.info: the positions this transaction has locked
NET = "net"  # the position side of a one-way account's (only) position in a symbol


def transition(
    session: Session, order: OrderRecord, new: OrderStatus, *, reason: str | None = None, ts_event: datetime | None = None
) -> None:
    """Move ``order`` to ``new`` through the states the table allows, one event row each.

    The only way an order's status changes once it exists. Raises ``InvalidTransition``
    (logged with the order id) when the table has no path.
    """
    try:
        steps = path_to(OrderStatus(order.status), new)
    except InvalidTransition:
        log.error("illegal order transition %s -> %s for order %s (%s)", order.status, new, order.id,
                  order.client_order_id)
        raise InvalidTransition(f"order {order.id} cannot go from {order.status} to {new}") from None
    previous = OrderStatus(order.status)
    for status in steps:
        session.add(
            OrderEventRecord(
                order_id=order.id, from_status=order.status, to_status=status.value, reason=reason, ts_event=ts_event
            )
        )
        order.status = status.value
    if reason is not None:
        order.reason = reason
    _emit_line_change(session, order, previous, new)


def _emit_line_change(session: Session, order: OrderRecord, previous: OrderStatus, new: OrderStatus) -> None:
    """The order stops holding its symbol's line (``app.execution.service.behind_earlier``):
    it is final, or a limit order the venue has acknowledged (it may rest for days)."""
    if new in TERMINAL:
        kind = events.ORDER_TERMINAL
    elif previous == OrderStatus.SUBMITTED and new in OPEN_STATES and order.order_type == OrderType.LIMIT.value:
        kind = events.ORDER_ACCEPTED
    else:
        return
    events.emit(session, kind, {"order_id": str(order.id), "account_id": str(order.account_id), "symbol": order.symbol,
                                "venue": order.venue, "status": new.value}, order_id=order.id)


def record_rejection(session: Session, order_id: uuid.UUID, reason: str) -> None:
    """The venue refused the order: REJECTED with its message, the intent FAILED. An order it
    had already acknowledged (a resting paper order that cannot be booked when it fills) ends
    CANCELED with the message instead, as the state table wants."""
    order = _locked(session, order_id)
    current = OrderStatus(order.status)
    if current in TERMINAL:
        return
    order.in_doubt_since = None
    final = OrderStatus.REJECTED if current == OrderStatus.SUBMITTED else OrderStatus.CANCELED
    transition(session, order, final, reason=reason, ts_event=datetime.now(UTC))
    finish_intent(session, order.intent_id, IntentStatus.DONE if order.filled_quantity > 0 else IntentStatus.FAILED)
    notify_on_commit(session, "rejection", {
        "account_id": order.account_id, "venue": order.venue, "symbol": order.symbol, "side": order.side,
        "quantity": order.quantity, "client_order_id": order.client_order_id, "reason": reason,
    })


def record_venue_order(
    session: Session, order_id: uuid.UUID, venue: str, result: VenueOrder, *, order: OrderRecord | None = None,
    books_balances: bool = False,
) -> OrderStatus:
    """Apply a venue's answer: new fills (skipping trade ids already stored), the position,
    the order's cumulative fill and state, and the intent's end when the order is terminal.

    Answers may arrive late or twice (a worker and the reconciler read the same order): a
    state the table cannot reach from the current one (FILLED → PARTIALLY_FILLED) is an older
    answer and changes nothing but new fills; an unchanged partial fill writes no event.
    Returns the order's status afterwards. ``order``: the row already locked by the caller
    in this transaction (``lock_order``), not read again. ``books_balances``: the venue's
    balances are ours (paper): each new fill moves them (``app.execution.balances``), which
    raises ``OrderRejected`` on insufficient funds.
    """
    order = order if order is not None else _locked(session, order_id)
    with session.no_autoflush:  # the order's changes are written once, at commit
        return _apply_venue_order(session, order, venue, result, books_balances)


def _apply_venue_order(session: Session, order: OrderRecord, venue: str, result: VenueOrder,
                       books_balances: bool = False) -> OrderStatus:
    if result.venue_order_id:
        order.venue_order_id = result.venue_order_id
    for trade in result.trades:
        realized = _record_fill(session, order, venue, trade)
        if realized is not None and books_balances:
            balances.book_fill(session, order.account_id, order.symbol, OrderSide(order.side), trade, realized)
    current, target = OrderStatus(order.status), result.status
    if current in TERMINAL or not _reachable(current, target, order.filled_quantity, result.filled_quantity):
        return current
    order.in_doubt_since = None
    order.filled_quantity = result.filled_quantity
    order.average_price = result.average_price
    if current == OrderStatus.SUBMITTED and target not in (OrderStatus.SUBMITTED, OrderStatus.REJECTED):
        # Any answer other than a rejection means the venue acknowledged the order.
        transition(session, order, OrderStatus.ACCEPTED, reason=None, ts_event=result.ts_event)
        order.reason = None
    if OrderStatus(order.status) != target or target == OrderStatus.PARTIALLY_FILLED:
        transition(session, order, target, reason=result.reason, ts_event=result.ts_event)
    if target in TERMINAL:
        finish_intent(session, order.intent_id, IntentStatus.DONE if target != OrderStatus.REJECTED else IntentStatus.FAILED)
    return target


def _reachable(current: OrderStatus, target: OrderStatus, recorded: Decimal, reported: Decimal) -> bool:
    """Whether a venue answer moves the order on: the table has a path to it (a repeated
    partial fill counts only when more is filled). Anything else is an older answer."""
    if target == OrderStatus.PARTIALLY_FILLED and current == OrderStatus.PARTIALLY_FILLED:
        return reported > recorded
    return reachable(current, target)


def mark_in_doubt(session: Session, order_id: uuid.UUID, reason: str) -> bool:
    """The outcome of the order's last send is unknown: keep it SUBMITTED, note since when and
    why (``order.reason`` and an ``order_events`` row SUBMITTED → SUBMITTED). Returns False if
    the order has moved on meanwhile (someone recorded an answer)."""
    order = _locked(session, order_id)
    if OrderStatus(order.status) != OrderStatus.SUBMITTED:
        return False
    now, text = datetime.now(UTC), f"in doubt: {reason}"
    if order.in_doubt_since is None:
        notify_on_commit(session, "order_in_doubt", {
            "account_id": order.account_id, "venue": order.venue, "symbol": order.symbol,
            "client_order_id": order.client_order_id, "intent_id": order.intent_id, "error": reason,
        })
    order.in_doubt_since = order.in_doubt_since or now
    if order.reason != text:  # a repeated look-up with the same finding adds no event
        order.reason = text
        _self_event(session, order, text, now)
    return True


def begin_resend(session: Session, order_id: uuid.UUID, seen_send_count: int, reason: str) -> bool:
    """Claim the right to send the order again (same client order id): succeeds for exactly
    one caller that read ``send_count == seen_send_count``; records when and why."""
    now = datetime.now(UTC)
    claimed = session.execute(
        update(OrderRecord)
        .where(
            OrderRecord.id == order_id,
            OrderRecord.status == OrderStatus.SUBMITTED.value,
            OrderRecord.send_count == seen_send_count,
        )
        .values(send_count=seen_send_count + 1, last_sent_at=now)
        .returning(OrderRecord.id)
    ).scalar_one_or_none()
    if claimed is None:
        return False
    order = _locked(session, order_id)
    _self_event(session, order, reason, now)
    return True


def _self_event(session: Session, order: OrderRecord, reason: str, now: datetime) -> None:
    session.add(OrderEventRecord(order_id=order.id, from_status=order.status, to_status=order.status,
                                 reason=reason, ts_event=now))


def lock_order(session: Session, order_id: uuid.UUID) -> OrderRecord:
    """The order row, locked until the caller's transaction ends."""
    return _locked(session, order_id)


def insert_transitions(
    session: Session, order_id: uuid.UUID, current: OrderStatus, new: OrderStatus, *, ts_event: datetime | None = None,
    reason: str | None = None,
) -> None:
    """The ``order_events`` rows of an order written by the caller with status ``new`` whose
    state was ``current`` (as ``transition`` writes them, without loading the order)."""
    rows, previous = [], current
    for status in path_to(current, new):
        rows.append({"order_id": order_id, "from_status": previous.value, "to_status": status.value, "reason": reason,
                     "ts_event": ts_event})
        previous = status
    if rows:
        session.execute(insert(OrderEventRecord), rows)


def position_quantity(session: Session, account_id: uuid.UUID, symbol: str, position_side: str | None = None) -> Decimal:
    """The account's position in ``symbol`` as this transaction sees it (0 if none): the net
    one, or in hedge mode the ``position_side`` (``long`` / ``short``) one. A position this
    transaction has locked and changed is not read again."""
    side = position_side or NET
    position = session.info.get(_POSITIONS, {}).get((account_id, symbol, side))
    if position is not None:
        return position.quantity
    quantity = session.execute(
        select(PositionRecord.quantity).where(PositionRecord.account_id == account_id, PositionRecord.symbol == symbol,
                                              PositionRecord.position_side == side)
    ).scalar_one_or_none()
    return quantity if quantity is not None else Decimal(0)


def _locked(session: Session, order_id: uuid.UUID) -> OrderRecord:
    return session.execute(
        select(OrderRecord).where(OrderRecord.id == order_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()


def _record_fill(session: Session, order: OrderRecord, venue: str, trade: Trade) -> Decimal | None:
    """Record one trade of ``order`` and move its position; the PnL it realised (quote, net of
    its fee), or None if it was recorded before."""
    position = _locked_position(session, order)
    state, realized = apply_fill(
        PositionState(position.quantity, position.average_price, position.realized_pnl),
        OrderSide(order.side),
        trade.quantity,
        trade.price,
        _fee_in_quote(order.symbol, trade),
    )
    fill_id = session.execute(
        pg_insert(FillRecord)
        .values(
            id=uuid.uuid4(),
            order_id=order.id,
            account_id=order.account_id,
            venue=venue,
            trade_id=trade.trade_id,
            symbol=order.symbol,
            side=order.side,
            quantity=trade.quantity,
            price=trade.price,
            fee=trade.fee,
            fee_currency=trade.fee_currency,
            ts_event=trade.ts_event,
            realized_pnl=realized,
        )
        .on_conflict_do_nothing(index_elements=["venue", "trade_id"])
        .returning(FillRecord.id)
    ).scalar_one_or_none()
    if fill_id is None:
        return None  # this trade was recorded before: the position stays as it was
    position.quantity, position.average_price, position.realized_pnl = state.quantity, state.average_price, state.realized_pnl
    notify_on_commit(session, "fill", {
        "account_id": order.account_id, "venue": venue, "symbol": order.symbol, "side": order.side,
        "quantity": trade.quantity, "price": trade.price, "fee": trade.fee, "fee_currency": trade.fee_currency,
        "realized_pnl": realized, "client_order_id": order.client_order_id,
    })
    return realized


def _locked_position(session: Session, order: OrderRecord) -> PositionRecord:
    """The order's position row (the net one, or in hedge mode its side's), locked; created flat
    on the account's first fill in the symbol (and side)."""
    side = order.position_side or NET
    query = (
        select(PositionRecord)
        .where(PositionRecord.account_id == order.account_id, PositionRecord.symbol == order.symbol,
               PositionRecord.position_side == side)
        .with_for_update()
    )
    position = session.execute(query).scalar_one_or_none()
    if position is None:
        session.execute(
            pg_insert(PositionRecord)
            .values(id=uuid.uuid4(), account_id=order.account_id, symbol=order.symbol, position_side=side, quantity=0,
                    realized_pnl=0)
            .on_conflict_do_nothing(index_elements=["account_id", "symbol", "position_side"])
        )
        position = session.execute(query).scalar_one()
    session.info.setdefault(_POSITIONS, {})[(order.account_id, order.symbol, side)] = position  # for position_quantity
    return position


def _fee_in_quote(symbol: str, trade: Trade) -> Decimal:
    """A fee charged in the base currency (Binance spot buys) is valued at the fill price."""
    base, _ = base_quote(symbol)
    with localcontext(MONEY_CONTEXT):
        return trade.fee * trade.price if trade.fee_currency == base else trade.fee


def finish_intent(session: Session, intent_id: uuid.UUID, status: IntentStatus) -> None:
    """End the intent as ``status`` if the intent table allows it from its current state;
    otherwise raise ``InvalidTransition`` (logged with the intent id)."""
    finished = session.execute(
        update(OrderIntentRecord)
        .where(OrderIntentRecord.id == intent_id, OrderIntentRecord.status.in_(intent_predecessors(status)))
        .values(status=status.value)
        .returning(OrderIntentRecord.id)
    ).scalar_one_or_none()
    if finished is None:
        current = session.execute(select(OrderIntentRecord.status).where(OrderIntentRecord.id == intent_id)).scalar()
        log.error("illegal intent transition %s -> %s for intent %s", current, status, intent_id)
        check_intent_transition(IntentStatus(current), status, intent_id)  # raises


def record_never_placed(session: Session, order_id: uuid.UUID, reason: str) -> bool:
    """Cancel a SUBMITTED order that the venue does not have (after the grace window): CANCELED
    with ``reason``, the intent FAILED, so it is never sent again. False if it moved on meanwhile."""
    order = _locked(session, order_id)
    if OrderStatus(order.status) != OrderStatus.SUBMITTED:
        return False
    order.in_doubt_since = None
    transition(session, order, OrderStatus.CANCELED, reason=reason, ts_event=datetime.now(UTC))
    finish_intent(session, order.intent_id, IntentStatus.FAILED)
    return True
