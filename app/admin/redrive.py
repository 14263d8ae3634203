"""Re-drive an intent that did not reach a known outcome. Never sends blindly:

- ``failed`` and no order live on the venue (no order, or the venue REJECTED / we DENIED it):
  a fresh ``pending`` copy is written — same signal, decision, side, quantity and prices, a
  new id and so a new client order id — and queued. The copy's id is derived from the
  original's (uuid5), so re-driving the same intent twice is refused instead of ordering
  twice; if the copy fails too, re-drive the copy. The risk engine is not run again, except
  that a HALTED account refuses the copy and a REDUCING one refuses a copy that is not
  reduce-only. The copy runs after the signal's other intents (its sequence is the last).
- in doubt (``submitting`` with its order still SUBMITTED or marked in doubt: the send's
  outcome is unknown) or ``pending``: its own job is queued again, under the same client
  order id, so the worker looks the order up by that id before anything is sent again.
  Refused while that job is queued or running.
- anything else (``done``, an order live on the venue): 409, with what to do instead.
"""

import uuid
from typing import Any

from fastapi import APIRouter
from rq.job import Job, JobStatus
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from app.admin.schemas import RedriveAnswer
from app.deps import SessionDep
from app import events
from app.domain.enums import IntentStatus, TradingState
from app.domain.intents import client_order_id_for
from app.domain.orders import OrderStatus
from app.errors import Conflict, NotFound
from app.jobs.queue import JOB_SERIALIZER, get_redis
from app.persistence.models import Account, OrderIntentRecord, OrderRecord

router = APIRouter()
REDRIVE_NAMESPACE = uuid.UUID("6f1c1f5e-3c2a-4a8e-9d57-7a51e0d4a0b1")
NOT_ON_VENUE = frozenset({OrderStatus.REJECTED, OrderStatus.DENIED, OrderStatus.INITIALIZED})
_LIVE_JOB = frozenset({JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED})
_NOT_COPIED = frozenset({"id", "client_order_id", "status", "created_at", "enqueued_at", "claimed_at", "attempts",
                         "sequence"})


@router.post("/intents/{intent_id}/redrive", summary="Re-drive a failed or in-doubt intent (never sends blindly)",
             response_model=RedriveAnswer,
             responses={404: {"description": "No such intent."},
                        409: {"description": "Not re-drivable now; the message says why and what to do."}})
def post_redrive(intent_id: uuid.UUID, session: SessionDep) -> RedriveAnswer:
    """``copied``: a failed intent with no order on the venue got a fresh copy (new client
    order id), queued. ``re-enqueued``: an in-doubt or pending intent's own job was queued
    again; the worker resolves it by its client order id first."""
    with session.begin():
        answer = redrive(session, intent_id)
        ready = answer.new_intent_id or answer.intent_id
        events.emit(session, events.INTENT_READY, {"intent_id": str(ready), "venue": answer.venue},
                    signal_id=session.get(OrderIntentRecord, intent_id).signal_id, job_id=answer.client_order_id)
    return answer


def redrive(session: Session, intent_id: uuid.UUID) -> RedriveAnswer:
    """Decide and write (in the caller's transaction) what re-driving ``intent_id`` means; the
    caller writes the ``intent.ready`` event. Raises ``NotFound`` or ``Conflict``."""
    intent = session.execute(
        select(OrderIntentRecord).where(OrderIntentRecord.id == intent_id).with_for_update()
    ).scalar_one_or_none()
    if intent is None:
        raise NotFound(f"no intent {intent_id}")
    order = session.execute(select(OrderRecord).where(OrderRecord.intent_id == intent_id)).scalar_one_or_none()
    if intent.status == IntentStatus.FAILED.value:
        if order is not None and order.status not in NOT_ON_VENUE:
            raise Conflict(f"intent {intent_id} failed but its order is {order.status} on {order.venue}; "
                           "cancel it or let the reconciler settle it")
        return _copy(session, intent)
    if intent.status == IntentStatus.PENDING.value or _in_doubt(intent, order):
        if _job_is_live(intent.client_order_id):
            raise Conflict(f"the job of intent {intent_id} is queued or running; wait for it")
        return RedriveAnswer(action="re-enqueued", intent_id=intent.id, new_intent_id=None,
                             client_order_id=intent.client_order_id, venue=intent.venue, status=intent.status)
    state = order.status if order is not None else intent.status
    raise Conflict(f"intent {intent_id} is {intent.status} (order {state}): nothing to re-drive; "
                   "send a new signal to trade again")


def _in_doubt(intent: OrderIntentRecord, order: OrderRecord | None) -> bool:
    if intent.status != IntentStatus.SUBMITTING.value:
        return False
    return order is None or order.status == OrderStatus.SUBMITTED or getattr(order, "in_doubt_since", None) is not None


def _copy(session: Session, intent: OrderIntentRecord) -> RedriveAnswer:
    _check_trading_state(session, intent)
    copy_id = uuid.uuid5(REDRIVE_NAMESPACE, str(intent.id))
    last = session.execute(
        select(func.max(OrderIntentRecord.sequence)).where(OrderIntentRecord.signal_id == intent.signal_id)
    ).scalar_one()
    values: dict[str, Any] = {
        c.key: getattr(intent, c.key) for c in OrderIntentRecord.__table__.columns if c.key not in _NOT_COPIED
    }
    values |= {"id": copy_id, "client_order_id": client_order_id_for(copy_id), "status": IntentStatus.PENDING.value,
               "sequence": last + 1, "attempts": 0}
    inserted = session.execute(
        pg_insert(OrderIntentRecord).values(**values).on_conflict_do_nothing().returning(OrderIntentRecord.id)
    ).scalar_one_or_none()
    if inserted is None:
        raise Conflict(f"intent {intent.id} was re-driven already as intent {copy_id}; re-drive that one if it failed")
    return RedriveAnswer(action="copied", intent_id=intent.id, new_intent_id=copy_id,
                         client_order_id=values["client_order_id"], venue=intent.venue, status=IntentStatus.PENDING)


def _check_trading_state(session: Session, intent: OrderIntentRecord) -> None:
    account = session.get(Account, intent.account_id)
    state = TradingState(account.trading_state) if account else TradingState.HALTED
    if state == TradingState.HALTED or (state == TradingState.REDUCING and not intent.reduce_only):
        raise Conflict(f"account is {state.value}: a copy of this intent would not pass the trading-state check; "
                       "set it ACTIVE first")


def _job_is_live(job_id: str) -> bool:
    try:
        return Job.fetch(job_id, connection=get_redis(), serializer=JOB_SERIALIZER).get_status() in _LIVE_JOB
    except Exception:  # NoSuchJobError; Redis down (then the enqueue fails and the sweeper retries)
        return False
