"""3Commas Signal Bot JSON (corpus 05).

Spec: help.3commas.io/en/articles/9374557 ("Signal bot: JSON file for Strategy type"); the
"Custom signal" type (help.3commas.io/en/articles/8894481) shares the shape. Fields read:

- ``secret``: the bot's token. It identifies the strategy at the endpoint and is never copied
  into the signal.
- ``tv_instrument`` ({{ticker}}, required) and ``tv_exchange`` ({{exchange}}) → symbol, exchange.
- ``action``: ``buy`` / ``sell`` ({{strategy.order.action}}); the custom-signal words
  ``enter_long``, ``exit_long``, ``enter_short``, ``exit_short`` are read too.
- ``strategy_info.market_position`` / ``prev_market_position`` → target / previous position.
- ``order.amount`` with ``order.currency_type``: ``base`` (default) → base units, ``quote`` →
  quote currency, ``margin_percent`` → percent of equity (0–100). ``order.order_type``
  (``market``/``limit``) and ``order.price`` (the limit price) when present. An amount or a
  price that is present must be positive and in range; ``0`` is refused, not read as absent.
- ``trigger_price`` ({{close}}) → reference price; ``timestamp`` ({{timenow}}, ISO-8601 or epoch
  s / ms) → signal time; ``max_lag`` (whole seconds, 1 to a week, quoted or bare) → max lag.
- ``bot_uuid`` → comment, and part of the idempotency key.
"""

from datetime import datetime
from typing import Any

from app.domain.enums import Action, OrderType, PositionSide, SizeUnit
from app.domain.signal import Signal, Size
from app.errors import SignalParseError
from app.ingest.parsers import values

NAME = "threecommas"

_ACTIONS: dict[str, tuple[Action, PositionSide | None, PositionSide | None]] = {
    "buy": (Action.BUY, None, None),
    "sell": (Action.SELL, None, None),
    "enter_long": (Action.BUY, PositionSide.LONG, None),
    "exit_long": (Action.SELL, PositionSide.FLAT, PositionSide.LONG),
    "enter_short": (Action.SELL, PositionSide.SHORT, None),
    "exit_short": (Action.BUY, PositionSide.FLAT, PositionSide.SHORT),
}
_UNITS = {"base": SizeUnit.BASE, "quote": SizeUnit.QUOTE, "margin_percent": SizeUnit.PERCENT_EQUITY}
_ORDER_TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT}


def detect(data: dict[str, Any] | str) -> bool:
    """A JSON object with 3Commas' ``tv_instrument`` or ``bot_uuid``."""
    if not isinstance(data, dict):
        return False
    keys = values.fold_keys(data)
    return "tv_instrument" in keys or "bot_uuid" in keys


def parse(data: dict[str, Any] | str, received_at: datetime) -> Signal:
    """Raises ``SignalParseError`` naming the field for a missing instrument or action, a word
    outside the vocabulary above, a leftover placeholder or a malformed number / time."""
    if not isinstance(data, dict):
        raise SignalParseError("a 3Commas message must be a JSON object", field="body")
    values.reject_placeholders(data)
    keys = values.fold_keys(data)
    symbol, raw_symbol, prefix = values.symbol(keys.get("tv_instrument"), "tv_instrument")
    exchange = values.text(keys.get("tv_exchange"), "tv_exchange", max_length=values.MAX_NAME)
    action, target, previous = _direction(keys)
    order = _object(keys.get("order"), "order")
    size = _size(order)
    signal_time = values.timestamp(keys.get("timestamp"), "timestamp")
    bot_uuid = values.text(keys.get("bot_uuid"), "bot_uuid")
    key = values.derive_key(NAME, bot_uuid, symbol, action, target, size, signal_time or received_at)
    return Signal(
        dialect=NAME,
        idempotency_key=key,
        symbol=symbol,
        raw_symbol=raw_symbol,
        exchange=exchange.lower() if exchange else prefix,
        action=action,
        target_position=target,
        prev_position=previous,
        size=size,
        order_type=values.choice(order.get("order_type"), "order.order_type", _ORDER_TYPES) or OrderType.MARKET,
        limit_price=values.positive(order.get("price"), "order.price"),
        price=values.positive(keys.get("trigger_price"), "trigger_price"),
        signal_time=signal_time,
        max_lag=values.seconds(keys.get("max_lag"), "max_lag"),
        comment=bot_uuid,
    )


def _direction(keys: dict[str, Any]) -> tuple[Action, PositionSide | None, PositionSide | None]:
    found = values.choice(keys.get("action"), "action", _ACTIONS)
    if found is None:
        raise SignalParseError("field 'action' is missing ({{strategy.order.action}})", field="action")
    action, target, previous = found
    info = _object(keys.get("strategy_info"), "strategy_info")
    target = values.position(info.get("market_position"), "strategy_info.market_position") or target
    previous = values.position(info.get("prev_market_position"), "strategy_info.prev_market_position") or previous
    return action, target, previous


def _size(order: dict[str, Any]) -> Size | None:
    unit = values.choice(order.get("currency_type"), "order.currency_type", _UNITS) or SizeUnit.BASE
    amount = values.amount(order.get("amount"), "order.amount", unit)
    return Size(amount=amount, unit=unit) if amount is not None else None


def _object(raw: Any, field: str) -> dict[str, Any]:
    """A nested object with lower-cased keys; {} when absent."""
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise SignalParseError(f"field {field!r} must be an object, got {type(raw).__name__}", field=field)
    return values.fold_keys(raw)
