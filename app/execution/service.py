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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import aliased

from app.db import unit_of_work
from app.domain.enums import IntentStatus
from app.domain.orders import TERMINAL, OrderStatus
from app.errors import ConfigError, VenueError
from app.execution import followups, lifecycle
from app.execution.ledger import insert_transitions, transition
from app.execution.lifecycle import Ticket
from app.execution.markets import refresh_markets_if_stale
from app.execution.venues.registry import venue_for
from app.persistence.models import Account, OrderIntentRecord, OrderRecord, VenueBreakerRecord

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
    claimed = claim(intent_id, enqueued_at=enqueued_at)
    if claimed is None:
        return None
    return lifecycle.submit(claimed, venue)


def claim(intent_id: uuid.UUID, *, enqueued_at: datetime | None = None) -> Ticket | None:
    """Transaction 1: move the intent to ``submitting`` and write its order as SUBMITTED,
    counted as sent once now. Returns the order's ticket, or None if the intent is not pending."""
    now = datetime.now(UTC)
    with unit_of_work() as session:
        later = aliased(OrderIntentRecord)
        has_next = (
            select(later.id)
            .where(later.signal_id == OrderIntentRecord.signal_id, later.sequence == OrderIntentRecord.sequence + 1,
                   later.purpose == "entry")
            .correlate(OrderIntentRecord)
            .exists()
        )
        row = session.execute(_claim_update(intent_id, IntentStatus.SUBMITTING, now, enqueued_at)
                              .returning(OrderIntentRecord, has_next)).one_or_none()
        if row is None:
            return None
        intent, follows = row
        values = _order_values(intent, now) | {"status": OrderStatus.SUBMITTED.value, "send_count": 1,
                                               "last_sent_at": now}
        session.execute(insert(OrderRecord).values(**values))
        insert_transitions(session, values["id"], OrderStatus.INITIALIZED, OrderStatus.SUBMITTED, ts_event=now)
        return Ticket(values["id"], intent.id, intent.account_id, OrderStatus.SUBMITTED, 1, now, None,
                      lifecycle.request_for(intent), followups.facts(intent, bool(follows)))


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
        .where(OrderIntentRecord.id == intent_id, OrderIntentRecord.status == IntentStatus.PENDING.value)
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
