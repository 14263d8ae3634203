"""``GET /metrics``: Prometheus text format, computed at scrape time from PostgreSQL and Redis.

Every number is read from the shared stores rather than counted in process memory, so any
API replica answers the same totals whatever the API, worker and scheduler processes did
(no multiprocess directory to manage, nothing lost on restart). Counters are counts of
rows that are never deleted, so they only grow. All names start with ``tradewire_``:

- ``tradewire_signals_total{source,dialect,status}``
- ``tradewire_risk_decisions_total{outcome,failed_check}``: ``failed_check`` is the first
  check that did not pass (``none`` when approved)
- ``tradewire_orders{venue,status}``, ``tradewire_orders_in_doubt{venue}``,
  ``tradewire_intents{status}``: current counts
- ``tradewire_fills_total{venue}``
- ``tradewire_venue_errors_total{venue,class}``: rejections by class of the venue's reason
- ``tradewire_order_latency_seconds{venue,span}`` histogram, from persisted timestamps:
  ``signal_to_submitted`` (received → SUBMITTED), ``submitted_to_acknowledged``
  (SUBMITTED → ACCEPTED), ``signal_to_filled`` (received → FILLED)
- ``tradewire_queue_depth{queue}``, ``tradewire_queue_oldest_job_age_seconds{queue}``: RQ
  queues of every venue and of notifications
- ``tradewire_circuit_breaker_open{venue}``, ``tradewire_circuit_breaker_failures{venue}``
- ``tradewire_account_trading_state{account,state}``: 1 for the current state
- ``tradewire_account_equity{account,basis}`` (``cost``: positions at entry; ``market``: at
  the cached market), ``tradewire_unrealized_pnl{account,symbol}``,
  ``tradewire_account_exposure{account}``: mark-to-market from the market-data cache
- ``tradewire_up{store}``: 1 when PostgreSQL / Redis answered this scrape
- failed authentication and signal ceilings: ``app.security.metrics``

With ``TRADEWIRE_METRICS_TOKEN`` set, a scrape needs ``Authorization: Bearer <that token>``
(401 otherwise, counted as a failed ``metrics`` authentication); unset, ``/metrics`` is open.
"""

import hmac
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

from typing import Annotated

