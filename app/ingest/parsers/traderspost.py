"""TradersPost webhook JSON (corpus 02, 03).

Spec: docs.traderspost.io/docs/core-concepts/webhooks ("Signal Message Reference") and
docs.traderspost.io/docs/developer-resources/webhook-reference. Fields read:

- ``ticker`` (required), ``action`` (required): ``buy``, ``sell``, ``exit``, ``cancel``, ``add``
  in any case. ``add`` adds to the open position in the direction ``sentiment`` names, so it
  needs a bullish/long or bearish/short sentiment.
- ``sentiment``: ``bullish``/``long``, ``bearish``/``short``, ``flat`` → ``target_position``.
  ``sell`` + ``flat`` closes the long without opening a short: the signal says
  action=sell, target=flat and the risk engine turns it into an exit.
- ``quantity`` with ``quantityType``: ``fixed_quantity`` (default) → base units,
  ``dollar_amount`` → quote currency, ``percent_of_equity`` → percent of equity (0–100).
  A quantity that is present must be positive and in range (≤ 100 for a percentage, ≤ 1e15
  otherwise); ``0`` is refused, not read as "no quantity". Prices likewise must be positive.
  ``risk_dollar_amount`` and ``percent_of_position`` have no canonical unit and are refused.
- ``price`` or ``signalPrice``: reference price, quote per base. ``time``: ISO-8601 or epoch
  seconds / milliseconds (TradersPost's own Pine scripts send epoch ms). ``interval`` → timeframe.
- ``orderType`` (``market``/``limit``; stop kinds are refused), ``limitPrice``,
  ``timeInForce`` (``gtc``, ``ioc``, ``fok``; the stock-only ``day``, ``gtd``, ``opg``, ``cls``
  are refused).
- ``takeProfit`` / ``stopLoss``: a bare price, or an object. Only the absolute forms are read
  (``takeProfit.limitPrice`` or ``.price``; ``stopLoss.stopPrice``). The relative forms
  (``percent``, ``amount``, ``trailAmount``, ``trailPercent``) need the fill price and are
  ignored here; the account's protective-order rule applies instead.
"""

from datetime import datetime
from typing import Any, TypeVar

from app.domain.enums import Action, OrderType, PositionSide, SizeUnit, TimeInForce
from app.domain.signal import Signal, Size
from app.errors import SignalParseError
from app.ingest.parsers import values

NAME = "traderspost"

T = TypeVar("T")

_ACTIONS = {"buy": "buy", "sell": "sell", "exit": "exit", "cancel": "cancel", "add": "add"}
_UNITS: dict[str, SizeUnit | None] = {
    "fixed_quantity": SizeUnit.BASE,
    "dollar_amount": SizeUnit.QUOTE,
    "percent_of_equity": SizeUnit.PERCENT_EQUITY,
    "risk_dollar_amount": None,
    "percent_of_position": None,
}
_ORDER_TYPES: dict[str, OrderType | None] = {
    "market": OrderType.MARKET, "limit": OrderType.LIMIT, "stop": None, "stop_limit": None, "trailing_stop": None,
}
_TIME_IN_FORCE: dict[str, TimeInForce | None] = {
    "gtc": TimeInForce.GTC, "ioc": TimeInForce.IOC, "fok": TimeInForce.FOK,
    "day": None, "gtd": None, "opg": None, "cls": None,
}
# Keys only TradersPost messages carry; a generic TradingView alert has none of them.
_MARKERS = frozenset(
    {"sentiment", "quantity", "quantitytype", "takeprofit", "stoploss", "signalprice", "limitprice",
     "stopprice", "ordertype", "timeinforce", "extendedhours", "trailamount", "trailpercent"}
)


def detect(data: dict[str, Any] | str) -> bool:
    """A JSON object with ``ticker`` and ``action``, no TradingView ``strategy`` object, and a
    TradersPost-only key (``sentiment``, ``quantity``, ``takeProfit`` …) or the ``add`` action."""
    if not isinstance(data, dict):
        return False
    keys = values.fold_keys(data)
    if "ticker" not in keys or "action" not in keys or "strategy" in keys or "tradewire" in keys:
        return False
    action = keys["action"]
    return bool(_MARKERS & keys.keys()) or (isinstance(action, str) and action.strip().lower() == "add")


