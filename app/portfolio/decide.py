"""One rebalance decision for one account: the legs (``app.portfolio.legs``) from the account's
holdings at market, each leg decided by the risk engine as its own order (caps per order,
trading state, venue rules), all merged into the one stored decision with every leg's checks.

Under the decision's locks (the account row, then each asset's (account, symbol) lock in
symbol order, as ``close_all`` takes them), so the holdings read are those the orders will
act on and no other decision of the account runs in between; while one rebalance of the
account is still under way a new one is refused. Each leg is a signal for its symbol with a
``target_size`` (the holding after the leg), so the engine orders the difference from the
position it sees including orders in flight.

Sells before buys: when the plan has a sell the engine approved, only the sells are written
now and the buys are decided again once the sells are done, re-sized to the cash actually
there (``decide_buys``, run by ``app.portfolio.store``). Without sells the buys are written now.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from app.domain.enums import Action, OrderSide, OrderType
from app.domain.intents import CheckOutcome, RiskDecision
from app.domain.money import fmt
from app.domain.signal import Signal
from app.portfolio.legs import (
    Leg,
    Plan,
    PlanError,
    Price,
    Skipped,
    Threshold,
    describe_drifts,
    fraction,
    plan_legs,
    resize_buys,
    symbol_of,
)
from app.portfolio.market import (
    AccountView,
    Prices,
    account_view,
    cash_of,
    fee_rate_of,
    held_assets,
    portfolio_of,
    resolve_prices,
    running,
    strategy_config,
)
from app.risk.engine import evaluate
from app.risk.rules import MarketRules
from app.risk.state import LOCK_ACCOUNT, Loaded, load_context



@dataclass(frozen=True)
class LegPart:
    """One leg and the engine's answer for it: its context (``loaded``), signal and decision."""

    leg: Leg
    loaded: Loaded
    signal: Signal
    decision: RiskDecision


@dataclass(frozen=True)
class Decided:
    """An account's rebalance decision: the merged ``decision`` (stored), every leg decided
    (``parts``), those written now (``written``: the sells, or the buys when there is no
    sell), the ``plan`` and its ``figures`` (JSON-ready: weights, prices and their source,
    holdings, cash, equity, fee rate, threshold). ``status`` of the rebalance it starts."""

    decision: RiskDecision
    venue: str
    status: str
    parts: tuple[LegPart, ...] = ()
    written: tuple[LegPart, ...] = ()
    plan: Plan | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def waiting(self) -> tuple[LegPart, ...]:
        """Buys decided now but written once the sells are done."""
        return tuple(p for p in self.parts if p.leg.side == OrderSide.BUY and p not in self.written
                     and p.decision.approved)


@dataclass(frozen=True)
class Book:
    """What the account holds, read under the locks: base quantities by asset (the positions
    expected once orders in flight fill), cash in the quote currency, each asset's context."""

    holdings: dict[str, Decimal]
    cash: Decimal
    loaded: dict[str, Loaded]

    @property
    def rules(self) -> dict[str, MarketRules]:
        return {asset: loaded.context.rules for asset, loaded in self.loaded.items()}


def decide(session: Session, strategy_id: uuid.UUID, account_id: uuid.UUID, signal: Signal, *,
           lock: bool = True, wait: bool = True) -> Decided:
    """The rebalance of ``account_id`` to ``signal``'s weights (else the strategy's ``[portfolio]
    weights``), in the caller's transaction. ``lock`` False (the dry run): no locks, no check
    for a rebalance under way, no wait for first quotes. A refusal is a denied decision whose
    reason says why (no weights, a weight on the quote currency, a reference price too far
    from the market, an asset held without a price, a rebalance still under way)."""
    view = account_view(session, account_id)
    config = strategy_config(session, strategy_id)
    portfolio = portfolio_of(config)
    weights = signal.weights if signal.weights is not None else portfolio.weights
    if weights is None:
        return _refused(view, "no target weights: the signal has none (weights) and the strategy has no "
                              "[portfolio] weights")
    if view.quote in weights:
        return _refused(view, f"weights.{view.quote}: {view.quote} is the account's quote currency; its weight is "
                              "what the other weights leave")
    assets = sorted(set(weights) | set(held_assets(session, account_id, view.quote)))
    priced = resolve_prices(view, assets, signal.prices or {}, config.max_price_deviation_bps, wait=wait and lock)
    if priced.refusals:
        return _refused(view, "; ".join(priced.refusals))
    if lock:
        session.execute(LOCK_ACCOUNT, {"account_id": account_id})
        busy = running(session, account_id)
        if busy is not None:
            return _refused(view, f"rebalance {busy[0]} of account {view.name} is still under way ({busy[1]}); a new "
                                  "one starts from its outcome")
    book = read_book(session, view, strategy_id, signal, assets, priced.prices, lock=lock)
    return _planned(view, book, priced, weights, Threshold(portfolio.drift_threshold, portfolio.drift_mode), signal)


