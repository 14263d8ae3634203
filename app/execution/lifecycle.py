"""The never-twice order lifecycle: send an order once, and resolve an order in doubt by
looking it up by its client order id before anything is sent again.

* ``submit``: one ``create_order``. A rejection (``OrderRejected``) is terminal: REJECTED
  with the venue's message. Any other failure leaves the order SUBMITTED and *in doubt*
  (``orders.in_doubt_since``, ``orders.reason`` "in doubt: …", an ``order_events`` row), and
  is resolved at once by ``resolve``.
* ``resolve``: look the order up by client order id (reads retried with backoff). Found →
  record it (fills, position, state). Not found → proof of absence only when the venue
  refused the last send (rate limit, clock: ``VenueRefused``) or keeps the book itself
  (paper); otherwise only after ``venue timeout + order_lookup_grace_seconds`` since the last
  send (Binance can take tens of seconds to show a new order). Then the order is sent again
  with the *same* client order id — by exactly one process (``ledger.begin_resend`` is a
  compare-and-set on ``send_count``) and at most ``order_max_sends`` times in all (plus
  ``order_max_refused_sends`` when the venue refused the last one, each after a backoff); after
  that it is REJECTED as never placed. An account with ``order_rate_limit`` takes a slot of its
  order count before every send (``order_rate``), so a burst is paced rather than refused.

No database transaction is open during a venue call. Every venue call's outcome feeds the
venue's circuit breaker.
"""

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import select

from app.config import get_settings
from app.db import unit_of_work
from app.domain.enums import OrderSide, OrderType, TimeInForce
from app.domain.orders import TERMINAL, OrderStatus
from app.errors import DuplicateClientOrderId, OrderRejected, TemporaryVenueError, VenueError, VenueRefused
from app.execution import breaker, order_rate, outcomes
from app.execution.ledger import begin_resend, lock_order, mark_in_doubt, record_rejection, record_venue_order
from app.execution.venues.base import OrderRequest, Trigger, Venue, VenueOrder
from app.persistence.models import OrderIntentRecord, OrderRecord

log = logging.getLogger(__name__)
T = TypeVar("T")
REFUSED_BACKOFF_SECONDS = 1.0  # first wait before resending a send the venue refused (rate limit)


@dataclass(frozen=True)
class Ticket:
    """An order as the lifecycle needs it, read in one short transaction (plain values)."""

    order_id: uuid.UUID
    intent_id: uuid.UUID
    account_id: uuid.UUID
    status: OrderStatus
    send_count: int
    last_sent_at: datetime | None
    venue_order_id: str | None
    request: OrderRequest
    follow: outcomes.IntentFacts  # what the outcome events need of the intent


def request_for(intent: OrderIntentRecord) -> OrderRequest:
    """The venue request of an intent (a protective intent carries its trigger)."""
    trigger = Trigger(intent.purpose) if intent.purpose in (Trigger.STOP_LOSS, Trigger.TAKE_PROFIT) else None
    return OrderRequest(
        client_order_id=intent.client_order_id,
        symbol=intent.symbol,
        side=OrderSide(intent.side),
        order_type=OrderType(intent.order_type),
        quantity=intent.quantity,
        limit_price=intent.limit_price,
        time_in_force=TimeInForce(intent.time_in_force) if intent.time_in_force else None,
        reduce_only=intent.reduce_only,
        reference_price=intent.reference_price,
        trigger=trigger,
        trigger_price=intent.trigger_price if trigger else None,
        position_side=intent.position_side,
    )


def ticket(order: OrderRecord, intent: OrderIntentRecord) -> Ticket:
    """The order's ticket; its request carries the order's quantity, which is the intent's
    unless the claim cut a reduce-only order down to the position left to reduce."""
    request = replace(request_for(intent), quantity=order.quantity)
    return Ticket(order.id, intent.id, order.account_id, OrderStatus(order.status), order.send_count,
                  order.last_sent_at, order.venue_order_id, request, outcomes.facts(intent))


def load_ticket(order_id: uuid.UUID) -> Ticket:
    with unit_of_work() as session:
        order, intent = session.execute(
            select(OrderRecord, OrderIntentRecord)
            .join(OrderIntentRecord, OrderIntentRecord.id == OrderRecord.intent_id)
            .where(OrderRecord.id == order_id)
        ).one()
        return ticket(order, intent)


def ticket_for_intent(intent_id: uuid.UUID) -> Ticket | None:
    with unit_of_work() as session:
        order_id = session.execute(select(OrderRecord.id).where(OrderRecord.intent_id == intent_id)).scalar_one_or_none()
    return load_ticket(order_id) if order_id is not None else None


def ticket_for_client_order_id(venue: str, client_order_id: str) -> Ticket | None:
    """The ticket of our order ``client_order_id`` on ``venue``; None if it is not recorded."""
    with unit_of_work() as session:
        order_id = session.execute(select(OrderRecord.id).where(
            OrderRecord.venue == venue, OrderRecord.client_order_id == client_order_id)).scalar_one_or_none()
    return load_ticket(order_id) if order_id is not None else None


