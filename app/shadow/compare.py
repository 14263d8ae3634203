"""Live vs shadow, read back from our own tables (``app.shadow``).

A signal is shadowed when it has a shadow decision (one ``shadow`` check, whose data names the
live account); its live side is that account's decision of the same signal. Per signal (one
row per symbol and side of its entry orders):

- ``sender_price``: the signal's ``price``; ``market_price``: the ask (buy) or bid (sell) of the
  quote the live decision's ``market`` check saw at receipt (both sides read the same source);
- each side's ``average_price`` = Σ(quantity × price) / Σ quantity over the fills of its entry
  orders (the venue's ``average_price`` when it reported no fills), ``fee`` in quote (a fee in
  the base currency valued at the fill price, as ``app.admin.stats`` does);
- ``bps(p, ref) = (p − ref) / ref × 10,000``, negated for sells, rounded half-up to 0.01:
  positive means ``p`` is worse for the trader. ``slippage_bps = bps(live, shadow)``: what the
  live execution cost against the paper fill of the same order at the same moment.

Per strategy, over the signals received in [since, until): every fill of both sides' orders
(entries and what followed them: protective orders, exit ladders), summed per side, and per
UTC day of the fill's venue time with running totals; ``pnl_difference`` = live − shadow
realised PnL (net of fees).
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.persistence.models import Account, Strategy
from app.shadow.schemas import ShadowDay, ShadowLeg, ShadowRow, ShadowSide, ShadowTotals

ZERO = Decimal(0)
_DIVIDE = Context(prec=28, rounding=ROUND_HALF_UP)
LIVE, SHADOW = "live", "shadow"

# The shadowed signals in scope ({where} on ``s``: one signal, or a strategy's over a period),
# their two decisions as legs, and the fills of each order summed.
_LEGS = """
WITH sh AS (
  SELECT d.signal_id, d.id AS decision_id,
         CAST(jsonb_path_query_first(d.checks, '$[*] ? (@.check == "shadow").data.live_account_id') #>> '{{}}'
              AS uuid) AS live_account_id
  FROM risk_decisions d JOIN signals s ON s.id = d.signal_id
  WHERE d.checks @> '[{{"check": "shadow"}}]' AND {where}
), legs AS (
  SELECT signal_id, 'shadow' AS role, decision_id FROM sh
  UNION ALL
  SELECT sh.signal_id, 'live', ld.id FROM sh
  JOIN risk_decisions ld ON ld.signal_id = sh.signal_id AND ld.account_id = sh.live_account_id
), fills_quote AS (
  SELECT legs.role, f.order_id, f.ts_event, f.quantity, f.price, f.realized_pnl,
         CASE WHEN f.fee_currency = split_part(f.symbol, '/', 1) THEN f.fee * f.price ELSE f.fee END AS fee
  FROM legs JOIN order_intents i ON i.decision_id = legs.decision_id
  JOIN orders o ON o.intent_id = i.id JOIN fills f ON f.order_id = o.id
)
"""
_WHERE_SIGNAL = "s.id = :signal_id"
_WHERE_STRATEGY = ("s.strategy_id = :strategy_id AND (CAST(:since AS timestamptz) IS NULL OR s.received_at >= :since) "
                   "AND (CAST(:until AS timestamptz) IS NULL OR s.received_at < :until)")
_ROWS = """
, per_order AS (
  SELECT order_id, sum(quantity) AS qty, sum(quantity * price) AS notional, sum(fee) AS fee,
         sum(realized_pnl) AS pnl FROM fills_quote GROUP BY order_id
)
SELECT legs.signal_id, legs.role, s.received_at, s.payload ->> 'price', d.approved, d.reason, a.name,
       jsonb_path_query_first(d.checks, '$[*] ? (@.check == "market").market'),
       i.symbol, i.side, i.quantity, i.status, i.client_order_id,
       o.status, o.reason, o.filled_quantity, o.average_price, p.qty, p.notional, p.fee, p.pnl
FROM legs JOIN signals s ON s.id = legs.signal_id
JOIN risk_decisions d ON d.id = legs.decision_id JOIN accounts a ON a.id = d.account_id
LEFT JOIN order_intents i ON i.decision_id = legs.decision_id AND i.purpose = 'entry'
LEFT JOIN orders o ON o.intent_id = i.id LEFT JOIN per_order p ON p.order_id = o.id
ORDER BY s.received_at, legs.signal_id, i.sequence
"""
_DAYS = """
SELECT role, CAST(ts_event AT TIME ZONE 'UTC' AS date) AS day, count(*), sum(realized_pnl), sum(fee),
       sum(quantity * price)
