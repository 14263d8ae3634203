"""Run a replay: read its inputs and base configuration, make sure the candles are there,
simulate every configuration, build the report. Reads live tables (signals, strategies,
accounts, markets, candles); writes only the ``replays`` row (and candles it had to fetch).
"""

import hashlib
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.config_file import AccountConfig, StrategyConfig
from app.db import unit_of_work
from app.errors import AppError, NotFound
from app.marketdata.candles import timeframe_seconds
from app.persistence.models import Account, MarketRecord, ReplayRecord, Strategy
from app.replay import history, report
from app.replay.engine import Simulation
from app.replay.history import Series
from app.replay.inputs import Raw, ReplaySignal, parse_all, read_input
from app.replay.spec import FillModel, ReplayError, ReplayRequest, effective, load_request

log = logging.getLogger(__name__)
ATR_BARS = 15  # ATR(14) needs 15 closed bars before the first signal
DEFAULT_STRATEGY = "replay"


class Statuses:
    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


def create(session: Session, request: ReplayRequest) -> uuid.UUID:
    """Record a queued replay (the caller commits); a file's text goes to ``input_text``.
    Raises ``ReplayError`` for an unknown strategy or a configuration the settings refuse."""
    account_name, strategy_name, account, strategy = base_settings(session, request)
    for override in request.configs:
        effective(override, account_name, strategy_name, account, strategy)
    data = request.model_dump(mode="json")
    text = data["input"].pop("content", None)
    record = ReplayRecord(id=uuid.uuid4(), status=Statuses.QUEUED, request=data, input_text=text)
    session.add(record)
    session.flush()
    return record.id


def run(replay_id: uuid.UUID) -> str:
    """Run the recorded replay ``replay_id`` and store its report (or the error); its status."""
    with unit_of_work() as session:
        record = session.get(ReplayRecord, replay_id)
        if record is None:
            raise NotFound(f"no replay {replay_id}")
        data = dict(record.request)
        data["input"] = {**data["input"], "content": record.input_text}
        record.status, record.started_at, record.error = Statuses.RUNNING, datetime.now(UTC), None

    def progress(done: int, total: int) -> None:
        with unit_of_work() as session:
            session.execute(update(ReplayRecord).where(ReplayRecord.id == replay_id)
                            .values(signals_done=done, signals_total=total))

    try:
        text = report.dumps(execute(load_request(data), progress))
    except AppError as e:
        _finish(replay_id, Statuses.FAILED, error=e.message)
        return Statuses.FAILED
    except Exception as e:
        log.exception("replay %s failed", replay_id)
        _finish(replay_id, Statuses.FAILED, error=f"{type(e).__name__}: {e}")
        raise
    _finish(replay_id, Statuses.DONE, report_text=text)
    return Statuses.DONE


def _finish(replay_id: uuid.UUID, status: str, *, error: str | None = None, report_text: str | None = None) -> None:
    with unit_of_work() as session:
        session.execute(update(ReplayRecord).where(ReplayRecord.id == replay_id).values(
            status=status, error=error, report=report_text, finished_at=datetime.now(UTC)))