def _planned(view: AccountView, book: "Book", priced: Prices, weights: Mapping[str, Decimal], threshold: Threshold,
             signal: Signal) -> Decided:
    """The legs from ``book`` and each leg's decision; the sells written now, else the buys
    (re-sized to the cash there is when every sell was refused)."""
    fee_rate = fee_rate_of(view, book.rules.values())
    figures = _figures(view, weights, priced.prices, priced.missing, book, fee_rate, threshold)
    try:
        plan = plan_legs(book.holdings, book.cash, priced.prices, weights, view.quote, fee_rate, book.rules, threshold)
    except PlanError as e:
        return _refused(view, str(e), figures)
    parts = evaluate_legs(book, plan.legs, signal)
    sells = [p for p in parts if p.leg.side == OrderSide.SELL]
    if sells and not any(p.decision.approved for p in sells) and plan.buys:
        # No sell will bring cash: the buys are sized on the cash there is now.
        rebuy = resize_buys({leg.asset: leg.wanted for leg in plan.buys}, book.holdings, book.cash, priced.prices,
                            weights, view.quote, fee_rate, book.rules)
        plan = replace(plan, legs=plan.sells + rebuy.legs, skipped=plan.skipped + rebuy.skipped)
        parts = sells + evaluate_legs(book, rebuy.legs, signal)
    selling = any(p.decision.approved for p in sells)
    written = tuple(p for p in parts if p.decision.approved and (p.leg.side == OrderSide.SELL or not selling))
    figures |= {"equity": plan.equity, "scale": fraction(plan.scale), "cash_after": plan.cash_after}
    return _decided(view, plan, tuple(parts), written, threshold, figures)


def read_book(session: Session, view: AccountView, strategy_id: uuid.UUID, signal: Signal, assets: list[str],
              prices: Mapping[str, Price], *, lock: bool) -> Book:
    """Each priced asset's risk context (``load_context``: its (account, symbol) lock when
    ``lock``, in symbol order), the holdings as the engine sees them and the quote balance.
    An asset without a price keeps the ledger's filled quantity (it cannot be traded)."""
    holdings, loaded = dict(held_assets(session, view.id, view.quote)), {}
    for asset in sorted(prices):
        probe = leg_signal(signal, symbol_of(asset, view.quote), OrderSide.BUY, None, prices[asset].mid)
        loaded[asset] = load_context(session, view.id, strategy_id, probe, lock=lock, account_wide=False)
        holdings[asset] = max(loaded[asset].context.state.expected, Decimal(0))
    return Book({a: q for a, q in holdings.items() if q > 0}, cash_of(session, view.id, view.quote), loaded)


def evaluate_legs(book: Book, legs: tuple[Leg, ...], signal: Signal) -> list[LegPart]:
    """The engine's decision on each leg: a signal for its symbol whose ``target_size`` is the
    holding after the leg, priced at the leg's price (the intent's reference price)."""
    parts = []
    for leg in legs:
        held = book.holdings.get(leg.asset, Decimal(0))
        target = held - leg.quantity if leg.side == OrderSide.SELL else held + leg.quantity
        leg_sig = leg_signal(signal, leg.symbol, leg.side, target, leg.price)
        loaded = book.loaded[leg.asset]
        context = replace(loaded.context, signal=leg_sig)
        parts.append(LegPart(leg, Loaded(loaded.account_id, loaded.venue, context), leg_sig, evaluate(context)))
    return parts


def leg_signal(signal: Signal, symbol: str, side: OrderSide, target: Decimal | None, price: Decimal) -> Signal:
    """The rebalance signal as one leg: a market order on ``symbol`` to ``target`` (base units)."""
    return signal.model_copy(update={
        "action": Action.BUY if side == OrderSide.BUY else Action.SELL, "symbol": symbol, "raw_symbol": symbol,
        "target_size": target, "target_percent": None, "size": None, "price": price, "weights": None, "prices": None,
        "order_type": OrderType.MARKET, "limit_price": None, "limit_offset": None, "time_in_force": None,
        "target_position": None, "prev_position": None, "stop_loss": None, "take_profit": None, "exit_ladder": None})


def _decided(view: AccountView, plan: Plan, parts: tuple[LegPart, ...], written: tuple[LegPart, ...],
             threshold: Threshold, figures: dict[str, Any]) -> Decided:
    approved, status, reason = _verdict(plan, parts, written, threshold)
    checks = [_summary_check(plan, threshold, figures)]
    for part in parts:
        name = f"{part.leg.symbol} {part.leg.side.value}"
        waits = part.leg.side == OrderSide.BUY and part not in written and part.decision.approved
        detail = part.leg.describe() + ("; waits for the sells, then re-sized to the cash there" if waits else "")
        checks.append(CheckOutcome(f"{name} leg", True, detail=detail))
        checks += [replace(c, name=f"{name} {c.name}") for c in part.decision.checks]
    checks += [_skipped_check(s) for s in plan.skipped]
    orders = tuple(o for p in written for o in p.decision.orders)
    return Decided(RiskDecision(approved, tuple(checks), orders, reason), view.venue, status, parts, written, plan,
                   figures)