FROM fills_quote GROUP BY 1, 2 ORDER BY 2, 1
"""
_ROWS_OF_SIGNAL = text(_LEGS.format(where=_WHERE_SIGNAL) + _ROWS)
_ROWS_OF_STRATEGY = text(_LEGS.format(where=_WHERE_STRATEGY) + _ROWS)
_DAYS_OF_STRATEGY = text(_LEGS.format(where=_WHERE_STRATEGY) + _DAYS)


@dataclass
class _Leg:
    """One side of a row while it is summed up from its orders."""

    account: str
    approved: bool
    decision_reason: str | None
    quantity: Decimal = ZERO
    filled: Decimal = ZERO
    notional: Decimal = ZERO
    fee: Decimal = ZERO
    pnl: Decimal = ZERO
    statuses: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    coids: list[str] = field(default_factory=list)

    def add(self, row: Any) -> None:
        (quantity, intent_status, coid, order_status, order_reason, filled, average,
         fill_qty, fill_notional, fee, pnl) = row[10:21]
        self.quantity += quantity
        self.coids.append(coid)
        self.statuses.append(order_status or intent_status)
        if order_reason:
            self.reasons.append(order_reason)
        if fill_qty:
            self.filled += fill_qty
            self.notional += fill_notional
            self.fee += fee
            self.pnl += pnl
        elif filled and average is not None:  # filled on the venue, its trades not recorded (yet)
            self.filled += filled
            self.notional += filled * average

    @property
    def average(self) -> Decimal | None:
        return _DIVIDE.divide(self.notional, self.filled) if self.filled else None

    def view(self) -> ShadowLeg:
        if self.statuses:
            status, reason = " + ".join(self.statuses), "; ".join(self.reasons) or None
        else:
            status = "no order" if self.approved else "refused"
            reason = self.decision_reason
        average = self.average.normalize() if self.average is not None else None
        return ShadowLeg(account=self.account, status=status, reason=reason, quantity=self.quantity,
                         filled_quantity=self.filled, average_price=average, fee=self.fee, realized_pnl=self.pnl,
                         client_order_ids=self.coids)


@dataclass
class _Row:
    signal_id: uuid.UUID
    received_at: datetime
    symbol: str
    side: str
    sender_price: Decimal | None
    market: dict[str, str] | None = None
    legs: dict[str, _Leg] = field(default_factory=dict)

    def view(self) -> ShadowRow:
        live, shadow = (self.legs.get(role) or _Leg("", False, "no decision") for role in (LIVE, SHADOW))
        market = self.market or {}
        market_price = _price(market.get("ask" if self.side == "buy" else "bid"))
        live_avg, shadow_avg = live.average, shadow.average
        return ShadowRow(
            signal_id=self.signal_id, received_at=self.received_at, symbol=self.symbol, side=self.side,
            sender_price=self.sender_price, market_price=market_price, market_source=market.get("source"),
            live=live.view(), shadow=shadow.view(), slippage_bps=bps(live_avg, shadow_avg, self.side),
            live_vs_market_bps=bps(live_avg, market_price, self.side),
            shadow_vs_market_bps=bps(shadow_avg, market_price, self.side),
            live_vs_sender_bps=bps(live_avg, self.sender_price, self.side),
        )


def signal_shadow(session: Session, signal_id: uuid.UUID) -> list[ShadowRow] | None:
    """The trace's ``shadow`` section: the signal's comparison rows; None when it has no shadow."""
    result = session.execute(_ROWS_OF_SIGNAL, {"signal_id": signal_id}).all()
    return [r.view() for r in _rows(result)] if result else None


def strategy_rows(session: Session, strategy_id: uuid.UUID, since: datetime | None,
                  until: datetime | None) -> list[ShadowRow]:
    """The comparison rows of the strategy's shadowed signals received in [since, until), oldest first."""
    params = {"strategy_id": strategy_id, "since": since, "until": until}
    return [r.view() for r in _rows(session.execute(_ROWS_OF_STRATEGY, params).all())]


