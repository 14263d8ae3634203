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
from decimal import Decimal
from typing import Any

from app.domain.reports import OpenOrder, OrderRequest, Trade, Trigger, VenueOrder
from app.execution.order_rate import OrderRate

__all__ = ["OpenOrder", "OrderRequest", "Trade", "Trigger", "Venue", "VenueOrder"]


class Venue(ABC):
    """A place orders go. ``name`` is what fills and orders record as their venue.

    ``lookup_is_authoritative``: an order the venue does not find was never placed (the paper
    venue); for real venues a miss right after a lost reply proves nothing (Binance can take
    tens of seconds to show a new order), so sends wait for the grace window.
    ``supports_protective_orders``: stop-loss / take-profit trigger orders can be placed.
    ``remote``: calls go over a network (and count for the venue's circuit breaker).
    ``order_rate``: the account's order-count limit (``app.execution.order_rate``), None: unpaced.
    ``books_balances``: the venue's balances are ours to keep (the paper venue): the ledger
    moves them with each fill, in the fill's transaction (``app.execution.balances``).
    Adapters never see a database session: they return reports (``app.domain.reports``).
    """

    name: str
    remote: bool = True
    lookup_is_authoritative: bool = False
    supports_protective_orders: bool = False
    books_balances: bool = False
    order_rate: OrderRate | None = None

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
