"""OKX Signal Bot "Alert Message 2.0" JSON.

Spec: okx.com/help/signal-bot-alert-message-specifications. OKX reads two shapes and tells
them apart by content; so does this parser:

- Section B (any signal source): ``action`` ``ENTER_LONG`` → buy, target long;
  ``EXIT_LONG`` → sell, target flat (from long); ``ENTER_SHORT`` → sell, target short;
  ``EXIT_SHORT`` → buy, target flat (from short). Any case.
- Section A (Pine strategies): ``action`` ``buy``/``sell`` ({{strategy.order.action}}) with
  ``marketPosition`` / ``prevMarketPosition`` → target / previous position, ``id``
  ({{strategy.order.id}}) → comment.

Common fields: ``instrument`` (OKX instId ``BTC-USDT-SWAP`` or a TradingView ticker
``BTCUSDT.P``, required), ``signalToken`` (the body secret; never copied into the signal),
``timestamp`` ({{timenow}}, ISO-8601 or epoch s / ms), ``maxLag`` (seconds; OKX applies 60 s
when absent, here the account's staleness rule applies), ``orderType`` (``market``/``limit``),
``investmentType`` + ``amount``:

- ``margin`` → quote currency. OKX means margin, i.e. notional / leverage; Tradewire sizes the
  notional, so with leverage the order is smaller than OKX would place.
- ``contract`` → contracts; ``base`` → base units (named in OKX's Section A advice).
- ``percentage_balance``, ``percentage_investment`` → percent of equity (0–100).
- ``amount`` without ``investmentType`` is refused: OKX then falls back to the bot's own
  settings, which Tradewire does not know.
- ``percentage_position`` (exits only): 100 (or no amount) closes the whole position (no
  size, target flat); a partial exit cannot be expressed as a canonical size and is refused.

An ``amount`` that is present must be positive and in range: at most 100 for the percentage
types, at most 1e15 otherwise; ``0`` is refused, never read as "no amount". ``maxLag`` is whole
seconds from 1 to a week.

``orderPriceOffset`` (0–100 %, the limit price's distance from the market) has no canonical
field; it is kept in the comment so the operator sees it. Outside 0–100 it is refused.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.enums import Action, OrderType, PositionSide, SizeUnit
from app.domain.signal import Signal, Size
from app.errors import SignalParseError
from app.ingest.parsers import values

NAME = "okx"

_ACTIONS: dict[str, tuple[Action, PositionSide | None, PositionSide | None]] = {
    "enter_long": (Action.BUY, PositionSide.LONG, None),
    "exit_long": (Action.SELL, PositionSide.FLAT, PositionSide.LONG),
    "enter_short": (Action.SELL, PositionSide.SHORT, None),
    "exit_short": (Action.BUY, PositionSide.FLAT, PositionSide.SHORT),
    "buy": (Action.BUY, None, None),
    "sell": (Action.SELL, None, None),
}
_POSITION_PERCENT = "percentage_position"
_UNITS: dict[str, SizeUnit | None] = {
    "margin": SizeUnit.QUOTE,
    "contract": SizeUnit.CONTRACTS,
    "base": SizeUnit.BASE,
    "percentage_balance": SizeUnit.PERCENT_EQUITY,
    "percentage_investment": SizeUnit.PERCENT_EQUITY,
    _POSITION_PERCENT: None,
}
_ORDER_TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT}


def detect(data: dict[str, Any] | str) -> bool:
    """A JSON object with ``signalToken``, or an ``instrument`` with an ENTER_/EXIT_ action."""
    if not isinstance(data, dict):
        return False
    keys = values.fold_keys(data)
    if "signaltoken" in keys:
        return True
    action = keys.get("action")
    return "instrument" in keys and isinstance(action, str) and action.strip().upper().startswith(("ENTER_", "EXIT_"))


def parse(data: dict[str, Any] | str, received_at: datetime) -> Signal:
    """Raises ``SignalParseError`` naming the field for a missing instrument or action, a word
    outside the vocabulary above, a leftover placeholder or a malformed number / time."""
    if not isinstance(data, dict):
        raise SignalParseError("an OKX signal must be a JSON object", field="body")
    values.reject_placeholders(data)
    keys = values.fold_keys(data)
    symbol, raw_symbol, _ = values.symbol(keys.get("instrument"), "instrument")
    action, target, previous = _direction(keys)
    size, target = _size(keys, target)
    signal_time = values.timestamp(keys.get("timestamp"), "timestamp")
    order_id = values.note(keys.get("id"), "id")
    key = values.derive_key(NAME, symbol, action, target, size, order_id, signal_time or received_at)
    return Signal(
        dialect=NAME,
        idempotency_key=key,
        symbol=symbol,
        raw_symbol=raw_symbol,
        exchange="okx",
        action=action,
        target_position=target,
        prev_position=previous,
        size=size,
        order_type=values.choice(keys.get("ordertype"), "orderType", _ORDER_TYPES) or OrderType.MARKET,
        signal_time=signal_time,
        max_lag=values.seconds(keys.get("maxlag"), "maxLag"),
        comment=_comment(order_id, keys),
    )


def _direction(keys: dict[str, Any]) -> tuple[Action, PositionSide | None, PositionSide | None]:
    found = values.choice(keys.get("action"), "action", _ACTIONS)
    if found is None:
        raise SignalParseError("field 'action' is missing (ENTER_LONG, EXIT_LONG, ENTER_SHORT, EXIT_SHORT)",
                               field="action")
    action, target, previous = found
    target = values.position(keys.get("marketposition"), "marketPosition") or target
    previous = values.position(keys.get("prevmarketposition"), "prevMarketPosition") or previous
    return action, target, previous


def _size(keys: dict[str, Any], target: PositionSide | None) -> tuple[Size | None, PositionSide | None]:
    """The order size and the target position (a 100 % position exit means flat)."""
    unit = values.choice(keys.get("investmenttype"), "investmentType", _UNITS)
    kind = (values.text(keys.get("investmenttype"), "investmentType") or "").lower()
    amount = values.amount(keys.get("amount"), "amount", SizeUnit.PERCENT_POSITION if kind == _POSITION_PERCENT
                           else unit or SizeUnit.BASE)
    if kind != _POSITION_PERCENT:
        if amount is not None and unit is None:
            raise SignalParseError(
                "field 'amount' needs an investmentType (margin, contract, base, percentage_balance, "
                "percentage_investment) to say what it counts",
                field="investmentType",
            )
        return (Size(amount=amount, unit=unit) if amount is not None and unit else None), target
    if target not in (None, PositionSide.FLAT):
        raise SignalParseError("investmentType percentage_position applies to exits only", field="investmentType")
    if amount is None or amount == Decimal(100):
        return None, PositionSide.FLAT
    raise SignalParseError(
        f"investmentType percentage_position with amount {amount} is a partial exit, which Tradewire "
        "cannot express yet; send 100 to close the whole position",
        field="investmentType",
    )


def _comment(order_id: str | None, keys: dict[str, Any]) -> str | None:
    offset = values.decimal(keys.get("orderpriceoffset"), "orderPriceOffset")
    if offset is not None and not Decimal(0) <= offset <= Decimal(100):
        raise SignalParseError(f"field 'orderPriceOffset' must be a percentage from 0 to 100, got {offset}",
                               field="orderPriceOffset")
    if offset is None or offset == 0:
        return order_id
    note = f"orderPriceOffset={offset}%"
    return values.note(f"{order_id} ({note})" if order_id else note, "id")
