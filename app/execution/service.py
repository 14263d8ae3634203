"""The execution service: claim an intent, send its order, record the outcome.

Short transactions and no session held across a venue call:
1. claim: ``pending → submitting`` by a conditional UPDATE (a job run twice claims once),
   and the order row written as SUBMITTED — with ``send_count`` 1 and ``last_sent_at`` —
   before anything is sent;
2. the venue call (``lifecycle.submit``);
3. record: order state (with an ``order_events`` row per transition), fills (unique per
   venue and trade id), position and, for the paper venue, balances, in one transaction.

A job that runs again for a ``submitting`` intent (the worker was killed mid-job, RQ or the
sweeper ran it again) never sends blindly: it resolves the order by its client order id
(``lifecycle.resolve``). While the venue's circuit breaker is open the intent waits
(``pending``, untouched). An account that cannot be served (a credential variable unset) has
its intent's order DENIED with the reason.
"""

import logging
import uuid
from dataclasses import dataclass, replace
from decimal import Decimal
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, tuple_, update
from sqlalchemy.orm import Session, aliased

from app.db import unit_of_work
from app.domain.enums import IntentStatus, OrderSide
from app.domain.money import fmt
from app.domain.orders import TERMINAL, OrderStatus, intent_predecessors
from app.errors import ConfigError, VenueError
from app.execution import futures, lifecycle, outcomes
from app.execution.ledger import NET, finish_intent, insert_transitions, transition
from app.execution.lifecycle import Ticket
from app.execution.markets import refresh_markets_if_stale
from app.execution.venues.registry import venue_for
from app.persistence.models import Account, OrderIntentRecord, OrderRecord, PositionRecord, VenueBreakerRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntentRef:
    status: IntentStatus
    account_id: uuid.UUID
    venue: str
    purpose: str
    breaker_open: bool
    account: Any  # the account's id, name, venue and settings; None if it is gone


def execute_intent(intent_id: uuid.UUID, *, enqueued_at: datetime | None = None) -> OrderStatus | None:
    """Execute one intent end to end. Returns the order's status, or None when there was
    nothing to do now (finished, claimed elsewhere, or waiting for its venue). ``enqueued_at``
    is when its job was queued (RQ's record), kept for the trace."""
    ref = _intent_ref(intent_id)
    if ref is None or ref.status not in (IntentStatus.PENDING, IntentStatus.SUBMITTING):
        log.info("intent %s has nothing to do", intent_id)
        return None
    if ref.breaker_open:
        log.info("intent %s waits: the circuit breaker of %s is open", intent_id, ref.venue)
        return None
    try:
        venue = venue_for.for_row(ref.account, ref.account_id)
    except ConfigError as e:
        return deny(intent_id, e.message) if ref.status == IntentStatus.PENDING else None
    if ref.purpose != "entry" and not venue.supports_protective_orders and ref.status == IntentStatus.PENDING:
        return deny(intent_id, f"{venue.name} cannot hold a {ref.purpose.replace('_', '-')} order here")
    if ref.status == IntentStatus.SUBMITTING:
        current = lifecycle.ticket_for_intent(intent_id)
        if current is None or current.status in TERMINAL:
            return None
        return lifecycle.resolve(current, venue)
    try:
        if venue.markets_stale():
            lifecycle.guarded(venue, refresh_markets_if_stale, venue)
    except VenueError as e:
        log.warning("intent %s stays pending: markets of %s could not be loaded: %s", intent_id, venue.name, e.message)
        return None
    settled = futures.settle(intent_id, venue)  # leverage / margin / position mode before the entry
    if not settled.go:
        return deny(intent_id, settled.refusal) if settled.refusal else None
    claimed = claim(intent_id, enqueued_at=enqueued_at)
    if claimed is None or claimed.status == OrderStatus.DENIED:
        return claimed.status if claimed else None
    futures.note_on_order(claimed.order_id, settled)
    return lifecycle.submit(claimed, venue)


