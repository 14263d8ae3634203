"""Pipe- and key=value-delimited alert text, in the three layouts public bots document.

- ``key=value`` pairs joined by ``|`` or ``&`` (one separator per message), keys in any case:
  ``symbol={{ticker}}&signal=LONG&price={{close}}`` (krill0051-hash/tradingview-proxy, its "Alternative
  Format (Text)"), ``action=buy|symbol=BTCUSDT|qty=0.01``. A first part without ``=`` is a tag
  (``SDT|…``), kept in the comment. Text with ``;`` or line breaks is OctoBot's (``app.ingest.parsers.octobot``).
- Positional: ``ACTION|TICKER[|PRICE[|INTERVAL]]`` or ``TICKER|ACTION[|…]``, as in
  ``{{ticker}}|{{strategy.order.action}}|{{close}}|{{interval}}`` (vonzelle-vzt/tradestack-mcp's
  README). The third field is the sender's price (``{{close}}``), never a quantity: reading 67000 as an
  amount would order 67000 BTC. A quantity is named: ``qty=0.01``.
- Bitcoin-vs-Altcoins (BVA): ``KEY|STRATEGY NAME|ACTION|TICKER[|MARKET_POSITION|EXTRA_DATA|PUBLISHED|
  TRADE_SIZE_PCT|TRADING_MARKET]`` (carlsachs/bva2, src/pages/addyourstrat.vue; its Python sample
  posts it as a JSON string, which is read too). The key is BVA's credential: never copied into the
  signal, and ``app.ingest.parsers.body.redact`` replaces it with ``***`` in what is stored.

Words: ``buy`` / ``long`` → buy (long: target long), ``sell`` / ``short`` → sell (short: target short),
``close`` / ``exit`` / ``flat`` → exit (``close_long`` / ``exit_short`` … also set prev_position),
``cancel`` → cancel. Keys: ``action`` (``side``, ``signal``, ``direction``), ``symbol`` (``ticker``,
``pair``), ``qty`` (``quantity``, ``size``, ``amount``, ``volume``, ``contracts``): base units, or
``N%`` of equity; ``price`` (``close``): the reference price; ``type`` market / limit with ``limit``
(or ``price``); ``sl`` / ``tp`` (``stop_loss``, ``take_profit``): prices, or ``N%`` from the entry (an
exit ladder); ``leverage`` (``10`` or ``10x``); ``time`` (ISO-8601 or epoch s / ms); ``tf``
(``interval``); ``exchange``; ``position`` / ``prev_position``; ``comment`` (``id``, ``strategy``).
Secret keys (``token=``, ``key=``, ``passphrase=`` …) are dropped. Any other key, BVA's ``take``,
``trade_size_pct`` and a ``margin`` / ``futures`` market are refused naming them.
"""

import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.enums import Action, OrderType, PositionSide, SizeUnit
from app.domain.ladder import ExitLadder, TakeProfit
from app.domain.signal import Signal, Size
from app.errors import SignalParseError
from app.ingest.parsers import values
from app.ingest.parsers.body import is_secret_field

NAME = "delimited"

_WORDS: dict[str, tuple[Action, PositionSide | None, PositionSide | None]] = {  # action, target, prev
    **dict.fromkeys(("buy", "enter_long", "open_long"), (Action.BUY, None, None)),
    **dict.fromkeys(("sell", "enter_short", "open_short"), (Action.SELL, None, None)),
    "long": (Action.BUY, PositionSide.LONG, None),
    "short": (Action.SELL, PositionSide.SHORT, None),
    **dict.fromkeys(("close", "exit", "flat"), (Action.EXIT, PositionSide.FLAT, None)),
    **dict.fromkeys(("close_long", "exit_long"), (Action.EXIT, PositionSide.FLAT, PositionSide.LONG)),
    **dict.fromkeys(("close_short", "exit_short"), (Action.EXIT, PositionSide.FLAT, PositionSide.SHORT)),
    "cancel": (Action.CANCEL, None, None),
}
_BVA_WORDS = ("buy", "sell", "take", "close")
# Canonical name → the keys senders write for it (lower case).
_KEYS = {
    "action": ("action", "side", "signal", "direction", "order_action"),
    "symbol": ("symbol", "ticker", "pair", "instrument"),
    "qty": ("qty", "quantity", "size", "amount", "volume", "contracts"),
    "price": ("price", "close"),
    "type": ("type", "order_type", "ordertype"),
    "limit": ("limit", "limit_price", "limitprice"),
    "sl": ("sl", "stop_loss", "stoploss"),
    "tp": ("tp", "take_profit", "takeprofit"),
    "leverage": ("leverage", "lev"),
    "time": ("time", "timestamp", "timenow"),
    "tf": ("tf", "interval", "timeframe"),
    "exchange": ("exchange",),
    "position": ("position", "market_position", "sentiment"),
    "prev_position": ("prev_position", "prev_market_position"),
    "comment": ("comment", "note", "id", "strategy", "tag"),
}
_CANONICAL = {alias: name for name, aliases in _KEYS.items() for alias in aliases}
_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")
_TICKERISH = re.compile(r"[A-Za-z0-9!:._/-]{2,64}|\{\{[^{}]*\}\}")
_PERCENT = re.compile(r"\s*([0-9.]+)\s*%\s*")
_LEVERAGE = re.compile(r"(?i)\s*([0-9.]+)\s*x?\s*")


