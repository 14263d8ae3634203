"""The notify queue (``{prefix}-notify``) and its job: deliver one event to one channel.

Jobs carry the channel's name, the kind and the plain payload, never a URL or a token: the
worker reads those from its own environment when it sends. A delivery that fails with a
network error, 429 or 5xx is retried after ``retry_intervals_seconds`` (RQ's ``Retry``;
waits above zero need ``promote_due_retries()`` to run periodically, as the scheduler does,
or a worker started with RQ's scheduler).
"""

import logging
import uuid
from typing import Any

from rq import Queue, Retry
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from app.config import get_settings
from app.jobs.queue import JOB_SERIALIZER, get_redis
from app.serialize import jsonable
from app.notify.channels import ChannelMisconfigured, send
from app.notify.config import notifications_config

log = logging.getLogger(__name__)
DELIVER_FUNCTION = "app.notify.jobs.deliver"


def notify_queue_name() -> str:
    return f"{get_settings().queue_prefix}-notify"


def get_notify_queue() -> Queue:
    return Queue(notify_queue_name(), connection=get_redis(), serializer=JOB_SERIALIZER)


def enqueue_deliveries(kind: str, payload: dict[str, Any], *, job_key: str | None = None) -> int:
    """One delivery job per channel subscribed to ``kind``; returns how many were queued.
    With ``job_key`` (a notification event's job id) each job's id is ``{job_key}-{channel}``,
    so dispatching the event twice queues each delivery once."""
    config = notifications_config()
    names = [name for name, channel in config.channels.items() if channel.subscribes(kind)]
    if not names:
        return 0
    intervals = config.retry_intervals_seconds
    retry = Retry(max=len(intervals), interval=intervals) if intervals else None
    queue = get_notify_queue()
    for name in names:
        queue.enqueue(DELIVER_FUNCTION, name, kind, jsonable(payload), retry=retry, result_ttl=3600, failure_ttl=7 * 86400,
                      job_timeout=60, description=f"notify {kind} to {name}",
                      job_id=f"{job_key}-{name}" if job_key else None)
    return len(names)


def deliver(channel: str, kind: str, payload: dict[str, Any]) -> str:
    """Send ``kind`` to ``channel``; the answer is kept as the job's result. Raises
    ``DeliveryFailed`` (retried) on network errors, 429 and 5xx."""
    config = notifications_config().channels.get(channel)
    if config is None:
        log.warning("notification channel no longer configured", extra={"channel": channel, "kind": kind})
        return "skipped: channel not configured"
    try:
        status = send(config, kind, with_account_name(payload))
    except ChannelMisconfigured as e:
        log.error("notification channel misconfigured", extra={"channel": channel, "error": str(e)})
        return f"not sent: {e}"
    if status >= 400:
        log.error("notification refused", extra={"channel": channel, "kind": kind, "status": status})
        return f"refused: HTTP {status}"
    log.info("notification sent", extra={"channel": channel, "kind": kind})
    return f"sent: HTTP {status}"


def with_account_name(payload: dict[str, Any]) -> dict[str, Any]:
    """Callers that know only ``account_id`` (the ledger) get the account's name filled in."""
    if payload.get("account") or not payload.get("account_id"):
        return payload
    from sqlalchemy import select

    from app.db import unit_of_work
    from app.persistence.models import Account

    try:
        with unit_of_work() as session:
            name = session.execute(
                select(Account.name).where(Account.id == uuid.UUID(str(payload["account_id"])))
            ).scalar_one_or_none()
    except ValueError:
        name = None
    return {**payload, "account": name} if name else payload


def promote_due_retries() -> int:
    """Move delivery retries whose wait is over from RQ's scheduled registry back onto the
    notify queue; returns how many. Safe to run from several processes at once."""
    queue = get_notify_queue()
    registry = ScheduledJobRegistry(queue=queue)
    moved = 0
    for job_id in registry.get_jobs_to_schedule():
        if registry.remove(job_id) == 0:
            continue  # another process took it
        job = Job.fetch(job_id, connection=queue.connection, serializer=JOB_SERIALIZER)
        queue.enqueue_job(job)
        moved += 1
    return moved
