"""Cancelling Tradewire's orders: one by id (``POST /api/v1/orders/{id}/cancel``) and every
open one of an account (the ``cancel`` action, job ``app.jobs.tasks.cancel_open_orders``).

A cancel is safe to repeat, so it is retried like a read. The venue's answer is recorded as
any other (fills that happened before the cancel included). An order that was sent but that
the venue does not have is cancelled here only once its send can no longer land (the grace
window of ``lifecycle``), so that it is never sent again; before that the caller is told to
retry. Orders on the venue that Tradewire did not place are never touched.
"""

import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import NoResultFound

from app.config import get_settings
from app.db import unit_of_work
from app.domain.orders import OPEN_STATE_VALUES, TERMINAL, OrderStatus
from app.errors import AppError, Conflict, NotFound
from app.execution import lifecycle
from app.execution.ledger import record_never_placed
from app.execution.venues.registry import venue_for
from app.persistence.models import OrderRecord

log = logging.getLogger(__name__)


def cancel_order(order_id: uuid.UUID) -> OrderStatus:
    """Cancel order ``order_id`` on its venue; returns its status afterwards (CANCELED, or
    FILLED if it filled first). Raises ``NotFound``, ``Conflict`` (already finished, or its
    send may still land), ``TemporaryVenueError`` (the venue did not answer; retry)."""
    try:
        current = lifecycle.load_ticket(order_id)
    except NoResultFound as e:
        raise NotFound(f"no order {order_id}") from e
    if current.status in TERMINAL:
        raise Conflict(f"order {order_id} is {current.status.value}; there is nothing to cancel")
    venue = venue_for(current.account_id)
    request = current.request
    result = lifecycle.guarded(venue, venue.cancel_order, request.client_order_id, request.symbol, current.venue_order_id)
    if result is None:  # no open order by that id: it finished, or it never arrived
        result = lifecycle.guarded(venue, venue.fetch_order, request.client_order_id, request.symbol)
    if result is not None:
        return lifecycle.record(current, venue, result)
    return _cancel_absent(current, venue.name, venue.lookup_is_authoritative)


def _cancel_absent(current: lifecycle.Ticket, venue_name: str, authoritative: bool) -> OrderStatus:
    settings = get_settings()
    sent_at = current.last_sent_at or datetime.now(UTC)
    safe_after = sent_at + timedelta(milliseconds=settings.venue_timeout_ms, seconds=settings.order_lookup_grace_seconds)
    if current.status != OrderStatus.SUBMITTED:
        raise Conflict(f"{venue_name} does not find order {current.request.client_order_id}, recorded here as "
                       f"{current.status.value}; check the venue before acting")
    if not authoritative and datetime.now(UTC) < safe_after:
        raise Conflict(f"order {current.request.client_order_id} was sent at {sent_at:%H:%M:%S} UTC and may still "
                       f"appear on {venue_name}; retry the cancel after {safe_after:%H:%M:%S} UTC")
    with unit_of_work() as session:
        done = record_never_placed(session, current.order_id, f"canceled before {venue_name} acknowledged it "
                                   "(not found there after the grace window); it will not be sent again")
    return OrderStatus.CANCELED if done else lifecycle.load_ticket(current.order_id).status


def cancel_open_orders(account_id: uuid.UUID, symbol: str | None = None) -> dict[str, int]:
    """Cancel every non-terminal order of the account (in ``symbol``, or all). Returns counts
    by outcome: the orders' statuses afterwards, ``conflict`` (see ``cancel_order``) and
    ``failed`` (venue errors; the reconciler keeps following those orders)."""
    with unit_of_work() as session:
        query = select(OrderRecord.id).where(OrderRecord.account_id == account_id, OrderRecord.status.in_(OPEN_STATE_VALUES))
        if symbol:
            query = query.where(OrderRecord.symbol == symbol)
        order_ids = list(session.execute(query.order_by(OrderRecord.created_at)).scalars())
    counts: dict[str, int] = {}
    for order_id in order_ids:
        try:
            outcome = cancel_order(order_id).value
        except Conflict as e:
            outcome = "conflict"
            log.info("cancel of order %s: %s", order_id, e.message)
        except AppError as e:
            outcome = "failed"
            log.warning("cancel of order %s failed: %s", order_id, e.message)
        counts[outcome] = counts.get(outcome, 0) + 1
    log.info("cancel_open_orders account %s symbol %s: %s", account_id, symbol or "*", counts)
    return counts