def detect(data: dict[str, Any] | str) -> bool:
    """One line of ``|``-separated fields (key=value, positional or BVA) or ``&``-joined pairs."""
    if not isinstance(data, str):
        return False
    text = _unquote(data)
    if text is None or "\n" in text or ";" in text or text.startswith("[") or (
            text.startswith("{") and not text.startswith("{{")):  # broken JSON, not a placeholder
        return False
    return _layout(text) is not None


def parse(data: dict[str, Any] | str, received_at: datetime) -> Signal:
    """Raises ``SignalParseError`` naming the key or positional field: a missing symbol or action, a
    word or key Tradewire does not read, a leftover placeholder, a bad number or time."""
    text = _unquote(data) if isinstance(data, str) else None
    if text is None:
        raise SignalParseError("a delimited alert is one line of text: key=value pairs joined by | or &, "
                               "ACTION|TICKER[|PRICE], or BVA's KEY|NAME|ACTION|TICKER", field="body")
    layout = _layout(text)
    if layout == "pairs":
        fields, tag = _pairs(text)
    elif layout == "bva":
        fields, tag = _bva(text.split("|")), None
    elif layout == "positional":
        fields, tag = _positional(text.split("|")), None
    else:
        raise SignalParseError("a delimited alert is key=value pairs joined by | or & (action=buy|symbol=BTCUSDT), "
                               "ACTION|TICKER[|PRICE[|INTERVAL]], or BVA's KEY|NAME|ACTION|TICKER", field="body")
    values.reject_placeholders(fields)
    return _signal(fields, tag, received_at)


def _unquote(text: str) -> str | None:
    """The text, or the string inside a JSON string body (``"KEY|name|buy|BTCUSDT|"``)."""
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
        try:
            inner = json.loads(stripped)
        except ValueError:
            return stripped
        return inner.strip() if isinstance(inner, str) else None
    return stripped


def _layout(text: str) -> str | None:
    """``pairs``, ``positional``, ``bva`` or None (not this dialect's)."""
    if "=" in text:
        separator = "|" if "|" in text else "&"
        parts = [p for p in text.split(separator) if p.strip()]
        if len(parts) < 2 or ("|" in text and "&" in text):
            return None
        tagged = parts[1:] if "=" not in parts[0] else parts
        if not all("=" in p for p in tagged) or len(tagged) < 2:
            return None
        keys = {p.partition("=")[0].strip().lower() for p in tagged}
        return "pairs" if {"action", "symbol"} & {_CANONICAL.get(k) for k in keys} else None
    fields = [f.strip() for f in text.split("|")]
    if 2 <= len(fields) <= 4 and any(_is_action(fields[i], _WORDS) and _TICKERISH.fullmatch(fields[1 - i])
                                     for i in (0, 1)):
        return "positional"
    if 4 <= len(fields) <= 9 and _is_action(fields[2], _BVA_WORDS) and _TICKERISH.fullmatch(fields[3]):
        return "bva"
    return None


def _is_action(field: str, words: Any) -> bool:
    word = field.strip().lower()
    return word in words or (_PLACEHOLDER.fullmatch(word) is not None and "action" in word)


def _pairs(text: str) -> tuple[dict[str, str], str | None]:
    """Canonical name → value (secrets dropped), and the leading tag if any. Raises
    ``SignalParseError`` for a key Tradewire does not read or one given twice."""
    separator = "|" if "|" in text else "&"
    parts = [p for p in text.split(separator) if p.strip()]
    tag = parts.pop(0).strip() if "=" not in parts[0] else None
    found: dict[str, str] = {}
    for part in parts:
        key, _, value = part.partition("=")
        key = key.strip().lower()
        if is_secret_field(key):
            continue
        name = _CANONICAL.get(key)
        if name is None:
            raise SignalParseError(f"the key {values.show(key)} has no Tradewire equivalent; Tradewire reads "
                                   f"{', '.join(_KEYS)} and their usual spellings (side, ticker, quantity, "
                                   "stop_loss …)",
                                   field=key[:200] or "body")
        if name in found:
            raise SignalParseError(f"{name} is given twice ({key}=)", field=key)
        found[name] = value.strip().strip('"').strip("'").strip()
    return found, tag


def _positional(fields: list[str]) -> dict[str, str]:
    order = ("action", "symbol") if _is_action(fields[0], _WORDS) else ("symbol", "action")
    named = dict(zip((*order, "price", "tf"), (f.strip() for f in fields), strict=False))
    return {k: v for k, v in named.items() if v}


