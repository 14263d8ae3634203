"""ML prediction in the APIndicators schema (corpus 30), for ``POST /api/v1/predictions``.

Source: the APIndicators prediction API response quoted in corpus 30 (``GET
{base}/v1/predictions?symbol=&timeframe=``); no public specification was found. Fields:

- ``symbol`` (``BTCUSDT``, required) and ``timeframe`` (``4h``, kept as written).
- ``prediction``: ``BUY`` / ``SELL`` / ``HOLD`` in any case (required); HOLD is a signal that
  trades nothing.
- ``confidence``: 0–1, exact Decimal. ``indicators``: an object of numbers (``rsi_14``,
  ``atr_14`` in quote currency, …), each an exact Decimal; ``atr_14`` feeds risk-based sizing.
- ``timestamp``: ISO-8601 or epoch s / ms → signal time.

The idempotency key is derived from (symbol, timeframe, prediction, timestamp), so a poller
that fetches the same prediction twice records it once. Without a timestamp the bar the
prediction arrived in stands for it (arrival time floored to the timeframe, e.g. 4 h), so an
unchanged answer polled again within its bar is still recorded once. ``source`` is left to the endpoint.
The endpoint names this dialect (``parse(..., dialect="prediction")``); ``detect`` only claims
a body with exactly this shape so TradingView alerts are never read as predictions.
"""

import re
from datetime import datetime
from typing import Any

from app.domain.enums import Action
from app.domain.signal import Signal
from app.errors import SignalParseError
from app.ingest.parsers import values

NAME = "prediction"

_PREDICTIONS = {"buy": Action.BUY, "sell": Action.SELL, "hold": Action.HOLD}
# Keys of trading alerts: a body with any of them is not a prediction.
_ALERT_KEYS = frozenset({"action", "ticker", "tradewire", "strategy", "passphrase", "signaltoken", "secret"})


def detect(data: dict[str, Any] | str) -> bool:
    """Conservative: a JSON object with symbol, timeframe, confidence and a BUY/SELL/HOLD
    prediction, and none of the keys trading alerts carry (action, ticker, secrets)."""
    if not isinstance(data, dict):
        return False
    keys = values.fold_keys(data)
    word = keys.get("prediction")
    return (
        {"symbol", "timeframe", "confidence"} <= keys.keys()
        and isinstance(word, str)
        and word.strip().lower() in _PREDICTIONS
        and not _ALERT_KEYS & keys.keys()
    )


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# ASCII digits only (str.isdigit() also accepts "²", which int() refuses), at most 6 of them.
_TIMEFRAME = re.compile(r"([0-9]{1,6})([smhdw]?)")


def _bar_start(moment: datetime, timeframe: str | None) -> datetime:
    """``moment`` floored to its ``timeframe`` bar (``15m``, ``4h``, ``1d``; plain digits are
    minutes, as TradingView's ``{{interval}}``); a timeframe we cannot read floors to the minute."""
    match = _TIMEFRAME.fullmatch((timeframe or "").strip().lower())
    count = int(match.group(1)) if match else 0
    seconds = count * _UNIT_SECONDS[match.group(2) or "m"] if match and count else 60
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=moment.tzinfo)


def parse(data: dict[str, Any] | str, received_at: datetime) -> Signal:
    """Raises ``SignalParseError`` naming the field for a missing symbol or prediction, a
    confidence outside 0–1, a non-numeric indicator, a leftover placeholder or a bad time."""
    if not isinstance(data, dict):
        raise SignalParseError("a prediction must be a JSON object", field="body")
    values.reject_placeholders(data)
    keys = values.fold_keys(data)
    symbol, raw_symbol, exchange = values.symbol(keys.get("symbol"), "symbol")
    action = values.choice(keys.get("prediction"), "prediction", _PREDICTIONS)
    if action is None:
        raise SignalParseError("field 'prediction' is missing (BUY, SELL or HOLD)", field="prediction")
    timeframe = values.text(keys.get("timeframe"), "timeframe", max_length=values.MAX_NAME)
    signal_time = values.timestamp(keys.get("timestamp"), "timestamp")
    key = values.derive_key(NAME, symbol, timeframe, action, signal_time or _bar_start(received_at, timeframe))
    return Signal(
        dialect=NAME,
        idempotency_key=key,
        symbol=symbol,
        raw_symbol=raw_symbol,
        exchange=exchange,
        action=action,
        confidence=values.confidence(keys.get("confidence"), "confidence"),
        timeframe=timeframe,
        indicators=values.indicators(keys.get("indicators")),
        signal_time=signal_time,
    )
