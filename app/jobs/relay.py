"""The relay: committed events (``app.events``) become RQ jobs with deterministic ids.

Right after the transaction that wrote them commits (``dispatch``, installed as the events'
dispatcher in every process by ``install``), and by ``sweep`` every few seconds for whatever
that missed (Redis was down, the process died between commit and dispatch). A job id is a
function of its event, so dispatching twice queues one job; the handlers are idempotent, so
running one twice does no harm either.

- ``intent.ready`` → ``execute_intent`` on the venue's queue, job id the client order id;
  swept while the intent is pending, first in its symbol's line and its job is not live.
- ``order.terminal`` / ``order.accepted`` → the next pending intent of the order's account
  and symbol is enqueued now (its own ``intent.ready`` sweep covers a miss).
- ``notification`` → one delivery job per subscribed channel on the notify queue; handled.
- any other kind → ``handle_event`` (``app.followups``) on the venue's queue; swept until
  its handler marks it handled.
- ``order.terminal`` also → ``handle_event`` while a rebalance of the account is under way (its
  buys wait for its sells); not swept: the scheduler sweeps rebalances under way itself.
"""

import logging
import uuid
from datetime import UTC, datetime, timedelta

from rq.job import Job, JobStatus
from sqlalchemy import bindparam, select, update

from app import events
from app.db import unit_of_work
from app.domain.enums import IntentStatus
from app.events import Emitted
from app.execution.service import behind_earlier
from app.jobs.queue import JOB_SERIALIZER, enqueue_intent, get_queue, get_redis
from app.notify.jobs import enqueue_deliveries
from app.persistence.models import EventRecord, OrderIntentRecord
from app.portfolio.market import running

log = logging.getLogger(__name__)
HANDLE_FUNCTION = "app.jobs.tasks.handle_event"
_WAITING = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
# A worker claims its intent milliseconds after starting the job. A job still "started"
# while its intent stays pending this long belongs to a worker that died (SIGKILL, OOM):
# RQ itself only notices when the dead worker's registration expires, minutes later.
STALE_STARTED_SECONDS = 10.0


def install() -> None:
    """Make ``dispatch`` the events' dispatcher in this process (API, worker, scheduler)."""
    events.set_dispatcher(dispatch)


def dispatch(emitted: list[Emitted]) -> None:
    """Queue the jobs of committed events. Redis errors are logged: the sweep retries."""
    for event in emitted:
        try:
            _dispatch_one(event)
        except Exception:  # redis-py raises several unrelated classes for a down server
            log.warning("event %s (%s) not dispatched; the sweep will retry", event.id, event.kind, exc_info=True)


def _dispatch_one(event: Emitted) -> None:
    payload = event.payload
    if event.kind == events.INTENT_READY:
        enqueue_intent(uuid.UUID(payload["intent_id"]), event.job_id, payload["venue"])
    elif event.kind in (events.ORDER_TERMINAL, events.ORDER_ACCEPTED):
        if _enqueue_next_in_line(uuid.UUID(payload["account_id"]), payload["symbol"],
                                 rebalancing=event.kind == events.ORDER_TERMINAL):
            _enqueue_handler(event)  # a rebalance of the account may move (app.followups.rebalance)
    elif event.kind == events.NOTIFICATION:
        enqueue_deliveries(payload["kind"], payload["payload"], job_key=event.job_id)
        with unit_of_work() as session:
            session.execute(_MARK_HANDLED, {"event_id": event.id, "now": datetime.now(UTC)})
    else:
        _enqueue_handler(event)


def _enqueue_handler(event: Emitted) -> None:
    """``handle_event`` of the event (``app.followups``) on its venue's queue."""
    get_queue(event.payload["venue"]).enqueue(HANDLE_FUNCTION, str(event.id), job_id=event.job_id, result_ttl=600,
                                              failure_ttl=86400)


