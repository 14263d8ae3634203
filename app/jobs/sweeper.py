"""The sweeper: re-enqueue intents still ``pending`` after a grace period (Redis was down,
the API died between commit and enqueue). PostgreSQL is the source of truth; Redis carries work."""

import logging
from datetime import UTC, datetime, timedelta

from rq.job import Job, JobStatus
from sqlalchemy import select

from app.db import unit_of_work
from app.domain.enums import IntentStatus
from app.execution.service import behind_earlier
from app.jobs.queue import JOB_SERIALIZER, enqueue_intent, get_redis
from app.persistence.models import OrderIntentRecord

log = logging.getLogger(__name__)
_WAITING = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
# A worker claims its intent milliseconds after starting the job. A job still "started"
# while its intent stays pending this long belongs to a worker that died (SIGKILL, OOM):
# RQ itself only notices when the dead worker's registration expires, minutes later.
STALE_STARTED_SECONDS = 10.0


def sweep(grace_seconds: float, limit: int = 500) -> int:
    """Re-enqueue pending intents older than ``grace_seconds`` whose job is not queued or
    running and that are first in line for their account and symbol (``behind_earlier``).
    Returns how many were enqueued."""
    cutoff = datetime.now(UTC) - timedelta(seconds=grace_seconds)
    with unit_of_work() as session:
        rows = session.execute(
            select(
                OrderIntentRecord.id, OrderIntentRecord.client_order_id, OrderIntentRecord.venue, OrderIntentRecord.created_at
            )
            .where(
                OrderIntentRecord.status == IntentStatus.PENDING.value,
                OrderIntentRecord.created_at < cutoff,
                ~behind_earlier(OrderIntentRecord),
            )
            .order_by(OrderIntentRecord.created_at)
            .limit(limit)
        ).all()
    count = 0
    stale_before = datetime.now(UTC) - timedelta(seconds=max(STALE_STARTED_SECONDS, grace_seconds))
    for intent_id, client_order_id, venue, created_at in rows:
        if _job_is_live(client_order_id, started_may_be_dead=created_at < stale_before):
            continue
        if enqueue_intent(intent_id, client_order_id, venue):
            count += 1
    if count:
        log.info("sweeper re-enqueued intents", extra={"count": count})
    return count


def _job_is_live(job_id: str, *, started_may_be_dead: bool) -> bool:
    """Queued jobs are live, and started ones, unless the intent waited past the stale limit:
    then a "started" job belongs to a dead worker, and a "queued" one must really be in its
    queue (a worker killed between taking the job and marking it started leaves it "queued"
    but in no queue). Running a job twice is harmless: the claim is a conditional update."""
    try:
        job = Job.fetch(job_id, connection=get_redis(), serializer=JOB_SERIALIZER)
        status = job.get_status()
        if not started_may_be_dead:
            return status in _WAITING or status == JobStatus.STARTED
        return status == JobStatus.QUEUED and job.get_position() is not None
    except Exception:  # NoSuchJobError, or Redis down (enqueue will then fail too)
        return False
