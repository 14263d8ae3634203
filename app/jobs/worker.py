"""The RQ worker process. ``SimpleWorker`` runs jobs in-process: no fork and no ccxt import
per job, one venue instance (and its markets and rate limiter) for the process's life."""

import logging
import uuid

from rq import SimpleWorker
from sqlalchemy import select

from app.db import unit_of_work
from app.jobs.queue import get_queue, get_redis
from app.persistence.models import Account

log = logging.getLogger(__name__)


def configured_venues() -> list[str]:
    """Every venue an account trades on (``paper`` at least)."""
    with unit_of_work() as session:
        venues = set(session.execute(select(Account.venue).distinct()).scalars())
    return sorted(venues | {"paper"})


def run_worker(venues: list[str] | None = None, *, burst: bool = False) -> int:
    """Serve the venue queues until stopped (or until empty with ``burst``)."""
    venues = venues or configured_venues()
    queues = [get_queue(v) for v in venues]
    worker = SimpleWorker(queues, connection=get_redis(), name=f"tradewire-{uuid.uuid4().hex[:8]}")
    log.info("worker serving %s", ", ".join(q.name for q in queues))
    worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
    return 0
