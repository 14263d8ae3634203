"""Trade-levels answer: ``{"symbol", "action", "entry_price", "stop_loss", "take_profit",
"tp_hit_probability", "sl_hit_probability", "confidence", "timeframe", "timestamp"}``.

Source: the shape of AI trade-setup APIs that quote an entry, a stop and a target with the
probability of reaching each (no single specification; see tests/dialects/trade_levels.json).
Read: ``action`` BUY / SELL / LONG / SHORT (HOLD / NEUTRAL: recorded, places nothing) as a
limit order at ``entry_price`` with ``stop_loss`` and ``take_profit``; the hit probabilities
(0–1) are kept as indicators ``tp_hit_probability`` / ``sl_hit_probability``.
"""

from datetime import datetime
from typing import Any

from app.domain.enums import Action, OrderType
from app.domain.signal import Signal
from app.errors import SignalParseError
from app.ingest.parsers import values
from app.ingest.parsers.picking import Pick, direction

NAME = "trade_levels"
_PROBABILITIES = ("tp_hit_probability", "sl_hit_probability")


def detect(data: dict[str, Any] | str) -> bool:
    if not isinstance(data, dict):
        return False
    keys = values.fold_keys(data)
    return ({"symbol", "action", "entry_price", "stop_loss", "take_profit"} <= keys.keys()
            and any(p in keys for p in _PROBABILITIES))


def parse(data: dict[str, Any] | str, received_at: datetime, pick: Pick = Pick()) -> Signal:
    if not isinstance(data, dict):
        raise SignalParseError("a trade-levels answer must be a JSON object", field="body")
    values.reject_placeholders(data)
    keys = values.fold_keys(data)
    symbol, raw_symbol, exchange = values.symbol(keys.get("symbol"), "symbol")
    action = direction(keys.get("action"), "action")
    indicators = {}
    for name in _PROBABILITIES:
        probability = values.confidence(keys.get(name), name)
        if probability is not None:
            indicators[name] = probability
    trades = action in (Action.BUY, Action.SELL)
    entry = values.positive(keys.get("entry_price"), "entry_price")
    if trades and entry is None:
        raise SignalParseError("field 'entry_price' is missing (the limit price)", field="entry_price")
    timeframe = values.text(keys.get("timeframe"), "timeframe", max_length=values.MAX_NAME) or pick.timeframe
    signal_time = values.timestamp(keys.get("timestamp"), "timestamp")
    key = values.derive_key(NAME, symbol, timeframe, action, entry, signal_time or received_at.replace(second=0, microsecond=0))
    return Signal(
        dialect=NAME, idempotency_key=key, symbol=symbol, raw_symbol=raw_symbol, exchange=exchange, action=action,
        order_type=OrderType.LIMIT if trades else OrderType.MARKET, limit_price=entry if trades else None,
        stop_loss=values.positive(keys.get("stop_loss"), "stop_loss") if trades else None,
        take_profit=values.positive(keys.get("take_profit"), "take_profit") if trades else None,
        price=entry, confidence=values.confidence(keys.get("confidence"), "confidence"), timeframe=timeframe,
        indicators=indicators, signal_time=signal_time,
    )
