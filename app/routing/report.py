"""Expected against realised cost of routed orders: the trace's ``routing`` section of one
signal, and the statistics per venue.

The expectation is what the ``route`` check stored when the order was routed
(``app.routing.cost``); the realisation comes from the fills of the order placed for that
account's part (its decision's opening, not reduce-only, entry intent). For a part that filled
q_f of its quantity (contract size k, 1 on spot):

* realised notional N_r = Σ price·quantity·k over its fills; realised fee F_r = Σ fee in the
  quote currency (a fee charged in the base currency is valued at its fill's price, as the
  ledger does; a fee in a third currency cannot be valued and is left out, said in ``note``);
* realised all-in cost C_r = N_r + F_r for a buy, N_r − F_r for a sell; all-in price
  c_r = C_r / (q_f·k); the expectation for the same amount is c_e·q_f·k (c_e the routed
  all-in price);
* slippage = (c_r − c_e) / c_e × 10 000 bps for a buy, (c_e − c_r) / c_e × 10 000 for a sell:
  positive means execution cost more (or earned less) than the book promised.

Per venue: ``overrun`` = Σ (C_r − c_e·q_f·k) over buys + Σ (c_e·q_f·k − C_r) over sells
(quote, positive = worse), ``slippage_bps`` = overrun / Σ c_e·q_f·k × 10 000.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.admin.pagination import time_range
from app.domain.money import MONEY_CONTEXT, fmt
from app.domain.symbols import base_quote
from app.persistence.models import (
    Account,
    FillRecord,
    OrderIntentRecord,
    OrderRecord,
    RiskDecisionRecord,
    SignalRecord,
    Strategy,
)
from app.routing.cost import shown
from app.routing.service import ROUTE_CHECK

# The admin API's decimal type (app.admin.schemas.Money), repeated here because the admin
# schemas import this module: an exact decimal string in JSON, never a float.
Money = Annotated[
    Decimal,
    PlainSerializer(fmt, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "decimal", "examples": ["60006.5"]}, mode="serialization"),
]
BPS = Decimal(10_000)


class RouteCandidateView(BaseModel):
    """One candidate as costed when the order was routed: its expected figures, or why it was skipped."""

    account: str
    venue: str
    quantity: Money | None = None
    average_price: Money | None = Field(default=None, description="book walk, quote per base")
    fee_rate: Money | None = Field(default=None, description="taker fee, fraction of notional")
    fee_source: str | None = None
    fee: Money | None = Field(default=None, description="quote")
    all_in_price: Money | None = Field(default=None, description="quote per base, fee included")
    all_in_cost: Money | None = Field(default=None, description="quote paid (buy) or received (sell)")
    skipped: str | None = Field(default=None, description="why this venue could not take the order")


class RoutedPartView(BaseModel):
    """One part sent (one venue; several for a split): expected from the book, realised from its fills."""

    account: str
    venue: str
    quantity: Money
    expected_average_price: Money
    expected_fee: Money
    expected_all_in_price: Money
    expected_all_in_cost: Money
    client_order_id: str | None = None
    order_status: str | None = None
    filled_quantity: Money = Decimal(0)
    realised_average_price: Money | None = None
    realised_fee: Money | None = Field(default=None, description="quote")
    realised_all_in_price: Money | None = None
    realised_all_in_cost: Money | None = Field(default=None, description="for the filled quantity")
    expected_all_in_cost_filled: Money | None = Field(default=None, description="expected cost of the filled quantity")
    slippage_bps: Money | None = Field(default=None, description="realised vs expected all-in price; positive = worse")
    note: str | None = None


class RoutingTrace(BaseModel):
    """The routing decision of a signal (``route`` check) with expected vs realised cost per part."""

    side: str
    symbol: str
    quantity: Money
    choice: str = Field(description="single, split or none")
    reason: str
    split_allowed: bool
    candidates: list[RouteCandidateView]
    parts: list[RoutedPartView]
    split: list[RouteCandidateView] | str | None = Field(default=None, description="the split costed, or why none")


class VenueRouting(BaseModel):
    """One venue's routing record in the period (formulas: ``app.routing.report``)."""

    venue: str
    accounts: list[str]
    considered: int = Field(description="routed orders this venue was a candidate for")
    skipped: int = Field(description="… and could not take (stale book, open breaker, funds, …)")
    chosen: int = Field(description="parts sent to this venue")
    filled_parts: int
    expected_all_in: Money = Field(description="Σ expected all-in cost of the filled quantities, quote")
    realised_all_in: Money = Field(description="Σ realised all-in cost from the fills, quote")
    overrun: Money = Field(description="realised − expected (buys), expected − realised (sells); positive = worse")
    slippage_bps: Money | None = Field(description="overrun / expected_all_in × 10 000")


