"""The reconciler, run by the scheduler at start and every ``reconcile_interval_seconds``.

One pass:
1. follows every non-terminal order (SUBMITTED — in doubt or left behind by a killed worker —
   ACCEPTED, PARTIALLY_FILLED) through ``lifecycle.resolve``: look it up by client order id,
   record fills and state, and send an absent SUBMITTED order again only when the lifecycle
   says it is safe. A SUBMITTED order whose send may still be in flight (younger than the
   venue timeout) is left to its worker;
2. for each account on a real venue: reports open orders on the venue that Tradewire did not
   place (``foreign_orders`` table, a warning in the log, ``GET /api/v1/venues``) without
   touching them, writes a balance snapshot, compares the ledger's positions with the venue's
   (``app.execution.drift``: drifts recorded and notified; ``sync_mode = "adopt"`` makes the
   ledger follow), and reloads the venue's markets into the ``markets`` table when older than
   ``market_refresh_seconds``.

Venues whose circuit breaker is open are skipped; ``probe_open_breakers`` tries them with a
cheap read and, when one answers, closes its breaker and re-enqueues its waiting intents.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.config import get_settings
from app.db import unit_of_work
from app.domain.orders import OPEN_STATE_VALUES, TERMINAL, OrderStatus
from app.errors import AppError
from app.execution import breaker, drift, lifecycle
from app.execution.markets import refresh_markets_if_stale, snapshot_balances
from app.execution.venues.base import OpenOrder, Venue
from app.execution.venues.registry import venue_for
from app.jobs.relay import sweep
from app.persistence.models import Account, ForeignOrderRecord, OrderIntentRecord, OrderRecord, PositionRecord

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    """What one pass did: orders followed (by status afterwards), foreign open orders seen,
    accounts or venues skipped and why."""

    followed: dict[str, int] = field(default_factory=dict)
    foreign: int = 0
    drifts: int = 0  # positions newly found to differ from the venue (app.execution.drift)
    skipped: list[str] = field(default_factory=list)


def reconcile(*, limit: int = 500) -> ReconcileReport:
    """One reconciler pass (module docstring). Never raises for a venue problem: it is logged
    and the pass goes on."""
    report = ReconcileReport()
    for current in _open_tickets(limit):
        venue = _venue(current.account_id, report)
        if venue is None:
            continue
        status = lifecycle.resolve(current, venue)
        report.followed[status.value] = report.followed.get(status.value, 0) + 1
    for account_id in _real_accounts():
        venue = _venue(account_id, report)
        if venue is not None:
            _survey(account_id, venue, report)
    return report


def probe_open_breakers() -> list[str]:
    """Probe each venue whose breaker is open and due; returns the venues that answered (their
    breakers are closed and their pending intents re-enqueued)."""
    resumed = []
    for venue_name in breaker.probes_due():
        account_id = _any_account(venue_name)
        try:
            venue = venue_for(account_id) if account_id else None
            if venue is None:
                continue
            venue.probe()
        except AppError as e:
            breaker.record_failure(venue_name, f"probe: {e.message}")
            log.warning("probe of %s failed; its intents keep waiting: %s", venue_name, e.message)
            continue
        breaker.record_success(venue_name)
        resumed.append(venue_name)
    if resumed:
        sweep(0)
    return resumed


def _open_tickets(limit: int) -> list[lifecycle.Ticket]:
    settings = get_settings()
    in_flight = datetime.now(UTC) - timedelta(milliseconds=settings.venue_timeout_ms)
    with unit_of_work() as session:
        rows = session.execute(
            select(OrderRecord, OrderIntentRecord)
            .join(OrderIntentRecord, OrderIntentRecord.id == OrderRecord.intent_id)
            .where(
                OrderRecord.status.in_(OPEN_STATE_VALUES),
                or_(
                    OrderRecord.status != OrderStatus.SUBMITTED.value,
                    OrderRecord.last_sent_at.is_(None),
                    OrderRecord.last_sent_at < in_flight,
                ),
            )
            .order_by(OrderRecord.created_at)
            .limit(limit)
        ).all()
        return [lifecycle.ticket(order, intent) for order, intent in rows]


def _venue(account_id: uuid.UUID, report: ReconcileReport) -> Venue | None:
    try:
        venue = venue_for(account_id)
    except AppError as e:
        report.skipped.append(f"account {account_id}: {e.message}")
        return None
    if venue.remote and breaker.is_open(venue.name):
        report.skipped.append(f"{venue.name}: circuit breaker open")
        return None
    return venue


def _real_accounts() -> list[uuid.UUID]:
    with unit_of_work() as session:
        return list(session.execute(select(Account.id).where(Account.venue != "paper").order_by(Account.name)).scalars())


def _any_account(venue_name: str) -> uuid.UUID | None:
    with unit_of_work() as session:
        return session.execute(select(Account.id).where(Account.venue == venue_name).limit(1)).scalar_one_or_none()


def _survey(account_id: uuid.UUID, venue: Venue, report: ReconcileReport) -> None:
    """Foreign open orders and the balance snapshot of one account."""
    try:
        if venue.markets_stale():  # keeps the markets table fresh for risk when no orders flow
            lifecycle.guarded(venue, refresh_markets_if_stale, venue)
        open_orders = lifecycle.guarded(venue, venue.fetch_open_orders, _symbols(account_id))
        report.foreign += _store_foreign(account_id, venue, open_orders)
        snapshot_balances(venue, account_id)
        report.drifts += drift.check_account(account_id, venue)
    except AppError as e:
        log.warning("reconciler: %s survey of account %s failed: %s", venue.name, account_id, e.message)
        report.skipped.append(f"{venue.name} survey: {e.message}")


def _symbols(account_id: uuid.UUID) -> list[str]:
    """Symbols worth asking about where the venue needs one: our open orders and positions."""
    with unit_of_work() as session:
        ordered = session.execute(
            select(OrderRecord.symbol).where(OrderRecord.account_id == account_id, OrderRecord.status.in_(OPEN_STATE_VALUES))
        ).scalars()
        held = session.execute(
            select(PositionRecord.symbol).where(PositionRecord.account_id == account_id, PositionRecord.quantity != 0)
        ).scalars()
        return sorted(set(ordered) | set(held))


def _store_foreign(account_id: uuid.UUID, venue: Venue, open_orders: list[OpenOrder]) -> int:
    """Replace the account's foreign-order report with this pass's; returns its size."""
    now = datetime.now(UTC)
    with unit_of_work() as session:
        ids = [o.client_order_id for o in open_orders if o.ours and o.client_order_id]
        known = dict(session.execute(
            select(OrderRecord.client_order_id, OrderRecord.status).where(
                OrderRecord.account_id == account_id, OrderRecord.client_order_id.in_(ids or [""])
            )
        ).all())
        foreign = [(o, _note(o, known)) for o in open_orders if not _is_ours(o, known)]
        for order, note in foreign:
            values = dict(account_id=account_id, venue=venue.name, venue_order_id=order.venue_order_id,
                          client_order_id=order.client_order_id, symbol=order.symbol, side=order.side,
                          order_type=order.order_type, quantity=order.quantity, price=order.price,
                          status=order.status, note=note, last_seen_at=now)
            inserted = session.execute(
                pg_insert(ForeignOrderRecord).values(id=uuid.uuid4(), first_seen_at=now, **values)
                .on_conflict_do_update(index_elements=["account_id", "venue_order_id"], set_=values)
                .returning(ForeignOrderRecord.first_seen_at)
            ).scalar_one()
            if inserted == now:
                log.warning("open order on %s not placed by Tradewire (left alone): %s %s %s %s @ %s, id %s%s",
                            venue.name, order.symbol, order.side, order.quantity, order.order_type, order.price,
                            order.venue_order_id, f" ({note})" if note else "")
        session.execute(delete(ForeignOrderRecord).where(
            ForeignOrderRecord.account_id == account_id,
            ForeignOrderRecord.venue_order_id.not_in([o.venue_order_id for o, _ in foreign] or [""]),
        ))
    return len(foreign)


def _is_ours(order: OpenOrder, known: dict[str, str]) -> bool:
    return order.ours and OrderStatus(known.get(order.client_order_id or "", "REJECTED")) not in TERMINAL


def _note(order: OpenOrder, known: dict[str, str]) -> str | None:
    if order.ours and order.client_order_id in known:
        return f"has our client order id, but Tradewire recorded that order as {known[order.client_order_id]}"
    if order.ours:
        return "has a Tradewire-style client order id unknown to this database"
    return None
