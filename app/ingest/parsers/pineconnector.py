"""PineConnector comma-separated alerts: ``LicenseID,Command,Symbol,Others``.

Spec: docs.pineconnector.com/syntax (and the older www.pineconnector.com/pages/syntax), e.g.
``60123456789,buy,AUDUSD,risk=0.1``, ``60123456789,sell,GBPJPY,sl=50,risk=1``,
``60123456789,closelong,GBPUSD``. Components are separated by commas, with or without spaces;
commands have no ``=``, the others do.

- The License ID (first field) is PineConnector's credential: it is never copied into the
  signal, and ``app.ingest.parsers.body.redact`` replaces it with ``***`` in what is stored.
- Commands: ``buy`` (aliases ``long``, ``bull``, ``bullish``) and ``sell`` (``short``,
  ``bear``, ``bearish``) → a market buy / sell; ``buylimit`` / ``selllimit`` with ``price=``
  → a limit order; ``closelong`` / ``closeshort`` / ``closelongshort`` → exit (the position is
  flattened); ``cancellong`` / ``cancelshort`` → cancel open orders. The documented commands
  with no Tradewire equivalent (``closeall``, ``buystop``, ``sellstop``, ``newsltplong``,
  ``newsltpshort``, ``eaon``, ``eaoff``, …) are refused naming the command and what to use.
- ``risk=`` → percent of equity (the EA's "% of balance" volume type); ``vol_pct_balance=``
  likewise. ``sl_price=`` / ``tp_price=`` → absolute stop-loss / take-profit prices. A
  distance (``sl_pips=``, ``tp_pct=`` …) needs the fill price and the symbol's pip size, so it
  is refused naming the key; so are the legacy ``sl=`` / ``tp=``, which the EA reads as pips
  (its default, and the docs' ``sl=50`` example), price or percent by a setting the alert does
  not carry: reading ``sl=50`` as a price could put the stop on the wrong side of the market.
- ``comment=`` (quoted or not) → comment; ``secret=`` is a credential and is dropped.
  Any other ``key=`` (trailing stops, break-even, spread and account filters) is refused:
  Tradewire would otherwise trade without the protection the sender asked for.
"""

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.enums import Action, OrderType, PositionSide, SizeUnit
from app.domain.signal import Signal, Size
from app.errors import SignalParseError
from app.ingest.parsers import values
from app.ingest.parsers.body import LICENSE_LEAD, is_secret_field

NAME = "pineconnector"

_ENTRIES = {
    **dict.fromkeys(("buy", "long", "bull", "bullish"), Action.BUY),
    **dict.fromkeys(("sell", "short", "bear", "bearish"), Action.SELL),
}
_LIMITS = {"buylimit": Action.BUY, "selllimit": Action.SELL}
_EXITS = {"closelong": PositionSide.LONG, "closeshort": PositionSide.SHORT, "closelongshort": None}
_CANCELS = {"cancellong", "cancelshort"}
# Documented commands Tradewire has no equivalent for, with what to do instead.
_REFUSED = {
    "closeall": "closes every symbol of the account; send closelong / closeshort per symbol, or use "
                "the Telegram /closeall command",
    "buystop": "a stop entry has no canonical form; send buylimit with price=, or buy at market",
    "sellstop": "a stop entry has no canonical form; send selllimit with price=, or sell at market",
    "closelongbuy": "close-and-reverse needs two orders; send closeshort then buy",
    "closeshortsell": "close-and-reverse needs two orders; send closelong then sell",
    "closelongsell": "send sell: a sell against a long position closes it first",
    "closeshortbuy": "send buy: a buy against a short position closes it first",
    "newsltplong": "moving the stop of an open position is done by the strategy's exit_ladder",
    "newsltpshort": "moving the stop of an open position is done by the strategy's exit_ladder",
    "eaon": "halt and resume trading with the admin API or the Telegram /halt and /resume commands",
    "eaoff": "halt and resume trading with the admin API or the Telegram /halt and /resume commands",
}
COMMANDS = frozenset(_ENTRIES) | set(_LIMITS) | set(_EXITS) | _CANCELS | set(_REFUSED)
_PRICES = {"sl_price": "stop_loss", "tp_price": "take_profit"}
_DISTANCES = ("sl", "tp", "sl_pips", "tp_pips", "sl_pct", "tp_pct", "sl_points", "tp_points")
_KNOWN = {"risk", "vol_pct_balance", "price", "comment", *_PRICES}


