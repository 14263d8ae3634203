"""Values handed between risk, the outbox and execution: the decision and its order intents."""

import uuid
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from app.domain.enums import OrderSide, OrderType, PositionSide, TimeInForce, TradingState
from app.domain.money import MONEY_CONTEXT


@dataclass(frozen=True)
class CheckOutcome:
    """One risk check: ``passed`` and, when it did not, ``reason`` in words and numbers;
    ``detail``: what a passing check used (e.g. which price, from where)."""

    name: str
    passed: bool
    reason: str | None = None
    detail: str | None = None
    data: dict[str, str] | None = None  # figures a check read, e.g. the market's bid and ask at receipt

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {"check": self.name, "passed": self.passed, "reason": self.reason}
        if self.detail is not None:
            data["detail"] = self.detail
        if self.data:
            data["market" if self.name == "market" else "data"] = self.data
        return data


@dataclass(frozen=True)
class OrderPlan:
    """An order the risk engine approved: ``quantity`` in base units, prices quote per base.
    ``position_side``: in hedge mode the position (long / short) it opens or closes; None: the
    one-way (net) position."""

    side: OrderSide
    quantity: Decimal
    price: Decimal | None = None
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    reduce_only: bool = False
    position_side: PositionSide | None = None

    @property
    def notional(self) -> Decimal | None:
        """quantity × price in the quote currency; None without a price.

        Computed in ``MONEY_CONTEXT``: exact for parsed (bounded) numbers, and never raises;
        a product beyond 1e999999 is Infinity, which exceeds every notional cap.
        """
        if self.price is None:
            return None
        with localcontext(MONEY_CONTEXT):
            return self.quantity * self.price


@dataclass(frozen=True)
class RiskDecision:
    """The risk engine's answer. A denial is data: ``approved`` False with the failing ``reason``."""

    approved: bool
    checks: tuple[CheckOutcome, ...]
    orders: tuple[OrderPlan, ...] = field(default=())
    reason: str | None = None
    trading_state_change: TradingState | None = None

    @property
    def quantity(self) -> Decimal | None:
        """Total base quantity of the approved orders, None when denied (``MONEY_CONTEXT``)."""
        if not self.approved:
            return None
        with localcontext(MONEY_CONTEXT):
            return sum((o.quantity for o in self.orders), Decimal(0))


def client_order_id_for(intent_id: uuid.UUID) -> str:
    """The client order id of an intent: ``tw`` + 30 hex digits of its id (32 characters).

    Fits Binance/Bybit (≤ 36) and OKX (1–32 alphanumeric); it is also the RQ job id, so a
    retried job or a repeated alert can never place a second order.
    """
    return "tw" + intent_id.hex[:30]
