"""Signals for a replay, each read by the same parsers live ingest uses.

Every input becomes ``Raw`` items (the bytes a sender would have posted, when they arrived,
which parser dialect and endpoint), then ``parse_all`` turns each into a ``ReplaySignal``: the
canonical signal, or the parser's error (a signal that traded nothing, with its reason).

Formats:
* stored signals: ``signals`` rows of a strategy and/or source, re-parsed from their stored
  (redacted) body with the dialect that read them;
* JSON Lines: ``{"received_at": "2026-02-10T14:00:03Z", "body": {...} | "text",
  "dialect": optional, "source": optional}`` a line;
* TradingView's strategy tester "List of trades" CSV, both header generations:
  ``Trade #,Type,Signal,Date/Time,Price USDT,Contracts,Profit USDT,...`` and (2025 on)
  ``Trade number,Type,Date and time,Signal,Price USDT,Size (qty),Size (value),Net PnL USDT,...``;
  each row becomes the alert message ``tradewire strategy add`` prints (the same fields
  TradingView's ``{{strategy.order.*}}`` placeholders fill), read by the ``tradewire`` parser;
* predictions CSV: ``symbol,timeframe,prediction,confidence,timestamp[,atr_14][,received_at]``,
  each row the APIndicators body of corpus 30, read by the ``prediction`` parser.
"""

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.enums import Source
from app.domain.signal import Signal
from app.errors import SignalParseError
from app.config import get_settings
from app.ingest.parsers import parse
from app.ingest.parsers.mapped import compile_all
from app.persistence.models import SignalRecord, Strategy
from app.replay.spec import ReplayError, ReplayInput, ReplayRequest, in_period


@dataclass(frozen=True, slots=True)
class Raw:
    """One input item: ``ref`` says where it came from (a line, a trade row, a signal id)."""

    ref: str
    received_at: datetime
    body: bytes
    source: Source
    dialect: str | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    """What a report says of a signal (kept for every signal; the ``Signal`` itself may not be)."""

    symbol: str
    action: str
    confidence: Decimal | None
    price: Decimal | None
    comment: str | None
    timeframe: str | None


@dataclass(frozen=True, slots=True)
class ReplaySignal:
    """A parsed input item, numbered ``n`` in replay order: its ``summary`` or the parse
    ``error``. ``signal`` is kept for small inputs; otherwise ``packed`` holds it as JSON (about
    300 bytes, where the model takes about 2 KiB, so 100,000 signals do not stay in memory as
    models; read back in a tenth of a parse) and ``decode`` reads it, or parses ``raw`` again
    when the signal does not survive the JSON round trip (parsing is pure: the same signal)."""

    n: int
    ref: str
    received_at: datetime
    summary: Summary | None
    error: str | None = None
    signal: Signal | None = None
    raw: Raw | None = None
    strategy: str = ""
    packed: bytes | None = None

    def decode(self) -> Signal | None:
        if self.signal is not None or self.raw is None or self.summary is None:
            return self.signal
        if self.packed is not None:
            return Signal.model_validate_json(self.packed)
        return _parse(self.raw, self.strategy)


def read_input(request: ReplayRequest, session: Session | None = None) -> list[Raw]:
    """The request's input items within its period, ordered by receipt (ties: input order).
    Raises ``ReplayError`` naming the line or column at fault."""
    spec = request.input
    if spec.kind == "stored":
        if session is None:
            raise ReplayError("stored signals need a database session", field="input")
        items = stored_signals(session, spec, request)
    elif spec.kind == "jsonl":
        items = jsonl(spec.content or "", spec.dialect)
    elif spec.kind == "tradingview_csv":
        items = tradingview_csv(spec.content or "", spec.symbol, spec.timezone)
    else:
        items = predictions_csv(spec.content or "")
    items = [i for i in items if in_period(request, i.received_at)]
    return sorted(items, key=lambda i: i.received_at)  # stable: input order within one instant


KEEP_SIGNALS = 20_000  # inputs up to this size keep their parsed signals


