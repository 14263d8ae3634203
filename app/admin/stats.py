"""Trading statistics per strategy, per source and, for predictions, per confidence bucket.

Everything is derived from our own tables: signals (by ``received_at``) and fills (by
``ts_event``, the venue's time) in [from, to); a fill belongs to the signal whose intent
placed its order. Money is in the quote currency (the groups are assumed to share one). A
paper shadow's decisions and fills (``app.shadow``) are not the strategy's and are left out.

Definitions (``fill.realized_pnl`` is the PnL a fill realised, net of its fee, as
``app.domain.positions.apply_fill`` computed it: an opening fill realises ``-fee``):

- ``closing_fills``: fills that closed some position, i.e. whose realised PnL *before fees*
  (``realized_pnl + fee`` in quote) is non-zero. A close at exactly the entry price is a
  scratch and counts as neither.
- ``wins``: closing fills with ``realized_pnl > 0`` (net of fees); ``losses`` the other
  closing fills. ``win_rate = wins / closing_fills``.
- ``realized_pnl = Σ realized_pnl`` over all fills; ``gross_profit = Σ`` of the positive
  values, ``gross_loss = Σ |negative values|`` (so opening fees count as losses), and
  ``profit_factor = gross_profit / gross_loss`` (null without losses).
- ``max_drawdown``: the realised equity curve is E_k = Σ_{i≤k} realized_pnl_i over the group's
  fills ordered by (ts_event, created_at, id), starting at E_0 = 0; the drawdown is
  max_k (max_{j≤k} E_j − E_k), peak to trough, in quote (≥ 0).
- ``avg_slippage_bps``: per fill whose signal carried a reference price P (``payload.price``),
  s = (fill price − P) / P × 10 000, negated for sells, so paying more on a buy or getting
  less on a sell is positive; averaged weighted by fill notional (quantity × price).
- ``avg_market_slippage_bps``: the same against the market at receipt: the ask (buys) or bid
  (sells) of the quote the risk decision saw (its ``market`` check), over fills whose decision
  had a fresh quote. It answers "what did execution cost against the market when the alert
  arrived?", independent of how stale or rounded the sender's price was.
- ``latency_ms_p50`` / ``p99``: per fill, ``fills.created_at − signals.received_at`` in
  milliseconds; nearest-rank percentile: the ⌈p/100 · n⌉-th smallest value.

Ratios are rounded half-up: win rate and profit factor to 4 decimals, slippage to 2.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.admin.pagination import time_range
from app.admin.schemas import Money
from app.domain.enums import SignalStatus, Source
from app.domain.symbols import SymbolError, base_quote
from app.persistence.models import (
    Account,
    FillRecord,
    OrderIntentRecord,
    OrderRecord,
    RiskDecisionRecord,
    SignalRecord,
    Strategy,
)
from app.routing.report import VenueRouting, routing_stats
from app.shadow.mirror import SHADOW_DECISION

ZERO = Decimal(0)


class SignalCounts(BaseModel):
    accepted: int = 0
    rejected: int = 0
    duplicate: int = 0
    invalid: int = 0
    total: int = 0


class GroupStats(BaseModel):
    """One group's numbers; see the module docstring of ``app.admin.stats`` for formulas."""

    key: str = Field(description="strategy name, source, confidence bucket (e.g. 0.7-0.8), or `all`")
    signals: SignalCounts
    fills: int
    closing_fills: int
    wins: int
    losses: int
    win_rate: Money | None = Field(description="wins / closing fills, 0–1")
    realized_pnl: Money = Field(description="quote currency, net of fees")
    gross_profit: Money
    gross_loss: Money
    profit_factor: Money | None
    max_drawdown: Money = Field(description="peak to trough of cumulative realised PnL, quote currency")
    avg_slippage_bps: Money | None = Field(description="basis points vs the signal's price; positive = worse")
    avg_market_slippage_bps: Money | None = Field(
        default=None, description="basis points vs the market's ask (buys) / bid (sells) at receipt; positive = worse")
    latency_ms_p50: float | None = Field(description="signal received → fill recorded, milliseconds")
    latency_ms_p99: float | None


