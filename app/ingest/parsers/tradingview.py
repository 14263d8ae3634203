"""Generic TradingView strategy alert: the placeholders of a strategy's order fill, flat or nested.

Reads the keys users build from TradingView's placeholders (corpus 01,
hackingthemarkets/tradingview-binance-strategy-alert-webhook): ``ticker``, ``exchange``,
``time`` ({{timenow}}), ``bar.close`` or ``close``, ``strategy.order_action``,
``strategy.order_contracts``, ``strategy.order_price``, ``strategy.order_id``,
``strategy.market_position`` and ``strategy.prev_market_position``. Nested objects and
dotted keys (``strategy.order.action``) are flattened to the same names.
"""

from datetime import datetime
from typing import Any

from app.domain.enums import Action, SizeUnit
from app.domain.signal import Signal, Size
from app.errors import SignalParseError
from app.ingest.parsers import values
from app.ingest.parsers.body import is_secret_field

NAME = "tradingview"

_ALIASES: dict[str, tuple[str, ...]] = {
    "ticker": ("ticker", "symbol", "tv_instrument"),
    "exchange": ("exchange", "tv_exchange"),
    "action": ("order_action", "action", "side"),
    "contracts": ("order_contracts", "contracts"),
    "order_price": ("order_price",),
    "order_id": ("order_id", "order_comment"),
    "market_position": ("market_position",),
    "prev_market_position": ("prev_market_position",),
    "close": ("close", "bar_close", "price"),
    "time": ("timenow", "time"),
    "bar_time": ("bar_time",),
    "interval": ("interval",),
}


def flatten(data: dict[str, Any]) -> dict[str, Any]:
    """Nested or dotted keys to flat snake names: ``strategy.order.action`` → ``order_action``,
    ``bar.close`` → ``bar_close``. Keys are lower-cased; secret fields are dropped."""
    flat: dict[str, Any] = {}
    for path, value in values.walk(data):
        key = path.lower()
        if is_secret_field(key.rsplit(".", 1)[-1]):
            continue
        if key.startswith("strategy."):
            key = key[len("strategy."):]
        flat.setdefault(key.replace(".", "_"), value)
    return flat


def _pick(flat: dict[str, Any], name: str) -> tuple[str, Any]:
    for alias in _ALIASES[name]:
        if alias in flat and flat[alias] not in (None, ""):
            return alias, flat[alias]
    return _ALIASES[name][0], None


def detect(data: dict[str, Any] | str) -> bool:
    """A JSON object with a ticker and a strategy order action (nested or flat)."""
    if not isinstance(data, dict):
        return False
    flat = flatten(data)
    return _pick(flat, "ticker")[1] is not None and any(k in flat for k in ("order_action", "action"))


def parse(data: dict[str, Any] | str, received_at: datetime) -> Signal:
    """Raises ``SignalParseError`` naming the field for a missing ticker or action, a leftover
    placeholder, a value that is not a number / time / position, or contracts or a price that
    are present but zero, negative or out of range (they never fall back to a default)."""
    if not isinstance(data, dict):
        raise SignalParseError("a TradingView strategy alert must be a JSON object", field="body")
    values.reject_placeholders(data)
    flat = flatten(data)
    field, raw_ticker = _pick(flat, "ticker")
    if values.text(raw_ticker, field, max_length=10**9) is None:
        raise SignalParseError("field 'ticker' is missing ({{ticker}})", field="ticker")
    symbol, ticker, _ = values.symbol(raw_ticker, field)
    field, raw_action = _pick(flat, "action")
    action = _action(values.text(raw_action, field), field)
    field, raw_contracts = _pick(flat, "contracts")
    contracts = values.amount(raw_contracts, field, SizeUnit.BASE)
    close = values.positive(*reversed(_pick(flat, "close")))
    order_price = values.positive(*reversed(_pick(flat, "order_price")))
    signal_time = values.timestamp(*reversed(_pick(flat, "time"))) or values.timestamp(
        *reversed(_pick(flat, "bar_time"))
    )
    target = values.position(*reversed(_pick(flat, "market_position")))
    previous = values.position(*reversed(_pick(flat, "prev_market_position")))
    order_id = values.note(*reversed(_pick(flat, "order_id")))
    exchange = values.text(*reversed(_pick(flat, "exchange")), max_length=values.MAX_NAME)
    size = Size(amount=contracts, unit=SizeUnit.BASE) if contracts else None
    key = values.derive_key(NAME, symbol, action, contracts, order_id, target, signal_time or received_at)
    return Signal(
        dialect=NAME,
        idempotency_key=key,
        symbol=symbol,
        raw_symbol=ticker,
        exchange=exchange.lower() if exchange else None,
        action=action,
        target_position=target,
        prev_position=previous,
        size=size,
        price=close or order_price,
        signal_time=signal_time,
        timeframe=values.text(*reversed(_pick(flat, "interval")), max_length=values.MAX_NAME),
        comment=order_id,
    )


def _action(word: str | None, field: str) -> Action:
    if word is None:
        raise SignalParseError("field 'action' is missing ({{strategy.order.action}})", field=field)
    try:
        return Action(word.lower())
    except ValueError:
        raise SignalParseError(
            f"field {field!r} must be buy, sell, exit or cancel, got {word!r}", field=field
        ) from None