from fastapi import APIRouter, Header, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.config_file import AccountConfig
from app.db import get_sessionmaker
from app.domain.equity import equity as equity_at_cost
from app.errors import AuthenticationFailed
from app.jobs.queue import JOB_SERIALIZER, get_queue, get_redis
from app.marketdata.marks import mark_account
from app.persistence.models import Account, BalanceRecord, PositionRecord
from app.security.metrics import SecurityCollector
from app.security.settings import get_security_settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Rejection reasons → error class, first match wins (ccxt's class names appear in our reasons).
ERROR_CLASSES = (
    ("insufficient", "insufficient_funds"),
    ("authentication", "authentication"), ("permission", "authentication"),
    ("ratelimit", "rate_limit"), ("rate limit", "rate_limit"), ("ddos", "rate_limit"),
    ("badsymbol", "bad_symbol"), ("invalidorder", "invalid_order"), ("notional", "invalid_order"),
    ("minimum", "invalid_order"), ("precision", "invalid_order"),
    ("timeout", "network"), ("network", "network"), ("not available", "network"),
)

_SQL = {
    "signals": "select source, coalesce(dialect, ''), status, count(*) from signals group by 1, 2, 3",
    "decisions": """
        select approved, coalesce((select c->>'check' from jsonb_array_elements(checks) c
                                   where c->>'passed' = 'false' limit 1), 'none'), count(*)
        from risk_decisions group by 1, 2""",
    "orders": "select venue, status, count(*) from orders group by 1, 2",
    "in_doubt": "select venue, count(*) from orders where in_doubt_since is not null group by 1",
    "intents": "select status, count(*) from order_intents group by 1",
    "fills": "select venue, count(*) from fills group by 1",
    "rejections": """
        select o.venue, lower(coalesce(e.reason, '')) from order_events e join orders o on o.id = e.order_id
        where e.to_status = 'REJECTED'""",
    "breakers": "select venue, opened_at is not null, consecutive_failures from venue_breakers",
    "states": "select name, trading_state from accounts",
    "venues": "select distinct venue from accounts",
}


def _latency_sql() -> str:
    buckets = ", ".join(f"count(*) filter (where d <= {b})" for b in LATENCY_BUCKETS)
    return f"""
        with t as (
            select o.venue, s.received_at,
                   min(e.created_at) filter (where e.to_status = 'SUBMITTED') as submitted,
                   min(e.created_at) filter (where e.to_status = 'ACCEPTED') as acknowledged,
                   min(e.created_at) filter (where e.to_status = 'FILLED') as filled
            from orders o join order_intents i on i.id = o.intent_id join signals s on s.id = i.signal_id
            join order_events e on e.order_id = o.id group by o.id, o.venue, s.received_at),
        spans as (
            select venue, 'signal_to_submitted' as span, extract(epoch from submitted - received_at) as d from t
            union all select venue, 'submitted_to_acknowledged', extract(epoch from acknowledged - submitted) from t
            union all select venue, 'signal_to_filled', extract(epoch from filled - received_at) from t)
        select venue, span, count(*), coalesce(sum(d), 0), {buckets}
        from spans where d is not null group by venue, span order by venue, span"""


class TradewireCollector(Collector):
    """Reads PostgreSQL and Redis on every scrape; a store that is down reports ``tradewire_up 0``."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("tradewire_up", "1 when the store answered this scrape", labels=["store"])
        venues: list[str] = ["paper"]
        try:
            session = get_sessionmaker()()
            try:
                families = list(_database_metrics(session))
                venues = sorted({*session.execute(text(_SQL["venues"])).scalars(), "paper"})
            finally:
                session.close()
            yield from families
            up.add_metric(["postgresql"], 1)
        except Exception as e:
            log.warning("metrics: PostgreSQL unavailable", extra={"error": type(e).__name__})
            up.add_metric(["postgresql"], 0)
        try:
            yield from list(_queue_metrics(venues))
            up.add_metric(["redis"], 1)
        except Exception as e:
            log.warning("metrics: Redis unavailable", extra={"error": type(e).__name__})
            up.add_metric(["redis"], 0)
        yield up

    def describe(self) -> list[Metric]:
        return []


def _rows(session: Session, name: str) -> list[tuple]:
    return [tuple(r) for r in session.execute(text(_SQL[name]))]


def _database_metrics(session: Session) -> Iterator[Metric]:
    signals = CounterMetricFamily("tradewire_signals", "Signals received", labels=["source", "dialect", "status"])
    for source, dialect, status, count in _rows(session, "signals"):
        signals.add_metric([source, dialect, status], count)
    yield signals
    decisions = CounterMetricFamily("tradewire_risk_decisions", "Risk decisions by outcome and first failing check",
                                    labels=["outcome", "failed_check"])
    for approved, check, count in _rows(session, "decisions"):
        decisions.add_metric(["approved" if approved else "denied", check], count)
    yield decisions
    yield _gauge(session, "orders", "tradewire_orders", "Orders by current state", ["venue", "status"])
    yield _gauge(session, "in_doubt", "tradewire_orders_in_doubt", "Orders whose send outcome is unknown", ["venue"])
    yield _gauge(session, "intents", "tradewire_intents", "Order intents by status", ["status"])
    fills = CounterMetricFamily("tradewire_fills", "Fills recorded", labels=["venue"])
    for venue, count in _rows(session, "fills"):
        fills.add_metric([venue], count)
    yield fills
    yield _venue_errors(_rows(session, "rejections"))
    yield _latency(session)
    yield from _breakers(_rows(session, "breakers"))
    states = GaugeMetricFamily("tradewire_account_trading_state", "1 for the account's current trading state",
                               labels=["account", "state"])
    for account, current in _rows(session, "states"):
        for state in ("ACTIVE", "REDUCING", "HALTED"):
            states.add_metric([account, state], 1 if current == state else 0)
    yield states
    yield from _marks(session)


def _marks(session: Session) -> Iterator[Metric]:
    """Equity, unrealised PnL and exposure per account at the market (cached quotes only)."""
    equity = GaugeMetricFamily("tradewire_account_equity", "Account equity in its quote currency",
                               labels=["account", "basis"])
    unrealized = GaugeMetricFamily("tradewire_unrealized_pnl", "Unrealised PnL at the market, quote currency",
                                   labels=["account", "symbol"])
    exposure = GaugeMetricFamily("tradewire_account_exposure", "Sum of |position| × mark, quote currency",
                                 labels=["account"])
    for account in session.execute(select(Account)).scalars():
        config = AccountConfig.model_validate(account.settings or {})
        cash = session.execute(select(BalanceRecord.total).where(
            BalanceRecord.account_id == account.id, BalanceRecord.currency == config.quote_currency)).scalar() or Decimal(0)
        positions = list(session.execute(select(PositionRecord).where(
            PositionRecord.account_id == account.id, PositionRecord.quantity != 0)).scalars())
        marks = mark_account(config, cash, positions)
        equity.add_metric([account.name, "cost"], float(equity_at_cost(cash, positions, config.quote_currency)))
        if marks.equity is not None:
            equity.add_metric([account.name, "market"], float(marks.equity))
            exposure.add_metric([account.name], float(marks.exposure or 0))
        per_symbol: dict[str, Decimal] = {}  # a hedge-mode account's long and short in one symbol: summed
        for (symbol, _), marked in marks.positions.items():
            if marked.unrealized is not None:
                per_symbol[symbol] = per_symbol.get(symbol, Decimal(0)) + marked.unrealized
        for symbol, pnl in per_symbol.items():
            unrealized.add_metric([account.name, symbol], float(pnl))
    yield equity
    yield unrealized
    yield exposure


def _gauge(session: Session, query: str, name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for *values, count in _rows(session, query):
        family.add_metric([str(v) for v in values], count)
    return family


def error_class(reason: str) -> str:
    """A rejection reason's class (``insufficient_funds``, ``invalid_order``, …, else ``rejected``)."""
    squashed = reason.lower()
    for needle, name in ERROR_CLASSES:
        if needle in squashed or needle in squashed.replace(" ", ""):
            return name
    return "rejected"


def _venue_errors(rows: list[tuple]) -> CounterMetricFamily:
    counts: dict[tuple[str, str], int] = {}
    for venue, reason in rows:
        key = (venue, error_class(reason))
        counts[key] = counts.get(key, 0) + 1
    family = CounterMetricFamily("tradewire_venue_errors", "Orders the venue rejected, by error class",
                                 labels=["venue", "class"])
    for (venue, name), count in sorted(counts.items()):
        family.add_metric([venue, name], count)
    return family


def _latency(session: Session) -> HistogramMetricFamily:
    family = HistogramMetricFamily("tradewire_order_latency_seconds",
                                   "Order latency from persisted timestamps, seconds", labels=["venue", "span"])
    for venue, span, count, total, *cumulative in session.execute(text(_latency_sql())):
        buckets = [(str(b), c) for b, c in zip(LATENCY_BUCKETS, cumulative, strict=True)] + [("+Inf", count)]
        family.add_metric([venue, span], buckets, float(total))
    return family


def _breakers(rows: list[tuple]) -> Iterator[Metric]:
    opened = GaugeMetricFamily("tradewire_circuit_breaker_open", "1 while the venue's breaker is open",
                               labels=["venue"])
    failures = GaugeMetricFamily("tradewire_circuit_breaker_failures", "Consecutive failed venue calls",
                                 labels=["venue"])
    for venue, is_open, count in rows:
        opened.add_metric([venue], 1 if is_open else 0)
        failures.add_metric([venue], count)
    yield opened
    yield failures


def _queue_metrics(venues: list[str]) -> Iterator[Metric]:
    from app.notify.jobs import get_notify_queue

    depth = GaugeMetricFamily("tradewire_queue_depth", "Jobs waiting in the RQ queue", labels=["queue"])
    age = GaugeMetricFamily("tradewire_queue_oldest_job_age_seconds", "Age of the oldest waiting job, seconds",
                            labels=["queue"])
    now = datetime.now(UTC)
    for queue in [*(get_queue(v) for v in venues), get_notify_queue()]:
        depth.add_metric([queue.name], queue.count)
        age.add_metric([queue.name], _oldest_age(queue.get_job_ids(0, 1), now))
    yield depth
    yield age


def _oldest_age(job_ids: list[str], now: datetime) -> float:
    if not job_ids:
        return 0.0
    try:
        job = Job.fetch(job_ids[0], connection=get_redis(), serializer=JOB_SERIALIZER)
    except NoSuchJobError:  # taken by a worker since the queue was read
        return 0.0
    if job.enqueued_at is None:
        return 0.0
    enqueued = job.enqueued_at if job.enqueued_at.tzinfo else job.enqueued_at.replace(tzinfo=UTC)
    return max(0.0, (now - enqueued).total_seconds())


registry = CollectorRegistry(auto_describe=False)
registry.register(TradewireCollector())
registry.register(SecurityCollector())


_EXAMPLE = 'tradewire_signals_total{source="tradingview",dialect="tradewire",status="accepted"} 3.0\n'


@router.get("/metrics", summary="Prometheus metrics (text format), computed from PostgreSQL and Redis",
            response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {"example": _EXAMPLE}}}})
def metrics(authorization: Annotated[str | None, Header()] = None) -> Response:
    """With ``TRADEWIRE_METRICS_TOKEN`` set: ``Authorization: Bearer <metrics token>``."""
    _check_metrics_token(authorization)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _check_metrics_token(authorization: str | None) -> None:
    expected = get_security_settings().metrics_token
    if expected is None:
        return
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                              expected.get_secret_value().encode()):
        raise AuthenticationFailed("metrics token missing or wrong: send 'Authorization: Bearer <TRADEWIRE_METRICS_TOKEN>'")