class StatsAnswer(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True, json_schema_extra={"examples": [{
        "from": "2026-11-01T00:00:00Z", "to": None,
        "overall": {"key": "all", "signals": {"accepted": 6, "rejected": 1, "duplicate": 0, "invalid": 1, "total": 8},
                    "fills": 6, "closing_fills": 3, "wins": 2, "losses": 1, "win_rate": "0.6667",
                    "realized_pnl": "18.5", "gross_profit": "30", "gross_loss": "11.5", "profit_factor": "2.6087",
                    "max_drawdown": "10.5", "avg_slippage_bps": "12.5", "latency_ms_p50": 42.0,
                    "latency_ms_p99": 180.0},
        "by_strategy": [], "by_source": [], "by_confidence": [],
    }]})

    since: datetime | None = Field(alias="from")
    until: datetime | None = Field(alias="to")
    overall: GroupStats
    by_strategy: list[GroupStats]
    by_source: list[GroupStats]
    by_confidence: list[GroupStats] = Field(description="prediction signals only, by payload confidence")
    by_account: list[GroupStats] = Field(
        default_factory=list, description="each strategy split per subscribed account (key `strategy/account`): "
        "signals counted by that account's decision (accepted = approved), fills of its orders")
    routing: list[VenueRouting] = Field(
        default_factory=list, description="routed strategies, per venue: considered, skipped, chosen, and expected vs "
        "realised all-in cost (slippage bps); formulas: app.routing.report")


@dataclass(frozen=True)
class FillRow:
    """A fill with what the statistics need of its signal. Money in quote, times UTC."""

    side: str
    quantity: Decimal
    price: Decimal
    fee_quote: Decimal
    realized_pnl: Decimal
    latency_ms: float
    reference_price: Decimal | None
    market_price: Decimal | None = None
    ts_event: datetime | None = None


@dataclass
class Group:
    signals: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fills: list[FillRow] = field(default_factory=list)


def compute_stats(session: Session, *, since: datetime | None = None, until: datetime | None = None,
                  strategy: str | None = None) -> StatsAnswer:
    """The statistics of signals and fills in [since, until), optionally of one strategy."""
    groups: dict[tuple[str, str], Group] = defaultdict(Group)
    for name, source, confidence, status, count in _signal_counts(session, since, until, strategy):
        for key in _keys(name, source, confidence):
            groups[key].signals[status] += count
    for name, account, approved, count in _decision_counts(session, since, until, strategy):
        status = SignalStatus.ACCEPTED.value if approved else SignalStatus.REJECTED.value
        groups[("account", f"{name}/{account}")].signals[status] += count
    for name, source, confidence, account, row in _fill_rows(session, since, until, strategy):
        for key in _keys(name, source, confidence):
            groups[key].fills.append(row)
        groups[("account", f"{name}/{account}")].fills.append(row)

    def listed(kind: str) -> list[GroupStats]:
        return [group_stats(key, g) for (k, key), g in sorted(groups.items()) if k == kind]

    return StatsAnswer(since=since, until=until, overall=group_stats("all", groups[("all", "all")]),
                       by_strategy=listed("strategy"), by_source=listed("source"), by_confidence=listed("confidence"),
                       by_account=listed("account"),
                       routing=routing_stats(session, since=since, until=until, strategy=strategy))


def _keys(strategy: str, source: str, confidence: Any) -> list[tuple[str, str]]:
    keys = [("all", "all"), ("strategy", strategy), ("source", source)]
    if source == Source.PREDICTION.value:
        keys.append(("confidence", confidence_bucket(confidence)))
    return keys