def parse(data: dict[str, Any] | str, received_at: datetime) -> Signal:
    """Raises ``SignalParseError`` naming the field for a missing ticker or action, a word
    outside the vocabulary above, a leftover placeholder or a malformed number / time."""
    if not isinstance(data, dict):
        raise SignalParseError("a TradersPost message must be a JSON object", field="body")
    values.reject_placeholders(data)
    keys = values.fold_keys(data)
    symbol, raw_symbol, exchange = values.symbol(keys.get("ticker"), "ticker")
    action, target = _direction(keys)
    size = _size(keys)
    signal_time = values.timestamp(keys.get("time"), "time")
    price = values.positive(keys.get("price"), "price") or values.positive(keys.get("signalprice"), "signalPrice")
    order_type = _supported(keys, "orderType", _ORDER_TYPES, "only market and limit orders are supported")
    time_in_force = _supported(keys, "timeInForce", _TIME_IN_FORCE, "only gtc, ioc and fok apply to crypto venues")
    key = values.derive_key(NAME, symbol, action, target, size, price, signal_time or received_at)
    return Signal(
        dialect=NAME,
        idempotency_key=key,
        symbol=symbol,
        raw_symbol=raw_symbol,
        exchange=exchange,
        action=action,
        target_position=target,
        size=size,
        order_type=order_type or OrderType.MARKET,
        limit_price=values.positive(keys.get("limitprice"), "limitPrice"),
        time_in_force=time_in_force,
        take_profit=_protective(keys.get("takeprofit"), "takeProfit", ("limitprice", "price")),
        stop_loss=_protective(keys.get("stoploss"), "stopLoss", ("stopprice",)),
        price=price,
        signal_time=signal_time,
        timeframe=values.text(keys.get("interval"), "interval", max_length=values.MAX_NAME),
    )


def _direction(keys: dict[str, Any]) -> tuple[Action, PositionSide | None]:
    word = values.choice(keys.get("action"), "action", _ACTIONS)
    if word is None:
        raise SignalParseError("field 'action' is missing (buy, sell, exit, cancel or add)", field="action")
    sentiment = values.position(keys.get("sentiment"), "sentiment")
    if word in ("exit", "cancel"):
        if sentiment not in (None, PositionSide.FLAT):
            raise SignalParseError(
                f"field 'sentiment' can only be used with buy, sell or add, not with {word}", field="sentiment"
            )
        return Action(word), (PositionSide.FLAT if word == "exit" else None)
    if word == "add":
        if sentiment == PositionSide.LONG:
            return Action.BUY, PositionSide.LONG
        if sentiment == PositionSide.SHORT:
            return Action.SELL, PositionSide.SHORT
        raise SignalParseError(
            "action 'add' needs sentiment bullish/long or bearish/short to know which position to add to",
            field="sentiment",
        )
    return Action(word), sentiment


def _size(keys: dict[str, Any]) -> Size | None:
    unit = values.choice(keys.get("quantitytype"), "quantityType", _UNITS)
    amount = values.amount(keys.get("quantity"), "quantity", unit or SizeUnit.BASE)
    if amount is None:
        return None
    if unit is None and values.text(keys.get("quantitytype"), "quantityType") is not None:
        raise SignalParseError(
            f"quantityType {keys['quantitytype']!r} cannot be expressed as base, quote or percent of equity; "
            "use fixed_quantity, dollar_amount or percent_of_equity",
            field="quantityType",
        )
    return Size(amount=amount, unit=unit or SizeUnit.BASE)


def _supported(keys: dict[str, Any], field: str, words: dict[str, T | None], why: str) -> T | None:
    """The word's meaning; TradersPost words Tradewire cannot honour map to None in ``words``
    and are refused with ``why``."""
    raw = keys.get(field.lower())
    found = values.choice(raw, field, words)
    if found is None and values.text(raw, field) is not None:
        raise SignalParseError(f"field {field!r} is {raw!r}: {why}", field=field)
    return found


def _protective(raw: Any, field: str, absolute: tuple[str, ...]) -> Any:
    """The absolute price of a take-profit / stop-loss: a bare number or one of ``absolute``."""
    if not isinstance(raw, dict):
        return values.positive(raw, field)
    inner = values.fold_keys(raw)
    for name in absolute:
        price = values.positive(inner.get(name), f"{field}.{name}")
        if price is not None:
            return price
    return None
