"""Token Metrics trading signals (``GET https://api.tokenmetrics.com/v2/trading-signals``).

Source: the public API reference (developers.tokenmetrics.com, "trading-signals") and public
clients of it: the answer is ``{"success", "message", "length", "data": [...]}`` with one row per
token and date: ``TOKEN_ID``, ``TOKEN_NAME``, ``TOKEN_SYMBOL`` (``BTC``), ``DATE`` (ISO-8601 or
``YYYY-MM-DD``), ``TRADING_SIGNAL`` (1 bullish / -1 bearish / 0 no signal), ``TOKEN_TREND``,
``TRADING_SIGNALS_RETURNS``, ``HOLDING_RETURNS``, ``TM_TRADER_GRADE``, ``TM_INVESTOR_GRADE``
(0–100). The key goes in the ``api_key`` / ``x-api-key`` header.

Read: the row of the picked symbol (by its base asset; the latest ``DATE`` when several dates
are listed), or the only token; ``1`` → BUY, ``-1`` → SELL, ``0`` → HOLD (recorded, places
nothing). The token ``BTC`` trades as the picked market, else ``BTC/USDT``. The trader grade
/ 100 is the confidence; the numeric columns are indicators. Timeframe ``1d`` (daily signals).
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.enums import Action
from app.domain.signal import Signal
from app.errors import SignalParseError
from app.ingest.parsers import values
from app.ingest.parsers.picking import Pick, base_of, numbers, one_of, token_symbol

NAME = "tokenmetrics"
_SIGNALS = {Decimal(1): Action.BUY, Decimal(-1): Action.SELL, Decimal(0): Action.HOLD}


def detect(data: dict[str, Any] | str) -> bool:
    if not isinstance(data, dict) or not isinstance(data.get("data"), list) or not data["data"]:
        return False
    return all(isinstance(row, dict) and {"TOKEN_SYMBOL", "TRADING_SIGNAL"} <= row.keys() for row in data["data"])


def parse(data: dict[str, Any] | str, received_at: datetime, pick: Pick = Pick()) -> Signal:
    if not isinstance(data, dict):
        raise SignalParseError("a Token Metrics answer must be a JSON object", field="body")
    values.reject_placeholders(data)
    rows = data.get("data")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise SignalParseError("field 'data' must be a list of token rows", field="data")
    by_token: dict[str, list[dict[str, Any]]] = {}
    for index, row in enumerate(rows):
        token = values.text(row.get("TOKEN_SYMBOL"), f"data[{index}].TOKEN_SYMBOL", max_length=values.MAX_NAME)
        if token is None:
            raise SignalParseError(f"field 'data[{index}].TOKEN_SYMBOL' is missing", field=f"data[{index}].TOKEN_SYMBOL")
        by_token.setdefault(token.upper(), []).append(row)
    wanted = base_of(pick.symbol) if pick.symbol else None
    token, candidates = one_of(by_token, wanted, "symbol", "token")
    dated = [(values.timestamp(r.get("DATE"), "DATE"), r) for r in candidates]
    signal_time, row = max(dated, key=lambda p: (p[0] is not None, p[0] or received_at))
    number = values.decimal(row.get("TRADING_SIGNAL"), "TRADING_SIGNAL")
    if number is None or number not in _SIGNALS:
        raise SignalParseError(f"field 'TRADING_SIGNAL' must be 1, -1 or 0, got {values.show(row.get('TRADING_SIGNAL'))}",
                               field="TRADING_SIGNAL")
    action = _SIGNALS[number]
    grade = values.decimal(row.get("TM_TRADER_GRADE"), "TM_TRADER_GRADE")
    if grade is not None and not Decimal(0) <= grade <= Decimal(100):
        raise SignalParseError(f"field 'TM_TRADER_GRADE' must be between 0 and 100, got {values.show(grade)}",
                               field="TM_TRADER_GRADE")
    symbol, raw_symbol, exchange = token_symbol(token, pick)
    timeframe = "1d"
    key = values.derive_key(NAME, symbol, action, signal_time or received_at.date())
    return Signal(
        dialect=NAME, idempotency_key=key, symbol=symbol, raw_symbol=raw_symbol, exchange=exchange,
        action=action, confidence=grade / 100 if grade is not None else None, timeframe=timeframe,
        indicators=numbers({k: v for k, v in row.items() if k not in ("TRADING_SIGNAL", "TOKEN_ID")}, "data"),
        signal_time=signal_time,
    )
