"""A signal's full trace: decision → intents → orders (with events) → fills, and a timeline
of received → decided → enqueued → submitted → acknowledged → filled with the milliseconds
since the signal was received."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.persistence.models import (
    FillRecord,
    OrderEventRecord,
    OrderIntentRecord,
    OrderRecord,
    RiskDecisionRecord,
    SignalRecord,
    Strategy,
)

_EVENT_STEPS = {"SUBMITTED": "submitted", "ACCEPTED": "acknowledged", "FILLED": "filled", "REJECTED": "rejected",
                "PARTIALLY_FILLED": "partially_filled", "CANCELED": "canceled", "EXPIRED": "expired"}


def signal_trace(session: Session, signal_id: uuid.UUID) -> dict[str, Any]:
    """Everything recorded about one signal, as JSON-ready values. Raises ``NotFound``."""
    signal = session.get(SignalRecord, signal_id)
    if signal is None:
        raise NotFound(f"no signal {signal_id}")
    strategy = session.get(Strategy, signal.strategy_id)
    decision = session.execute(
        select(RiskDecisionRecord).where(RiskDecisionRecord.signal_id == signal_id)
    ).scalar_one_or_none()
    intents = session.execute(
        select(OrderIntentRecord).where(OrderIntentRecord.signal_id == signal_id).order_by(OrderIntentRecord.sequence)
    ).scalars().all()
    timeline = [_step("received", signal.received_at, signal.received_at)]
    if signal.decided_at:
        timeline.append(_step("decided", signal.decided_at, signal.received_at))
    intent_views = []
    for intent in intents:
        view, steps = _intent_view(session, intent, signal.received_at)
        intent_views.append(view)
        timeline.extend(steps)
    return {
        "id": str(signal.id),
        "status": signal.status,
        "reason": signal.reason,
        "source": signal.source,
        "strategy": strategy.name if strategy else None,
        "dialect": signal.dialect,
        "symbol": signal.symbol,
        "action": signal.action,
        "idempotency_key": signal.idempotency_key,
        "signal_time": signal.signal_time,
        "received_at": signal.received_at,
        "signal": signal.payload,
        "raw_body": signal.raw_body,
        "decision": _decision_view(decision),
        "intents": intent_views,
        "timeline": sorted(timeline, key=lambda s: s["at"]),
    }


def _step(name: str, at: datetime, start: datetime, **extra: Any) -> dict[str, Any]:
    return {"step": name, "at": at, "ms_since_received": round((at - start).total_seconds() * 1000, 3), **extra}


def _decision_view(decision: RiskDecisionRecord | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {
        "approved": decision.approved,
        "reason": decision.reason,
        "quantity": decision.quantity,
        "checks": decision.checks,
        "decided_at": decision.created_at,
    }


def _intent_view(session: Session, intent: OrderIntentRecord, start: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    steps = []
    if intent.enqueued_at:
        steps.append(_step("enqueued", intent.enqueued_at, start, client_order_id=intent.client_order_id))
    if intent.claimed_at:
        steps.append(_step("claimed", intent.claimed_at, start, client_order_id=intent.client_order_id))
    order = session.execute(select(OrderRecord).where(OrderRecord.intent_id == intent.id)).scalar_one_or_none()
    order_view = None
    if order is not None:
        events = session.execute(
            select(OrderEventRecord).where(OrderEventRecord.order_id == order.id).order_by(OrderEventRecord.id)
        ).scalars().all()
        fills = session.execute(select(FillRecord).where(FillRecord.order_id == order.id)).scalars().all()
        for event in events:
            if event.to_status in _EVENT_STEPS:
                steps.append(_step(_EVENT_STEPS[event.to_status], event.created_at, start, client_order_id=order.client_order_id))
        order_view = order_json(order) | {
            "events": [
                {"from": e.from_status, "to": e.to_status, "reason": e.reason, "at": e.created_at, "ts_event": e.ts_event}
                for e in events
            ],
            "fills": [fill_json(f) for f in fills],
        }
    view = {
        "id": str(intent.id),
        "client_order_id": intent.client_order_id,
        "status": intent.status,
        "venue": intent.venue,
        "symbol": intent.symbol,
        "side": intent.side,
        "order_type": intent.order_type,
        "quantity": intent.quantity,
        "reference_price": intent.reference_price,
        "reduce_only": intent.reduce_only,
        "created_at": intent.created_at,
        "order": order_view,
    }
    return view, steps


def order_json(order: OrderRecord) -> dict[str, Any]:
    return {
        "id": str(order.id),
        "intent_id": str(order.intent_id),
        "venue": order.venue,
        "symbol": order.symbol,
        "side": order.side,
        "order_type": order.order_type,
        "quantity": order.quantity,
        "limit_price": order.limit_price,
        "client_order_id": order.client_order_id,
        "venue_order_id": order.venue_order_id,
        "status": order.status,
        "filled_quantity": order.filled_quantity,
        "average_price": order.average_price,
        "reason": order.reason,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


def fill_json(fill: FillRecord) -> dict[str, Any]:
    return {
        "id": str(fill.id),
        "order_id": str(fill.order_id),
        "venue": fill.venue,
        "trade_id": fill.trade_id,
        "symbol": fill.symbol,
        "side": fill.side,
        "quantity": fill.quantity,
        "price": fill.price,
        "fee": fill.fee,
        "fee_currency": fill.fee_currency,
        "realized_pnl": fill.realized_pnl,
        "ts_event": fill.ts_event,
    }
