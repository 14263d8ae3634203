"""An exit ladder's row and its trace, shared by the emulated (``app.followups.ladder``) and
the native (``app.followups.native_ladder``) ladders: the row as a ``LadderState`` and back,
the compare-and-set write (one trigger acts once), and the ``ladder.step`` event with its
``exit_ladder`` notification."""

import logging
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import events
from app.domain import ladder as model
from app.domain.enums import OrderSide
from app.notify import notify_on_commit, plain
from app.execution.ledger import NET
from app.persistence.models import ExitLadderRecord, PositionRecord

log = logging.getLogger("app.followups.ladder")


def position_gone(session: Session, row: ExitLadderRecord) -> bool:
    """The position the ladder protects (the net one, or in hedge mode its side's) is flat or reversed."""
    quantity = session.execute(select(PositionRecord.quantity).where(
        PositionRecord.account_id == row.account_id, PositionRecord.symbol == row.symbol,
        PositionRecord.position_side == (row.position_side or NET))).scalar_one_or_none()
    quantity = quantity or Decimal(0)
    return quantity <= 0 if row.side == OrderSide.BUY.value else quantity >= 0


def state_of(row: ExitLadderRecord) -> model.LadderState:
    return model.LadderState(OrderSide(row.side), row.entry_price, row.quantity, row.closed, row.taken, row.stop,
                             row.trail, row.best, row.status)


def columns(state: model.LadderState) -> dict[str, Any]:
    return {"status": state.status, "entry_price": state.entry_price, "quantity": state.quantity,
            "closed": state.closed, "taken": state.taken, "stop": state.stop, "trail": state.trail, "best": state.best}


def write(session: Session, row: ExitLadderRecord, state: model.LadderState,
          orders: dict[str, Any] | None = None) -> bool:
    """``row`` becomes ``state`` (and, native, its ``orders``) if nobody changed it since it
    was read (its version) and it is still active. The row is detached afterwards, holding
    what was written."""
    values = columns(state) | ({"orders": orders} if orders is not None else {})
    written = session.execute(
        update(ExitLadderRecord)
        .where(ExitLadderRecord.id == row.id, ExitLadderRecord.version == row.version,
               ExitLadderRecord.status == model.ACTIVE)
        .values(**values, version=row.version + 1)
        .returning(ExitLadderRecord.version)
    ).scalar_one_or_none()
    if written is None:
        return False
    for key, value in (values | {"version": written}).items():
        setattr(row, key, value)
    if row in session:
        session.expunge(row)  # the statement wrote it; the ORM must not write it again
    return True


def record(session: Session, row: ExitLadderRecord, step_kind: str, detail: dict[str, Any]) -> None:
    """The move in the signal's trace (``ladder.step``) and as an ``exit_ladder`` notification."""
    payload = plain({"ladder_id": row.id, "step": step_kind, "account_id": row.account_id, "symbol": row.symbol,
                     "venue": row.venue, "mode": row.mode if row.mode != "emulated" else None,
                     **{k: v for k, v in detail.items() if v is not None}})
    payload = {k: v for k, v in payload.items() if v is not None}
    events.emit(session, events.LADDER_STEP, payload, signal_id=row.signal_id)
    notify_on_commit(session, "exit_ladder", payload)
    log.info("exit ladder %s: %s", row.id, step_kind, extra={"detail": payload})