@dataclass(frozen=True)
class _Realised:
    filled: Decimal
    notional: Decimal
    fee: Decimal
    uncounted: frozenset[str]

    def all_in(self, side: str) -> Decimal:
        """C_r: N_r + F_r for a buy, N_r − F_r for a sell (quote)."""
        with localcontext(MONEY_CONTEXT):
            return self.notional + self.fee if side == "buy" else self.notional - self.fee


def route_of_checks(checks: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The stored routing decision (``Choice.as_json``) of a decision's checks, if routed."""
    return next((c.get("route") for c in checks or () if c.get("check") == ROUTE_CHECK and c.get("route")), None)


def routing_trace(session: Session, signal_id: uuid.UUID) -> RoutingTrace | None:
    """The signal's routing section, or None when its strategy does not route."""
    rows = session.execute(
        select(RiskDecisionRecord.id, RiskDecisionRecord.checks, Account.name)
        .join(Account, Account.id == RiskDecisionRecord.account_id)
        .where(RiskDecisionRecord.signal_id == signal_id, RiskDecisionRecord.checks.contains([{"check": ROUTE_CHECK}]))
    ).all()
    route = next((r for r in (route_of_checks(checks) for _, checks, _ in rows) if r), None)
    if route is None:
        return None
    decisions = {name: decision_id for decision_id, _, name in rows}
    orders = _opening_orders(session, list(decisions.values()))
    parts = [_part(p, route, orders.get(decisions.get(p["account"]))) for p in route.get("allocations") or ()]
    split = route.get("split")
    return RoutingTrace(side=route["side"], symbol=route["symbol"], quantity=Decimal(route["quantity"]),
                        choice=route["choice"], reason=route["reason"], split_allowed=bool(route.get("split_allowed")),
                        candidates=[_candidate(c) for c in route.get("candidates") or ()], parts=parts,
                        split=[_candidate(c) for c in split] if isinstance(split, list) else split)


def _candidate(data: dict[str, Any]) -> RouteCandidateView:
    money = ("quantity", "average_price", "fee_rate", "fee", "all_in_price", "all_in_cost")
    words = {k: v for k, v in data.items() if k not in money and k in RouteCandidateView.model_fields}
    return RouteCandidateView(**words, **{k: Decimal(data[k]) for k in money if data.get(k) is not None})


def _part(allocation: dict[str, Any], route: dict[str, Any],
          order: tuple[OrderRecord, list[FillRecord]] | None) -> RoutedPartView:
    view = RoutedPartView(
        account=allocation["account"], venue=allocation["venue"], quantity=Decimal(allocation["quantity"]),
        expected_average_price=Decimal(allocation["average_price"]), expected_fee=Decimal(allocation["fee"]),
        expected_all_in_price=Decimal(allocation["all_in_price"]),
        expected_all_in_cost=Decimal(allocation["all_in_cost"]))
    if order is None:
        return view.model_copy(update={"note": "no order placed yet"})
    record, fills = order
    view = view.model_copy(update={"client_order_id": record.client_order_id, "order_status": record.status})
    size = Decimal(allocation.get("contract_size") or 1)
    realised = _realised(fills, route["symbol"], size)
    if realised.filled == 0:
        return view
    return view.model_copy(update=_compared(realised, route["side"], view.expected_all_in_price, size))


def _compared(r: _Realised, side: str, expected_price: Decimal, contract_size: Decimal) -> dict[str, Any]:
    with localcontext(MONEY_CONTEXT):
        units = r.filled * contract_size
        cost = r.all_in(side)
        price = cost / units
        drift = (price - expected_price) if side == "buy" else (expected_price - price)
        figures = {"filled_quantity": r.filled, "realised_average_price": shown(r.notional / units),
                   "realised_fee": r.fee, "realised_all_in_price": shown(price), "realised_all_in_cost": shown(cost),
                   "expected_all_in_cost_filled": shown(expected_price * units),
                   "slippage_bps": _round(drift / expected_price * BPS)}
    if r.uncounted:
        figures["note"] = f"fees in {', '.join(sorted(r.uncounted))} are not counted (not the base or quote currency)"
    return figures


def _realised(fills: list[FillRecord], symbol: str, contract_size: Decimal) -> _Realised:
    base, quote = base_quote(symbol)
    filled = notional = fee = Decimal(0)
    uncounted = set()
    with localcontext(MONEY_CONTEXT):
        for f in fills:
            filled += f.quantity
            notional += f.price * f.quantity * contract_size
            if f.fee_currency in (quote, None):
                fee += f.fee
            elif f.fee_currency == base:
                fee += f.fee * f.price
            elif f.fee:
                uncounted.add(f.fee_currency)
    return _Realised(filled, notional, fee, frozenset(uncounted))


def _opening_orders(session: Session,
                    decision_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[OrderRecord, list[FillRecord]]]:
    """Per decision: the order of its opening entry intent and that order's fills."""
    if not decision_ids:
        return {}
    rows = session.execute(
        select(OrderIntentRecord.decision_id, OrderRecord)
        .join(OrderRecord, OrderRecord.intent_id == OrderIntentRecord.id)
        .where(OrderIntentRecord.decision_id.in_(decision_ids), OrderIntentRecord.reduce_only.is_(False),
               OrderIntentRecord.purpose == "entry")
    ).all()
    orders = {decision_id: order for decision_id, order in rows}
    fills: dict[uuid.UUID, list[FillRecord]] = defaultdict(list)
    if orders:
        for fill in session.execute(select(FillRecord).where(FillRecord.order_id.in_([o.id for o in orders.values()]))
                                    .order_by(FillRecord.ts_event, FillRecord.id)).scalars():
            fills[fill.order_id].append(fill)
    return {decision_id: (order, fills[order.id]) for decision_id, order in orders.items()}


# ------------------------------------------------------------------------------ statistics
@dataclass
class _VenueTotals:
    accounts: set[str] = field(default_factory=set)
    considered: int = 0
    skipped: int = 0
    chosen: int = 0
    filled_parts: int = 0
    expected: Decimal = Decimal(0)
    realised: Decimal = Decimal(0)
    overrun: Decimal = Decimal(0)


def routing_stats(session: Session, *, since: datetime | None = None, until: datetime | None = None,
                  strategy: str | None = None) -> list[VenueRouting]:
    """Per venue, the routed orders of signals received in [since, until) (optionally of one
    strategy): how often it was considered, skipped and chosen, and expected vs realised cost."""
    query = (select(RiskDecisionRecord.id, RiskDecisionRecord.signal_id, RiskDecisionRecord.checks, Account.name)
             .join(SignalRecord, SignalRecord.id == RiskDecisionRecord.signal_id)
             .join(Strategy, Strategy.id == SignalRecord.strategy_id)
             .join(Account, Account.id == RiskDecisionRecord.account_id)
             .where(RiskDecisionRecord.checks.contains([{"check": ROUTE_CHECK}])))
    if strategy is not None:
        query = query.where(Strategy.name == strategy)
    rows = session.execute(time_range(query, SignalRecord.received_at, since, until)).all()
    orders = _opening_orders(session, [r[0] for r in rows])
    venues: dict[str, _VenueTotals] = defaultdict(_VenueTotals)
    seen: set[uuid.UUID] = set()
    for decision_id, signal_id, checks, account in rows:
        route = route_of_checks(checks)
        if route is None:
            continue
        if signal_id not in seen:
            seen.add(signal_id)
            _count_candidates(venues, route)
        _count_part(venues, route, account, orders.get(decision_id))
    return [_venue_view(name, t) for name, t in sorted(venues.items())]


def _count_candidates(venues: dict[str, _VenueTotals], route: dict[str, Any]) -> None:
    for c in route.get("candidates") or ():
        totals = venues[c["venue"]]
        totals.accounts.add(c["account"])
        totals.considered += 1
        totals.skipped += 1 if c.get("skipped") else 0


def _count_part(venues: dict[str, _VenueTotals], route: dict[str, Any], account: str,
                order: tuple[OrderRecord, list[FillRecord]] | None) -> None:
    part = next((a for a in route.get("allocations") or () if a["account"] == account), None)
    if part is None:
        return
    totals = venues[part["venue"]]
    totals.chosen += 1
    if order is None:
        return
    size = Decimal(part.get("contract_size") or 1)
    realised = _realised(order[1], route["symbol"], size)
    if realised.filled == 0:
        return
    with localcontext(MONEY_CONTEXT):
        expected = Decimal(part["all_in_price"]) * realised.filled * size
        cost = realised.all_in(route["side"])
        totals.filled_parts += 1
        totals.expected += expected
        totals.realised += cost
        totals.overrun += (cost - expected) if route["side"] == "buy" else (expected - cost)


def _venue_view(name: str, t: _VenueTotals) -> VenueRouting:
    with localcontext(MONEY_CONTEXT):
        bps = _round(t.overrun / t.expected * BPS) if t.expected else None
    return VenueRouting(venue=name, accounts=sorted(t.accounts), considered=t.considered, skipped=t.skipped,
                        chosen=t.chosen, filled_parts=t.filled_parts, expected_all_in=shown(t.expected),
                        realised_all_in=shown(t.realised), overrun=shown(t.overrun), slippage_bps=bps)


def _round(value: Decimal) -> Decimal:
    """Basis points to 2 decimals, half up (as ``app.admin.stats``)."""
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