def _verdict(plan: Plan, parts: tuple[LegPart, ...], written: tuple[LegPart, ...],
             threshold: Threshold) -> tuple[bool, str, str | None]:
    """(approved, the rebalance's first status, the reason): nothing to order is approved and
    complete, saying why; else approved when some leg is written now, with the legs refused."""
    failed = [f"{s.symbol}: {s.reason}" for s in plan.skipped if s.failed]
    if not parts and not failed:
        if plan.skipped:
            why = "; ".join(f"{s.symbol} {s.side.value} skipped: {s.reason}" for s in plan.skipped)
        else:
            why = f"no asset drifted beyond {threshold.describe()} ({describe_drifts(plan)})"
        return True, "complete", f"nothing to order: {why}"
    denied = [f"{p.leg.symbol} {p.leg.side.value}: {p.decision.reason}" for p in parts if not p.decision.approved]
    reason = "; ".join(denied + failed) or None
    if not written:
        return False, "rejected", reason
    return True, ("pending_sells" if any(p.leg.side == OrderSide.SELL for p in written) else "buying"), reason


def _summary_check(plan: Plan, threshold: Threshold, figures: dict[str, Any]) -> CheckOutcome:
    quote = figures["quote"]
    count = f"{len(plan.sells)} sell(s), then {len(plan.buys)} buy(s)"
    scaled = f"; buys scaled by {fmt(plan.scale.quantize(Decimal('1e-6')))} to the cash" if plan.scale < 1 else ""
    detail = (f"equity {fmt(plan.equity.quantize(Decimal('0.01')))} {quote} at market (cash {fmt(plan.cash)}); "
              f"{describe_drifts(plan)}; threshold {threshold.describe()}; fee rate {fmt(figures['fee_rate'])}; "
              f"{count}{scaled}")
    return CheckOutcome("rebalance", True, detail=detail)


def _skipped_check(skipped: Skipped) -> CheckOutcome:
    name = f"{skipped.symbol} {skipped.side.value} leg"
    if skipped.failed:
        return CheckOutcome(name, False, reason=skipped.reason)
    return CheckOutcome(name, True, detail=f"skipped, no order: {skipped.reason}")


def _figures(view: AccountView, weights: Mapping[str, Decimal], prices: Mapping[str, Price],
             missing: Mapping[str, str], book: Book, fee_rate: Decimal, threshold: Threshold) -> dict[str, Any]:
    return {
        "quote": view.quote, "source": view.source, "weights": dict(weights), "holdings": book.holdings,
        "cash": book.cash, "fee_rate": fee_rate, "threshold": {"value": threshold.value, "mode": threshold.mode},
        "prices": {a: {"bid": p.bid, "ask": p.ask, "mid": p.mid, "source": p.source} for a, p in prices.items()},
        "unpriced": dict(missing),
    }


def _refused(view: AccountView, reason: str, figures: dict[str, Any] | None = None) -> Decided:
    check = CheckOutcome("rebalance", False, reason=reason)
    return Decided(RiskDecision(False, (check,), reason=reason), view.venue, "rejected", figures=figures or {})


def decide_buys(session: Session, strategy_id: uuid.UUID, account_id: uuid.UUID, signal: Signal,
                weights: Mapping[str, Decimal], wanted: Mapping[str, Decimal],
                decided_prices: Mapping[str, Price]) -> tuple[list[LegPart], Plan | None, str | None]:
    """The buys once the sells are done: ``wanted`` (asset → base units, as planned) re-sized
    to the real cash (``legs.resize_buys``, under the account's lock and the assets' locks) at
    fresh prices, else at ``decided_prices`` (the decision's), each decided again by the risk
    engine. Returns the decided legs, the plan, or the reason there is none (``PlanError``).
    ``signal``: the rebalance's, without a signal time (the staleness of the original does not
    apply to its second step)."""
    view = account_view(session, account_id)
    session.execute(LOCK_ACCOUNT, {"account_id": account_id})
    every = sorted(set(weights) | set(held_assets(session, account_id, view.quote)))
    priced = resolve_prices(view, every, {}, None, wait=False, fallback=decided_prices)
    book = read_book(session, view, strategy_id, signal, every, priced.prices, lock=True)
    try:
        plan = resize_buys(wanted, book.holdings, book.cash, priced.prices, weights, view.quote,
                           fee_rate_of(view, book.rules.values()), book.rules)
    except PlanError as e:
        return [], None, str(e)
    return evaluate_legs(book, plan.legs, signal), plan, None
