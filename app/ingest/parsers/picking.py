"""Shared pieces of the prediction-API dialects (Token Metrics, multi-timeframe signals,
quantile forecast, trade levels).

A prediction answer may carry several symbols or several timeframes. The parser interface
returns one ``Signal``, so the caller names the one it wants with a ``Pick`` (the poller's
configured market, or ``?symbol=`` / ``?timeframe=`` on ``POST /api/v1/predictions``), carried
in the forced dialect as ``name?symbol=BTCUSDT&timeframe=4h`` (``parsers.dialect_spec``).
An answer with several entries and no pick is refused with ``SeveralEntries`` naming ``symbol``
or ``timeframe`` and listing the entries: ingest answers several symbols with one signal each
(``parsers.fan_out``); several timeframes still need the pick.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.domain.enums import Action
from app.errors import SignalParseError
from app.ingest.parsers import values

# Direction words of prediction vendors; the "no trade" words are HOLD (recorded, no order).
DIRECTIONS: dict[str, Action] = {
    "buy": Action.BUY, "long": Action.BUY, "up": Action.BUY, "bullish": Action.BUY,
    "sell": Action.SELL, "short": Action.SELL, "down": Action.SELL, "bearish": Action.SELL,
    "hold": Action.HOLD, "neutral": Action.HOLD, "flat": Action.HOLD, "none": Action.HOLD,
}
DEFAULT_QUOTE = "USDT"


class SeveralEntries(SignalParseError):
    """An answer with several entries (``field`` ``symbol`` or ``timeframe``) and none picked;
    ``entries`` are their names as the answer spells them, in the answer's order."""

    def __init__(self, message: str, *, field: str, entries: tuple[str, ...]) -> None:
        super().__init__(message, field=field)
        self.entries = entries


@dataclass(frozen=True)
class Pick:
    """Which entry of a many-symbol / many-timeframe answer to read (None: the only one)."""

    symbol: str | None = None
    timeframe: str | None = None


def direction(value: Any, field: str) -> Action:
    action = values.choice(value, field, DIRECTIONS)
    if action is None:
        raise SignalParseError(f"field {field!r} is missing ({', '.join(DIRECTIONS)})", field=field)
    return action


def base_of(symbol: str) -> str:
    """``BTCUSDT`` / ``BINANCE:BTCUSDT`` / ``BTC/USDT`` → ``BTC``; a bare ``BTC`` stays ``BTC``."""
    try:
        unified, _, _ = values.symbol(symbol, "symbol")
        return unified.split("/", 1)[0].upper()
    except SignalParseError:
        return symbol.strip().upper()


def token_symbol(token: str, pick: Pick) -> tuple[str, str, str | None]:
    """The unified symbol of a bare token (``BTC``): the picked market when it names the same
    base, else ``BTC/USDT``."""
    if pick.symbol and base_of(pick.symbol) == token.upper():
        try:
            return values.symbol(pick.symbol, "symbol")
        except SignalParseError:
            pass
    unified, _, exchange = values.symbol(f"{token.upper()}/{DEFAULT_QUOTE}", "symbol")
    return unified, token, exchange


def one_of(entries: dict[str, Any], wanted: str | None, field: str, what: str) -> tuple[str, Any]:
    """The entry named ``wanted`` (case-insensitive), or the only one. Raises
    ``SeveralEntries`` naming ``field`` when there are several and none is named, and
    ``SignalParseError`` when the named one is absent."""
    if not entries:
        raise SignalParseError(f"the answer carries no {what}", field=field)
    if wanted is None:
        if len(entries) == 1:
            return next(iter(entries.items()))
        listed = ", ".join(list(entries)[:10])
        raise SeveralEntries(f"the answer carries several {what}s ({listed}); name one with ?{field}= "
                             f"(or the poller's market {field})", field=field, entries=tuple(entries))
    for name, entry in entries.items():
        if name.lower() == wanted.strip().lower():
            return name, entry
    raise SignalParseError(f"the answer has no {what} {values.show(wanted)}; it has {', '.join(list(entries)[:10])}",
                           field=field)


def numbers(raw: Any, field: str) -> dict[str, Decimal]:
    """The numeric members of an object as indicators (non-numbers are skipped)."""
    if not isinstance(raw, dict):
        return {}
    found: dict[str, Decimal] = {}
    for name, value in list(raw.items())[: values.MAX_INDICATORS]:
        if isinstance(value, (dict, list, bool)) or value is None:
            continue
        try:
            number = values.decimal(value, f"{field}.{name}")
        except SignalParseError:
            continue
        key = values.text(name, f"{field} name", max_length=values.MAX_NAME)
        if key is not None and number is not None:
            found[key] = number
    return found