def detect(data: dict[str, Any] | str) -> bool:
    """Text whose second comma-separated field is a documented PineConnector command."""
    if not isinstance(data, str):
        return False
    match = LICENSE_LEAD.match(data)
    return match is not None and match.group("command").lower() in COMMANDS


def parse(data: dict[str, Any] | str, received_at: datetime) -> Signal:
    """Raises ``SignalParseError`` naming the component: a missing symbol, a refused command or
    parameter, a pip or percent distance, a leftover placeholder, a bad number."""
    if not isinstance(data, str):
        raise SignalParseError("a PineConnector alert is comma-separated text, not JSON", field="body")
    parts = [p.strip() for p in data.strip().split(",")]
    if len(parts) < 3 or not parts[2]:
        raise SignalParseError("a PineConnector alert is LicenseID,Command,Symbol[,key=value…]; the symbol is missing",
                               field="symbol")
    command = parts[1].lower()
    if command not in COMMANDS:
        raise SignalParseError(f"unknown PineConnector command {values.show(parts[1])}; Tradewire reads "
                               f"{', '.join(sorted(COMMANDS - set(_REFUSED)))}", field="command")
    if command in _REFUSED:
        raise SignalParseError(f"the PineConnector command {command!r} has no Tradewire equivalent: "
                               f"{_REFUSED[command]}", field="command")
    others = _others(parts[3:])
    values.reject_placeholders({"symbol": parts[2], **others})
    symbol, raw_symbol, prefix = values.symbol(parts[2], "symbol")
    fields = _fields(command, others)
    key = values.derive_key(NAME, symbol, command, sorted(others.items()), received_at)
    return Signal(dialect=NAME, idempotency_key=key, symbol=symbol, raw_symbol=raw_symbol, exchange=prefix,
                  comment=values.note(others.get("comment"), "comment"), **fields)


def _others(parts: list[str]) -> dict[str, str]:
    """``key=value`` components (keys lower case, quotes around a value removed); secrets dropped.

    Raises ``SignalParseError`` for a component without ``=``, a key given twice, or a key
    Tradewire cannot honour (named, with what to use instead)."""
    found: dict[str, str] = {}
    for part in parts:
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise SignalParseError(f"{values.show(part)} is not a key=value component; PineConnector allows "
                                   "one command and one symbol per alert", field="body")
        if is_secret_field(key):
            continue
        if key in _DISTANCES:
            raise SignalParseError(f"{key}= is (or may be, by the EA's setting) a distance in pips or percent "
                                   "from the fill price, which Tradewire cannot convert before the order fills; "
                                   "send sl_price= / tp_price= (absolute prices) or set the strategy's exit_ladder",
                                   field=key)
        if key not in _KNOWN:
            raise SignalParseError(f"the PineConnector parameter {values.show(key)} has no Tradewire equivalent; "
                                   f"Tradewire reads {', '.join(sorted(_KNOWN))} (trailing stops and break-even "
                                   "belong in the strategy's exit_ladder)", field=key)
        if key in found:
            raise SignalParseError(f"{key}= is given twice", field=key)
        found[key] = value.strip().strip('"').strip("'").strip()
    return found


def _fields(command: str, others: dict[str, str]) -> dict[str, Any]:
    """The Signal fields the command and its parameters set."""
    if command in _EXITS:
        return {"action": Action.EXIT, "target_position": PositionSide.FLAT}
    if command in _CANCELS:
        return {"action": Action.CANCEL}
    risk = others.get("risk") or others.get("vol_pct_balance")
    field = "risk" if others.get("risk") else "vol_pct_balance"
    amount = values.amount(risk, field, SizeUnit.PERCENT_EQUITY)
    prices: dict[str, Decimal | None] = {}
    for key, name in _PRICES.items():
        number = values.positive(others.get(key), key)
        if number is not None:
            prices[name] = number
    fields: dict[str, Any] = {
        "action": _ENTRIES.get(command) or _LIMITS[command],
        "size": Size(amount=amount, unit=SizeUnit.PERCENT_EQUITY) if amount is not None else None,
        **prices,
    }
    if command in _LIMITS:
        limit_price = values.positive(others.get("price"), "price")
        if limit_price is None:
            raise SignalParseError(f"{command} needs price= (the limit price)", field="price")
        fields.update(order_type=OrderType.LIMIT, limit_price=limit_price)
    elif others.get("price"):
        raise SignalParseError(f"price= belongs to buylimit / selllimit, not {command}", field="price")
    return fields
