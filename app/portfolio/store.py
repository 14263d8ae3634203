"""The ``rebalances`` rows: written with the decision, advanced as the legs' orders end.

A rebalance goes ``pending_sells`` (its sells are on their way; its buys wait) → ``buying`` →
``complete`` or ``incomplete``, or is ``rejected`` at once (nothing ordered). ``advance`` moves
it, exactly once per step whoever calls it (the ``order.terminal`` follow-up, the scheduler's
sweep, a redelivered job): it locks the row, reads each ordered leg's outcome from its order,
and when every sell has ended writes the buys — decided again by the risk engine, re-sized to
the cash actually there (``decide.decide_buys``) — with their ``intent.ready`` events in the
same transaction. A leg that fails (denied, rejected by the venue, partly filled, no price)
leaves the others as they are and the rebalance ``incomplete`` with the reasons; the next
rebalance starts from the real holdings.

Every move is a ``rebalance.step`` event on the signal, so the signal's trace shows it.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from app import events
from app.db import unit_of_work
from app.domain.enums import Action, IntentStatus, Source
from app.domain.intents import client_order_id_for
from app.domain.orders import TERMINAL, OrderStatus
from app.domain.signal import Signal
from app.persistence.models import (
    OrderIntentRecord,
    OrderRecord,
    RebalanceRecord,
    RiskDecisionRecord,
    SignalRecord,
    Strategy,
)
from app.portfolio.decide import Decided, LegPart, decide_buys
from app.portfolio.legs import Price
from app.portfolio.market import RUNNING, running
from app.serialize import jsonable

log = logging.getLogger(__name__)
NAMESPACE = uuid.UUID("7c3e2b1a-64d5-4f0e-9b8a-2d4c6e8f1a35")
BUY_SEQUENCE = 1000  # buy intents come after the sells in the signal's trace
_ENDED_WELL = ("filled", "skipped")


def record(session: Session, signal_id: uuid.UUID, strategy_id: uuid.UUID, account_id: uuid.UUID,
           decided: Decided) -> uuid.UUID:
    """Write the rebalance of a recorded decision (its intents are written already, in the
    caller's transaction) and its ``rebalance.step`` ``decided``; returns its id."""
    intents = {(r.symbol, r.side): r for r in session.execute(
        select(OrderIntentRecord.id, OrderIntentRecord.symbol, OrderIntentRecord.side,
               OrderIntentRecord.client_order_id)
        .where(OrderIntentRecord.signal_id == signal_id, OrderIntentRecord.account_id == account_id))}
    legs = [_first_status(p, decided, intents.get((p.leg.symbol, p.leg.side.value))) for p in decided.parts]
    skipped = decided.plan.skipped if decided.plan else ()
    legs += [s.as_json() | {"status": "failed" if s.failed else "skipped"} for s in skipped]
    now = datetime.now(UTC)
    status = decided.status
    row = RebalanceRecord(
        id=uuid.uuid4(), signal_id=signal_id, account_id=account_id, strategy_id=strategy_id, venue=decided.venue,
        status=status, reason=decided.decision.reason, plan=jsonable(decided.figures), legs=jsonable(legs),
        created_at=now, updated_at=now)
    if status in ("complete", "rejected") or (status in RUNNING and not _open(legs)):
        _finish(row, legs, now)
    session.add(row)
    session.flush()
    _step(session, row, "decided")
    return row.id


@dataclass(frozen=True)
class Advanced:
    """What ``advance`` did: ``moved`` (the status changed) and in words."""

    moved: bool
    said: str


def advance(rebalance_id: uuid.UUID) -> Advanced:
    """Move the rebalance one step if its orders allow (see the module), in one transaction
    under the row's lock; a second call for the same step changes nothing."""
    with unit_of_work() as session:
        row = session.get(RebalanceRecord, rebalance_id, with_for_update=True, populate_existing=True)
        if row is None or row.status not in RUNNING:
            return Advanced(False, "nothing to do")
        legs = _refreshed(session, row.legs)
        still = _open(legs)
        if still:
            row.legs = jsonable(legs)
            return Advanced(False, f"rebalance {row.id}: waiting for {len(still)} order(s)")
        if row.status == "pending_sells" and any(leg["status"] == "planned" for leg in legs):
            legs = _write_buys(session, row, legs)
            if _open(legs):
                row.status, row.legs, row.updated_at = "buying", jsonable(legs), datetime.now(UTC)
                _step(session, row, "buys_written")
                return Advanced(True, f"rebalance {row.id}: {len(_open(legs))} buy(s) written")
        _finish(row, legs, datetime.now(UTC))
        _step(session, row, row.status)
        return Advanced(True, f"rebalance {row.id}: {row.status}")


def advance_account(account_id: uuid.UUID) -> str:
    """Advance the account's rebalance under way, if any (the ``order.terminal`` follow-up)."""
    with unit_of_work() as session:
        ids = session.execute(select(RebalanceRecord.id).where(
            RebalanceRecord.account_id == account_id, RebalanceRecord.status.in_(RUNNING))).scalars().all()
    return "; ".join(advance(i).said for i in ids) or "no rebalance under way"


def advance_running(limit: int = 100) -> int:
    """The scheduler's sweep: advance every rebalance under way (an ``order.terminal`` follow-up
    may have been lost with Redis). Returns how many moved to another status."""
    with unit_of_work() as session:
        ids = session.execute(select(RebalanceRecord.id).where(RebalanceRecord.status.in_(RUNNING))
                              .order_by(RebalanceRecord.created_at).limit(limit)).scalars().all()
    moved = 0
    for rebalance_id in ids:
        try:
            moved += advance(rebalance_id).moved
        except Exception:
            log.exception("rebalance %s could not advance; it stays as it was", rebalance_id)
    return moved


# --------------------------------------------------------------------------- legs
def _first_status(part: LegPart, decided: Decided, intent: Any) -> dict[str, Any]:
    """A leg as decided: ``ordered`` (its intent is written), ``planned`` (a buy waiting for the
    sells), ``denied`` by the engine, or ``failed`` when approved but no intent was written for
    this account (a mirror of the decision that refused it)."""
    if part in decided.written:
        if intent is None:
            return _leg_json(part, "failed") | {"reason": "no order intent was written for this account"}
        return _leg_json(part, "ordered", intent)
    return _leg_json(part, "planned" if part in decided.waiting else "denied")


def _leg_json(part: LegPart, status: str, intent: Any = None) -> dict[str, Any]:
    data = part.leg.as_json() | {"status": status, "reason": part.decision.reason}
    if status == "ordered" and part.decision.orders:
        data["quantity"] = sum((o.quantity for o in part.decision.orders), Decimal(0))
    if intent is not None:
        data |= {"intent_id": intent.id, "client_order_id": intent.client_order_id}
    return data


def _open(legs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [leg for leg in legs if leg["status"] == "ordered"]


_OUTCOMES = (
    select(OrderIntentRecord.id, OrderIntentRecord.status, OrderRecord.status.label("order_status"),
           OrderRecord.filled_quantity, OrderRecord.average_price, OrderRecord.reason, OrderRecord.quantity)
    .outerjoin(OrderRecord, OrderRecord.intent_id == OrderIntentRecord.id)
)


def _refreshed(session: Session, legs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The legs with each ordered one's outcome: ``filled`` (its order FILLED), ``failed``
    (nothing filled: denied at claim, rejected, cancelled), ``partial`` (ended part filled);
    still ``ordered`` while its order has not ended."""
    ids = [i for i in map(_ordered_intent, legs) if i is not None]
    found = {r.id: r for r in session.execute(_OUTCOMES.where(OrderIntentRecord.id.in_(ids)))} if ids else {}
    return [leg | _outcome(found[i]) if (i := _ordered_intent(leg)) in found else leg for leg in legs]


def _ordered_intent(leg: dict[str, Any]) -> uuid.UUID | None:
    return uuid.UUID(str(leg["intent_id"])) if leg["status"] == "ordered" and leg.get("intent_id") else None


def _outcome(row: Any) -> dict[str, Any]:
    ended = row.status == IntentStatus.FAILED.value or (row.order_status is not None
                                                         and OrderStatus(row.order_status) in TERMINAL)
    if not ended:
        return {}
    filled = row.filled_quantity or Decimal(0)
    status = "filled" if row.order_status == OrderStatus.FILLED.value else ("partial" if filled > 0 else "failed")
    reason = None if status == "filled" else (row.reason or f"order {row.order_status or 'not placed'}")
    return {"status": status, "order_status": row.order_status, "filled_quantity": filled,
            "average_price": row.average_price, "reason": reason}


def _write_buys(session: Session, row: RebalanceRecord, legs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decide the planned buys again (re-sized to the cash there now) and write the approved
    ones with their ``intent.ready``; each planned leg gets its new figures and status."""
    planned = [leg for leg in legs if leg["status"] == "planned"]
    weights = {a: Decimal(w) for a, w in (row.plan.get("weights") or {}).items()}
    decided = {a: Price(Decimal(p["bid"]), Decimal(p["ask"]), Decimal(p["mid"]), p["source"])
               for a, p in (row.plan.get("prices") or {}).items()}
    wanted = {leg["asset"]: Decimal(leg["wanted"]) for leg in planned}
    parts, plan, problem = decide_buys(session, row.strategy_id, row.account_id, _second_step_signal(session, row),
                                       weights, wanted, decided)
    by_asset = {p.leg.asset: p for p in parts}
    skipped = {s.asset: s for s in (plan.skipped if plan else ())}
    decision_id = session.execute(select(RiskDecisionRecord.id).where(
        RiskDecisionRecord.signal_id == row.signal_id, RiskDecisionRecord.account_id == row.account_id)).scalar_one()
    out = []
    for leg in legs:
        if leg["status"] != "planned":
            out.append(leg)
            continue
        part, skip = by_asset.get(leg["asset"]), skipped.get(leg["asset"])
        if part is not None:
            sequence = BUY_SEQUENCE + len(out)
            intent = _write_intent(session, row, decision_id, part, sequence) if part.decision.approved else None
            resized = jsonable(_leg_json(part, "ordered" if intent else "denied", intent))
            leg = resized | {k: leg[k] for k in ("weight_before", "drift_before")} | {"planned": _planned(leg)}
        else:
            why = skip.reason if skip else (problem or "no buy left once the sells were done")
            leg = leg | {"status": "failed" if (skip is None or skip.failed) else "skipped", "reason": why}
        out.append(leg)
    return out


def _planned(leg: dict[str, Any]) -> dict[str, Any]:
    """A buy leg's figures as first decided (before the re-sizing; its weight and drift
    before stay the decision's)."""
    return {k: leg.get(k) for k in ("quantity", "price", "notional", "fee")}


@dataclass(frozen=True)
class Written:
    """An intent written for a leg."""

    id: uuid.UUID
    client_order_id: str


def _write_intent(session: Session, row: RebalanceRecord, decision_id: uuid.UUID, part: LegPart,
                  sequence: int) -> Written:
    """The buy's intent (id derived from the rebalance and symbol: written at most once) and
    its ``intent.ready``."""
    plan = part.decision.orders[0]
    intent_id = uuid.uuid5(NAMESPACE, f"{row.id}:{part.leg.symbol}:buy")
    coid = client_order_id_for(intent_id)
    inserted = session.execute(pg_insert(OrderIntentRecord).values(
        id=intent_id, signal_id=row.signal_id, decision_id=decision_id, account_id=row.account_id, venue=row.venue,
        symbol=part.leg.symbol, side=plan.side.value, order_type=plan.order_type.value, quantity=plan.quantity,
        limit_price=plan.limit_price, reference_price=part.signal.price, time_in_force=None, reduce_only=plan.reduce_only,
        stop_loss=None, take_profit=None, sequence=sequence, client_order_id=coid,
        status=IntentStatus.PENDING.value, created_at=datetime.now(UTC), attempts=0, purpose="entry",
    ).on_conflict_do_nothing().returning(OrderIntentRecord.id)).scalar_one_or_none()
    if inserted is not None:
        events.emit(session, events.INTENT_READY, {"intent_id": str(intent_id), "venue": row.venue},
                    signal_id=row.signal_id, job_id=coid)
    return Written(intent_id, coid)


def _second_step_signal(session: Session, row: RebalanceRecord) -> Signal:
    """The signal the buys are decided on: the rebalance's source and strategy, no signal time."""
    source, strategy = session.execute(select(SignalRecord.source, Strategy.name).join(
        Strategy, Strategy.id == SignalRecord.strategy_id).where(SignalRecord.id == row.signal_id)).one()
    return Signal(source=Source(source), strategy=strategy, dialect="tradewire", idempotency_key=f"rebalance:{row.id}",
                  symbol="*", raw_symbol="*", action=Action.BUY)


def _finish(row: RebalanceRecord, legs: list[dict[str, Any]], now: datetime) -> None:
    """``complete`` when every leg filled (or was too small to order), else ``incomplete`` with
    the reasons (``rejected`` stays)."""
    problems = [f"{leg['symbol']} {leg.get('side') or ''}: {leg['status']}" + (f": {leg['reason']}" if leg.get("reason")
                                                                              else "")
                for leg in legs if leg["status"] not in _ENDED_WELL]
    if row.status != "rejected":
        row.status = "complete" if not problems else "incomplete"
        row.reason = "; ".join(problems) or row.reason
    row.legs, row.updated_at, row.finished_at = jsonable(legs), now, now


def _step(session: Session, row: RebalanceRecord, step: str) -> None:
    """The move in the signal's trace: ``rebalance.step`` with the legs in words."""
    legs = [f"{leg['symbol']} {leg.get('side') or ''} {leg.get('quantity')}: {leg['status']}"
            + (f" ({leg['reason']})" if leg.get("reason") and leg["status"] not in _ENDED_WELL else "")
            for leg in row.legs]
    events.emit(session, events.REBALANCE_STEP, jsonable({
        "rebalance_id": row.id, "step": step, "account_id": row.account_id, "venue": row.venue,
        "status": row.status, "reason": row.reason, "legs": legs}), signal_id=row.signal_id)
    log.info("rebalance %s: %s (%s)", row.id, step, row.status)


def describe(payload: dict[str, Any]) -> str:
    """The ``rebalance.step`` handler: the move is written already (with the step)."""
    return f"rebalance {payload.get('rebalance_id')}: {payload.get('step')} ({payload.get('status')})"
