"""Alertatron scripts: ``KeyName(SYMBOL) { command(arg=value, …); … } #bot``.

Spec: alertatron.com/docs/automated-trading/basic-concepts (``MyKeys(XBTUSD) { market(side=buy,
amount=100); }``), …/limit-order, …/stop-order. One block per alert; inside it:

- ``market(side, amount)`` → a market buy / sell; ``market(position=0)`` → exit.
- ``limit(side, amount, offset)`` → a limit order: ``offset=@9500`` is the limit price,
  ``offset=1%`` is 1 % away from the market on the passive side (a ``-1%`` limit offset).
  An offset in quote units (``offset=10``) or from the entry price (``e…``) has no canonical
  form and is refused.
- After a market or limit entry, ``stopOrder`` (``stopMarket``) with ``offset=@P`` → stop loss,
  and a ``limit`` on the other side with ``reduceOnly=true`` and ``offset=@P`` → take profit.
- ``cancel(which=all)`` → cancel open orders; ``close()`` → exit.
- ``amount``: ``0.5`` → base units; ``50%`` / ``50%b`` (of balance) and ``50%%`` / ``50%a`` (of
  available balance) → percent of equity; ``50%p`` (of the position) only on ``close``.

The key name (``MyKeys``) names API keys at Alertatron, not a credential; it is kept in the
comment. Any other command (trailing stops, scaled orders, ``wait``, …) is refused naming it.
"""

import re
from datetime import datetime
from typing import Any

from app.domain.enums import Action, OrderType, PositionSide, SizeUnit
from app.domain.signal import LimitOffset, Signal, Size
from app.errors import SignalParseError
from app.ingest.parsers import values

NAME = "alertatron"

# Text without braces, except a TradingView placeholder left in ({{ticker}}: refused later, by name).
_PLAIN = r"(?:[^(){}]|\{\{[^(){}]*\}\})*"
_DETECT = re.compile(rf"\s*[A-Za-z0-9_-]+\s*\({_PLAIN}\)\s*\{{")
_SCRIPT = re.compile(rf"\s*(?P<keys>[A-Za-z0-9_-]+)\s*\((?P<symbol>{_PLAIN})\)\s*"
                     rf"\{{(?P<body>(?:[^{{}}]|\{{\{{[^{{}}]*\}}\}})*)\}}(?P<tags>(\s*#[A-Za-z0-9_-]+)*)\s*")
_COMMAND = re.compile(r"\s*(?P<name>[A-Za-z]+)\s*\((?P<args>[^()]*)\)\s*;?")
_AMOUNT = re.compile(r"(?P<number>[0-9.,]+)\s*(?P<suffix>%%|%[bap]?)?", re.IGNORECASE)
_SIDES = {"buy": Action.BUY, "sell": Action.SELL}
_STOPS = {"stoporder", "stopmarket"}
_KNOWN = {"market", "limit", "cancel", "close", *_STOPS}


def detect(data: dict[str, Any] | str) -> bool:
    """Text that opens with ``Name(SYMBOL) {``."""
    return isinstance(data, str) and _DETECT.match(data) is not None


def parse(data: dict[str, Any] | str, received_at: datetime) -> Signal:
    """Raises ``SignalParseError`` naming the command or argument Tradewire cannot read."""
    if not isinstance(data, str):
        raise SignalParseError("an Alertatron script is text, not JSON", field="body")
    script = _SCRIPT.fullmatch(data)
    if script is None:
        raise SignalParseError("an Alertatron alert is one block: KeyName(SYMBOL) { command(arg=value); … } #bot",
                               field="body")
    commands = _commands(script.group("body"))
    named = {(f"{n}#{i + 1}" if i else n): a for i, (n, a) in enumerate(commands)}  # "market.amount"
    values.reject_placeholders({"symbol": script.group("symbol"), **named})
    symbol, raw_symbol, prefix = values.symbol(script.group("symbol"), "symbol")
    fields = _fields(commands)
    key = values.derive_key(NAME, symbol, commands, received_at)
    return Signal(dialect=NAME, idempotency_key=key, symbol=symbol, raw_symbol=raw_symbol, exchange=prefix,
                  comment=values.note(script.group("keys"), "keys"), **fields)


def _commands(body: str) -> list[tuple[str, dict[str, str]]]:
    """(command lower case, its arguments with lower-case keys) in order. Raises
    ``SignalParseError`` for text that is not a command, or a command Tradewire does not read."""
    found: list[tuple[str, dict[str, str]]] = []
    position = 0
    for match in _COMMAND.finditer(body):
        if body[position:match.start()].strip():
            break
        name = match.group("name").lower()
        if name not in _KNOWN:
            raise SignalParseError(f"the Alertatron command {match.group('name')!r} has no Tradewire equivalent; "
                                   "Tradewire reads market, limit, stopOrder, cancel and close (trailing stops "
                                   "belong in the strategy's exit_ladder)", field=match.group("name"))
        found.append((name, _arguments(match.group("args"), name)))
        position = match.end()
    if body[position:].strip() or not found:
        raise SignalParseError(f"{values.show(body[position:].strip() or body)} is not a command like "
                               "market(side=buy, amount=1);", field="body")
    return found


