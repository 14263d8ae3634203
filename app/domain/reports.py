"""What venues report, as plain values: the request we send, the orders, trades and open
orders they answer with (nautilus_trader's ``execution/reports.py``). Venue adapters return
these; only the ledger turns them into rows.

Quantities are base units (contracts on contract markets), prices quote per base, fees in
``fee_currency``, times UTC-aware.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from app.domain.enums import OrderSide, OrderType, TimeInForce
from app.domain.orders import OrderStatus


class Trigger(StrEnum):
    """What a protective order's ``trigger_price`` means (ccxt's ``stopLossPrice`` / ``takeProfitPrice``)."""

    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


@dataclass(frozen=True)
class OrderRequest:
    """What to place: everything a venue needs, as plain values. ``client_order_id`` is ours
    (``tw`` + 30 hex digits); an adapter maps it to its venue's format."""

    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    reduce_only: bool = False
    reference_price: Decimal | None = None
    trigger: Trigger | None = None
    trigger_price: Decimal | None = None
    position_side: str | None = None  # hedge mode: "long" / "short", the position it acts on; None: one-way


@dataclass(frozen=True)
class Trade:
    """One fill reported by a venue; ``trade_id`` is unique per venue."""

    trade_id: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str | None
    ts_event: datetime


@dataclass(frozen=True)
class VenueOrder:
    """A venue's view of an order: its status, cumulative fill and the trades so far.

    Adapters return every trade of the order (``sum(t.quantity) == filled_quantity``) or raise,
    so a recorded fill state always comes with its fills.
    """

    client_order_id: str
    venue_order_id: str | None
    status: OrderStatus
    filled_quantity: Decimal
    average_price: Decimal | None
    ts_event: datetime
    trades: tuple[Trade, ...] = field(default=())
    reason: str | None = None


@dataclass(frozen=True)
class OpenOrder:
    """An order open on the venue, whoever placed it. ``client_order_id`` is ours when the
    adapter recognises its format (else the venue's string, or None)."""

    venue_order_id: str
    client_order_id: str | None
    symbol: str
    side: str | None
    order_type: str | None
    quantity: Decimal | None
    price: Decimal | None
    status: str | None
    ours: bool