def _bva(fields: list[str]) -> dict[str, str]:
    """BVA's fields by name (the key dropped); ``take``, ``trade_size_pct`` and a market other than
    spot are refused."""
    names = ("key", "comment", "action", "symbol", "position", "extra_data", "published", "trade_size_pct",
             "trading_market")
    named = {k: v.strip() for k, v in zip(names, fields, strict=False) if v.strip()}
    named.pop("key", None)
    if named.get("action", "").lower() == "take":
        raise SignalParseError("BVA's take has no documented meaning Tradewire can map: send close to flatten the "
                               "position, or sell with key=value qty=", field="action")
    if named.get("trade_size_pct"):
        raise SignalParseError("trade_size_pct is a share of BVA's configured trade size, which Tradewire does not "
                               "have; leave it empty (the strategy's sizing rule decides) or send key=value qty=",
                               field="trade_size_pct")
    market = named.pop("trading_market", "spot").lower()
    if market != "spot":
        raise SignalParseError(f"trading_market {values.show(market)}: Tradewire trades the instrument the ticker "
                               "names; send a perpetual's ticker (BTCUSDT.P) for futures", field="trading_market")
    published = named.pop("published", "false").lower()
    if published not in ("true", "false"):
        raise SignalParseError(f"published must be true or false, got {values.show(published)}", field="published")
    extra = named.pop("extra_data", None)
    if extra:
        named["comment"] = f"{named.get('comment', '')} {extra}".strip()
    return named


def _signal(fields: dict[str, str], tag: str | None, received_at: datetime) -> Signal:
    symbol, raw_symbol, prefix = values.symbol(fields.get("symbol"), "symbol")
    word = values.text(fields.get("action"), "action")
    if word is None:
        raise SignalParseError("action is missing (buy, sell, long, short, close, exit or cancel)", field="action")
    if word.lower() not in _WORDS:
        raise SignalParseError(f"action must be one of {', '.join(_WORDS)}, got {values.show(word)}", field="action")
    action, target, prev = _WORDS[word.lower()]
    position = values.position(fields.get("position"), "position")
    prev = values.position(fields.get("prev_position"), "prev_position") or prev
    exchange = values.text(fields.get("exchange"), "exchange", max_length=values.MAX_NAME)
    comment = " ".join(c for c in (tag, fields.get("comment")) if c) or None
    signal_time = values.timestamp(fields.get("time"), "time")
    key = values.derive_key(NAME, symbol, sorted(fields.items()), signal_time or received_at)
    return Signal(
        dialect=NAME, idempotency_key=key, symbol=symbol, raw_symbol=raw_symbol,
        exchange=exchange.lower() if exchange else prefix, action=action,
        target_position=position or target, prev_position=prev, size=_size(fields.get("qty")),
        price=values.positive(fields.get("price"), "price"),
        leverage=_leverage(fields.get("leverage")), signal_time=signal_time,
        timeframe=values.text(fields.get("tf"), "tf", max_length=values.MAX_NAME),
        comment=values.note(comment, "comment"), **_order(fields), **_exits(fields),
    )


def _size(raw: str | None) -> Size | None:
    percent = _PERCENT.fullmatch(raw) if raw else None
    unit = SizeUnit.PERCENT_EQUITY if percent else SizeUnit.BASE
    amount = values.amount(percent.group(1) if percent else raw, "qty", unit)
    return Size(amount=amount, unit=unit) if amount is not None else None


def _leverage(raw: str | None) -> Decimal | None:
    match = _LEVERAGE.fullmatch(raw) if raw else None
    return values.leverage(match.group(1) if match else raw, "leverage")


def _order(fields: dict[str, str]) -> dict[str, Any]:
    kind = values.choice(fields.get("type"), "type", {"market": OrderType.MARKET, "limit": OrderType.LIMIT})
    limit = values.positive(fields.get("limit"), "limit")
    if kind == OrderType.LIMIT or limit is not None:
        limit = limit or values.positive(fields.get("price"), "price")
        if limit is None:
            raise SignalParseError("a limit order needs limit= (or price=) with the limit price", field="limit")
        return {"order_type": OrderType.LIMIT, "limit_price": limit}
    return {}


def _exits(fields: dict[str, str]) -> dict[str, Any]:
    """``sl`` / ``tp`` as prices, or, when either is a percent, both in an exit ladder."""
    levels = {name: _level(fields.get(name), name) for name in ("sl", "tp")}
    if not any(percent for _, percent in levels.values()):
        return {"stop_loss": levels["sl"][0], "take_profit": levels["tp"][0]}
    ladder: dict[str, Any] = {}
    price, percent = levels["tp"]
    if price is not None or percent is not None:
        ladder["take_profits"] = [TakeProfit(price=price, percent=percent, fraction=Decimal(1))]
    price, percent = levels["sl"]
    if percent is not None:
        ladder["stop_loss_percent"] = percent
    elif price is not None:
        ladder["stop_loss"] = price
    return {"exit_ladder": ExitLadder(**ladder)}


def _level(raw: str | None, field: str) -> tuple[Decimal | None, Decimal | None]:
    """(price, percent) of ``58000`` or ``2%``; a stop at most 99 % away, a target at most 1000 %."""
    percent = _PERCENT.fullmatch(raw) if raw else None
    if percent is None:
        return values.positive(raw, field), None
    return None, values.positive(percent.group(1), field, maximum=Decimal(99 if field == "sl" else 1000))
