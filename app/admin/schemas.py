"""Typed answers of the admin API, as they appear in OpenAPI.

Money and quantities are ``Money``: ``Decimal`` in Python, an exact decimal string in JSON
(``"0.0027486"``, never a float, trailing zeros dropped). Times are ISO-8601 UTC.
Latencies are milliseconds (floats, 3 decimals).
"""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from app.domain.money import fmt
from app.routing.report import RoutingTrace
from app.shadow.schemas import ShadowRow

Money = Annotated[
    Decimal,
    PlainSerializer(fmt, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "decimal", "examples": ["0.0027486"]}, mode="serialization"),
]

T = TypeVar("T")


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first. Pass ``next_cursor`` back as ``cursor`` for the next
    page; ``null`` means this is the last page. The cursor is opaque."""

    items: list[T]
    limit: int = Field(description="The page size asked for.")
    next_cursor: str | None = Field(description="Cursor of the next page, null at the end.")


class SignalSummary(BaseModel):
    model_config = _examples({
        "id": "3375d267-5c4e-4a0e-9a3c-0c1f3f1d2b11", "status": "accepted", "reason": None, "source": "tradingview",
        "strategy": "default", "dialect": "tradingview", "symbol": "DOGE/USDT", "action": "buy",
        "received_at": "2026-11-21T10:00:00.123Z", "decided_at": "2026-11-21T10:00:00.131Z",
    })

    id: uuid.UUID
    status: str = Field(description="accepted, rejected, duplicate or invalid")
    reason: str | None
    source: str = Field(description="tradingview, prediction or rest")
    strategy: str | None
    dialect: str | None
    symbol: str | None
    action: str | None
    received_at: datetime
    decided_at: datetime | None


class Check(BaseModel):
    """One risk check's outcome, in the engine's order: ``reason`` why it failed, ``detail``
    what a passing one used (the price and where it came from, the ATR from candles)."""

    check: str
    passed: bool
    reason: str | None = None
    detail: str | None = None
    market: dict[str, str] | None = Field(default=None, description="the market check: the quote the decision saw")


class DecisionView(BaseModel):
    model_config = _examples({
        "id": "6b8f6a52-2c5d-4c4f-8d0e-3a2f8a1e0c77", "signal_id": "3375d267-5c4e-4a0e-9a3c-0c1f3f1d2b11",
        "account": "paper", "strategy": "default", "symbol": "DOGE/USDT", "approved": False,
        "reason": "the account is HALTED (kill switch): no orders until an operator sets it ACTIVE",
        "failed_check": "trading_state", "quantity": None,
        "checks": [{"check": "trading_state", "passed": False, "reason": "the account is HALTED ..."}],
        "decided_at": "2026-11-21T10:00:00.131Z",
    })

    id: uuid.UUID
    signal_id: uuid.UUID
    account: str
    strategy: str | None
    symbol: str | None
    approved: bool
    reason: str | None
    failed_check: str | None = Field(description="Name of the first check that did not pass; null when approved.")
    quantity: Money | None = Field(description="Approved base quantity; null when denied.")
    checks: list[Check]
    decided_at: datetime


class OrderEvent(BaseModel):
    from_status: str | None = Field(alias="from")
    to_status: str = Field(alias="to")
    reason: str | None
    at: datetime = Field(description="When we recorded the transition.")
    ts_event: datetime | None = Field(description="The venue's time of the event, when it gave one.")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class FillView(BaseModel):
    """A trade: ``quantity`` base units, ``price`` quote per base, ``fee`` in ``fee_currency``,
    ``realized_pnl`` quote currency net of fees."""

    model_config = _examples({
        "id": "9a0c8a4e-1b2d-4c3e-8f4a-5b6c7d8e9f00", "order_id": "1f2e3d4c-5b6a-4789-8abc-def012345678",
        "account": "paper", "venue": "paper", "trade_id": "paper-tw3375d2675c4e4a0e9a3c0c1f3f1d-1",
        "symbol": "DOGE/USDT", "side": "buy", "quantity": "10000", "price": "0.0027486", "fee": "0.027486",
        "fee_currency": "USDT", "realized_pnl": "-0.027486", "ts_event": "2026-11-21T10:00:00.160Z",
        "created_at": "2026-11-21T10:00:00.161Z",
    })

    id: uuid.UUID
    order_id: uuid.UUID
    account: str | None = None
    venue: str
    trade_id: str
    symbol: str
    side: str
    quantity: Money
    price: Money
    fee: Money
    fee_currency: str | None
    realized_pnl: Money
    ts_event: datetime
    created_at: datetime | None = None


class OrderView(BaseModel):
    """An order on a venue; ``status`` follows the order state table (upper case)."""

    model_config = _examples({
        "id": "1f2e3d4c-5b6a-4789-8abc-def012345678", "intent_id": "3a4b5c6d-7e8f-4901-a2b3-c4d5e6f70819",
        "account": "paper", "venue": "paper", "symbol": "DOGE/USDT", "side": "buy", "order_type": "market",
        "quantity": "10000", "limit_price": None, "client_order_id": "tw3a4b5c6d7e8f4901a2b3c4d5e6f708",
        "venue_order_id": "paper-1", "status": "FILLED", "filled_quantity": "10000", "average_price": "0.0027486",
        "reason": None, "created_at": "2026-11-21T10:00:00.150Z", "updated_at": "2026-11-21T10:00:00.161Z",
    })

    id: uuid.UUID
    intent_id: uuid.UUID
    account: str | None = None
    venue: str
    symbol: str
    side: str
    order_type: str
    quantity: Money
    limit_price: Money | None
    client_order_id: str
    venue_order_id: str | None
    status: str
    filled_quantity: Money
    average_price: Money | None
    reason: str | None
    created_at: datetime
    updated_at: datetime


class OrderDetail(OrderView):
    events: list[OrderEvent]
    fills: list[FillView]


class IntentView(BaseModel):
    id: uuid.UUID
    client_order_id: str
    status: str = Field(description="pending, submitting, done or failed")
    venue: str
    symbol: str
    side: str
    order_type: str
    quantity: Money
    reference_price: Money | None
    reduce_only: bool
    position_side: str | None = Field(default=None, description="hedge mode: the position (long / short) it acts "
                                      "on; null: the one-way (net) position")
    sequence: int
    created_at: datetime
    order: OrderDetail | None


class Step(BaseModel):
    """One step of a signal's life. ``ms_since_received`` and ``ms_since_previous`` (the
    previous timed step) are milliseconds; all three are null for a step whose time is not
    recorded on its own (``parsed``: parsing runs inside the decision's transaction)."""

    step: str = Field(description="received, parsed, decided, enqueued, claimed, submitted, acknowledged, "
                      "partially_filled, filled, rejected, canceled, expired")
    at: datetime | None
    ms_since_received: float | None
    ms_since_previous: float | None
    client_order_id: str | None = None
    detail: str | None = None


class TraceEvent(BaseModel):
    """A follow-up set in motion (``app.events``): what (``kind``), by what (the order, when
    an order's outcome caused it), when it was written and when its handler finished
    (``handled_at``; None for kinds whose outcome shows elsewhere, such as an intent's status)."""

    id: uuid.UUID
    kind: str
    order_id: uuid.UUID | None
    payload: dict[str, Any]
    created_at: datetime
    handled_at: datetime | None


class SignalTrace(BaseModel):
    """Everything recorded about one signal. ``signal`` is the canonical signal; ``raw_body``
    is what the sender posted, with secret fields replaced by ``***``."""

    model_config = _examples({
        "id": "3375d267-5c4e-4a0e-9a3c-0c1f3f1d2b11", "status": "accepted", "reason": None, "source": "tradingview",
        "strategy": "default", "account": "paper", "dialect": "tradingview", "symbol": "DOGE/USDT", "action": "buy",
        "idempotency_key": "tv:...", "signal_time": "2026-11-21T09:59:59Z", "received_at": "2026-11-21T10:00:00.123Z",
        "signal": {"symbol": "DOGE/USDT", "action": "buy", "price": "0.0027486"},
        "raw_body": '{"passphrase": "***", "ticker": "DOGEUSDT"}',
        "decision": {"approved": True, "reason": None, "quantity": "10000", "checks": [], "decided_at":
                     "2026-11-21T10:00:00.131Z"},
        "intents": [],
        "timeline": [{"step": "received", "at": "2026-11-21T10:00:00.123Z", "ms_since_received": 0.0,
                      "ms_since_previous": None}],
    })

    id: uuid.UUID
    status: str
    reason: str | None
    source: str
    strategy: str | None
    account: str | None
    dialect: str | None
    symbol: str | None
    action: str | None
    idempotency_key: str | None
    signal_time: datetime | None
    received_at: datetime
    signal: dict[str, Any] | None
    raw_body: str
    decision: "TraceDecision | None" = Field(description="the first account's decision (see ``decisions``)")
    intents: list[IntentView]
    timeline: list[Step]
    events: list[TraceEvent] = []
    decisions: list["TraceDecision"] = Field(
        default_factory=list, description="one per subscribed account (a fan-out), each with its intents")
    routing: RoutingTrace | None = Field(
        default=None, description="a routed strategy (route): every venue's costs, the choice, expected vs realised")
    shadow: list[ShadowRow] | None = Field(
        default=None, description="a strategy with a paper shadow: the live and the shadow fill side by side, with the "
        "sender's price, the market at receipt and the slippage between them (app.shadow.compare); null: no shadow")


class TraceDecision(BaseModel):
    approved: bool
    reason: str | None
    quantity: Money | None
    checks: list[Check]
    decided_at: datetime
    account: str | None = Field(default=None, description="the account this decision was made for")
    intents: list[IntentView] = Field(default_factory=list, description="in ``decisions``: this account's "
                                      "intents with their orders and fills (its branch of the trace)")


SignalTrace.model_rebuild()


class PositionView(BaseModel):
    """A position: ``quantity`` signed base units (negative: short), ``average_price`` quote
    per base, ``realized_pnl`` quote currency net of fees since the position was first opened;
    ``position_side`` ``net`` (one-way mode) or, for a hedge-mode account, ``long`` / ``short``
    (one row each)."""

    model_config = _examples({
        "id": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9", "account": "paper", "symbol": "DOGE/USDT",
        "quantity": "10000", "average_price": "0.0027486", "realized_pnl": "-0.027486",
        "updated_at": "2026-11-21T10:00:00.161Z",
    })

    id: uuid.UUID
    account: str
    symbol: str
    position_side: str = "net"
    quantity: Money
    average_price: Money | None
    realized_pnl: Money
    updated_at: datetime


class Breaker(BaseModel):
    """A venue's circuit breaker: ``open`` while its intents wait for a successful probe."""

    open: bool
    consecutive_failures: int
    opened_at: datetime | None
    last_error: str | None


class AccountView(BaseModel):
    """An account: ``equity`` is quote balance plus spot positions at their average entry
    (mark-to-cost, as the risk engine sees it), in ``quote_currency``."""

    model_config = _examples({
        "name": "paper", "venue": "paper", "trading_state": "ACTIVE", "state_reason": None, "state_changed_at": None,
        "quote_currency": "USDT", "equity": "9999.972514", "balances": {"USDT": "9972.486514", "DOGE": "10000"},
        "open_positions": [{"symbol": "DOGE/USDT", "quantity": "10000", "average_price": "0.0027486"}],
        "circuit_breaker": None,
    })

    name: str
    venue: str
    trading_state: str = Field(description="ACTIVE, REDUCING or HALTED")
    state_reason: str | None = Field(description="operator, daily loss limit, new UTC day, …")
    state_changed_at: datetime | None
    quote_currency: str
    equity: Money
    equity_at_market: Money | None = Field(
        default=None, description="balance plus positions at their mark (spot) and unrealised PnL (derivatives); "
        "null when no position could be marked")
    unrealized_pnl: Money | None = Field(default=None, description="sum over the marked positions, quote currency")
    exposure: Money | None = Field(default=None, description="sum of |quantity| × mark over the marked positions")
    balances: dict[str, Money]
    open_positions: list["OpenPosition"]
    circuit_breaker: Breaker | None = Field(description="The venue's breaker, null when it never failed.")


class OpenPosition(BaseModel):
    """``mark_price``: what closing would get at the market (bid for a long, ask for a short)
    from a fresh quote of the account's market-data source; None without one. ``notional``
    (exposure) and ``unrealized_pnl`` in the quote currency at that mark."""

    symbol: str
    quantity: Money
    average_price: Money | None
    position_side: str = "net"
    mark_price: Money | None = None
    notional: Money | None = None
    unrealized_pnl: Money | None = None


AccountView.model_rebuild()


class TradingStateAnswer(BaseModel):
    model_config = _examples({"name": "paper", "trading_state": "HALTED", "previous_state": "ACTIVE"})

    name: str
    trading_state: str
    previous_state: str


class StrategyView(BaseModel):
    model_config = _examples({
        "id": "0b7c5a0e-8d7e-4a53-9a38-1c6c8e7f2a11", "name": "default", "account": "paper", "enabled": True,
        "created_at": "2026-11-21T09:00:00Z",
    })

    id: uuid.UUID
    name: str
    account: str
    enabled: bool
    created_at: datetime


class StrategyCreated(BaseModel):
    """A strategy with its plaintext token and webhook URL: shown in this answer only."""

    model_config = _examples({
        "id": "0b7c5a0e-8d7e-4a53-9a38-1c6c8e7f2a11", "name": "ma-cross", "account": "paper",
        "token": "VuzESTTPJj03xwLHeARrVFbfEPrWXAsB",
        "webhook_url": "http://127.0.0.1:8000/webhooks/tradingview/VuzESTTPJj03xwLHeARrVFbfEPrWXAsB",
    })

    id: uuid.UUID
    name: str
    account: str
    token: str
    webhook_url: str


class RedriveAnswer(BaseModel):
    """What a re-drive did: ``copied`` (a fresh intent with a new client order id, queued) or
    ``re-enqueued`` (the same intent's job queued again, so the worker resolves it by its
    client order id before anything is sent)."""

    model_config = _examples({
        "action": "copied", "intent_id": "3a4b5c6d-7e8f-4901-a2b3-c4d5e6f70819",
        "new_intent_id": "7c1d2e3f-4a5b-5c6d-8e7f-9a0b1c2d3e4f", "client_order_id": "tw7c1d2e3f4a5b5c6d8e7f9a0b1c2d3e",
        "venue": "paper", "status": "pending",
    })

    action: str = Field(description="copied or re-enqueued")
    intent_id: uuid.UUID = Field(description="The intent asked for.")
    new_intent_id: uuid.UUID | None = Field(description="The copy, for `copied`.")
    client_order_id: str = Field(description="Client order id of the job now queued.")
    venue: str
    status: str = Field(description="Status of the queued intent.")