def claim(intent_id: uuid.UUID, *, enqueued_at: datetime | None = None) -> Ticket | None:
    """Transaction 1: move the intent to ``submitting`` and write its order as SUBMITTED,
    counted as sent once now. Returns the order's ticket (status DENIED when it was refused
    here, SUBMITTED otherwise), or None if the intent is not pending
    or not first in line (``_CLAIM``: an earlier intent of its account and symbol is still on
    its way; that one's follow-up enqueues this one again).

    A reduce-only order is cut to what the position still holds net of the reduce-only
    orders already open, and DENIED when nothing is left, so no interleaving of alerts can
    close a position twice or sell on spot what the ledger does not hold.
    """
    now = datetime.now(UTC)
    with unit_of_work() as session:
        intent = session.execute(_CLAIM, {"intent_id": intent_id, "now": now, "enqueued_at": enqueued_at}).scalar_one_or_none()
        if intent is None:
            return None
        quantity, reason = _reducible(session, intent)
        order = _order_values(intent, now) | {"quantity": quantity}
        if quantity <= 0:
            _deny_claimed(session, intent, order, reason, now)
            denied = True
        else:
            order |= {"status": OrderStatus.SUBMITTED.value, "send_count": 1, "last_sent_at": now, "reason": reason}
            session.execute(insert(OrderRecord).values(**order))
            insert_transitions(session, order["id"], OrderStatus.INITIALIZED, OrderStatus.SUBMITTED, ts_event=now,
                               reason=reason)
            denied = False
        request = replace(lifecycle.request_for(intent), quantity=quantity)
        status = OrderStatus.DENIED if denied else OrderStatus.SUBMITTED
        ticket = Ticket(order["id"], intent.id, intent.account_id, status, 1, now, None, request, outcomes.facts(intent))
    if denied:
        log.warning("intent %s denied at claim: %s", intent_id, reason)
    return ticket


def behind_earlier(I: Any) -> Any:
    """SQL condition on intent ``I`` (an entity or alias): an earlier entry intent of the same
    account and symbol is pending, unanswered (order SUBMITTED, in doubt included) or a
    market order not yet final. Such an intent waits: one symbol's intents execute in
    decision order, so each reduce-only order is cut against a position that is settled.
    Resting limit orders do not hold the line."""
    E, O = aliased(OrderIntentRecord), OrderRecord
    answered = exists().where(O.intent_id == E.id, O.status != OrderStatus.SUBMITTED.value)
    return and_(I.purpose == "entry", exists().where(
        E.account_id == I.account_id, E.symbol == I.symbol, E.purpose == "entry", E.id != I.id,
        tuple_(E.created_at, E.sequence) < tuple_(I.created_at, I.sequence),
        or_(E.status == IntentStatus.PENDING.value,
            and_(E.status == IntentStatus.SUBMITTING.value, or_(E.order_type == "market", ~answered))),
    ))


def _claim_statement():
    """``pending → submitting`` for an intent not ``behind_earlier`` ones."""
    I = OrderIntentRecord
    return (
        update(I)
        .where(I.id == bindparam("intent_id"), I.status.in_(intent_predecessors(IntentStatus.SUBMITTING)),
               ~behind_earlier(I))
        .values(status=IntentStatus.SUBMITTING.value, claimed_at=bindparam("now"),
                enqueued_at=bindparam("enqueued_at"), attempts=I.attempts + 1)
        .returning(I)
    )


_CLAIM = _claim_statement()


def _reducible(session: Session, intent: OrderIntentRecord) -> tuple[Decimal, str | None]:
    """The quantity to send (base units) and why it differs from the intent's, if it does.

    Only reduce-only entry intents are cut: to ``|position|`` (the net position, or in hedge
    mode the intent's side's) minus the unfilled rest of the account's other open reduce-only
    orders on the same side and position (exits already on the venue).
    """
    if not intent.reduce_only or intent.purpose != "entry":
        return intent.quantity, None
    position, reserved = session.execute(
        _REDUCIBLE, {"account_id": intent.account_id, "symbol": intent.symbol, "side": intent.side, "intent_id": intent.id,
                     "position_side": intent.position_side or NET}
    ).one()
    position, reserved = position or Decimal(0), reserved or Decimal(0)
    reduces = (intent.side == OrderSide.SELL.value and position > 0) or (intent.side == OrderSide.BUY.value and position < 0)
    left = max(abs(position) - reserved, Decimal(0)) if reduces else Decimal(0)
    if intent.quantity <= left:
        return intent.quantity, None
    held = f"position {fmt(position)}" + (f", {fmt(reserved)} already being closed by open orders" if reserved else "")
    if left == 0:
        return Decimal(0), f"reduce-only {intent.side} of {fmt(intent.quantity)} has nothing left to reduce ({held})"
    return left, f"reduce-only {intent.side} cut from {fmt(intent.quantity)} to {fmt(left)}: {held}"