def execute(request: ReplayRequest, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The report of ``request`` (see ``app.replay.report``). Raises ``ReplayError``."""
    fill = request.fill.resolved()
    with unit_of_work() as session:
        raw = read_input(request, session)
        account_name, strategy_name, account, strategy = base_settings(session, request)
    configs = [effective(c, account_name, strategy_name, account, strategy) for c in request.configs]
    needs_atr = any(c.limits.sizing == "atr_risk" for c in configs)
    signals, start, end, series, notes = prepare(request, raw, strategy_name, fill, needs_atr)
    markets = venue_markets({c.account.venue for c in configs}, set(series))
    return build(request, raw, signals, configs, series, notes, markets, start, end, progress)


def prepare(request: ReplayRequest, raw: list[Raw], strategy_name: str, fill: FillModel, needs_atr: bool
            ) -> tuple[list[ReplaySignal], datetime, datetime, dict[str, Series], dict[str, str]]:
    """The signals parsed, the period, and the candles (``candles``) with their notes. The period
    comes from the items' receipt times, so, unless ATR sizing needs a warm-up that depends on
    the signals' timeframes, each symbol's candles start loading (in PostgreSQL, beside the
    parser) when the parser first meets the symbol. Raises ``ReplayError``."""
    start, end = period(request, raw, fill)
    if needs_atr:
        signals = parse_all(raw, strategy_name)
        return (signals, start, end, *candles(signals, fill, start, end, needs_atr=True))
    since, until = candle_window(fill, start, end, set())
    with history.Loader(fill.source, fill.timeframe, since, until) as loader:
        signals = parse_all(raw, strategy_name, on_symbol=loader.want)
        series, notes = loader.finish(_symbols(signals), fill.fetch_missing, datetime.now(UTC))
    return signals, start, end, series, notes


def build(request: ReplayRequest, raw: list[Raw], signals: list[ReplaySignal], configs: list[Any],
          series: dict[str, Series], notes: dict[str, str], markets: dict[tuple[str, str], dict | None],
          start: datetime, end: datetime, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Simulate each configuration over the same signals and candles; the report dict."""
    fill = request.fill.resolved()
    mark_step = timeframe_seconds(request.mark_period)
    periods_per_year = 365 * 86_400 / mark_step
    total = len(signals) * len(configs)
    sections = []
    for k, config in enumerate(configs):
        offset = k * len(signals)
        step = (lambda done, o=offset: progress(o + done, total)) if progress else None  # type: ignore[misc]
        sim = Simulation(config, fill, series, start.timestamp(), end.timestamp(), mark_step, markets, notes)
        sim.run(signals, step)
        sections.append(report.configuration(sim, signals, periods_per_year, float(request.risk_free_rate)))
    if progress:
        progress(total, total)
    spec = request.input
    return {
        "tradewire_replay": report.REPORT_VERSION,
        "inputs": {"kind": spec.kind, "strategy": spec.strategy, "source": spec.source, "symbol": spec.symbol,
                   "items": len(raw), "invalid": sum(1 for s in signals if s.summary is None),
                   "sha256": digest(raw),
                   "since": request.since.isoformat() if request.since else None,
                   "until": request.until.isoformat() if request.until else None},
        "period": {"start": start.isoformat(), "end": end.isoformat(),
                   "days": round((end - start).total_seconds() / 86_400, 6)},
        "fill_model": {**fill.model_dump(mode="json"), "description": " ".join((FillModel.__doc__ or "").split())},
        "metrics": {
            "mark_period": request.mark_period, "periods_per_year": periods_per_year,
            "risk_free_rate": report.money(request.risk_free_rate),
            "equity": "marked to the last closed candle's close at every mark_period boundary and after every fill",
            "sharpe": "mean(r - rf) / stdev(r - rf) * sqrt(periods_per_year), r = mark_period returns, sample stdev",
            "sortino": "mean(r - rf) / sqrt(mean(min(0, r - rf)^2)) * sqrt(periods_per_year)",
            "annualised_return": "(final / start)^(365 days / period) - 1",
            "max_drawdown": "largest fall from a running peak of the marked equity; duration peak to recovery",
            "profit_factor": "gross profit / gross loss of closed trades, net of fees",
            "exposure": "share of the period with at least one open position",
        },
        "notes": [notes[s] for s in sorted(notes)],
        "comparison": report.comparison(sections),
        "configurations": sections,
    }


def digest(raw: list[Raw]) -> str:
    h = hashlib.sha256()
    for item in raw:
        h.update(f"{item.received_at.isoformat()}|{item.source.value}|{item.dialect}|".encode())
        h.update(item.body)
        h.update(b"\n")
    return h.hexdigest()


def base_settings(session: Session, request: ReplayRequest) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """(account name, strategy name, account settings, strategy settings) the configurations
    start from: the named strategy's and its account's as stored, else the defaults."""
    name = request.base_strategy()
    if not name:
        return "paper", DEFAULT_STRATEGY, AccountConfig().model_dump(mode="json"), StrategyConfig().model_dump(mode="json")
    row = session.execute(select(Strategy.settings, Account.name, Account.settings)
                          .join(Account, Account.id == Strategy.account_id).where(Strategy.name == name)).one_or_none()
    if row is None:
        raise ReplayError(f"no strategy {name!r}", field="strategy")
    return row[1], name, dict(row[2] or {}), dict(row[0] or {})


def period(request: ReplayRequest, signals: Sequence[Raw] | Sequence[ReplaySignal],
           fill: FillModel) -> tuple[datetime, datetime]:
    """[start, end): the request's since / until, else the first signal's candle and one day
    after the last signal (``signals``: the input items or their parsed signals, which share
    their receipt times)."""
    if not signals and (request.since is None or request.until is None):
        raise ReplayError("the input holds no signal in the period", field="input")
    step = timeframe_seconds(fill.timeframe)
    first = signals[0].received_at if signals else request.since
    start = request.since or datetime.fromtimestamp(int(first.timestamp()) // step * step, UTC)  # type: ignore[union-attr]
    end = request.until or signals[-1].received_at + timedelta(days=1)
    return start, end


def candles(signals: list[ReplaySignal], fill: FillModel, start: datetime, end: datetime,
            needs_atr: bool) -> tuple[dict[str, Series], dict[str, str]]:
    """Each signalled symbol's candles over the period (plus ATR warm-up and the fill gap),
    fetched first where missing; notes of what could not be had."""
    frames = {s.summary.timeframe or "1h" for s in signals if s.summary is not None} if needs_atr else set()
    since, until = candle_window(fill, start, end, frames)
    return history.load_all(fill.source, _symbols(signals), fill.timeframe, since, until, fill.fetch_missing,
                            datetime.now(UTC))


def candle_window(fill: FillModel, start: datetime, end: datetime, frames: set[str]) -> tuple[datetime, datetime]:
    """The candles a period needs: from the ATR warm-up of the signals' timeframes ``frames``
    (at least an hour) before ``start`` to the fill gap after ``end``."""
    warmup = max([ATR_BARS * _seconds(f) for f in frames] + [3600])
    return start - timedelta(seconds=warmup), end + timedelta(seconds=fill.max_gap_seconds)


def _symbols(signals: list[ReplaySignal]) -> list[str]:
    return sorted({s.summary.symbol for s in signals if s.summary is not None})


def _seconds(timeframe: str) -> int:
    try:
        return timeframe_seconds(timeframe)
    except ValueError:
        return 3600


def venue_markets(venues: set[str], symbols: set[str]) -> dict[tuple[str, str], dict | None]:
    """Stored ccxt markets of the real venues the configurations trade on (one query)."""
    real = sorted(v for v in venues if v != "paper")
    if not real or not symbols:
        return {}
    with unit_of_work() as session:
        rows = session.execute(select(MarketRecord.venue, MarketRecord.symbol, MarketRecord.market)
                               .where(MarketRecord.venue.in_(real), MarketRecord.symbol.in_(sorted(symbols)))).all()
    return {(venue, symbol): market for venue, symbol, market in rows}


def status(session: Session, replay_id: uuid.UUID) -> ReplayRecord:
    record = session.get(ReplayRecord, replay_id)
    if record is None:
        raise NotFound(f"no replay {replay_id}")
    return record
