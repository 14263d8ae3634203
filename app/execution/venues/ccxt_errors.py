"""The one place where ccxt exceptions become Tradewire's (``app.errors``).

ccxt 4.5 hierarchy (python/ccxt/base/errors.py): ``NetworkError`` (``RequestTimeout``,
``ExchangeNotAvailable``, ``DDoSProtection``, ``RateLimitExceeded``, ``InvalidNonce``) sits
under ``OperationFailed``, beside — not under — ``ExchangeError``. What each class means
for an order send:

* refused before acting (nothing placed): ``RateLimitExceeded``, ``DDoSProtection`` (Binance
  HTTP 429 / -1003), ``InvalidNonce`` (Binance -1021) → ``VenueRefused``;
* outcome unknown: ``RequestTimeout``, ``ExchangeNotAvailable`` (5xx), other
  ``OperationFailed`` (Binance -1000/-1006/-1007 "execution status unknown") and unclassified
  ``ExchangeError`` → ``TemporaryVenueError`` (the order is in doubt);
* terminal: ``InvalidOrder``, ``InsufficientFunds``, ``BadRequest`` (incl. ``BadSymbol``;
  Binance -1013 NOTIONAL), ``AuthenticationError`` / ``PermissionDenied``, ``OperationRejected``,
  ``NotSupported``, ``ArgumentsRequired`` → ``OrderRejected`` with the venue's message;
* ``DuplicateOrderId`` (or a venue's duplicate message) → ``DuplicateClientOrderId``;
  ``OrderNotFound`` → ``VenueOrderNotFound``.

On a read the terminal classes become ``VenueCredentialsRejected`` (keys) or a plain
``VenueError``: a failed read never rejects an order.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import ccxt

from app.errors import (
    DuplicateClientOrderId,
    OrderRejected,
    TemporaryVenueError,
    VenueCredentialsRejected,
    VenueError,
    VenueOrderNotFound,
    VenueRefused,
)

MAX_MESSAGE = 500
TERMINAL = (
    ccxt.InvalidOrder,
    ccxt.InsufficientFunds,
    ccxt.BadRequest,
    ccxt.AuthenticationError,
    ccxt.OperationRejected,
    ccxt.NotSupported,
    ccxt.ArgumentsRequired,
)
REFUSED = (ccxt.RateLimitExceeded, ccxt.DDoSProtection, ccxt.InvalidNonce)


def translate(
    error: ccxt.BaseError, *, venue: str, action: str, sending: bool, duplicate_messages: tuple[str, ...] = ()
) -> VenueError:
    """The ``app.errors`` class for ``error`` raised by ccxt during ``action`` on ``venue``.

    ``sending``: the call was an order send (terminal classes reject the order); else a read
    or a cancel. ``duplicate_messages``: texts by which a venue reports a reused client order
    id under a generic class (Binance -2010 "Duplicate order sent." is an ``InvalidOrder``).
    """
    text = f"{venue} {action}: {type(error).__name__}: {error}"[:MAX_MESSAGE]
    if isinstance(error, ccxt.DuplicateOrderId) or any(m in str(error) for m in duplicate_messages):
        return DuplicateClientOrderId(text)
    if isinstance(error, ccxt.OrderNotFound):
        return VenueOrderNotFound(text)
    if isinstance(error, REFUSED):
        return VenueRefused(text)
    if isinstance(error, TERMINAL):
        if sending:
            return OrderRejected(text)
        if isinstance(error, ccxt.AuthenticationError):
            return VenueCredentialsRejected(text)
        return VenueError(text)
    return TemporaryVenueError(text)


@contextmanager
def translated(venue: str, action: str, *, sending: bool = False, duplicate_messages: tuple[str, ...] = ()) -> Iterator[None]:
    """Run a ccxt call, re-raising its exception as ``translate`` says (``raise ... from e``)."""
    try:
        yield
    except ccxt.BaseError as e:
        raise translate(e, venue=venue, action=action, sending=sending, duplicate_messages=duplicate_messages) from e