def _arguments(text: str, command: str) -> dict[str, str]:
    arguments: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise SignalParseError(f"{command}(): {values.show(part.strip())} is not name=value", field=command)
        arguments[key.strip().lower()] = value.strip()
    return arguments


def _fields(commands: list[tuple[str, dict[str, str]]]) -> dict[str, Any]:
    (name, first), rest = commands[0], commands[1:]
    if name == "cancel":
        if first.get("which", "all").lower() != "all" or rest:
            raise SignalParseError("only cancel(which=all) on its own maps to Tradewire (cancel the symbol's open "
                                   "orders); send other commands as separate alerts", field="cancel")
        return {"action": Action.CANCEL}
    if name == "close" or (name == "market" and first.get("position") == "0"):
        if rest:
            raise SignalParseError(f"{name}() must be the only command of its alert", field=name)
        size = _size(first.get("amount"), name, closing=True)
        return {"action": Action.EXIT, "target_position": PositionSide.FLAT if size is None else None, "size": size}
    if name not in ("market", "limit"):
        raise SignalParseError(f"{name}() on its own (a stop entry) has no Tradewire equivalent; put it after a "
                               "market() or limit() entry as its stop loss", field=name)
    fields = _entry(name, first)
    for extra, arguments in rest:
        fields.update(_protection(extra, arguments, fields["action"]))
    return fields


def _entry(name: str, arguments: dict[str, str]) -> dict[str, Any]:
    if "position" in arguments:
        raise SignalParseError(f"{name}(position=…) sets a target position size; only position=0 (close) maps; "
                               "use side= and amount=", field="position")
    action = values.choice(arguments.get("side", "buy"), "side", _SIDES)
    fields: dict[str, Any] = {"action": action, "size": _size(arguments.get("amount"), "amount")}
    if name == "limit":
        fields.update(_offset(arguments.get("offset"), "limit"))
    return fields


def _offset(raw: str | None, command: str) -> dict[str, Any]:
    text = values.text(raw, "offset")
    if text is None:
        raise SignalParseError(f"{command}() needs offset= (@price or a percent)", field="offset")
    if text.startswith("@"):
        return {"order_type": OrderType.LIMIT, "limit_price": values.positive(text[1:], "offset")}
    if text.endswith("%") and not text.lower().startswith("e"):
        percent = values.decimal(text[:-1], "offset")
        return {"order_type": OrderType.LIMIT, "limit_offset": LimitOffset(percent=-abs(percent or 0))}
    raise SignalParseError(f"offset={values.show(text)} is in quote units or from the entry price; Tradewire "
                           "reads offset=@price or offset=N%", field="offset")


def _protection(name: str, arguments: dict[str, str], entry: Action) -> dict[str, Any]:
    opposite = Action.SELL if entry == Action.BUY else Action.BUY
    side = values.choice(arguments.get("side", opposite.value), "side", _SIDES)
    offset = values.text(arguments.get("offset"), "offset") or ""
    is_take_profit = name == "limit" and arguments.get("reduceonly", "").lower() == "true"
    if side != opposite or not offset.startswith("@") or not (name in _STOPS or is_take_profit):
        raise SignalParseError(f"after an entry Tradewire reads only a stopOrder (stop loss) or a reduceOnly limit "
                               f"(take profit) on the other side at offset=@price; {name}() does not map",
                               field=name)
    price = values.positive(offset[1:], "offset")
    return {"stop_loss": price} if name in _STOPS else {"take_profit": price}


def _size(raw: str | None, field: str, *, closing: bool = False) -> Size | None:
    text = values.text(raw, field)
    if text is None:
        return None
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise SignalParseError(f"amount must be like 0.5, 50%, 50%% or 50%p, got {values.show(text)}", field="amount")
    suffix = (match.group("suffix") or "").lower()
    if suffix == "%p" and not closing:
        raise SignalParseError("amount=N%p (of the position) is read only by close(); use N% of equity for "
                               "an entry", field="amount")
    unit = {"": SizeUnit.BASE, "%p": SizeUnit.PERCENT_POSITION}.get(suffix, SizeUnit.PERCENT_EQUITY)
    if closing and unit != SizeUnit.PERCENT_POSITION:
        raise SignalParseError("close(amount=…) must be a share of the position like 50%p", field="amount")
    number = values.amount(match.group("number"), "amount", unit)
    if closing and number == 100:
        return None
    return Size(amount=number, unit=unit) if number is not None else None