def _reducible_query():
    I, O, P = OrderIntentRecord, OrderRecord, PositionRecord
    account_id, symbol = bindparam("account_id"), bindparam("symbol")
    reserved = (
        select(func.sum(I.quantity - func.coalesce(O.filled_quantity, 0)))
        .select_from(I).outerjoin(O, O.intent_id == I.id)
        .where(I.account_id == account_id, I.symbol == symbol, I.side == bindparam("side"), I.reduce_only,
               I.purpose == "entry", I.status == IntentStatus.SUBMITTING.value, I.id != bindparam("intent_id"),
               func.coalesce(I.position_side, NET) == bindparam("position_side"))
        .scalar_subquery()
    )
    position = select(P.quantity).where(P.account_id == account_id, P.symbol == symbol,
                                        P.position_side == bindparam("position_side")).scalar_subquery()
    return select(position, reserved)


_REDUCIBLE = _reducible_query()


def _deny_claimed(session: Session, intent: OrderIntentRecord, order: dict[str, Any], reason: str | None,
                  now: datetime) -> None:
    """The claimed intent cannot be sent: its order DENIED with ``reason``, the intent FAILED."""
    finish_intent(session, intent.id, IntentStatus.FAILED)
    order_row = OrderRecord(**order)
    session.add(order_row)
    session.flush()
    transition(session, order_row, OrderStatus.DENIED, reason=reason, ts_event=now)


def deny(intent_id: uuid.UUID, reason: str) -> OrderStatus | None:
    """Refuse a pending intent before sending: its order DENIED with ``reason``, the intent FAILED."""
    now = datetime.now(UTC)
    with unit_of_work() as session:
        intent = _take(session, intent_id, IntentStatus.FAILED, now, None)
        if intent is None:
            return None
        order = _new_order(intent, now)
        session.add(order)
        session.flush()
        transition(session, order, OrderStatus.DENIED, reason=reason, ts_event=now)
    log.error("intent %s denied: %s", intent_id, reason)
    return OrderStatus.DENIED


def _take(session, intent_id: uuid.UUID, status: IntentStatus, now: datetime, enqueued_at: datetime | None):
    return session.execute(
        _claim_update(intent_id, status, now, enqueued_at).returning(OrderIntentRecord)
    ).scalar_one_or_none()


def _claim_update(intent_id: uuid.UUID, status: IntentStatus, now: datetime, enqueued_at: datetime | None):
    """The conditional ``pending → status`` UPDATE: a job run twice takes the intent once."""
    return (
        update(OrderIntentRecord)
        .where(OrderIntentRecord.id == intent_id, OrderIntentRecord.status == IntentStatus.PENDING.value,
               OrderIntentRecord.status.in_(intent_predecessors(status)))
        .values(status=status.value, claimed_at=now, enqueued_at=enqueued_at, attempts=OrderIntentRecord.attempts + 1)
    )


def _new_order(intent: OrderIntentRecord, now: datetime) -> OrderRecord:
    return OrderRecord(**_order_values(intent, now))


def _order_values(intent: OrderIntentRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "intent_id": intent.id,
        "account_id": intent.account_id,
        "venue": intent.venue,
        "symbol": intent.symbol,
        "side": intent.side,
        "order_type": intent.order_type,
        "quantity": intent.quantity,
        "limit_price": intent.limit_price,
        "client_order_id": intent.client_order_id,
        "status": OrderStatus.INITIALIZED.value,
        "created_at": now,
        "position_side": intent.position_side,
    }


def _intent_ref(intent_id: uuid.UUID) -> IntentRef | None:
    """The intent, its account and whether its venue's breaker is open, in one read."""
    with unit_of_work() as session:
        row = session.execute(
            select(OrderIntentRecord.status, OrderIntentRecord.account_id, OrderIntentRecord.venue,
                   OrderIntentRecord.purpose, VenueBreakerRecord.opened_at,
                   Account.id.label("a_id"), Account.name.label("a_name"), Account.venue.label("a_venue"),
                   Account.settings.label("a_settings"))
            .outerjoin(Account, Account.id == OrderIntentRecord.account_id)
            .outerjoin(VenueBreakerRecord, VenueBreakerRecord.venue == OrderIntentRecord.venue)
            .where(OrderIntentRecord.id == intent_id)
        ).one_or_none()
    if row is None:
        return None
    account = _AccountRow(row.a_id, row.a_name, row.a_venue, row.a_settings) if row.a_id is not None else None
    return IntentRef(IntentStatus(row.status), row.account_id, row.venue, row.purpose, row.opened_at is not None,
                     account)


@dataclass(frozen=True)
class _AccountRow:
    id: uuid.UUID
    name: str
    venue: str
    settings: dict[str, Any] | None