def parse_all(items: list[Raw], strategy: str, *, keep: bool | None = None,
              on_symbol: Callable[[str], None] | None = None) -> list[ReplaySignal]:
    """Each item through ``app.ingest.parsers.parse``, its source and strategy set as the
    endpoint sets them. ``keep`` (default: up to ``KEEP_SIGNALS`` items) keeps the signals,
    else they are packed (``ReplaySignal``). ``on_symbol`` is called with each symbol the first
    time a signal names it (the candles can start loading while the rest is parsed)."""
    keep = len(items) <= KEEP_SIGNALS if keep is None else keep
    out, seen = [], set()
    for n, item in enumerate(items):
        try:
            signal = _parse(item, strategy)
        except SignalParseError as e:
            out.append(ReplaySignal(n, item.ref, item.received_at, None, f"invalid: {e.message}"))
            continue
        summary = Summary(signal.symbol, signal.action.value, signal.confidence, signal.price, signal.comment,
                          signal.timeframe)
        out.append(ReplaySignal(n, item.ref, item.received_at, summary, None, signal if keep else None,
                                None if keep else item, strategy, None if keep else _packed(signal)))
        if on_symbol is not None and signal.symbol not in seen:
            seen.add(signal.symbol)
            on_symbol(signal.symbol)
    return out


def _packed(signal: Signal) -> bytes | None:
    """``signal`` as JSON, fields at their default left out, when it reads back equal (else None:
    it is parsed again when replayed)."""
    packed = signal.__pydantic_serializer__.to_json(signal, exclude_defaults=True)
    return packed if Signal.model_validate_json(packed) == signal else None


def _parse(item: Raw, strategy: str) -> Signal:
    """``item`` read as the API reads a request: built-in dialects and the configuration file's
    ``[dialects]`` mappings (a stored signal of a mapped dialect replays)."""
    mapped = compile_all(get_settings().dialects)  # compiled once per settings (mapped.compile_all)
    parsed = parse(item.body, item.received_at, dialect=item.dialect, mapped=mapped).signal
    return parsed.model_copy(update={"source": item.source, "strategy": strategy})


def stored_signals(session: Session, spec: ReplayInput, request: ReplayRequest) -> list[Raw]:
    """Recorded signals of ``spec.strategy`` and/or ``spec.source`` in the period, oldest first
    (one query; the rows are only read)."""
    query = select(SignalRecord.id, SignalRecord.received_at, SignalRecord.raw_body, SignalRecord.source,
                   SignalRecord.dialect).order_by(SignalRecord.received_at, SignalRecord.id)
    if spec.strategy:
        strategy_id = session.execute(select(Strategy.id).where(Strategy.name == spec.strategy)).scalar_one_or_none()
        if strategy_id is None:
            raise ReplayError(f"no strategy {spec.strategy!r}", field="input.strategy")
        query = query.where(SignalRecord.strategy_id == strategy_id)
    if spec.source:
        query = query.where(SignalRecord.source == spec.source)
    if request.since is not None:
        query = query.where(SignalRecord.received_at >= request.since)
    if request.until is not None:
        query = query.where(SignalRecord.received_at < request.until)
    return [Raw(f"signal {row.id}", row.received_at, row.raw_body.encode(), Source(row.source), row.dialect)
            for row in session.execute(query)]


def jsonl(text: str, dialect: str | None = None) -> list[Raw]:
    """JSON Lines of ``{"received_at", "body", "dialect"?, "source"?}``. Blank lines and lines
    starting with ``#`` are skipped. Raises ``ReplayError`` naming the line."""
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            entry = json.loads(line)
            received_at = _instant(str(entry["received_at"]), UTC)
            body = entry["body"]
            source = Source(entry.get("source") or Source.TRADINGVIEW.value)
        except (ValueError, KeyError, TypeError) as e:
            raise ReplayError(f"line {number}: needs received_at (ISO-8601) and body ({type(e).__name__}: {e})",
                              field="input.content") from None
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        items.append(Raw(f"line {number}", received_at, data, source, entry.get("dialect") or dialect))
    return items


_TV_COLUMNS = {
    "trade": ("trade #", "trade number"),
    "type": ("type",),
    "signal": ("signal",),
    "time": ("date/time", "date and time"),
    "price": ("price",),
    "quantity": ("contracts", "size (qty)"),
}
# TradingView's file names: <strategy>_<EXCHANGE>_<TICKER>_<date>.csv
_TV_FILENAME_SYMBOL = re.compile(r"_([A-Z0-9]+)_([A-Z0-9.]+)_\d{4}-\d{2}-\d{2}")


