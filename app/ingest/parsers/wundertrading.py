"""WunderTrading Signal Bot alerts: the bot's alert comment (``code``), alone as text or in its JSON message.

Spec: WunderTrading's "Signal Bot: Comprehensive JSON Guide"
(help.wundertrading.com/en/articles/10475473-signal-bot-comprehensive-json-guide), its templates as
published with it on docs.infinityalgo.com/trading-guide/trading-guide/automating-infinity-algo-alerts-via-wundertrading
(``{"code": "Enter-Long", "orderType": "market", "amountPerTradeType": "quote", "amountPerTrade": 150,
"takeProfits": [{"priceDeviation": 0.01, "portfolio": 0.25}, …], "stopLoss": {"priceDeviation": 0.01},
"reduceOnly": true, "placeConditionalOrdersOnExchange": false}``), and ``amountPerTradeType``'s values
from wundertrading.com/docs/mcp/tools/place_strategy_trade.

- ``code``: ``ENTER-LONG`` → buy (target long), ``ENTER-SHORT`` → sell (target short), ``EXIT-LONG`` /
  ``EXIT-SHORT`` → exit with prev_position long / short (a position on the other side is a desync),
  ``EXIT-ALL`` → exit; any case (the guide's ``Enter-Long``). Alone, or in WunderTrading's long comment
  ``ENTER-LONG_<EXCHANGE>_<PAIR>_<BOT NAME>_<TIMEFRAME>_<BOT ID>``.
- The pair: WunderTrading takes it from the bot's settings ("JSON cannot override pair selection"), so a
  short comment names none. Tradewire reads the long comment's pair, or a ``ticker`` key added to the
  message (``"ticker": "{{ticker}}"``; Tradewire's addition); with neither the alert is refused naming
  ``code``. An exchange named ``…-FUTURES`` (``BINANCE-FUTURES``) trades the pair's linear perpetual.
- The bot id (the long comment's last field) lets anyone trade the bot through WunderTrading's public
  webhook: it is never copied into the signal, and ``app.ingest.parsers.body.redact`` replaces it with
  ``***`` wherever the comment appears in what is stored.
- ``amountPerTrade`` in ``amountPerTradeType``: ``base``, ``quote``, ``contracts``; ``$`` → quote on a
  USD-quoted pair; ``percents`` is a ratio of the portfolio in (0, 1] (``0.1`` = 10 %, ``"10%"`` too) →
  percent of equity. ``leverage`` → leverage. ``orderType`` ``market``.
- ``takeProfits`` (``price`` or ``priceDeviation``, and the ``portfolio`` share each closes) and
  ``stopLoss`` (``price`` or ``priceDeviation``) → the signal's exit ladder; a deviation is a ratio from
  the entry (``0.01`` = 1 %).
- ``reduceOnly`` (true / false) needs nothing: Tradewire's exits only ever reduce a position.
- Refused, naming the key and what to use instead: ``orderType`` ``limit``,
  ``placeConditionalOrdersOnExchange: true`` (orders resting on the exchange), ``moveToBreakeven``
  (moves the stop at a price; Tradewire moves it after a take-profit), and any other key.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.enums import Action, OrderType, PositionSide, SizeUnit
from app.domain.ladder import MAX_TAKE_PROFITS, ExitLadder, TakeProfit
from app.domain.signal import Signal, Size
from app.domain.symbols import base_quote, is_derivative
from app.errors import SignalParseError
from app.ingest.parsers import values

NAME = "wundertrading"

_COMMAND = re.compile(r"(?i)\s*(enter|exit)-(long|short|all)\s*(_|$)")
_ACTIONS: dict[str, tuple[Action, PositionSide | None, PositionSide | None]] = {  # action, target, prev
    "enter-long": (Action.BUY, PositionSide.LONG, None),
    "enter-short": (Action.SELL, PositionSide.SHORT, None),
    "exit-long": (Action.EXIT, PositionSide.FLAT, PositionSide.LONG),
    "exit-short": (Action.EXIT, PositionSide.FLAT, PositionSide.SHORT),
    "exit-all": (Action.EXIT, PositionSide.FLAT, None),
}
_UNITS = {"base": SizeUnit.BASE, "quote": SizeUnit.QUOTE, "contracts": SizeUnit.CONTRACTS,
          "$": SizeUnit.QUOTE, "percents": SizeUnit.PERCENT_EQUITY}
_USD = frozenset({"USD", "USDT", "USDC", "BUSD", "FDUSD", "TUSD", "USDP", "DAI"})
_ENTRY_ONLY = ("amountpertrade", "amountpertradetype", "leverage", "takeprofits", "stoploss")
# Documented keys Tradewire has no equivalent for, with what to do instead (keys lower case).
_REFUSED = {
    "movetobreakeven": "WunderTrading moves the stop when a price is reached; Tradewire moves it after a "
                       "take-profit: set break_even_after in the strategy's exit_ladder",
    "trailingstop": "set trailing_stop in the strategy's exit_ladder",
    "timetolive": "a limit entry's lifetime has no canonical form; send a market entry",
}
# The keys Tradewire reads, lower case → as the guide writes them (errors name the latter).
_KNOWN = {k.lower(): k for k in ("code", "ticker", "orderType", "reduceOnly", "placeConditionalOrdersOnExchange",
                                 "amountPerTrade", "amountPerTradeType", "leverage", "takeProfits", "stopLoss")}
_FLAGS = {"true": True, "false": False}
_DEVIATION = re.compile(r"\s*([0-9.]+)\s*%\s*")


@dataclass(frozen=True)
class Code:
    """An alert comment: the command (``enter-long`` …) and, for the long form, its fields."""

    command: str
    exchange: str | None = None
    pair: str | None = None
    bot: str | None = None


def detect(data: dict[str, Any] | str) -> bool:
    """Text that is one WunderTrading alert comment, or a JSON object whose ``code`` is one."""
    if isinstance(data, str):
        return "\n" not in data.strip() and _COMMAND.match(data) is not None and "|" not in data
    code = values.fold_keys(data).get("code")
    return isinstance(code, str) and _COMMAND.match(code) is not None


def parse(data: dict[str, Any] | str, received_at: datetime) -> Signal:
    """Raises ``SignalParseError`` naming the key: a comment that is not WunderTrading's, no pair, a
    refused key or value, a leftover placeholder, a bad number or ladder."""
    fields = {"code": data} if isinstance(data, str) else values.fold_keys(data)
    _refuse_unknown(fields if isinstance(data, str) else data)
    code = _code(fields.get("code"))
    action, target, prev = _ACTIONS[code.command]
    others = {k: v for k, v in fields.items() if k != "code"}
    as_written = {} if isinstance(data, str) else {k: v for k, v in data.items() if str(k).lower() != "code"}
    values.reject_placeholders({"code.exchange": code.exchange, "code.pair": code.pair, "code.bot": code.bot,
                                **as_written})
    symbol, raw_symbol, exchange = _symbol(code, others.get("ticker"))
    _check_flags(others)
    if action == Action.EXIT:
        extra = next((_KNOWN[k] for k in _ENTRY_ONLY if others.get(k) not in (None, "")), None)
        if extra is not None:
            raise SignalParseError(f"{code.command.upper()} flattens the position; {extra} belongs to an entry "
                                   "(send ENTER-LONG / ENTER-SHORT)", field=extra)
    key = values.derive_key(NAME, symbol, code.command, code.bot, others, received_at)
    return Signal(
        dialect=NAME, idempotency_key=key, symbol=symbol, raw_symbol=raw_symbol, exchange=exchange,
        action=action, target_position=target, prev_position=prev, size=_size(others, symbol),
        leverage=values.leverage(others.get("leverage"), "leverage"),
        exit_ladder=_ladder(others), comment=values.note(code.bot, "code"),
    )


def _refuse_unknown(data: dict[str, Any]) -> None:
    for name in data:
        key = str(name).lower()
        if key in _REFUSED:
            raise SignalParseError(f"the WunderTrading key {values.show(name)} has no Tradewire equivalent: "
                                   f"{_REFUSED[key]}", field=str(name)[:200])
        if key not in _KNOWN:
            raise SignalParseError(f"the WunderTrading key {values.show(name)} has no Tradewire equivalent; "
                                   f"Tradewire reads {', '.join(_KNOWN.values())} (other exits belong in the "
                                   "strategy's exit_ladder)", field=str(name)[:200])


def _code(raw: Any) -> Code:
    """The comment's command and fields. The bot id is dropped here and never quoted in an error."""
    text = values.text(raw, "code", max_length=1000)
    match = _COMMAND.match(text or "")
    if text is None or match is None:
        raise SignalParseError("code must be a WunderTrading alert comment: ENTER-LONG, ENTER-SHORT, EXIT-LONG, "
                               "EXIT-SHORT or EXIT-ALL, alone or as ENTER-LONG_<EXCHANGE>_<PAIR>_<BOT>_<TF>_<ID>",
                               field="code")
    command = f"{match.group(1)}-{match.group(2)}".lower()
    parts = text.strip().split("_")
    if len(parts) == 1:
        return Code(command)
    if len(parts) < 6:
        raise SignalParseError(f"code: a long WunderTrading comment has six fields, {command.upper()}_<EXCHANGE>_"
                               f"<PAIR>_<BOT NAME>_<TIMEFRAME>_<BOT ID>; this one has {len(parts)}", field="code")
    exchange, pair, bot = parts[1].strip(), parts[2].strip(), " ".join(p.strip() for p in parts[3:-1])
    return Code(command, exchange or None, pair or None, bot or None)


