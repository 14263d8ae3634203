"""The venue interface every adapter implements.

Adapters speak in our names (``client_order_id``, ``reduce_only``); ccxt's spellings stay
inside the ccxt adapter. Quantities are base units, prices quote per base, fees in
``fee_currency``, times UTC-aware.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from app.domain.enums import OrderSide, OrderType, TimeInForce
from app.domain.orders import OrderStatus


@dataclass(frozen=True)
class OrderRequest:
    """What to place: everything a venue needs, as plain values."""

    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    reduce_only: bool = False
    reference_price: Decimal | None = None


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
    """A venue's view of an order: its status, cumulative fill and the trades so far."""

    client_order_id: str
    venue_order_id: str | None
    status: OrderStatus
    filled_quantity: Decimal
    average_price: Decimal | None
    ts_event: datetime
    trades: tuple[Trade, ...] = field(default=())
    reason: str | None = None


class Venue(ABC):
    """A place orders go. ``name`` is what fills and orders record as their venue."""

    name: str

    @abstractmethod
    def create_order(self, request: OrderRequest) -> VenueOrder:
        """Place an order. Raises ``OrderRejected`` (terminal) or ``TemporaryVenueError``
        (the order is in doubt: look it up by client order id before sending again)."""

    @abstractmethod
    def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        """The order with this client order id, or None if the venue has no such order."""

    def settle(self, session: Session, account_id: object, request: OrderRequest, order: VenueOrder) -> None:
        """Book the venue's own side of a fill inside the caller's transaction.

        Real venues keep their own books (nothing to do); the paper venue moves its balances
        here, so its fill, balances, order state and position change commit together.
        Raises ``OrderRejected`` if the booking is impossible (insufficient funds).
        """