def guarded(venue: Venue, call: Callable[..., T], *args: object) -> T:
    """``call(*args)`` on ``venue``, feeding its circuit breaker: a ``TemporaryVenueError`` is
    a failure, any answer (even a rejection) a success — a refusal (``VenueRefused``: rate
    limit, clock) included: the venue is up and answering, so a burst that meets its rate
    limit never opens the breaker."""
    if not venue.remote:
        return call(*args)
    try:
        result = call(*args)
    except VenueRefused:
        breaker.record_success(venue.name)
        raise
    except TemporaryVenueError as e:
        breaker.record_failure(venue.name, e.message)
        raise
    except VenueError:
        breaker.record_success(venue.name)
        raise
    breaker.record_success(venue.name)
    return result


def submit(claimed: Ticket, venue: Venue) -> OrderStatus:
    """Send a claimed order (its send already counted) and record the outcome; a send that
    fails without a rejection is resolved by ``resolve`` at once."""
    status, error = _send(claimed, venue)
    if status is not None:
        return status
    return resolve(load_ticket(claimed.order_id), venue, refused=isinstance(error, VenueRefused))


def resolve(current: Ticket, venue: Venue, *, refused: bool = False) -> OrderStatus:
    """Look the order up by client order id and record what the venue says; if it is not
    there, send it again when that is safe (module docstring). Returns the order's status;
    venue errors leave it as it was (the reconciler comes back)."""
    if current.status in TERMINAL:
        return current.status
    request = current.request
    try:
        found = guarded(venue, venue.fetch_order, request.client_order_id, request.symbol)
    except VenueError as e:
        log.warning("look-up of %s on %s failed; it stays %s: %s", request.client_order_id, venue.name,
                    current.status, e.message)
        return current.status
    if found is not None:
        return record(current, venue, found)
    if current.status != OrderStatus.SUBMITTED:
        log.error("order %s is %s here but %s does not find it; left for the operator",
                  request.client_order_id, current.status, venue.name)
        return current.status
    return _absent(current, venue, refused)


def record(current: Ticket, venue: Venue, result: VenueOrder) -> OrderStatus:
    """Record a venue answer in one transaction: fills, position, state, the paper venue's
    balances and the events they set in motion (``outcomes``)."""
    try:
        with unit_of_work() as session:
            order = lock_order(session, current.order_id)  # a second recorder books nothing twice
            before, filled_before = OrderStatus(order.status), order.filled_quantity
            status = record_venue_order(session, current.order_id, venue.name, result, order=order,
                                        books_balances=venue.books_balances)
            outcomes.emit_for(session, order, before, filled_before, status, current.follow)
    except OrderRejected as e:  # the paper venue cannot book it
        with unit_of_work() as session:
            record_rejection(session, current.order_id, e.message)
        status = OrderStatus.REJECTED
    return status


def _send(current: Ticket, venue: Venue) -> tuple[OrderStatus | None, VenueError | None]:
    """One ``create_order``. Returns (status, None) when the outcome is known, (None, error)
    when the order is now in doubt."""
    if venue.order_rate is not None:
        order_rate.acquire(current.account_id, venue.order_rate)  # the venue's order count, across workers
    try:
        result = guarded(venue, venue.create_order, current.request)
    except OrderRejected as e:
        with unit_of_work() as session:
            record_rejection(session, current.order_id, e.message)
        return OrderStatus.REJECTED, None
    except (TemporaryVenueError, DuplicateClientOrderId) as e:
        with unit_of_work() as session:
            mark_in_doubt(session, current.order_id, e.message)
        log.warning("order %s in doubt after send %d: %s", current.request.client_order_id, current.send_count, e.message)
        return None, e
    return record(current, venue, result), None


def _absent(current: Ticket, venue: Venue, refused: bool) -> OrderStatus:
    """The venue does not find the SUBMITTED order: wait, send it again, or give up."""
    settings = get_settings()
    sent_at = current.last_sent_at or datetime.now(UTC)
    safe_after = sent_at + timedelta(milliseconds=settings.venue_timeout_ms, seconds=settings.order_lookup_grace_seconds)
    cid = current.request.client_order_id
    if not (refused or venue.lookup_is_authoritative) and datetime.now(UTC) < safe_after:
        with unit_of_work() as session:
            mark_in_doubt(session, current.order_id, f"not found on {venue.name} yet; if still missing after "
                          f"{safe_after:%Y-%m-%d %H:%M:%S} UTC it is sent again with the same client order id")
        return OrderStatus.SUBMITTED
    budget = settings.order_max_sends + (settings.order_max_refused_sends if refused else 0)
    if current.send_count >= budget:
        reason = (f"never placed: not found on {venue.name} after {current.send_count} sends of client order id "
                  f"{cid}; it is not sent again")
        with unit_of_work() as session:
            record_rejection(session, current.order_id, reason)
        return OrderStatus.REJECTED
    why = "refused" if refused else "not found after the grace window"
    with unit_of_work() as session:
        won = begin_resend(session, current.order_id, current.send_count,
                           f"send {current.send_count + 1} with the same client order id ({why})")
    if not won:
        return load_ticket(current.order_id).status  # another process is resending it
    log.warning("sending %s again (send %d): %s on %s", cid, current.send_count + 1, why, venue.name)
    if refused:  # the venue said "too many": back off before asking again (1, 2, 4 … 30 s)
        time.sleep(min(REFUSED_BACKOFF_SECONDS * 2 ** (current.send_count - 1), 30.0))
    status, error = _send(load_ticket(current.order_id), venue)
    if status is None and isinstance(error, VenueRefused):  # refused again: look it up, back off, resend
        return resolve(load_ticket(current.order_id), venue, refused=True)
    return status or OrderStatus.SUBMITTED