def confidence_bucket(confidence: Any) -> str:
    """``0.5-0.6`` … ``0.9-1.0`` (lower bound inclusive; 1.0 goes in the last), ``0.0-0.5``
    below, ``none`` when the prediction carried no confidence."""
    if confidence is None:
        return "none"
    try:
        value = Decimal(str(confidence))
    except ArithmeticError:
        return "none"
    if not value.is_finite():
        return "none"
    if value < Decimal("0.5"):
        return "0.0-0.5"
    tenth = min(int(value * 10), 9)
    return f"{tenth / 10:.1f}-{(tenth + 1) / 10:.1f}"


def _signal_counts(session: Session, since: datetime | None, until: datetime | None, strategy: str | None):
    confidence = SignalRecord.payload["confidence"].astext
    query = (
        select(Strategy.name, SignalRecord.source, confidence, SignalRecord.status, func.count())
        .join(Strategy, Strategy.id == SignalRecord.strategy_id)
        .group_by(Strategy.name, SignalRecord.source, confidence, SignalRecord.status)
    )
    if strategy is not None:
        query = query.where(Strategy.name == strategy)
    return session.execute(time_range(query, SignalRecord.received_at, since, until)).all()


def _decision_counts(session: Session, since: datetime | None, until: datetime | None, strategy: str | None):
    """(strategy, account, approved, count) of the decisions of signals received in the range."""
    query = (
        select(Strategy.name, Account.name, RiskDecisionRecord.approved, func.count())
        .join(SignalRecord, SignalRecord.id == RiskDecisionRecord.signal_id)
        .join(Strategy, Strategy.id == SignalRecord.strategy_id)
        .join(Account, Account.id == RiskDecisionRecord.account_id)
        .group_by(Strategy.name, Account.name, RiskDecisionRecord.approved)
        .where(~SHADOW_DECISION)  # a paper shadow is not the strategy's trading (app.shadow)
    )
    if strategy is not None:
        query = query.where(Strategy.name == strategy)
    return session.execute(time_range(query, SignalRecord.received_at, since, until)).all()


def fill_rows(session: Session, since: datetime | None, until: datetime | None, strategy: str | None,
              *, source: str | None = None, bucket: str | None = None) -> list[FillRow]:
    """The fills ``compute_stats`` measures, in equity-curve order (venue time), of one
    strategy or all, optionally of one source and one prediction confidence bucket
    (``confidence_bucket``): for charts of the same numbers (the console's curves, latencies)."""
    return [row for _name, src, confidence, _account, row in _fill_rows(session, since, until, strategy)
            if (source is None or src == source)
            and (bucket is None or (src == Source.PREDICTION.value and confidence_bucket(confidence) == bucket))]


def _fill_rows(session: Session, since: datetime | None, until: datetime | None, strategy: str | None):
    """(strategy, source, confidence, account, FillRow) per fill in equity-curve order."""
    query = (
        select(FillRecord, SignalRecord.received_at, SignalRecord.payload["price"].astext,
               SignalRecord.payload["confidence"].astext, SignalRecord.source, Strategy.name, RiskDecisionRecord.checks,
               Account.name)
        .join(OrderRecord, OrderRecord.id == FillRecord.order_id)
        .join(OrderIntentRecord, OrderIntentRecord.id == OrderRecord.intent_id)
        .join(RiskDecisionRecord, RiskDecisionRecord.id == OrderIntentRecord.decision_id)
        .join(SignalRecord, SignalRecord.id == OrderIntentRecord.signal_id)
        .join(Strategy, Strategy.id == SignalRecord.strategy_id)
        .join(Account, Account.id == RiskDecisionRecord.account_id)
        .where(~SHADOW_DECISION)
        .order_by(FillRecord.ts_event, FillRecord.created_at, FillRecord.id)
    )
    if strategy is not None:
        query = query.where(Strategy.name == strategy)
    for fill, received_at, price, confidence, source, name, checks, account in session.execute(
        time_range(query, FillRecord.ts_event, since, until)
    ):
        row = FillRow(
            side=fill.side, quantity=fill.quantity, price=fill.price, fee_quote=_fee_in_quote(fill),
            realized_pnl=fill.realized_pnl,
            latency_ms=(fill.created_at - received_at).total_seconds() * 1000,
            reference_price=_positive_decimal(price),
            market_price=market_at_receipt(checks, fill.side),
            ts_event=fill.ts_event,
        )
        yield name, source, confidence, account, row