def tradingview_csv(text: str, symbol: str | None, timezone: str = "UTC") -> list[Raw]:
    """TradingView's "List of trades" export (see the module) for ``symbol`` (the export has no
    symbol column). Rows of a still-open trade's exit (date ``Open``) are skipped. Raises
    ``ReplayError`` for a missing column, an unknown time zone or an unreadable row."""
    if not symbol:
        raise ReplayError("a TradingView list of trades has no symbol column: give the chart's symbol",
                          field="input.symbol")
    zone = _zone(timezone)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows:
        raise ReplayError("the TradingView file is empty", field="input.content")
    columns = _tv_columns(rows[0])
    events = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cell = {name: row[index].strip() if index < len(row) else "" for name, index in columns.items()}
        kind = cell["type"].lower()
        if not kind.startswith(("entry", "exit")) or ("long" not in kind and "short" not in kind):
            raise ReplayError(f"row {number}: type {cell['type']!r} is not Entry/Exit long/short", field="input.content")
        if cell["time"].lower() == "open":
            continue
        exit_ = kind.startswith("exit")
        long = "long" in kind
        at = _instant(cell["time"], zone, row=number)
        events.append((at, 0 if exit_ else 1, number, _tv_message(cell, symbol, exit_, long, at)))
    events.sort(key=lambda e: e[:3])  # a reversal's exit before its entry; newest-first files too
    return [Raw(f"row {n} (trade {json.loads(body)['comment']})", at, body, Source.TRADINGVIEW, "tradewire")
            for at, _, n, body in events]


def _tv_columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    lowered = [h.strip().lower() for h in header]
    for name, spellings in _TV_COLUMNS.items():
        for index, title in enumerate(lowered):
            if any(title == s or (s == "price" and title.startswith("price")) for s in spellings):
                found[name] = index
                break
        else:
            raise ReplayError(f"not a TradingView list of trades: no {spellings[0]!r} column (header: {', '.join(header)})",
                              field="input.content")
    return found


def _tv_message(cell: dict[str, str], symbol: str, exit_: bool, long: bool, at: datetime) -> bytes:
    """The alert the strategy would have sent for this row (README's TradingView message)."""
    side = "long" if long else "short"
    action = ("sell" if long else "buy") if exit_ else ("buy" if long else "sell")
    message: dict[str, Any] = {
        "tradewire": 1, "symbol": symbol, "action": action,
        "target_position": "flat" if exit_ else side, "prev_position": side if exit_ else "flat",
        "price": cell["price"].replace(",", ""), "signal_time": at.isoformat(),
        "comment": f"#{cell['trade']} {cell['signal']}".strip(),
        "idempotency_key": f"tv-{cell['trade']}-{'exit' if exit_ else 'entry'}",
    }
    quantity = cell["quantity"].replace(",", "")
    if quantity:
        message.update(size=quantity, size_unit="base")
    return json.dumps(message).encode()


def symbol_from_filename(name: str) -> str | None:
    """``BINANCE:BTCUSDT`` from TradingView's export name ``My_Strategy_BINANCE_BTCUSDT_2026-07-02.csv``."""
    match = _TV_FILENAME_SYMBOL.search(name)
    return f"{match.group(1)}:{match.group(2)}" if match else None


_PREDICTION_COLUMNS = ("symbol", "timeframe", "prediction", "confidence", "timestamp")


def predictions_csv(text: str) -> list[Raw]:
    """A CSV of predictions (see the module); ``received_at`` defaults to ``timestamp``.
    Raises ``ReplayError`` for a missing column or an unreadable time."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    missing = [c for c in _PREDICTION_COLUMNS if c not in fields]
    if missing:
        raise ReplayError(f"the predictions CSV lacks {', '.join(missing)} (header: {', '.join(fields)})",
                          field="input.content")
    items = []
    for number, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        body: dict[str, Any] = {k: row[k] for k in _PREDICTION_COLUMNS}
        if row.get("atr_14"):
            body["indicators"] = {"atr_14": row["atr_14"]}
        received = _instant(row.get("received_at") or row["timestamp"], UTC, row=number)
        items.append(Raw(f"row {number}", received, json.dumps(body).encode(), Source.PREDICTION, "prediction"))
    return items


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReplayError(f"unknown time zone {name!r} (an IANA name such as UTC or Europe/Berlin)",
                          field="input.timezone") from None


def _instant(text: str, zone: Any, row: int | None = None) -> datetime:
    """ISO-8601 or ``YYYY-MM-DD HH:MM[:SS]`` (in ``zone`` without an offset), or epoch s / ms."""
    value = text.strip()
    try:
        if re.fullmatch(r"\d{9,13}(\.\d+)?", value):
            number = float(value)
            return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        where = f"row {row}: " if row else ""
        raise ReplayError(f"{where}cannot read {value!r} as a time", field="input.content") from None
    return (moment.replace(tzinfo=zone) if moment.tzinfo is None else moment).astimezone(UTC)
