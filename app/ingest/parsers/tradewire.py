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

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from app.domain.enums import Action, OrderType, SizeUnit, TimeInForce
from app.domain.ladder import ExitLadder
from app.domain.signal import MAX_ASSETS, Signal, Size
from app.errors import SignalParseError
from app.ingest.parsers import values

NAME = "tradewire"
MARKER = "tradewire"

_PRICES = ("limit_price", "stop_loss", "take_profit", "price")
ALL_SYMBOLS = "*"  # close_all / cancel_all without a symbol: the whole account
# The canonical words, also what a [dialects] mapping maps to (app.ingest.parsers.mapped).
ACTIONS = {a.value: a for a in Action}
UNITS = {u.value: u for u in SizeUnit}
ORDER_TYPES = {t.value: t for t in OrderType}
TIME_IN_FORCE = {t.value.lower(): t for t in TimeInForce}
MARGIN_MODES = {"cross": "cross", "isolated": "isolated"}


def detect(data: dict[str, Any] | str) -> bool:
    """The ``"tradewire"`` marker, or a bare portfolio target (``{"weights": {...}}`` with no
    symbol or ticker: no other dialect reads a ``weights`` object)."""
    if not isinstance(data, dict):
        return False
    return MARKER in data or (isinstance(data.get("weights"), dict) and not ({"symbol", "ticker"} & data.keys()))


def parse(data: dict[str, Any] | str, received_at: datetime) -> Signal:
    """Raises ``SignalParseError`` naming the field for a missing symbol or action, a leftover
    placeholder or a malformed value: a size or price that is present but not a positive
    number in range (never read as "absent"), a percentage above 100, a ``max_lag`` beyond a
    week, a ``confidence`` outside 0–1, or text too long for its column."""
    if not isinstance(data, dict):
        raise SignalParseError("a Tradewire message must be a JSON object", field="body")
    values.reject_placeholders(data)
    action = values.choice(data.get("action"), "action", ACTIONS)
    if action == Action.REBALANCE or (action is None and data.get("weights") is not None):
        return _rebalance(data, received_at)
    if data.get("weights") is not None or data.get("prices") is not None:
        raise SignalParseError(f"fields 'weights' / 'prices' belong to a rebalance, not to a {action} signal",
                               field="weights" if data.get("weights") is not None else "prices")
    if action is None:
        raise SignalParseError("field 'action' is missing", field="action")
    if action in (Action.CLOSE_ALL, Action.CANCEL_ALL) and not (data.get("symbol") or data.get("ticker")):
        symbol, raw_symbol, prefix = ALL_SYMBOLS, ALL_SYMBOLS, None  # every symbol of the account
    else:
        symbol, raw_symbol, prefix = values.symbol(data.get("symbol") or data.get("ticker"), "symbol")
    signal_time = values.timestamp(data.get("signal_time") or data.get("time"), "signal_time")
    size = _size(data)
    exchange = values.text(data.get("exchange"), "exchange", max_length=values.MAX_NAME) or prefix
    key = values.text(data.get("idempotency_key"), "idempotency_key", max_length=values.MAX_KEY) or values.derive_key(
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
        max_lag=values.seconds(data.get("max_lag"), "max_lag"),
        confidence=values.confidence(data.get("confidence"), "confidence"),
        indicators=values.indicators(data.get("indicators")),
        comment=values.note(data.get("comment"), "comment"),
        **_order_fields(data),
    )


