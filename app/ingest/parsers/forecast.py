"""Quantile price forecast: ``{"symbol", "current_price", "quantiles": {"q10": .., "q50": ..},
"signal_24h": {"direction": "UP", "confidence": 0.7}, "signal_7d": {...}}``.

Source: the shape of public quantile forecasters (e.g. Amazon Chronos / TimesFM wrappers that
return p10/p50/p90 and a direction per horizon); no single specification. ``signal_*`` blocks
carry ``direction`` UP / DOWN / FLAT and ``confidence`` (0–1); the horizon after ``signal_`` is
the timeframe. Read: the picked horizon, or the only block (several and none picked: refused
naming ``timeframe``). UP → BUY, DOWN → SELL, FLAT → HOLD (recorded, places nothing).
``current_price`` is the reference price; numeric quantiles / forecast entries are indicators.
"""

from datetime import datetime
from typing import Any

from app.domain.signal import Signal
from app.errors import SignalParseError
from app.ingest.parsers import values
from app.ingest.parsers.picking import Pick, direction, numbers, one_of

NAME = "forecast"
_PREFIX = "signal_"


def _blocks(data: dict[str, Any]) -> dict[str, Any]:
    return {k[len(_PREFIX):]: v for k, v in data.items() if str(k).lower().startswith(_PREFIX) and len(k) > len(_PREFIX)}


def detect(data: dict[str, Any] | str) -> bool:
    if not isinstance(data, dict) or "symbol" not in data:
        return False
    blocks = _blocks(data)
    return bool(blocks) and all(isinstance(b, dict) and "direction" in b for b in blocks.values())


def parse(data: dict[str, Any] | str, received_at: datetime, pick: Pick = Pick()) -> Signal:
    if not isinstance(data, dict):
        raise SignalParseError("a forecast must be a JSON object", field="body")
    values.reject_placeholders(data)
    blocks = _blocks(data)
    if not all(isinstance(b, dict) for b in blocks.values()):
        raise SignalParseError("each signal_* field must be an object with direction and confidence", field="signal_")
    horizon, block = one_of(blocks, pick.timeframe, "timeframe", "signal_* horizon")
    where = f"{_PREFIX}{horizon}."
    symbol, raw_symbol, exchange = values.symbol(data.get("symbol"), "symbol")
    action = direction(block.get("direction"), f"{where}direction")
    indicators: dict[str, Any] = {}
    for name in ("quantiles", "forecast"):
        indicators |= numbers(data.get(name), name)
    signal_time = values.timestamp(data.get("timestamp") or data.get("generated_at"), "timestamp")
    timeframe = values.text(horizon, "timeframe", max_length=values.MAX_NAME)
    key = values.derive_key(NAME, symbol, timeframe, action, signal_time or received_at.replace(second=0, microsecond=0))
    return Signal(
        dialect=NAME, idempotency_key=key, symbol=symbol, raw_symbol=raw_symbol, exchange=exchange, action=action,
        confidence=values.confidence(block.get("confidence"), f"{where}confidence"), timeframe=timeframe,
        indicators=indicators, signal_time=signal_time,
        price=values.positive(data.get("current_price"), "current_price"),
    )
