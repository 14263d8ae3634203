"""Multi-timeframe signals: ``{"symbol", "signals": {"1h": {...}, "4h": {...}}}``, each block
with ``direction`` LONG / SHORT / NEUTRAL, ``confidence`` (0–1), ``score`` and ``indicators``.

Source: a shape common among crypto prediction vendors (no single public specification; the
sample in tests/dialects/signals_mtf.json notes where it was modelled from). Read: the block of
the picked timeframe (the poller's market, or ``?timeframe=``), or the only one; several blocks
and none picked is refused naming ``timeframe``. NEUTRAL is HOLD (recorded, places nothing).
``score`` joins the indicators. Time: the block's or the answer's ``timestamp`` /
``generated_at`` / ``updated_at``.
"""

from datetime import datetime
from typing import Any

from app.domain.signal import Signal
from app.errors import SignalParseError
from app.ingest.parsers import values
from app.ingest.parsers.picking import Pick, direction, one_of

NAME = "signals_mtf"
_TIMES = ("timestamp", "generated_at", "updated_at", "time")


def detect(data: dict[str, Any] | str) -> bool:
    if not isinstance(data, dict):
        return False
    blocks = data.get("signals")
    return ("symbol" in data and isinstance(blocks, dict) and bool(blocks)
            and all(isinstance(b, dict) and "direction" in b for b in blocks.values()))


def _time(obj: dict[str, Any], prefix: str) -> datetime | None:
    for name in _TIMES:
        if obj.get(name) not in (None, ""):
            return values.timestamp(obj[name], f"{prefix}{name}")
    return None


def parse(data: dict[str, Any] | str, received_at: datetime, pick: Pick = Pick()) -> Signal:
    if not isinstance(data, dict):
        raise SignalParseError("a signals answer must be a JSON object", field="body")
    values.reject_placeholders(data)
    blocks = data.get("signals")
    if not isinstance(blocks, dict) or not all(isinstance(b, dict) for b in blocks.values()):
        raise SignalParseError("field 'signals' must be an object of timeframe blocks", field="signals")
    timeframe, block = one_of(blocks, pick.timeframe, "timeframe", "timeframe")
    where = f"signals.{timeframe}."
    symbol, raw_symbol, exchange = values.symbol(data.get("symbol"), "symbol")
    action = direction(block.get("direction"), f"{where}direction")
    indicators = values.indicators(block.get("indicators"), f"{where}indicators")
    score = values.decimal(block.get("score"), f"{where}score")
    if score is not None:
        indicators["score"] = score
    signal_time = _time(block, where) or _time(data, "")
    timeframe = values.text(timeframe, "timeframe", max_length=values.MAX_NAME)
    key = values.derive_key(NAME, symbol, timeframe, action, signal_time or received_at.replace(second=0, microsecond=0))
    return Signal(
        dialect=NAME, idempotency_key=key, symbol=symbol, raw_symbol=raw_symbol, exchange=exchange, action=action,
        confidence=values.confidence(block.get("confidence"), f"{where}confidence"), timeframe=timeframe,
        indicators=indicators, signal_time=signal_time,
    )