def _order_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Order type, time in force, account, timeframe and the prices that are present."""
    fields: dict[str, Any] = {
        "order_type": values.choice(data.get("order_type"), "order_type", ORDER_TYPES),
        "time_in_force": values.choice(data.get("time_in_force"), "time_in_force", TIME_IN_FORCE),
        "account": values.text(data.get("account"), "account", max_length=values.MAX_NAME),
        "timeframe": values.text(data.get("timeframe"), "timeframe", max_length=values.MAX_NAME),
        "limit_offset": values.limit_offset(data.get("limit_offset"), "limit_offset"),
        "target_size": values.decimal(data.get("target_size"), "target_size"),
        "target_percent": values.decimal(data.get("target_percent"), "target_percent"),
        "leverage": values.leverage(data.get("leverage"), "leverage"),
        "margin_mode": values.choice(data.get("margin_mode"), "margin_mode", MARGIN_MODES),
        "position_side": values.position(data.get("position_side"), "position_side"),
    }
    fields.update({k: values.positive(data.get(k), k) for k in _PRICES})
    fields["exit_ladder"] = _exit_ladder(data)
    return {k: v for k, v in fields.items() if v is not None}


def _size(data: dict[str, Any]) -> Size | None:
    """The size: a number with ``size_unit`` (default base) or ``{"amount": .., "unit": ..}``.

    None only when ``size`` is absent or empty; an object without an amount, a zero or
    negative amount, or one out of its unit's range is a ``SignalParseError``.
    """
    raw = data.get("size")
    if isinstance(raw, dict):
        if raw.get("amount") in (None, ""):
            raise SignalParseError("field 'size.amount' is missing: size must be a number or "
                                   '{"amount": .., "unit": ..}', field="size.amount")
        amount_raw, amount_field, unit_raw, unit_field = raw.get("amount"), "size.amount", raw.get("unit"), "size.unit"
    else:
        amount_raw, amount_field, unit_raw, unit_field = raw, "size", data.get("size_unit"), "size_unit"
    unit = values.choice(unit_raw, unit_field, UNITS) or SizeUnit.BASE
    amount = values.amount(amount_raw, amount_field, unit)
    return Size(amount=amount, unit=unit) if amount is not None else None


_LADDER_KEYS = ("take_profits", "trailing_stop", "break_even_after", "break_even_offset_percent")


def _exit_ladder(data: dict[str, Any]) -> ExitLadder | None:
    """``exit_ladder`` (an object, ``app.domain.ladder.ExitLadder``'s fields), or its fields at
    the top level (``take_profits``, ``trailing_stop``, ``break_even_after``, …; the signal's
    ``stop_loss`` is then the ladder's). Raises ``SignalParseError`` naming the field."""
    raw, prefix = data.get("exit_ladder"), "exit_ladder"
    if raw in (None, ""):
        raw, prefix = {k: data[k] for k in _LADDER_KEYS if data.get(k) not in (None, "")}, ""
        if not raw:
            return None
    if not isinstance(raw, dict):
        raise SignalParseError("field 'exit_ladder' must be an object", field="exit_ladder")
    try:
        return ExitLadder.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(first["loc"])) or prefix or "exit_ladder"
        raise SignalParseError(f"field {where!r}: {first['msg']}", field=where) from None


_ASSET = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,31}")


def _rebalance(data: dict[str, Any], received_at: datetime) -> Signal:
    """``{"action": "rebalance", "weights": {"BTC": 0.5, ...}, "prices": {"BTC": "43000"}}``
    (the action may be left out when ``weights`` is there). Absent weights: the strategy's.
    Raises ``SignalParseError`` naming the field (``weights.BTC``)."""
    weights = _per_asset(data.get("weights"), "weights")
    for asset, weight in (weights or {}).items():
        if weight > 1:
            raise SignalParseError(f"field 'weights.{asset}' is a fraction of equity between 0 and 1, got {weight:f}",
                                   field=f"weights.{asset}")
    total = sum((weights or {}).values(), Decimal(0))
    if total > 1:
        raise SignalParseError(f"field 'weights' sums to {total:f}; at most 1 (the rest stays in the quote currency)",
                               field="weights")
    prices = _per_asset(data.get("prices"), "prices", positive=True)
    signal_time = values.timestamp(data.get("signal_time") or data.get("time"), "signal_time")
    comment = values.note(data.get("comment"), "comment")
    key = values.text(data.get("idempotency_key"), "idempotency_key", max_length=values.MAX_KEY) or values.derive_key(
        NAME, ALL_SYMBOLS, Action.REBALANCE, weights, comment, signal_time or received_at)
    return Signal(
        dialect=NAME, idempotency_key=key, symbol=ALL_SYMBOLS, raw_symbol=ALL_SYMBOLS, action=Action.REBALANCE,
        weights=weights, prices=prices, signal_time=signal_time, max_lag=values.seconds(data.get("max_lag"), "max_lag"),
        account=values.text(data.get("account"), "account", max_length=values.MAX_NAME), comment=comment,
    )


def _per_asset(raw: Any, field: str, *, positive: bool = False) -> dict[str, Decimal] | None:
    """An object of asset → number (asset codes upper-cased: ``btc`` is ``BTC``); None when
    absent. Weights are in [0, 1]; prices in (0, ``MAX_AMOUNT``]. Raises ``SignalParseError``."""
    if raw in (None, ""):
        return None
    if not isinstance(raw, dict):
        raise SignalParseError(f"field {field!r} must be an object of asset: number, e.g. {{\"BTC\": 0.5}}", field=field)
    if len(raw) > MAX_ASSETS:
        raise SignalParseError(f"field {field!r} names {len(raw)} assets; at most {MAX_ASSETS}", field=field)
    result: dict[str, Decimal] = {}
    for key, value in raw.items():
        asset = str(key).strip().upper()
        where = f"{field}.{(asset or str(key))[:40]}"
        if not _ASSET.fullmatch(asset):
            raise SignalParseError(f"field {where!r}: {str(key)[:40]!r} is not an asset code like BTC", field=where)
        if asset in result:
            raise SignalParseError(f"field {where!r} is given twice", field=where)
        number = values.positive(value, where) if positive else values.decimal(value, where)
        if number is None:
            raise SignalParseError(f"field {where!r} is empty", field=where)
        if number < 0:
            raise SignalParseError(f"field {where!r} must be at least 0, got {values.show(value)}", field=where)
        result[asset] = number
    return result