_MARK_HANDLED = (
    update(EventRecord).where(EventRecord.id == bindparam("event_id"), EventRecord.handled_at.is_(None))
    .values(handled_at=bindparam("now"))
)
_NEXT_IN_LINE = (
    select(OrderIntentRecord.id, OrderIntentRecord.client_order_id, OrderIntentRecord.venue)
    .where(OrderIntentRecord.account_id == bindparam("account_id"), OrderIntentRecord.symbol == bindparam("symbol"),
           OrderIntentRecord.status == IntentStatus.PENDING.value, OrderIntentRecord.purpose == "entry")
    .order_by(OrderIntentRecord.created_at, OrderIntentRecord.sequence)
    .limit(1)
)


def _enqueue_next_in_line(account_id: uuid.UUID, symbol: str, *, rebalancing: bool = False) -> bool:
    """Enqueue the oldest pending entry intent of (account, symbol). Run after the order's
    outcome committed, so an intent whose claim found that order still holding the line is
    seen here as pending (no lost wake-up); one still blocked just waits again. With
    ``rebalancing``, also says (read in the same transaction) whether a rebalance of the
    account is under way, which the order's end may move."""
    with unit_of_work() as session:
        nxt = session.execute(_NEXT_IN_LINE, {"account_id": account_id, "symbol": symbol}).first()
        under_way = rebalancing and running(session, account_id) is not None
    if nxt is not None:
        enqueue_intent(nxt.id, nxt.client_order_id, nxt.venue)
    return under_way


def sweep(grace_seconds: float, limit: int = 500) -> int:
    """Dispatch again what is still waiting ``grace_seconds`` after it was written: pending
    intents first in their symbol's line, and unhandled events of tracked kinds, whose job is
    not queued or running. Returns how many jobs were queued."""
    cutoff = datetime.now(UTC) - timedelta(seconds=grace_seconds)
    stale_before = datetime.now(UTC) - timedelta(seconds=max(STALE_STARTED_SECONDS, grace_seconds))
    with unit_of_work() as session:
        intents = session.execute(
            select(OrderIntentRecord.id, OrderIntentRecord.client_order_id, OrderIntentRecord.venue,
                   OrderIntentRecord.created_at)
            .where(OrderIntentRecord.status == IntentStatus.PENDING.value, OrderIntentRecord.created_at < cutoff,
                   ~behind_earlier(OrderIntentRecord))
            .order_by(OrderIntentRecord.created_at).limit(limit)
        ).all()
        waiting = session.execute(
            select(EventRecord.id, EventRecord.kind, EventRecord.job_id, EventRecord.payload, EventRecord.created_at)
            .where(EventRecord.handled_at.is_(None), EventRecord.created_at < cutoff,
                   EventRecord.kind.not_in(events.UNTRACKED))
            .order_by(EventRecord.created_at).limit(limit)
        ).all()
    count = 0
    for intent_id, client_order_id, venue, created_at in intents:
        if not _job_is_live(client_order_id, started_may_be_dead=created_at < stale_before):
            count += enqueue_intent(intent_id, client_order_id, venue)
    for event_id, kind, job_id, payload, created_at in waiting:
        if not _job_is_live(job_id, started_may_be_dead=created_at < stale_before):
            dispatch([Emitted(event_id, kind, job_id, payload)])
            count += 1
    if count:
        log.info("relay sweep queued jobs", extra={"count": count})
    return count


def _job_is_live(job_id: str, *, started_may_be_dead: bool) -> bool:
    """Queued jobs are live, and started ones, unless the work waited past the stale limit:
    then a "started" job belongs to a dead worker, and a "queued" one must really be in its
    queue (a worker killed between taking the job and marking it started leaves it "queued"
    but in no queue). Running a job twice is harmless: claims are conditional updates."""
    try:
        job = Job.fetch(job_id, connection=get_redis(), serializer=JOB_SERIALIZER)
        status = job.get_status()
        if not started_may_be_dead:
            return status in _WAITING or status == JobStatus.STARTED
        return status == JobStatus.QUEUED and job.get_position() is not None
    except Exception:  # NoSuchJobError, or Redis down (the enqueue will then fail too)
        return False
