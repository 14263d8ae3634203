"""The scheduler's rebalance triggers, for strategies with a ``[portfolio]`` table:

* ``every = "1d"``: when that long has passed since the strategy's last rebalance (or it has
  none), a rebalance to its weights;
* ``on_drift = true``: at most every ``DRIFT_CHECK_SECONDS``, the legs to its weights are
  computed from market data (quotes only, no reference prices) as the decision would, and when
  some asset has drifted beyond the threshold enough to order (a leg at or above the venue's
  minimum), a rebalance — at most once per ``drift_cooldown`` after the strategy's last one.

Never while a rebalance of the strategy, or on its account, is under way. A trigger is Tradewire's canonical
rebalance message ingested as a signal of the strategy with source ``schedule``
(``entry.ingest_request``, the path of every signal: recorded, decided, traced), whose
idempotency key names the period (``schedule:1d:2026-01-02T00:00:00+00:00``) or the minute
(drift), so two schedulers never trigger twice. The scheduler also sweeps the rebalances under
way (``store.advance_running``), in case an order's follow-up was lost.
"""

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.config_file import PortfolioConfig, duration_seconds
from app.db import get_sessionmaker
from app.domain.enums import Action, Source
from app.domain.signal import Signal
from app.errors import NotFound
from app.ingest.auth import strategy_by_name
from app.ingest.entry import Admitted, ingest_request
from app.ingest.received import Received
from app.persistence.models import RebalanceRecord, Strategy
from app.portfolio import decide, store
from app.portfolio.market import RUNNING

log = logging.getLogger(__name__)
DRIFT_CHECK_SECONDS = 60.0
_last_checked: dict[uuid.UUID, datetime] = {}


@dataclass(frozen=True)
class Due:
    """A strategy whose rebalance is due now, why (``schedule`` or ``drift``), its target weights."""

    strategy: str
    trigger: str
    key: str
    comment: str
    weights: dict[str, Decimal]


def tick(now: datetime) -> int:
    """One scheduler pass: trigger what is due (``run_due``) and sweep the rebalances under way.
    Returns how many rebalances were triggered."""
    triggered = run_due(now)
    store.advance_running()
    return triggered


def run_due(now: datetime, *, last_checked: dict[uuid.UUID, datetime] | None = None) -> int:
    """Ingest a rebalance signal for every strategy due at ``now`` (UTC; see the module);
    returns how many were recorded (not counting duplicates). ``last_checked``: drift checks
    by strategy id (default: this process's)."""
    checked = _last_checked if last_checked is None else last_checked
    recorded = 0
    for due in due_at(now, checked):
        try:
            recorded += _trigger(due)
        except Exception:
            log.exception("rebalance of strategy %s (%s) not triggered; retrying next pass", due.strategy, due.trigger)
    return recorded


_PORTFOLIOS = (
    select(Strategy.id, Strategy.name, Strategy.account_id, Strategy.settings["portfolio"])
    .where(Strategy.enabled.is_(True), func.jsonb_typeof(Strategy.settings["portfolio"]) == "object")
    .order_by(Strategy.name)
)


def due_at(now: datetime, checked: dict[uuid.UUID, datetime]) -> list[Due]:
    """The strategies whose rebalance is due at ``now`` (read-only)."""
    session = get_sessionmaker()()
    try:
        found = []
        for strategy_id, name, account_id, raw in session.execute(_PORTFOLIOS):
            portfolio = PortfolioConfig.model_validate(raw)
            if not (portfolio.every or portfolio.on_drift) or not portfolio.weights:
                continue
            if _busy(session, strategy_id, account_id):
                continue
            due = _due(session, now, strategy_id, name, account_id, portfolio, checked)
            if due is not None:
                found.append(due)
        return found
    finally:
        session.rollback()
        session.close()


def _due(session: Session, now: datetime, strategy_id: uuid.UUID, name: str, account_id: uuid.UUID,
         portfolio: PortfolioConfig, checked: dict[uuid.UUID, datetime]) -> Due | None:
    last = session.execute(select(func.max(RebalanceRecord.created_at)).where(
        RebalanceRecord.strategy_id == strategy_id)).scalar_one_or_none()
    if portfolio.every:
        period = duration_seconds(portfolio.every)
        if last is None or now - last >= timedelta(seconds=period):
            start = datetime.fromtimestamp(int(now.timestamp()) // period * period, UTC)
            return Due(name, "schedule", f"schedule:{portfolio.every}:{start.isoformat()}",
                       f"schedule: every {portfolio.every}", portfolio.weights)
    if not portfolio.on_drift or (last is not None and now - last < timedelta(
            seconds=duration_seconds(portfolio.drift_cooldown))):
        return None
    previous = checked.get(strategy_id)
    if previous is not None and (now - previous).total_seconds() < DRIFT_CHECK_SECONDS:
        return None
    checked[strategy_id] = now
    drifted = _drifted(session, strategy_id, name, account_id, portfolio, now)
    if drifted is None:
        return None
    return Due(name, "drift", f"drift:{now.replace(second=0, microsecond=0).isoformat()}", f"drift: {drifted}",
               portfolio.weights)


def _busy(session: Session, strategy_id: uuid.UUID, account_id: uuid.UUID) -> bool:
    """A rebalance of the strategy, or on its account, is under way."""
    return session.execute(select(RebalanceRecord.id).where(
        or_(RebalanceRecord.strategy_id == strategy_id, RebalanceRecord.account_id == account_id),
        RebalanceRecord.status.in_(RUNNING)).limit(1)).first() is not None


def _drifted(session: Session, strategy_id: uuid.UUID, name: str, account_id: uuid.UUID, portfolio: PortfolioConfig,
             now: datetime) -> str | None:
    """What drifted enough to order (the legs in words), or None: the decision's own planning
    on the strategy's primary account, market prices only, no locks."""
    signal = Signal(source=Source.SCHEDULE, strategy=name, dialect="tradewire", idempotency_key=f"drift-check:{now}",
                    symbol="*", raw_symbol="*", action=Action.REBALANCE, weights=portfolio.weights)
    decided = decide.decide(session, strategy_id, account_id, signal, lock=False, wait=False)
    session.rollback()
    ordered = [p.leg for p in decided.parts if p.decision.approved]
    if not ordered:
        return None
    return ", ".join(f"{leg.symbol} {leg.drift_before * 100:+.2f} pp" for leg in ordered)


def _trigger(due: Due) -> int:
    """Ingest the strategy's rebalance signal (weights from its configuration); 1 if recorded."""
    body = json.dumps({"tradewire": 1, "action": Action.REBALANCE.value, "idempotency_key": due.key,
                       "weights": {a: str(w) for a, w in due.weights.items()}, "comment": due.comment}).encode()
    received = Received.read(body, source=Source.SCHEDULE, content_type="application/json", dialect="tradewire")

    def admit(session: Session, _: Received) -> Admitted:
        ref = strategy_by_name(session, due.strategy)
        if ref is None:
            raise NotFound(f"strategy {due.strategy!r} is gone or disabled")
        return Admitted(ref)

    outcome = ingest_request(received, admit)
    status = getattr(outcome, "status", None)
    log.info("rebalance of %s triggered by %s: %s", due.strategy, due.trigger, status or outcome)
    return 0 if outcome is None or str(getattr(status, "value", status)) == "duplicate" else 1
