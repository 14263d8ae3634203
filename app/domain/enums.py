"""Enumerations shared by every stage.

Values that travel in signals (source, action, position side, size unit) are lower case, as
senders write them; order states and trading states are upper case, as in nautilus_trader.
"""

from enum import StrEnum


class Source(StrEnum):
    """Which endpoint a signal came through (set by the server, never by the client)."""

    TRADINGVIEW = "tradingview"
    PREDICTION = "prediction"
    REST = "rest"
    SCHEDULE = "schedule"  # a strategy's own trigger: a portfolio's schedule or drift (app.portfolio.schedule)


class Action(StrEnum):
    """What the sender asks for: ``exit`` flattens the position, ``cancel`` cancels open orders."""

    BUY = "buy"
    SELL = "sell"
    EXIT = "exit"
    CANCEL = "cancel"
    HOLD = "hold"
    CLOSE_ALL = "close_all"  # flatten every open position of the account (or of the signal's symbol)
    CANCEL_ALL = "cancel_all"  # cancel every open order of the account (or of the signal's symbol)
    REBALANCE = "rebalance"  # move the account's spot holdings to the signal's (or strategy's) target weights


class PositionSide(StrEnum):
    """Direction of a position: the sign of its quantity."""

    LONG = "long"
    SHORT = "short"
    FLAT = "flat"


class SizeUnit(StrEnum):
    """Unit of a signal's ``size``: base currency, quote currency, percent of equity (0–100),
    contracts, or percent of the open position (0–100, for partial exits)."""

    BASE = "base"
    QUOTE = "quote"
    PERCENT_EQUITY = "percent_equity"
    CONTRACTS = "contracts"
    PERCENT_POSITION = "percent_position"


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    """GTC good till cancelled, IOC immediate or cancel, FOK fill or kill, PO post only."""

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    PO = "PO"


class SignalStatus(StrEnum):
    """``accepted``: risk approved it; ``rejected``: risk said no; ``duplicate``: seen before;
    ``invalid``: could not be parsed."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    INVALID = "invalid"


class TradingState(StrEnum):
    """ACTIVE trades; REDUCING lets only position-reducing orders through; HALTED is the kill switch."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class IntentStatus(StrEnum):
    """Life of an order intent in our outbox.

    PENDING: written, waiting for a worker (the sweeper re-enqueues it after a grace period);
    SUBMITTING: a worker claimed it and its order is being sent; DONE: its order reached the
    venue and has a known outcome; FAILED: it could not be executed (see the order's reason).
    """

    PENDING = "pending"
    SUBMITTING = "submitting"
    DONE = "done"
    FAILED = "failed"
