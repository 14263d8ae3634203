"""The RQ worker process. ``SimpleWorker`` runs jobs in-process: no fork and no ccxt import
per job, one venue instance per account (and its markets and rate limiter) for the process's
life. At start it loads the markets of every account it serves into the ``markets`` table and
writes their balance snapshots; afterwards markets are reloaded when older than
``market_refresh_seconds`` (checked before each order), and on request (``load_markets``, a
job ingest queues when a signal finds none of its venue's markets stored). Jobs are read as JSON only
(``JOB_SERIALIZER``): a pickled job in Redis is never unpickled."""

import logging
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from rq import SimpleWorker
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.db import unit_of_work
from app.errors import AppError
from app.execution.markets import load_markets_if_missing, refresh_markets_if_stale, snapshot_balances
from app.execution.venues.registry import venue_for
from app.jobs import relay
from app.jobs.queue import JOB_SERIALIZER, get_queue, get_redis
from app.notify.jobs import get_notify_queue
from app.persistence.models import Account

log = logging.getLogger(__name__)
T = TypeVar("T")


def configured_venues() -> list[str]:
    """Every venue an account trades on (``paper`` at least)."""
    with unit_of_work() as session:
        venues = set(session.execute(select(Account.venue).distinct()).scalars())
    return sorted(venues | {"paper"})


def warm_up(venues: list[str]) -> None:
    """Load markets and balances of every real-venue account on ``venues``; a venue that
    cannot be reached now is logged and tried again before its next order."""
    with unit_of_work() as session:
        accounts = session.execute(
            select(Account.id, Account.name).where(Account.venue.in_(venues), Account.venue != "paper")
        ).all()
    for account_id, name in accounts:
        try:
            venue = venue_for(account_id)
            refresh_markets_if_stale(venue)
            snapshot_balances(venue, account_id)
        except AppError as e:
            log.warning("warm-up of account %s failed (%s): %s", name, type(e).__name__, e.message)


def load_markets(venue: str) -> int:
    """RQ job on ``venue``'s queue (``app.ingest.market_wait.request_markets``): store the
    venue's markets if none are, through the first account trading on it. Returns how many
    were stored (0: already stored, or no account on ``venue``). Raises ``TemporaryVenueError``
    (RQ records the failure; the next signal asks again)."""
    with unit_of_work() as session:
        account_id = session.execute(
            select(Account.id).where(Account.venue == venue).order_by(Account.name).limit(1)
        ).scalar_one_or_none()
    if account_id is None:
        log.warning("markets of %s requested, but no account trades on it", venue)
        return 0
    return load_markets_if_missing(venue_for(account_id))


def _when_database_answers(call: Callable[[], T], *, pause_seconds: float = 1.0) -> T:
    """``call()``, tried again every ``pause_seconds`` while PostgreSQL cannot be reached: a
    worker started while the database restarts waits for it rather than exiting."""
    while True:
        try:
            return call()
        except OperationalError as e:
            log.warning("database unavailable at worker start (%s); trying again in %.0f s",
                        type(e.orig).__name__ if e.orig else type(e).__name__, pause_seconds)
            time.sleep(pause_seconds)


def run_worker(venues: list[str] | None = None, *, burst: bool = False) -> int:
    """Serve the venue queues until stopped (or until empty with ``burst``)."""
    relay.install()
    venues = venues or _when_database_answers(configured_venues)
    _when_database_answers(lambda: warm_up(venues))
    # Real venues first, then paper (a paper shadow's order never delays the live one), then notifications.
    queues = [get_queue(v) for v in sorted(venues, key=lambda v: v == "paper")] + [get_notify_queue()]
    worker = SimpleWorker(
        queues, connection=get_redis(), name=f"tradewire-{uuid.uuid4().hex[:8]}", serializer=JOB_SERIALIZER
    )
    log.info("worker serving %s", ", ".join(q.name for q in queues))
    worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
    return 0