def totals(session: Session, strategy_id: uuid.UUID, since: datetime | None, until: datetime | None,
           rows: list[ShadowRow]) -> tuple[ShadowTotals, list[ShadowDay]]:
    """Per-side sums and the daily series over the same signals as ``rows`` (see the module)."""
    params = {"strategy_id": strategy_id, "since": since, "until": until}
    sides = {LIVE: [0, ZERO, ZERO, ZERO], SHADOW: [0, ZERO, ZERO, ZERO]}
    days: dict[Any, dict[str, Decimal]] = defaultdict(lambda: {LIVE: ZERO, SHADOW: ZERO})
    for role, day, count, pnl, fee, notional in session.execute(_DAYS_OF_STRATEGY, params):
        side = sides[role]
        side[0] += count
        side[1] += pnl
        side[2] += fee
        side[3] += notional
        days[day][role] += pnl
    daily, running = [], {LIVE: ZERO, SHADOW: ZERO}
    for day in sorted(days):
        for role in running:
            running[role] += days[day][role]
        daily.append(ShadowDay(date=day, live_realized_pnl=days[day][LIVE], shadow_realized_pnl=days[day][SHADOW],
                               live_cumulative_pnl=running[LIVE], shadow_cumulative_pnl=running[SHADOW]))
    live, shadow = (ShadowSide(fills=s[0], realized_pnl=s[1], fees=s[2], notional=s[3])
                    for s in (sides[LIVE], sides[SHADOW]))
    compared = [r for r in rows if r.slippage_bps is not None]
    return ShadowTotals(
        signals=len({r.signal_id for r in rows}), compared=len(compared), live=live, shadow=shadow,
        pnl_difference=live.realized_pnl - shadow.realized_pnl, fee_difference=live.fees - shadow.fees,
        avg_slippage_bps=_weighted_slippage(compared),
    ), daily


def strategy_sides(session: Session, name: str) -> tuple[uuid.UUID, str, str | None]:
    """(strategy id, its account's name, its shadow account's name or None). Raises ``NotFound``."""
    row = session.execute(select(Strategy.id, Account.name, Strategy.settings["shadow"])
                          .join(Account, Account.id == Strategy.account_id).where(Strategy.name == name)).first()
    if row is None:
        raise NotFound(f"no strategy {name!r}")
    return row[0], row[1], row[2] if isinstance(row[2], str) else None


def bps(price: Decimal | None, reference: Decimal | None, side: str) -> Decimal | None:
    """(price − reference) / reference × 10,000, negated for a sell, rounded half-up to 0.01
    (positive: ``price`` is worse for the trader); None without both prices."""
    value = _bps(price, reference, side)
    return _round(value) if value is not None else None


def _bps(price: Decimal | None, reference: Decimal | None, side: str) -> Decimal | None:
    if price is None or reference is None or reference <= 0:
        return None
    value = _DIVIDE.divide((price - reference) * 10_000, reference)
    return -value if side == "sell" else value


def _rows(result: list[Any]) -> list[_Row]:
    """Rows per (signal, symbol, side) from the per-order query rows, in its order."""
    rows: dict[tuple[uuid.UUID, str, str], _Row] = {}
    refused: dict[uuid.UUID, list[Any]] = defaultdict(list)  # legs whose decision placed no order
    for r in result:
        signal_id, role, received_at, price, approved, reason, account, market, symbol, side = r[:10]
        if symbol is None:
            refused[signal_id].append((role, account, approved, reason))
            continue
        row = rows.setdefault((signal_id, symbol, side), _Row(signal_id, received_at, symbol, side, _price(price)))
        if role == LIVE:
            row.market = market
        row.legs.setdefault(role, _Leg(account, approved, reason)).add(r)
    for row in rows.values():
        for role, account, approved, reason in refused.get(row.signal_id, ()):
            row.legs.setdefault(role, _Leg(account, approved, reason))
    return list(rows.values())


def _weighted_slippage(rows: list[ShadowRow]) -> Decimal | None:
    """Σ(live notional × slippage) / Σ live notional, from the rows' average prices (unrounded bps)."""
    weighted = total = ZERO
    for r in rows:
        notional = r.live.filled_quantity * (r.live.average_price or ZERO)
        weighted += notional * (_bps(r.live.average_price, r.shadow.average_price, r.side) or ZERO)
        total += notional
    return _round(_DIVIDE.divide(weighted, total)) if total else None


def _price(value: Any) -> Decimal | None:
    try:
        price = Decimal(str(value)) if value is not None else None
    except ArithmeticError:
        return None
    return price if price is not None and price.is_finite() and price > 0 else None


def _round(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
