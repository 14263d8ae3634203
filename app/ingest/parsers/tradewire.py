"""Tradewire's own alert message: the canonical signal's fields, plus ``"tradewire": 1``.

The message users paste into TradingView (README, "The alert message"):

    {"tradewire": 1, "symbol": "{{exchange}}:{{ticker}}", "action": "{{strategy.order.action}}",
     "size": "{{strategy.order.contracts}}", "size_unit": "base",
     "target_position": "{{strategy.market_position}}",
     "prev_position": "{{strategy.prev_market_position}}",
     "price": "{{close}}", "signal_time": "{{timenow}}", "comment": "{{strategy.order.id}}"}

Numbers may be quoted or bare; ``signal_time`` ISO-8601 or epoch s / ms; ``size`` may be a
number (with ``size_unit``) or an object ``{"amount": .., "unit": ..}``. The same parser
reads canonical signals posted to ``/api/v1/signals`` (there the marker is optional).
"""

from datetime import datetime
from typing import Any

from app.domain.enums import Action, SizeUnit
from app.domain.signal import Signal, Size
from app.domain.symbols import SymbolError, to_unified_symbol
from app.errors import SignalParseError
from app.ingest.parsers import values

NAME = "tradewire"
MARKER = "tradewire"

_PASSTHROUGH = ("order_type", "time_in_force", "timeframe", "account")
_PRICES = ("limit_price", "stop_loss", "take_profit", "price")


def detect(data: dict[str, Any] | str) -> bool:
    return isinstance(data, dict) and MARKER in data


def parse(data: dict[str, Any] | str, received_at: datetime) -> Signal:
    """Raises ``SignalParseError`` naming the field for a missing symbol or action, a leftover
    placeholder or a malformed value."""
    if not isinstance(data, dict):
        raise SignalParseError("a Tradewire message must be a JSON object", field="body")
    values.reject_placeholders(data)
    raw_symbol = values.text(data.get("symbol") or data.get("ticker"), "symbol")
    if raw_symbol is None:
        raise SignalParseError("field 'symbol' is missing", field="symbol")
    try:
        symbol = to_unified_symbol(raw_symbol)
    except SymbolError as e:
        raise SignalParseError(f"field 'symbol': {e}", field="symbol") from None
    action_word = values.text(data.get("action"), "action")
    if action_word is None:
        raise SignalParseError("field 'action' is missing", field="action")
    try:
        action = Action(action_word.lower())
    except ValueError:
        raise SignalParseError(
            f"field 'action' must be one of {', '.join(a.value for a in Action)}, got {action_word!r}",
            field="action",
        ) from None
    fields: dict[str, Any] = {k: data[k] for k in _PASSTHROUGH if data.get(k) not in (None, "")}
    fields.update({k: values.positive(data.get(k), k) for k in _PRICES})
    signal_time = values.timestamp(data.get("signal_time") or data.get("time"), "signal_time")
    size = _size(data)
    exchange = values.text(data.get("exchange"), "exchange") or (
        raw_symbol.split(":", 1)[0] if ":" in raw_symbol and "/" not in raw_symbol else None
    )
    key = values.text(data.get("idempotency_key"), "idempotency_key") or values.derive_key(
        NAME, symbol, action, size, data.get("comment"), data.get("target_position"), signal_time or received_at
    )
    return Signal(
        dialect=NAME,
        idempotency_key=key,
        symbol=symbol,
        raw_symbol=raw_symbol,
        exchange=exchange.lower() if exchange else None,
        action=action,
        target_position=values.position(data.get("target_position"), "target_position"),
        prev_position=values.position(data.get("prev_position"), "prev_position"),
        size=size,
        signal_time=signal_time,
        max_lag=_max_lag(data.get("max_lag")),
        confidence=values.decimal(data.get("confidence"), "confidence"),
        indicators=_indicators(data.get("indicators")),
        comment=values.text(data.get("comment"), "comment"),
        **{k: (v.lower() if k == "order_type" and isinstance(v, str) else v) for k, v in fields.items()},
    )


def _size(data: dict[str, Any]) -> Size | None:
    raw = data.get("size")
    if isinstance(raw, dict):
        amount = values.positive(raw.get("amount"), "size.amount")
        unit = raw.get("unit") or SizeUnit.BASE
    else:
        amount = values.positive(raw, "size")
        unit = data.get("size_unit") or SizeUnit.BASE
    if amount is None:
        return None
    try:
        return Size(amount=amount, unit=SizeUnit(str(unit).lower()))
    except ValueError:
        raise SignalParseError(
            f"field 'size_unit' must be one of {', '.join(u.value for u in SizeUnit)}, got {unit!r}",
            field="size_unit",
        ) from None


def _max_lag(raw: Any) -> int | None:
    seconds = values.positive(raw, "max_lag")
    return int(seconds) if seconds is not None else None


def _indicators(raw: Any) -> dict[str, Any]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise SignalParseError("field 'indicators' must be an object of numbers", field="indicators")
    return {str(k): values.decimal(v, f"indicators.{k}") for k, v in raw.items() if v not in (None, "")}