def _symbol(code: Code, ticker: Any) -> tuple[str, str, str | None]:
    """(symbol, ticker as written, exchange) from ``ticker`` or the long comment's pair."""
    exchange = code.exchange.split("-")[0].lower() if code.exchange else None
    pair = code.pair if code.pair and code.pair.upper() not in ("NONE", "MULTIPLE-PAIRS") else None
    if ticker in (None, "") and pair is None:
        raise SignalParseError("code names no pair (WunderTrading takes it from the bot's settings): add "
                               '"ticker": "{{ticker}}" to the message, or send the long comment '
                               "ENTER-LONG_<EXCHANGE>_<PAIR>_…", field="code")
    if ticker not in (None, ""):
        symbol, raw, prefix = values.symbol(ticker, "ticker")
        if pair is not None and _unified(pair, code) != symbol:
            raise SignalParseError(f"ticker {values.show(raw)} is not the pair the comment names "
                                   f"({values.show(pair)}); send one of them", field="ticker")
        return symbol, raw, prefix or exchange
    assert pair is not None
    return _unified(pair, code), pair, exchange


def _unified(pair: str, code: Code) -> str:
    symbol, _, _ = values.symbol(pair, "code.pair")
    if "FUTURES" not in (code.exchange or "").upper() or is_derivative(symbol):
        return symbol
    base, quote = base_quote(symbol)
    if quote not in _USD:
        raise SignalParseError(f"code: {values.show(pair)} on {code.exchange} is not a linear perpetual Tradewire "
                               'can name; add "ticker" with the contract (BTCUSD_PERP)', field="code.pair")
    return f"{base}/{quote}:{quote}"


