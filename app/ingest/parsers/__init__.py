"""One parser per alert dialect, each a pure function from the decoded body to a ``Signal``.

``decode_body(body)`` decodes the raw bytes (whatever the Content-Type); ``parse_decoded``
picks the dialect (or uses the one forced by ``?dialect=``) and returns the canonical signal;
``parse(body)`` is both. Ingest decodes each request once (``app.ingest.received``). Every
failure is a ``SignalParseError`` naming the field and the problem; no other exception escapes.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from app.domain.signal import Signal
from app.errors import SignalParseError
from urllib.parse import parse_qs, urlencode

from app.ingest.parsers import (
    alertatron, forecast, octobot, okx, pineconnector, prediction, signals_mtf, threecommas, tokenmetrics,
    trade_levels, tradewire, traderspost, tradingview,
)
from app.ingest.parsers.picking import Pick
from app.ingest.parsers import body as _body
from app.ingest.parsers.body import json_error


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
    # a signals object, signal_* blocks); prediction stays last.
    for d in (tradewire, threecommas, okx, traderspost, pineconnector, alertatron, octobot, trade_levels, tradingview,
              tokenmetrics, signals_mtf, forecast, prediction)
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


def parse(body: bytes, received_at: datetime, *, dialect: str | None = None) -> Parsed:
    """Parse raw bytes into a canonical signal: ``parse_decoded(decode_body(body), ...)``.

    Raises ``SignalParseError`` as ``decode_body`` and ``parse_decoded`` do.
    """
    return parse_decoded(decode_body(body), received_at, dialect=dialect)


def decode_body(body: bytes) -> dict[str, Any] | str:
    """``body.decode`` (a JSON object, else normalised text), whatever the Content-Type.

    Raises ``SignalParseError`` (field ``body`` or the JSON field at fault) for a body that
    cannot be a signal: empty, not UTF-8, a NUL, a lone surrogate, nested too deeply.
    """
    try:
        return _body.decode(body)  # looked up on the module: one place to count or replace it
    except RecursionError:  # json.loads on a body nested hundreds of levels deep
        raise SignalParseError("the body is nested too deeply to read", field="body") from None


def parse_decoded(data: dict[str, Any] | str, received_at: datetime, *, dialect: str | None = None) -> Parsed:
    """The canonical signal of an already decoded body (``decode_body``).

    ``received_at`` (UTC) stands in for the signal time in the idempotency key of dialects
    that carry no time. Raises ``SignalParseError``: for an unknown forced dialect, a body no
    dialect claims (the message lists those tried), or a claimed body with a bad field.
    """
    if dialect is not None:
        name, pick = _split(dialect)
        chosen = DIALECTS.get(name)
        if chosen is None:
            raise SignalParseError(
                f"unknown dialect {name!r}; known: {', '.join(DIALECTS)}", field="dialect"
            )
        return Parsed(_run(chosen, data, received_at, pick), data)
    for candidate in DIALECTS.values():
        if candidate.detect(data):
            return Parsed(_run(candidate, data, received_at), data)
    if isinstance(data, str) and data.lstrip().startswith(("{", "[")):
        raise SignalParseError(f"the body looks like JSON but is not valid JSON: {json_error(data)}", field="body")
    shape = "JSON object" if isinstance(data, dict) else "text"
    raise SignalParseError(
        f"no dialect understands this {shape}; tried {', '.join(DIALECTS)}. "
        "A TradingView alert needs at least a ticker and an action; see the README for the message to paste",
        field="body",
    )


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
