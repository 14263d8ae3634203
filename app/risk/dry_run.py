"""Dry run: what a payload would order, without ordering or recording anything."""

from typing import Any

from sqlalchemy.orm import Session

from app.domain.enums import Action
from app.domain.intents import OrderPlan
from app.domain.signal import Signal
from app.persistence.repositories import StrategyRef
from app.portfolio.decide import decide
from app.risk.engine import evaluate
from app.risk.state import load_context
from app.routing.service import Route, RouteCheck, decide_route, route_of


def _order(symbol: str, o: OrderPlan) -> dict[str, Any]:
    """One order of a dry run's answer: quantity after the venue's precision (base units),
    price and notional (quote)."""
    return {"symbol": symbol, "side": o.side.value, "type": o.order_type.value, "quantity": o.quantity,
            "limit_price": o.limit_price, "price": o.price, "notional": o.notional, "reduce_only": o.reduce_only} | (
        {"position_side": o.position_side.value} if o.position_side else {})


def rebalance_dry_run(session: Session, strategy: StrategyRef, signal: Signal) -> dict[str, Any]:
    """A ``rebalance``'s legs as the decision would make them (``app.portfolio.decide``, without
    locks or waits), each with the engine's answer: symbol, side, base quantity after the
    venue's precision, price, notional and fee (quote), weights and drift before / after, and
    whether it is ordered at once (the sells; the buys when there is no sell) or after the
    sells (``waits``). The session is rolled back: nothing is recorded."""
    try:
        decided = decide(session, strategy.id, strategy.account_id, signal, lock=False, wait=False)
    finally:
        session.rollback()
    legs = [p.leg.as_json() | {"approved": p.decision.approved, "reason": p.decision.reason,
                                "waits": p in decided.waiting} for p in decided.parts]
    plan = decided.plan
    return {
        "strategy": strategy.name, "account": strategy.account_name, "signal": signal.summary(),
        "approved": decided.decision.approved, "reason": decided.decision.reason, "status": decided.status,
        "checks": [c.as_json() for c in decided.decision.checks], "rebalance": decided.figures,
        "legs": legs, "skipped": [s.as_json() for s in plan.skipped] if plan else [],
        "orders": [_order(p.signal.symbol, o) for p in decided.written for o in p.decision.orders],
    }


def dry_run(session: Session, strategy: StrategyRef, signal: Signal) -> dict[str, Any]:
    """Run the risk engine on ``strategy``'s account for an already parsed ``signal`` and
    return the decision with the exact orders: symbol, side, type, quantity after the venue's
    precision (base units), price and notional (quote). The session is rolled back: nothing
    is recorded. A routed strategy (``route``) answers its venue group's costs and choice too."""
    if signal.action == Action.REBALANCE:  # an account's holdings, not one order to route
        return rebalance_dry_run(session, strategy, signal)
    route = route_of(session, strategy.id)
    if route is not None:
        return routed_dry_run(session, strategy, signal, route)
    try:
        loaded = load_context(session, strategy.account_id, strategy.id, signal, lock=False)
        decision = evaluate(loaded.context)
    finally:
        session.rollback()
    return {
        "strategy": strategy.name,
        "account": strategy.account_name,
        "signal": signal.summary(),
        "approved": decision.approved,
        "reason": decision.reason,
        "checks": [c.as_json() for c in decision.checks],
        "orders": [_order(signal.symbol, o) for o in decision.orders],
    }


def routed_dry_run(session: Session, strategy: StrategyRef, signal: Signal, route: Route) -> dict[str, Any]:
    """The dry run of a routed strategy (``dry_run``'s answer, plus ``route``): every
    account's costs and the choice, the orders with the ``account`` each goes to. Nothing is
    locked, waited for or recorded (the session is rolled back)."""
    try:
        routed = decide_route(session, strategy, signal, route, lock=False)
    finally:
        session.rollback()
    names = {m.account_id: m.account_name for m in route.members}
    approved = [r for r in routed if r.decision.approved]
    shown = (approved or routed)[0]
    reason = None
    if not approved:
        reason = "; ".join(f"{names[r.account_id]}: {r.decision.reason}" for r in routed) if len(routed) > 1 \
            else routed[0].decision.reason
    return {
        "strategy": strategy.name,
        "account": names[shown.account_id],
        "signal": signal.summary(),
        "approved": bool(approved),
        "reason": reason,
        "checks": [c.as_json() for c in shown.decision.checks],
        "orders": [{"account": names[r.account_id]} | _order(signal.symbol, o)
                   for r in approved for o in r.decision.orders],
        "route": next((c.route for r in routed for c in r.decision.checks if isinstance(c, RouteCheck)), None),
    }
