"""One parser per alert dialect, each a pure function from the decoded body to a ``Signal``.

``decode_body(body)`` decodes the raw bytes (whatever the Content-Type); ``parse_decoded``
picks the dialect (or uses the one forced by ``?dialect=``) and returns the canonical signal;
``parse(body)`` is both. Ingest decodes each request once (``app.ingest.received``). Every
failure is a ``SignalParseError`` naming the field and the problem; no other exception escapes.
"""

from dataclasses import dataclass
from datetime import datetime
from collections.abc import Mapping
from typing import Any, Protocol

from app.domain.signal import Signal
from app.errors import SignalParseError
from urllib.parse import parse_qs, urlencode

from app.ingest.parsers import (
    alertatron, delimited, forecast, octobot, okx, pineconnector, prediction, signals_mtf, threecommas, tickerly,
    tokenmetrics, trade_levels, tradewire, traderspost, tradingview, wundertrading,
)
from app.ingest.parsers.picking import Pick
from app.ingest.parsers import body as _body
from app.ingest.parsers.body import json_error
from app.ingest.parsers.picking import SeveralEntries


class Dialect(Protocol):
    NAME: str

    def detect(self, data: dict[str, Any] | str) -> bool: ...

    def parse(self, data: dict[str, Any] | str, received_at: datetime) -> Signal: ...


# Most specific first: detection stops at the first dialect that claims the body.
DIALECTS: dict[str, Dialect] = {  # type: ignore[misc]
    d.NAME: d
    # trade_levels (needs entry_price, stop_loss, take_profit and a hit probability) is more
    # specific than tradingview, which would read its symbol and action and drop the levels.
    # The other prediction dialects need a shape of their own (a data list of TOKEN_SYMBOL rows,
    # a signals object, signal_* blocks); prediction stays last. tickerly comes before
    # traderspost (a Tickerly body's ``quantity`` would be claimed by TradersPost), delimited
    # before octobot (OctoBot claims pipe-joined ``SYMBOL=…|SIGNAL=…`` but cannot read it).
    for d in (tradewire, threecommas, okx, tickerly, wundertrading, traderspost, pineconnector, alertatron, delimited,
              octobot, trade_levels, tradingview, tokenmetrics, signals_mtf, forecast, prediction)
}
# Dialects of prediction APIs: what ``POST /api/v1/predictions?dialect=`` and a poller may name.
# All but ``prediction`` read many-symbol / many-timeframe answers and take a ``Pick``.
PREDICTION_DIALECTS = ("prediction", "tokenmetrics", "signals_mtf", "forecast", "trade_levels")
_PICKING = frozenset(PREDICTION_DIALECTS) - {"prediction"}


def dialect_spec(name: str, *, symbol: str | None = None, timeframe: str | None = None) -> str:
    """A forced dialect that also picks the symbol / timeframe of a many-entry prediction
    answer: ``tokenmetrics?symbol=BTCUSDT``. Only the picking dialects take the query."""
    query = {k: v for k, v in (("symbol", symbol), ("timeframe", timeframe)) if v}
    return f"{name}?{urlencode(query)}" if query and name in _PICKING else name


def _split(spec: str) -> tuple[str, Pick]:
    name, _, query = spec.partition("?")
    picked = {k: v[0] for k, v in parse_qs(query).items()}
    return name, Pick(symbol=picked.get("symbol"), timeframe=picked.get("timeframe"))


@dataclass(frozen=True)
class Parsed:
    """A parsed body: the signal (strategy not yet set) and the decoded data it came from."""

    signal: Signal
    data: dict[str, Any] | str


def parse(body: bytes, received_at: datetime, *, dialect: str | None = None,
          mapped: Mapping[str, Dialect] | None = None) -> Parsed:
    """Parse raw bytes into a canonical signal: ``parse_decoded(decode_body(body), ...)``.

    Raises ``SignalParseError`` as ``decode_body`` and ``parse_decoded`` do.
    """
    return parse_decoded(decode_body(body), received_at, dialect=dialect, mapped=mapped)


def decode_body(body: bytes) -> dict[str, Any] | str:
    """``body.decode`` (a JSON object, else normalised text), whatever the Content-Type.

    Raises ``SignalParseError`` (field ``body`` or the JSON field at fault) for a body that
    cannot be a signal: empty, not UTF-8, a NUL, a lone surrogate, nested too deeply.
    """
    try:
        return _body.decode(body)  # looked up on the module: one place to count or replace it
    except RecursionError:  # json.loads on a body nested hundreds of levels deep
        raise SignalParseError("the body is nested too deeply to read", field="body") from None


def parse_decoded(data: dict[str, Any] | str, received_at: datetime, *, dialect: str | None = None,
                  mapped: Mapping[str, Dialect] | None = None) -> Parsed:
    """The canonical signal of an already decoded body (``decode_body``).

    ``received_at`` (UTC) stands in for the signal time in the idempotency key of dialects
    that carry no time. ``mapped``: the dialects of the ``[dialects]`` table
    (``mapped.compile_all``), forced by name or detected as ``detect`` says. Raises
    ``SignalParseError``: for an unknown forced dialect, a body no dialect claims (the message
    lists those tried), or a claimed body with a bad field.
    """
    chosen, pick = choose(data, dialect, mapped or {})
    return Parsed(_run(chosen, data, received_at, pick), data)


