"""The venue interface every adapter implements.

Adapters speak in our names (``client_order_id``, ``reduce_only``); ccxt's spellings stay
inside the ccxt adapter. Quantities are base units (contracts on contract markets), prices
quote per base, fees in ``fee_currency``, times UTC-aware.

Errors (``app.errors``): ``OrderRejected`` — terminal, never retried; ``VenueRefused`` — the
venue refused the request without acting on it (rate limit, clock); ``TemporaryVenueError``
— network, timeout, 5xx: for an order send the outcome is unknown (the order is in doubt);
``DuplicateClientOrderId`` — an order with this client order id exists; ``VenueCredentialsRejected``
— keys or permissions, on a read.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

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


class Venue(ABC):
    """A place orders go. ``name`` is what fills and orders record as their venue.

    ``lookup_is_authoritative``: an order the venue does not find was never placed (the paper
    venue); for real venues a miss right after a lost reply proves nothing (Binance can take
    tens of seconds to show a new order), so sends wait for the grace window.
    ``supports_protective_orders``: stop-loss / take-profit trigger orders can be placed.
    ``remote``: calls go over a network (and count for the venue's circuit breaker).
    """

    name: str
    remote: bool = True
    lookup_is_authoritative: bool = False
    supports_protective_orders: bool = False

    @abstractmethod
    def create_order(self, request: OrderRequest) -> VenueOrder:
        """Place an order, once (never retried inside). Raises ``OrderRejected`` (terminal),
        ``VenueRefused`` (not placed), ``DuplicateClientOrderId``, or ``TemporaryVenueError``
        (in doubt: look it up by client order id before sending again)."""

    @abstractmethod
    def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        """The order with this client order id, or None if the venue has no such order.
        Retried with backoff; raises ``TemporaryVenueError`` when the venue cannot be read."""

    def cancel_order(self, client_order_id: str, symbol: str, venue_order_id: str | None = None) -> VenueOrder | None:
        """Cancel an open order; returns its state afterwards, or None if the venue has no
        open order by that id (filled, cancelled, never placed). Raises ``TemporaryVenueError``."""
        return None

    def fetch_open_orders(self, symbols: list[str] | None = None) -> list[OpenOrder]:
        """Every open order on the account (in ``symbols`` where the venue needs a symbol)."""
        return []

    def fetch_balances(self) -> dict[str, Decimal] | None:
        """Total balance per currency, or None when the venue's book is ours (paper)."""
        return None

    def load_markets(self) -> dict[str, dict[str, Any]]:
        """ccxt's unified market structures by symbol, JSON-safe; {} for a venue without a list."""
        return {}

    def markets_stale(self) -> bool:
        """True when markets were never loaded in this process or are older than the refresh age."""
        return False

    def probe(self) -> None:
        """A cheap read proving the venue answers (ccxt ``fetch_time``). Raises ``TemporaryVenueError``."""

    def settle(self, session: Session, account_id: object, request: OrderRequest, order: VenueOrder) -> None:
        """Book the venue's own side of a fill inside the caller's transaction.

        Real venues keep their own books (nothing to do); the paper venue moves its balances
        here, so its fill, balances, order state and position change commit together.
        Raises ``OrderRejected`` if the booking is impossible (insufficient funds).
        """
