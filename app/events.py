"""Events: every state change that causes more work writes one, in the same transaction.

The transactional outbox, generalised (DESIGN.md, "Events"). ``emit`` inserts an ``events``
row through the caller's session and remembers it; when that session commits, the installed
dispatcher (``app.jobs.relay``, installed by every process at start) turns the remembered
events into RQ jobs with deterministic ids. Nothing is lost when Redis or the process dies
between commit and dispatch: the relay's periodic sweep dispatches whatever is still waiting.
A rollback discards them with the change they described.

This module sits at the bottom of the stack (it knows rows, not jobs), so any stage may emit
without importing anything above it.

Kinds (``payload`` holds ids and plain values, JSON-ready):

- ``intent.ready`` {intent_id, venue}: an order intent may be executed (job id: its client order id)
- ``order.terminal`` / ``order.accepted`` {order_id, account_id, symbol, venue}: the order no
  longer holds its symbol's line; the next intent in line may run
- ``entry.filled`` {intent_id, order_id, account_id, venue}: place the entry's protective orders
- ``position.flat`` {account_id, symbol, venue}: cancel the symbol's open protective orders
- ``cancel.requested`` {account_id, symbol, venue}: the ``cancel`` action
- ``notification`` {kind, payload}: deliver to the subscribed channels
- ``ladder.step`` {ladder_id, step, account_id, symbol, venue, ...}: one move of an exit ladder
  (started, resized, take_profit, break_even, trailing_raised, stop_loss, trailing_exit,
  cancelled; native ladders also order_placed, order_cancelled), written with the move itself
  (``app.followups.ladder``, ``app.followups.native_ladder``); its handler only marks it
- ``ladder.order`` {ladder_id, order_id, account_id, symbol, venue, status}: an order of a native
  exit ladder changed state (acknowledged, filled, cancelled); the ladder moves on it (``app.followups.native_ladder.on_order``)
- ``rebalance.step`` {rebalance_id, step, account_id, venue, status, legs, ...}: a rebalance moved
  (decided, buys_written, complete, incomplete; ``app.portfolio.store``), written with the move
  itself; its handler only marks it
"""

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from app.persistence.models import EventRecord

log = logging.getLogger(__name__)

INTENT_READY = "intent.ready"
ORDER_TERMINAL = "order.terminal"
ORDER_ACCEPTED = "order.accepted"
ENTRY_FILLED = "entry.filled"
POSITION_FLAT = "position.flat"
CANCEL_REQUESTED = "cancel.requested"
NOTIFICATION = "notification"
LADDER_STEP = "ladder.step"
LADDER_ORDER = "ladder.order"
REBALANCE_STEP = "rebalance.step"
KINDS = (INTENT_READY, ORDER_TERMINAL, ORDER_ACCEPTED, ENTRY_FILLED, POSITION_FLAT, CANCEL_REQUESTED, NOTIFICATION,
         LADDER_STEP, LADDER_ORDER, REBALANCE_STEP)
# Kinds whose outcome is visible elsewhere (the intent's status, the next intent's): no job
# of their own to track, so they are never marked handled.
UNTRACKED = frozenset({INTENT_READY, ORDER_TERMINAL, ORDER_ACCEPTED})

_PENDING = "app.events.pending"


@dataclass(frozen=True)
class Emitted:
    """An event as the relay needs it: plain values, no session."""

    id: uuid.UUID
    kind: str
    job_id: str
    payload: dict[str, Any]


def event_job_id(event_id: uuid.UUID) -> str:
    """The RQ job id of an event's handler: one job per event, whoever dispatches it."""
    return f"ev-{event_id.hex}"


def new_event(kind: str, payload: dict[str, Any], *, job_id: str | None = None) -> Emitted:
    """An event not yet written (for statements that insert events themselves, as ingest's CTE)."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    event_id = uuid.uuid4()
    return Emitted(event_id, kind, job_id or event_job_id(event_id), payload)


def emit(
    session: Session, kind: str, payload: dict[str, Any], *, signal_id: uuid.UUID | None = None,
    order_id: uuid.UUID | None = None, job_id: str | None = None,
) -> Emitted:
    """Write an event in ``session``'s transaction; it is dispatched after commit."""
    emitted = new_event(kind, payload, job_id=job_id)
    session.execute(insert(EventRecord).values(
        id=emitted.id, kind=kind, payload=payload, signal_id=signal_id, order_id=order_id, job_id=emitted.job_id,
        created_at=datetime.now(UTC),
    ))
    remember(session, (emitted,))
    return emitted


def remember(session: Session, emitted: Iterable[Emitted]) -> None:
    """Dispatch these events (written by the caller in ``session``) once it commits."""
    session.info.setdefault(_PENDING, []).extend(emitted)


Dispatcher = Callable[[list[Emitted]], None]
_dispatcher: Dispatcher | None = None


def set_dispatcher(dispatcher: Dispatcher | None) -> None:
    """Install the function that turns committed events into jobs (``app.jobs.relay.install``)."""
    global _dispatcher
    _dispatcher = dispatcher


def dispatch_now(emitted: list[Emitted]) -> None:
    """Hand events to the dispatcher now (they are committed already). Never raises: the
    relay's sweep dispatches whatever this could not."""
    if not emitted or _dispatcher is None:
        return
    try:
        _dispatcher(emitted)
    except Exception:
        log.warning("dispatch of %d event(s) failed; the relay's sweep will retry", len(emitted), exc_info=True)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    dispatch_now(session.info.pop(_PENDING, []))


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