# The catch-all readers: tradingview claims any JSON object with a ticker and an action, octobot
# any text with a SIGNAL= or SYMBOL= pair, delimited any one line of |- or &-separated fields. A
# [dialects] mapping, whose detect rule its author wrote for one sender, is more specific than
# they are and less specific than every other built-in dialect (each needs a marker or a shape of
# its own), so mappings are tried after those and before these.
GENERIC = frozenset({"tradingview", "octobot", "delimited"})


def detect(data: dict[str, Any] | str, mapped: Mapping[str, Dialect] | None = None) -> Dialect | None:
    """The dialect that reads ``data`` when none is forced, or None.

    Built-in dialects in ``DIALECTS`` order (the first to claim it wins), with the ``mapped``
    ones (most specific rule first) between the specific built-ins and the ``GENERIC`` ones:
    a mapping takes a body only no specific built-in claims. Without mappings, or when no
    mapping claims the body, this is exactly the built-in order, so configuring a mapping never
    moves a body between built-in dialects (tests/test_dialect_mapping.py: no corpus payload
    changes dialect).
    """
    first = next((d for d in DIALECTS.values() if d.detect(data)), None)
    if not mapped or (first is not None and first.NAME not in GENERIC):
        return first
    claimed = next((m for m in mapped.values() if m.detect(data)), None)
    if claimed is None:
        return first
    return next((d for d in DIALECTS.values() if d.NAME not in GENERIC and d.detect(data)), claimed)


def choose(data: dict[str, Any] | str, dialect: str | None,
           mapped: Mapping[str, Dialect] | None = None) -> tuple[Dialect, Pick]:
    """The dialect (and the pick of a forced spec, ``dialect_spec``) that reads ``data``: the
    forced one, built-in or mapped, else ``detect``'s. Raises ``SignalParseError`` for an
    unknown forced name (field ``dialect``) or a body nothing claims (field ``body``)."""
    mapped = mapped or {}
    if dialect is not None:
        name, pick = _split(dialect)
        chosen = DIALECTS.get(name) or mapped.get(name)
        if chosen is None:
            raise SignalParseError(f"unknown dialect {name!r}; known: {', '.join(known(mapped))}", field="dialect")
        return chosen, pick
    found = detect(data, mapped)
    if found is not None:
        return found, Pick()
    if isinstance(data, str) and data.lstrip().startswith(("{", "[")):
        raise SignalParseError(f"the body looks like JSON but is not valid JSON: {json_error(data)}", field="body")
    shape = "JSON object" if isinstance(data, dict) else "text"
    raise SignalParseError(
        f"no dialect understands this {shape}; tried {', '.join(known(mapped))}. "
        "A TradingView alert needs at least a ticker and an action; see the README for the message to paste",
        field="body",
    )


def known(mapped: Mapping[str, Dialect] | None = None) -> list[str]:
    """Every dialect name: the built-in ones, then the mapped ones."""
    return [*DIALECTS, *(mapped or {})]


def fan_out(data: dict[str, Any] | str, received_at: datetime, *, dialect: str | None = None,
            mapped: Mapping[str, Dialect] | None = None) -> list[tuple[str, str]]:
    """(symbol as the answer spells it, forced dialect picking it) for each symbol of a
    many-symbol prediction answer read with no symbol picked (Token Metrics' ``data`` rows);
    [] for anything else, which is then read as it is (and refused as it would be). Several
    timeframes are not fanned out: they need the pick (``?timeframe=``, the poller's market)."""
    try:
        chosen, pick = choose(data, dialect, mapped)
    except SignalParseError:
        return []
    if chosen.NAME not in _PICKING or pick.symbol:
        return []
    try:
        _run(chosen, data, received_at, pick)
    except SeveralEntries as e:
        if e.field == "symbol":
            return [(name, dialect_spec(chosen.NAME, symbol=name, timeframe=pick.timeframe)) for name in e.entries]
    except SignalParseError:
        pass
    return []


def _run(dialect: Dialect, data: dict[str, Any] | str, received_at: datetime, pick: Pick | None = None) -> Signal:
    """The dialect's signal. A safety net: the parsers raise ``SignalParseError`` naming the
    field themselves; anything else they let slip (a pydantic ``ValidationError``, an
    ``ArithmeticError``, a ``RecursionError``) still becomes one, naming the field when known
    and ``body`` otherwise, so no body ever produces a 500."""
    try:
        if dialect.NAME in _PICKING:
            return dialect.parse(data, received_at, pick or Pick())  # type: ignore[call-arg]
        return dialect.parse(data, received_at)
    except SignalParseError:
        raise
    except (ValueError, TypeError, ArithmeticError, RecursionError) as e:  # ValidationError is a ValueError
        raise SignalParseError(f"{dialect.NAME}: {_first_error(e)}", field=_first_field(e) or "body") from e


def _first_error(error: Exception) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"field {'.'.join(str(p) for p in first['loc'])!r}: {first['msg']}"[:500]
    return str(error)[:500]


def _first_field(error: Exception) -> str | None:
    errors = getattr(error, "errors", None)
    if callable(errors):
        return ".".join(str(p) for p in errors()[0]["loc"]) or None
    return None
