"""Dry run: what a payload would order, without ordering or recording anything."""

from typing import Any

from sqlalchemy.orm import Session

from app.domain.signal import Signal
from app.persistence.repositories import StrategyRef
from app.risk.engine import evaluate
from app.risk.state import load_context


def dry_run(session: Session, strategy: StrategyRef, signal: Signal) -> dict[str, Any]:
    """Run the risk engine on ``strategy``'s account for an already parsed ``signal`` and
    return the decision with the exact orders: symbol, side, type, quantity after the venue's
    precision (base units), price and notional (quote). The session is rolled back: nothing
    is recorded."""
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
        "orders": [
            {
                "symbol": signal.symbol,
                "side": o.side.value,
                "type": o.order_type.value,
                "quantity": o.quantity,
                "limit_price": o.limit_price,
                "price": o.price,
                "notional": o.notional,
                "reduce_only": o.reduce_only,
            }
            for o in decision.orders
        ],
    }
