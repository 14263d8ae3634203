"""A signal's full trace: the decision with every check, the intents, their orders (with every
state transition) and fills, and a timeline

    received → parsed → decided → enqueued → claimed → submitted → acknowledged → filled

where each step carries its time, the milliseconds since the signal was received and since
the previous step. Times come from our own records: ``signals.received_at`` / ``decided_at``,
``order_intents.enqueued_at`` (RQ's enqueue time) / ``claimed_at``, and ``order_events.created_at``
(when we recorded each order transition; the venue's own time is ``ts_event``).
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.admin.schemas import (
    Check,
    FillView,
    IntentView,
    OrderDetail,
    OrderEvent,
    OrderView,
    SignalTrace,
    Step,
    TraceDecision,
    TraceEvent,
)
from app.domain.orders import OrderStatus
from app.errors import NotFound
from app.persistence.models import (
    Account,
    EventRecord,
    FillRecord,
    OrderEventRecord,
    OrderIntentRecord,
    OrderRecord,
    RiskDecisionRecord,
    SignalRecord,
    Strategy,
)
from app.routing.report import routing_trace
from app.shadow.compare import signal_shadow

_EVENT_STEPS = {OrderStatus.SUBMITTED: "submitted", OrderStatus.ACCEPTED: "acknowledged"}
_UNTIMED = {OrderStatus.INITIALIZED}


def signal_trace(session: Session, signal_id: uuid.UUID) -> SignalTrace:
    """Everything recorded about one signal. Raises ``NotFound``."""
    signal = session.get(SignalRecord, signal_id)
    if signal is None:
        raise NotFound(f"no signal {signal_id}")
    strategy = session.get(Strategy, signal.strategy_id)
    account = session.get(Account, strategy.account_id) if strategy else None
    decisions = session.execute(
        select(RiskDecisionRecord, Account.name).join(Account, Account.id == RiskDecisionRecord.account_id)
        .where(RiskDecisionRecord.signal_id == signal_id)
        .order_by(RiskDecisionRecord.account_id != (strategy.account_id if strategy else None), Account.name)
    ).all()
    intents = session.execute(
        select(OrderIntentRecord)
        .where(OrderIntentRecord.signal_id == signal_id)
        .order_by(OrderIntentRecord.sequence, OrderIntentRecord.created_at)
    ).scalars().all()
    steps = [Step(step="received", at=signal.received_at, ms_since_received=0.0, ms_since_previous=None)]
    if signal.decided_at:
        steps.append(_step("decided", signal.decided_at))
    intent_views = []
    by_decision: dict[uuid.UUID, list[IntentView]] = {}
    for intent in intents:
        view, intent_steps = _intent_view(session, intent)
        intent_views.append(view)
        by_decision.setdefault(intent.decision_id, []).append(view)
        steps.extend(intent_steps)
    decision_views = [_decision_view(d, name, by_decision.get(d.id, [])) for d, name in decisions]
    return SignalTrace(
        id=signal.id,
        status=signal.status,
        reason=signal.reason,
        source=signal.source,
        strategy=strategy.name if strategy else None,
        account=account.name if account else None,
        dialect=signal.dialect,
        symbol=signal.symbol,
        action=signal.action,
        idempotency_key=signal.idempotency_key,
        signal_time=signal.signal_time,
        received_at=signal.received_at,
        signal=signal.payload,
        raw_body=signal.raw_body,
        decision=decision_views[0].model_copy(update={"intents": []}) if decision_views else None,
        decisions=decision_views,
        intents=intent_views,
        timeline=timeline(steps, signal.received_at, _parsed_step(signal)),
        events=_events(session, signal_id, [i.id for i in intents]),
        routing=routing_trace(session, signal_id),
        shadow=signal_shadow(session, signal_id),
    )


def _events(session: Session, signal_id: uuid.UUID, intent_ids: list[uuid.UUID]) -> list[TraceEvent]:
    """The signal's events and those its orders' outcomes caused, oldest first."""
    orders = select(OrderRecord.id).where(OrderRecord.intent_id.in_(intent_ids)).scalar_subquery()
    rows = session.execute(
        select(EventRecord).where(or_(EventRecord.signal_id == signal_id, EventRecord.order_id.in_(orders)))
        .order_by(EventRecord.created_at, EventRecord.kind)
    ).scalars().all()
    return [TraceEvent(id=e.id, kind=e.kind, order_id=e.order_id, payload=e.payload, created_at=e.created_at,
                       handled_at=e.handled_at) for e in rows]


def timeline(steps: list[Step], received_at: datetime, parsed: Step) -> list[Step]:
    """Timed steps in time order with ``parsed`` right after ``received``, and each step's
    milliseconds since receipt and since the previous step."""
    received, rest = steps[0], sorted(steps[1:], key=lambda s: s.at or received_at)
    previous = received_at
    for step in rest:
        at = step.at or received_at
        step.ms_since_received = _ms(at - received_at)
        step.ms_since_previous = _ms(at - previous)
        previous = at
    return [received, parsed, *rest]


def _ms(delta: timedelta) -> float:
    return round(delta.total_seconds() * 1000, 3)


def _step(name: str, at: datetime, client_order_id: str | None = None) -> Step:
    return Step(step=name, at=at, ms_since_received=None, ms_since_previous=None, client_order_id=client_order_id)


def _parsed_step(signal: SignalRecord) -> Step:
    if signal.dialect is None:
        detail = f"not parsed: {signal.reason}"
    else:
        detail = f"dialect {signal.dialect}; parsed in the decision's transaction (no separate time recorded)"
    return Step(step="parsed", at=None, ms_since_received=None, ms_since_previous=None, detail=detail)


def _decision_view(decision: RiskDecisionRecord, account: str, intents: list[IntentView]) -> TraceDecision:
    return TraceDecision(
        account=account,
        intents=intents,
        approved=decision.approved,
        reason=decision.reason,
        quantity=decision.quantity,
        checks=[Check.model_validate(c) for c in decision.checks or []],
        decided_at=decision.created_at,
    )


def _intent_view(session: Session, intent: OrderIntentRecord) -> tuple[IntentView, list[Step]]:
    coid = intent.client_order_id
    steps = []
    if intent.enqueued_at:
        steps.append(_step("enqueued", intent.enqueued_at, coid))
    if intent.claimed_at:
        steps.append(_step("claimed", intent.claimed_at, coid))
    order = session.execute(select(OrderRecord).where(OrderRecord.intent_id == intent.id)).scalar_one_or_none()
    detail = None
    if order is not None:
        detail = order_detail(session, order)
        steps.extend(
            _step(_EVENT_STEPS.get(e.to_status, e.to_status.lower()), e.at, coid)
            for e in detail.events
            if e.to_status not in _UNTIMED
        )
    view = IntentView(
        id=intent.id,
        client_order_id=coid,
        status=intent.status,
        venue=intent.venue,
        symbol=intent.symbol,
        side=intent.side,
        order_type=intent.order_type,
        quantity=intent.quantity,
        reference_price=intent.reference_price,
        reduce_only=intent.reduce_only,
        position_side=intent.position_side,
        sequence=intent.sequence,
        created_at=intent.created_at,
        order=detail,
    )
    return view, steps


def order_detail(session: Session, order: OrderRecord) -> OrderDetail:
    """The order with its transitions (oldest first) and fills."""
    events = session.execute(
        select(OrderEventRecord).where(OrderEventRecord.order_id == order.id).order_by(OrderEventRecord.id)
    ).scalars().all()
    fills = session.execute(
        select(FillRecord).where(FillRecord.order_id == order.id).order_by(FillRecord.ts_event, FillRecord.id)
    ).scalars().all()
    account = session.execute(select(Account.name).where(Account.id == order.account_id)).scalar_one_or_none()
    return OrderDetail(
        **order_view(order, account).model_dump(),
        events=[
            OrderEvent(from_status=e.from_status, to_status=e.to_status, reason=e.reason, at=e.created_at,
                       ts_event=e.ts_event)
            for e in events
        ],
        fills=[fill_view(f, account) for f in fills],
    )


def order_view(order: OrderRecord, account: str | None = None) -> OrderView:
    return OrderView(
        id=order.id, intent_id=order.intent_id, account=account, venue=order.venue, symbol=order.symbol,
        side=order.side, order_type=order.order_type, quantity=order.quantity, limit_price=order.limit_price,
        client_order_id=order.client_order_id, venue_order_id=order.venue_order_id, status=order.status,
        filled_quantity=order.filled_quantity, average_price=order.average_price, reason=order.reason,
        created_at=order.created_at, updated_at=order.updated_at,
    )


def fill_view(fill: FillRecord, account: str | None = None) -> FillView:
    return FillView(
        id=fill.id, order_id=fill.order_id, account=account, venue=fill.venue, trade_id=fill.trade_id,
        symbol=fill.symbol, side=fill.side, quantity=fill.quantity, price=fill.price, fee=fill.fee,
        fee_currency=fill.fee_currency, realized_pnl=fill.realized_pnl, ts_event=fill.ts_event,
        created_at=fill.created_at,
    )
