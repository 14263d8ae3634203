"""The shadow's branch of a signal, built at ingest from the live account's decision.

Written in the same transaction as the live decision (``app.ingest.service._record``), like a
fan-out account's branch: the shadow exists exactly when the live decision does (no crash
window in which a live order has no shadow, no second transaction per signal), and the relay
queues both after the one commit. What this costs the live order: one indexed query, made only
for an approved live decision, and a few more rows in the ingest statement. No lock is taken on
the shadow account (the live account's lock, held to commit, already orders its signals), its
intents go to the ``paper`` queue, and a shadow that is refused (a halted shadow account, or an
insufficient paper balance when the paper venue executes) leaves the live branch as it is.

The mirrored orders are the live decision's ``OrderPlan``s unchanged: side, type, limit price,
reduce-only and the quantity after the live venue's precision. The shadow account's own sizing
and limits are not applied (it answers what the same order would have cost on paper), except
its trading state: HALTED mirrors nothing, REDUCING only reduce-only orders.

The outcome objects are ``app.ingest.service``'s ``Outcome`` / ``Part`` / ``Subscriber``,
copied with ``dataclasses.replace`` so this module does not import ingest back.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.domain.enums import TradingState
from app.domain.intents import CheckOutcome, OrderPlan, RiskDecision
from app.domain.money import fmt
from app.persistence.models import RiskDecisionRecord
from app.persistence.repositories import StrategyRef

SHADOW_CHECK = "shadow"  # the one check of a shadow decision; its data names the live account
PAPER = "paper"
# Decisions of a shadow account: statistics of the live strategy leave them out.
SHADOW_DECISION = RiskDecisionRecord.checks.contains([{"check": SHADOW_CHECK}])

# ``strategies.settings.shadow`` holds the shadow account's name (``shadow = true`` is resolved
# to ``NAME-shadow`` when the file is read); false or absent: no shadow.
_SHADOW_ACCOUNT = text(
    "SELECT a.id, a.name, a.trading_state FROM strategies s "
    "JOIN accounts a ON a.name = s.settings ->> 'shadow' AND a.venue = 'paper' "
    "WHERE s.id = :strategy_id AND jsonb_typeof(s.settings -> 'shadow') = 'string'"
)


@dataclass(frozen=True)
class ShadowAccount:
    """The paper account shadowing a strategy, and its trading state (``TradingState`` value)."""

    id: uuid.UUID
    name: str
    trading_state: str


def shadow_account(session: Session, strategy_id: uuid.UUID) -> ShadowAccount | None:
    """The strategy's shadow account, None when it has none (or the account is not a paper one)."""
    row = session.connection().execute(_SHADOW_ACCOUNT, {"strategy_id": strategy_id}).first()
    return ShadowAccount(row[0], row[1], row[2]) if row is not None else None


def shadow_outcomes(session: Session, strategy: StrategyRef, outcomes: Sequence[Any]) -> list[Any]:
    """The shadow's outcome to add to ``outcomes`` (``app.ingest.service.Outcome``s, one per
    subscribed account): ``[]`` unless the strategy has a shadow and its primary account's
    decision was approved, else one outcome mirroring that decision on the shadow account.
    A rebalance (``app.portfolio``) is not mirrored: its buys are written later, by a follow-up
    of the live account's own plan."""
    live = next((o for o in outcomes if o.subscriber.account_id == strategy.account_id), None)
    if live is None or not live.decision.approved or getattr(live, "rebalance", None) is not None:
        return []
    shadow = shadow_account(session, strategy.id)
    if shadow is None or any(o.subscriber.account_id == shadow.id for o in outcomes):
        return []
    return [mirror(live, shadow)]


def mirror(live: Any, shadow: ShadowAccount) -> Any:
    """``live``'s outcome on ``shadow``: each approved part with the same signal and the same
    orders (those the shadow's trading state lets through), under one ``shadow`` check whose
    data names the live account. Denied when orders were asked and none may be mirrored."""
    parts, kept_all, dropped_all = [], [], []
    for part in live.parts:
        if not part.decision.approved:
            continue
        kept, dropped = _allowed(part.decision.orders, shadow.trading_state)
        kept_all += kept
        dropped_all += dropped
        if kept or not part.decision.orders:
            parts.append((part, tuple(kept)))
    check = _check(live.subscriber, shadow, kept_all, dropped_all)
    decision = RiskDecision(check.passed, (check,), tuple(kept_all), check.reason)
    mirrored = tuple(
        replace(part, loaded=replace(part.loaded, account_id=shadow.id, venue=PAPER),
                decision=replace(part.decision, checks=(check,), orders=kept, reason=None, trading_state_change=None))
        for part, kept in parts
    ) if check.passed else ()
    subscriber = replace(live.subscriber, account_id=shadow.id, account_name=shadow.name, multiplier=Decimal(1),
                         max_leverage=None, account_wide_lock=False, risk_reads=None)
    loaded = mirrored[0].loaded if mirrored else None
    return replace(live, subscriber=subscriber, loaded=loaded, decision=decision, parts=mirrored, venue=PAPER)


def _allowed(orders: Sequence[OrderPlan], state: str) -> tuple[list[OrderPlan], list[OrderPlan]]:
    """(mirrored, refused) by the shadow account's trading state."""
    if state == TradingState.ACTIVE:
        return list(orders), []
    if state == TradingState.REDUCING:
        return [o for o in orders if o.reduce_only], [o for o in orders if not o.reduce_only]
    return [], list(orders)


def _check(live: Any, shadow: ShadowAccount, kept: list[OrderPlan], dropped: list[OrderPlan]) -> CheckOutcome:
    data = {"live_account": live.account_name, "live_account_id": str(live.account_id)}
    if dropped and not kept:
        return CheckOutcome(SHADOW_CHECK, False, f"shadow account {shadow.name} is {shadow.trading_state}: "
                            f"{_orders(dropped)} not mirrored", data=data)
    detail = f"mirrors {live.account_name}'s approved orders, same quantities: {_orders(kept) or 'no order'}"
    if dropped:
        detail += f"; not mirrored ({shadow.name} is {shadow.trading_state}): {_orders(dropped)}"
    return CheckOutcome(SHADOW_CHECK, True, detail=detail, data=data)


def _orders(plans: Sequence[OrderPlan]) -> str:
    return ", ".join(f"{p.side.value} {fmt(p.quantity)} {p.order_type.value}"
                     + (f" at {fmt(p.limit_price)}" if p.limit_price is not None else "")
                     + (" reduce-only" if p.reduce_only else "") for p in plans)