def _check_flags(others: dict[str, Any]) -> None:
    for key in ("reduceonly", "placeconditionalordersonexchange"):
        raw, name = others.get(key), _KNOWN[key]
        flag = _FLAGS.get(str(raw).strip().lower()) if raw not in (None, "") else False
        if flag is None:
            raise SignalParseError(f"{name} must be true or false, got {values.show(raw)}", field=name)
        if key == "placeconditionalordersonexchange" and flag:
            raise SignalParseError("placeConditionalOrdersOnExchange: true asks for take-profit and stop orders "
                                   "resting on the exchange, which Tradewire does not place: send false "
                                   "(Tradewire watches the targets and exits at market, as the bot does with "
                                   "false)", field=name)
    order_type = values.text(others.get("ordertype"), "orderType")
    if order_type is not None and order_type.lower() != "market":
        raise SignalParseError(f"orderType {values.show(order_type)}: Tradewire reads market entries from "
                               "WunderTrading messages (a limit entry's price and lifetime live in the bot's "
                               "form); send market, or a Tradewire message with limit_price", field="orderType")


def _size(others: dict[str, Any], symbol: str) -> Size | None:
    raw, kind = others.get("amountpertrade"), values.text(others.get("amountpertradetype"), "amountPerTradeType")
    if raw in (None, ""):
        return None
    if kind is None:
        raise SignalParseError("amountPerTrade needs amountPerTradeType (quote, base, $, percents or contracts)",
                               field="amountPerTradeType")
    unit = values.choice(kind, "amountPerTradeType", _UNITS)
    assert unit is not None
    if kind == "$" and base_quote(symbol)[1] not in _USD:
        raise SignalParseError(f"amountPerTradeType $ on {symbol}, whose quote is not a US dollar: send quote or "
                               "base", field="amountPerTradeType")
    if unit != SizeUnit.PERCENT_EQUITY:
        amount = values.amount(raw, "amountPerTrade", unit)
    else:
        amount = _percent(raw, "amountPerTrade", maximum=Decimal(1))
    return Size(amount=amount, unit=unit) if amount is not None else None