def market_at_receipt(checks: list[dict[str, Any]] | None, side: str) -> Decimal | None:
    """The ask (buy) or bid (sell) the decision's ``market`` check recorded; None without one."""
    market = next((c.get("market") for c in checks or () if c.get("check") == "market"), None) or {}
    return _positive_decimal(market.get("ask" if side == "buy" else "bid"))


def _fee_in_quote(fill: FillRecord) -> Decimal:
    """A fee charged in the base currency is valued at the fill price (as the ledger does)."""
    try:
        base = base_quote(fill.symbol)[0]
    except SymbolError:
        return fill.fee
    return fill.fee * fill.price if fill.fee_currency == base else fill.fee


def _positive_decimal(text: str | None) -> Decimal | None:
    try:
        value = Decimal(text) if text is not None else None
    except ArithmeticError:
        return None
    return value if value is not None and value.is_finite() and value > 0 else None


def group_stats(key: str, group: Group) -> GroupStats:
    """The numbers of one group (fills in equity-curve order)."""
    fills = group.fills
    pnls = [f.realized_pnl for f in fills]
    closing = [f for f in fills if f.realized_pnl + f.fee_quote != 0]
    wins = sum(1 for f in closing if f.realized_pnl > 0)
    gross_profit = sum((p for p in pnls if p > 0), ZERO)
    gross_loss = -sum((p for p in pnls if p < 0), ZERO)
    counts = {s.value: group.signals.get(s.value, 0) for s in SignalStatus}
    latencies = sorted(f.latency_ms for f in fills)
    return GroupStats(
        key=key,
        signals=SignalCounts(**counts, total=sum(group.signals.values())),
        fills=len(fills),
        closing_fills=len(closing),
        wins=wins,
        losses=len(closing) - wins,
        win_rate=_round(Decimal(wins) / len(closing), 4) if closing else None,
        realized_pnl=sum(pnls, ZERO),
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        profit_factor=_round(gross_profit / gross_loss, 4) if gross_loss else None,
        max_drawdown=max_drawdown(pnls),
        avg_slippage_bps=average_slippage_bps(fills),
        avg_market_slippage_bps=average_slippage_bps(fills, against="market_price"),
        latency_ms_p50=percentile(latencies, 50),
        latency_ms_p99=percentile(latencies, 99),
    )


def max_drawdown(pnls: list[Decimal]) -> Decimal:
    """Largest peak-to-trough fall of the running sum of ``pnls`` (starting at 0), ≥ 0."""
    equity = peak = worst = ZERO
    for pnl in pnls:
        equity += pnl
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
    return worst


def average_slippage_bps(fills: list[FillRow], against: str = "reference_price") -> Decimal | None:
    """Notional-weighted mean slippage in basis points over fills that have the price to
    compare with (``against``: the sender's ``reference_price`` or the ``market_price`` at receipt)."""
    weighted = total = ZERO
    for f in fills:
        expected = getattr(f, against)
        if expected is None:
            continue
        sign = 1 if f.side == "buy" else -1
        bps = (f.price - expected) / expected * 10_000 * sign
        notional = f.quantity * f.price
        weighted += notional * bps
        total += notional
    return _round(weighted / total, 2) if total else None


def percentile(sorted_values: list[float], p: int) -> float | None:
    """Nearest-rank percentile of ascending values: the ⌈p/100 · n⌉-th (1-based); None if empty."""
    if not sorted_values:
        return None
    rank = max(1, (p * len(sorted_values) + 99) // 100)
    return round(sorted_values[rank - 1], 3)


def _round(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