def _percent(raw: Any, field: str, *, maximum: Decimal) -> Decimal | None:
    """A WunderTrading ratio (``0.1``) or percent text (``"10%"``) as a percent (``10``)."""
    written = _DEVIATION.fullmatch(raw) if isinstance(raw, str) else None
    if written is not None:
        percent = values.positive(written.group(1), field, maximum=maximum * 100)
        return percent
    ratio = values.decimal(raw, field)
    if ratio is not None and ratio > maximum:
        raise SignalParseError(f"field {field!r} is a ratio ({values.show(raw)}): 0.1 means 10 %; at most "
                               f"{maximum}", field=field)
    ratio = values.positive(raw, field, maximum=maximum)
    return None if ratio is None else ratio * 100


def _ladder(others: dict[str, Any]) -> ExitLadder | None:
    """``takeProfits`` and ``stopLoss`` as an exit ladder; None when neither is given."""
    raw_tps, raw_sl = others.get("takeprofits"), others.get("stoploss")
    if raw_tps in (None, "", []) and raw_sl in (None, "", {}):
        return None
    if raw_tps not in (None, "") and not isinstance(raw_tps, list):
        raise SignalParseError("takeProfits must be a list of {price or priceDeviation, portfolio}",
                               field="takeProfits")
    tps = [_take_profit(tp, f"takeProfits[{i}]") for i, tp in enumerate(raw_tps or [])]
    if len(tps) > MAX_TAKE_PROFITS:
        raise SignalParseError(f"takeProfits has {len(tps)} targets; at most {MAX_TAKE_PROFITS}", field="takeProfits")
    if sum((tp.fraction for tp in tps), Decimal(0)) > 1:
        raise SignalParseError("the takeProfits' portfolio shares add up to more than 1", field="takeProfits")
    ladder: dict[str, Any] = {"take_profits": tps}
    if raw_sl not in (None, "", {}):
        price, percent = _level(raw_sl, "stopLoss", deviation_max=Decimal("0.99"))
        ladder["stop_loss" if price is not None else "stop_loss_percent"] = price if price is not None else percent
    return ExitLadder(**ladder)


def _take_profit(raw: Any, field: str) -> TakeProfit:
    if not isinstance(raw, dict):
        raise SignalParseError(f"{field} must be an object with price or priceDeviation and portfolio", field=field)
    folded = values.fold_keys(raw)
    price, percent = _level({k: v for k, v in raw.items() if str(k).lower() != "portfolio"}, field,
                            deviation_max=Decimal(10))
    fraction = values.positive(folded.get("portfolio"), f"{field}.portfolio", maximum=Decimal(1))
    if fraction is None:
        raise SignalParseError(f"{field}.portfolio (the share of the position it closes, (0, 1]) is missing",
                               field=f"{field}.portfolio")
    return TakeProfit(price=price, percent=percent, fraction=fraction)


def _level(raw: Any, field: str, *, deviation_max: Decimal) -> tuple[Decimal | None, Decimal | None]:
    """(price, percent) of ``{price}`` or ``{priceDeviation}``: exactly one is given."""
    if not isinstance(raw, dict):
        raise SignalParseError(f"{field} must be an object with price or priceDeviation", field=field)
    folded = values.fold_keys(raw)
    unknown = set(folded) - {"price", "pricedeviation"}
    if unknown:
        name = sorted(unknown)[0]
        raise SignalParseError(f"{field}.{name} has no Tradewire equivalent; Tradewire reads price or "
                               "priceDeviation", field=f"{field}.{name}")
    price = values.positive(folded.get("price"), f"{field}.price")
    percent = _percent(folded.get("pricedeviation"), f"{field}.priceDeviation", maximum=deviation_max)
    if (price is None) == (percent is None):
        raise SignalParseError(f"{field} needs exactly one of price or priceDeviation", field=field)
    return price, percent
