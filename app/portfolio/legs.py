"""The legs of a rebalance: a pure function from holdings, prices, target weights, the fee
rate and the venue's rules to the ordered orders, sells first, then buys.

Formulas (exact ``Decimal`` arithmetic in ``MONEY_CONTEXT``; prices in quote per base,
quantities in base units, money in the account's quote currency, weights fractions of equity):

* value at market ``v_i = h_i · mid_i`` (``h_i`` base quantity held; ``mid_i`` the mid price,
  ``(bid + ask) / 2``, or the reference price when there is no fresh quote);
* total equity ``E = cash + Σ v_i`` (``cash``: the balance in the quote currency);
* current weight ``c_i = v_i / E``; target weight ``w_i`` (0 for an asset held but not named);
* drift: absolute ``c_i − w_i`` (shown in percentage points), or relative ``|c_i − w_i| / w_i``
  (infinite when ``w_i = 0 < c_i``); an asset is traded only when its drift exceeds the
  threshold (strictly; the threshold in percentage points, or in percent of ``w_i``);
* target quantity ``t_i = w_i · E / mid_i``; the leg moves ``h_i`` to ``t_i``;
* a sell: ``q = amount_to_precision(h_i − t_i)`` at the bid, proceeds ``q · bid · (1 − f)``;
* a buy wants ``u_i = t_i − h_i`` at the ask, costing ``u_i · ask · (1 + f)``; when the buys
  together cost more than the cash after the sells, each is scaled by
  ``s = (cash + Σ proceeds) / Σ cost``, so the cash suffices with the fees;
  ``q = amount_to_precision(u_i · s)``;
* a leg whose quantity after the venue's precision is 0, below the minimum amount, or whose
  notional is below the minimum notional is skipped (never ordered), with the reason;
* after: ``cash' = cash + Σ proceeds − Σ costs``, ``E' = cash' + Σ h'_j · mid_j``, weight after
  ``h'_i · mid_i / E'``, drift after ``weight after − w_i``.

The threshold is the tolerance band of threshold rebalancing (Jaconetti, Kinniry and Zilbering,
"Best Practices for Portfolio Rebalancing", Vanguard, 2010): only the assets outside their band
trade, and they trade back to their target weight; an absolute band in percentage points
(``5``: 45–55 % around 50 %) or a relative one in percent of the target (``25``: 37.5–62.5 %).
``f`` is the venue's taker fee rate (a fraction of notional, 0.001 = 0.1 %). Amount precision
is ccxt's ``amount_to_precision`` on the stored market (``app.risk.rules.MarketRules``: it
truncates). The buys are sized against the cash the sells should bring; once the sells are
done, ``resize_buys`` scales the same wanted quantities ``u_i`` to the cash actually there at
the prices then (the same legs when nothing moved).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, localcontext
from typing import Any, Literal

from app.domain.enums import OrderSide
from app.domain.money import MONEY_CONTEXT, fmt
from app.risk.rules import MarketRules

HUNDRED = Decimal(100)
ZERO = Decimal(0)
FRACTION = Decimal("1e-10")  # weights and drifts as shown (a fraction of equity, 10 decimals)


def fraction(value: Decimal) -> Decimal:
    """A weight, drift or scale rounded to ``FRACTION`` for display and storage."""
    with localcontext(MONEY_CONTEXT):
        return value.quantize(FRACTION) if value.is_finite() else value


class PlanError(ValueError):
    """The legs cannot be computed (an asset held has no price, the account holds nothing);
    the message says which and why. The rebalance is refused with it."""


@dataclass(frozen=True)
class Price:
    """An asset's prices in the quote currency per base unit and where they came from
    (``source``, in words); bid = ask = mid for a reference price."""

    bid: Decimal
    ask: Decimal
    mid: Decimal
    source: str

    @classmethod
    def single(cls, price: Decimal, source: str) -> "Price":
        return cls(price, price, price, source)


@dataclass(frozen=True)
class Threshold:
    """``drift_threshold``: ``value`` in percentage points of equity (``absolute``) or percent
    of the target weight (``relative``)."""

    value: Decimal = ZERO
    mode: Literal["absolute", "relative"] = "absolute"

    def exceeded(self, current: Decimal, target: Decimal) -> bool:
        """True when the drift of weight ``current`` from ``target`` (fractions) is beyond it."""
        with localcontext(MONEY_CONTEXT):
            gap = abs(current - target)
            if self.mode == "absolute":
                return gap * HUNDRED > self.value
            if target == 0:
                return gap > 0
            return gap / target * HUNDRED > self.value

    def describe(self) -> str:
        return f"{fmt(self.value)} pp" if self.mode == "absolute" else f"{fmt(self.value)}% of the target weight"


@dataclass(frozen=True)
class Leg:
    """One order of the rebalance: ``quantity`` base units at the expected ``price`` (the
    bid for a sell, the ask for a buy), ``notional = quantity · price`` and ``fee`` in the
    quote currency; weights before / target / after as fractions of equity."""

    asset: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    notional: Decimal
    fee: Decimal
    weight_before: Decimal
    weight_target: Decimal
    weight_after: Decimal = ZERO
    wanted: Decimal = ZERO  # base units the leg wanted before the scaling and the precision

    @property
    def drift_before(self) -> Decimal:
        return self.weight_before - self.weight_target

    @property
    def drift_after(self) -> Decimal:
        return self.weight_after - self.weight_target

    def describe(self) -> str:
        """``sell 0.20105 ETH at 1999 = 401.9 USDT (fee 0.40), drift +3.35 pp → 0.01 pp``."""
        quote = self.symbol.split("/")[1]
        return (f"{self.side.value} {fmt(self.quantity)} {self.asset} at {fmt(self.price)} = "
                f"{fmt(_round(self.notional))} {quote} (fee {fmt(_round(self.fee))}), drift "
                f"{_pp(self.drift_before)} → {_pp(self.drift_after)}")

    def as_json(self) -> dict[str, Any]:
        """Quantities, prices and money exact; weights and drifts (fractions) to ``FRACTION``."""
        return {"asset": self.asset, "symbol": self.symbol, "side": self.side.value, "quantity": self.quantity,
                "price": self.price, "notional": self.notional, "fee": self.fee,
                "weight_before": fraction(self.weight_before), "weight_target": self.weight_target,
                "weight_after": fraction(self.weight_after), "drift_before": fraction(self.drift_before),
                "drift_after": fraction(self.drift_after), "wanted": self.wanted}


@dataclass(frozen=True)
class Skipped:
    """An asset beyond the threshold that gets no order, and why. ``failed``: it should have
    been traded and could not (no price): the rebalance ends incomplete. A leg below the
    venue's minimum is skipped but not failed (no order can be that small)."""

    asset: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    reason: str
    failed: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"asset": self.asset, "symbol": self.symbol, "side": self.side.value,
                "quantity": self.quantity, "reason": self.reason, "failed": self.failed}


@dataclass(frozen=True)
class Plan:
    """The legs and the figures they come from: ``equity`` and ``cash`` before, ``weights``
    before and ``targets`` (fractions, per asset), ``scale`` applied to the buys (1: none),
    ``cash_after`` every leg. ``legs``: sells first, then buys, each by symbol."""

    equity: Decimal
    cash: Decimal
    weights: dict[str, Decimal]
    targets: dict[str, Decimal]
    legs: tuple[Leg, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    scale: Decimal = Decimal(1)
    cash_after: Decimal = ZERO
    unpriced: tuple[str, ...] = field(default=())

    @property
    def sells(self) -> tuple[Leg, ...]:
        return tuple(leg for leg in self.legs if leg.side == OrderSide.SELL)

    @property
    def buys(self) -> tuple[Leg, ...]:
        return tuple(leg for leg in self.legs if leg.side == OrderSide.BUY)

    def drifts(self) -> dict[str, Decimal]:
        """Absolute drift before (fraction), per asset."""
        return {a: self.weights.get(a, ZERO) - self.targets.get(a, ZERO) for a in sorted(self.weights | self.targets)}

    def as_json(self) -> dict[str, Any]:
        return {"equity": self.equity, "cash": self.cash, "weights": {a: fraction(w) for a, w in self.weights.items()},
                "targets": self.targets, "scale": fraction(self.scale), "cash_after": self.cash_after,
                "legs": [leg.as_json() for leg in self.legs], "skipped": [s.as_json() for s in self.skipped]}


def plan_legs(
    holdings: Mapping[str, Decimal],
    cash: Decimal,
    prices: Mapping[str, Price],
    weights: Mapping[str, Decimal],
    quote: str,
    fee_rate: Decimal,
    rules: Mapping[str, MarketRules],
    threshold: Threshold,
) -> Plan:
    """The legs moving ``holdings`` (asset → base units held) and ``cash`` (quote) to
    ``weights`` (asset → fraction of equity, the rest in ``quote``), by the formulas of the
    module. ``prices`` and ``rules`` are keyed by asset (a missing rule: 8 decimals, no
    minimum).

    Raises ``PlanError`` when an asset held has no price or the equity is not positive. An
    asset only wanted (not held) without a price is skipped as failed.
    """
    with localcontext(MONEY_CONTEXT):
        held, equity, current = _valued(holdings, cash, prices, quote)
        targets = {a: Decimal(w) for a, w in weights.items()}
        chosen = sorted(a for a in set(current) | set(targets)
                        if threshold.exceeded(current.get(a, ZERO), targets.get(a, ZERO)))
        skipped = _unpriced(chosen, prices, quote)
        wanted = {a: targets.get(a, ZERO) * equity / prices[a].mid - held.get(a, ZERO) for a in chosen if a in prices}
        sell_legs = _sells(wanted, held, prices, quote, fee_rate, rules, skipped)
        proceeds = sum((leg.notional - leg.fee for leg in sell_legs), ZERO)
        buy_legs, scale = _buys(wanted, cash + proceeds, prices, quote, fee_rate, rules, skipped)
        return _plan(held, cash, equity, current, targets, sell_legs + buy_legs, skipped, scale, prices)


def resize_buys(
    wanted: Mapping[str, Decimal],
    holdings: Mapping[str, Decimal],
    cash: Decimal,
    prices: Mapping[str, Price],
    weights: Mapping[str, Decimal],
    quote: str,
    fee_rate: Decimal,
    rules: Mapping[str, MarketRules],
) -> Plan:
    """The buys of a rebalance whose sells are done: ``wanted`` (asset → base units, the legs'
    ``u_i`` as planned) at the ask of ``prices`` now, scaled to ``cash`` (quote) now as
    ``plan_legs`` scales them, to the venue's precision and minimums. ``holdings`` and
    ``weights`` give the weights before and after. Raises ``PlanError`` as ``plan_legs``."""
    with localcontext(MONEY_CONTEXT):
        held, equity, current = _valued(holdings, cash, prices, quote)
        targets = {a: Decimal(w) for a, w in weights.items()}
        skipped = _unpriced(sorted(wanted), prices, quote)
        buy_legs, scale = _buys({a: q for a, q in wanted.items() if a in prices}, cash, prices, quote, fee_rate,
                                rules, skipped)
        return _plan(held, cash, equity, current, targets, buy_legs, skipped, scale, prices)


def _valued(holdings: Mapping[str, Decimal], cash: Decimal, prices: Mapping[str, Price],
            quote: str) -> tuple[dict[str, Decimal], Decimal, dict[str, Decimal]]:
    """(the assets held, equity E at mid, current weights c_i). Raises ``PlanError``."""
    held = {a: q for a, q in holdings.items() if q > 0}
    unpriced_held = sorted(a for a in held if a not in prices)
    if unpriced_held:
        raise PlanError(f"no price for {', '.join(unpriced_held)}: holdings cannot be valued")
    equity = cash + sum((q * prices[a].mid for a, q in held.items()), ZERO)
    if equity <= 0:
        raise PlanError(f"equity is {fmt(equity)} {quote}: nothing to rebalance")
    return held, equity, {a: q * prices[a].mid / equity for a, q in held.items()}


def _unpriced(assets: list[str], prices: Mapping[str, Price], quote: str) -> list[Skipped]:
    return [Skipped(a, symbol_of(a, quote), OrderSide.BUY, ZERO, f"no price for {symbol_of(a, quote)}: no fresh quote "
                    f"and no reference price (prices.{a})", failed=True) for a in assets if a not in prices]


def _plan(held: dict[str, Decimal], cash: Decimal, equity: Decimal, current: dict[str, Decimal],
          targets: dict[str, Decimal], legs: list[Leg], skipped: list[Skipped], scale: Decimal,
          prices: Mapping[str, Price]) -> Plan:
    proceeds = sum((leg.notional - leg.fee for leg in legs if leg.side == OrderSide.SELL), ZERO)
    cash_after = cash + proceeds - sum((leg.notional + leg.fee for leg in legs if leg.side == OrderSide.BUY), ZERO)
    legs = _with_weights_after(legs, held, cash_after, prices, current, targets)
    return Plan(equity, cash, current, targets, tuple(legs), tuple(skipped), scale, cash_after,
                tuple(s.asset for s in skipped if s.failed))


def _sells(wanted: dict[str, Decimal], held: dict[str, Decimal], prices: Mapping[str, Price], quote: str,
           fee_rate: Decimal, rules: Mapping[str, MarketRules], skipped: list[Skipped]) -> list[Leg]:
    legs = []
    for asset, delta in wanted.items():
        if delta >= 0:
            continue
        rule = _rules(rules, asset, quote)
        quantity = rule.amount_to_precision(min(-delta, held.get(asset, ZERO)))
        leg = _leg(asset, quote, OrderSide.SELL, quantity, prices[asset].bid, fee_rate, -delta)
        reason = _below_minimum(rule, -delta, quantity, leg.notional, asset, quote)
        if reason:
            skipped.append(Skipped(asset, leg.symbol, OrderSide.SELL, quantity, reason))
        else:
            legs.append(leg)
    return legs


def _buys(wanted: dict[str, Decimal], available: Decimal, prices: Mapping[str, Price], quote: str, fee_rate: Decimal,
          rules: Mapping[str, MarketRules], skipped: list[Skipped]) -> tuple[list[Leg], Decimal]:
    """The buys scaled so their cost with fees is at most ``available`` (the scale factor too)."""
    buying = {a: d for a, d in wanted.items() if d > 0}
    cost = sum((d * prices[a].ask * (1 + fee_rate) for a, d in buying.items()), ZERO)
    scale = Decimal(1) if cost <= available else max(available, ZERO) / cost
    legs = []
    for asset, delta in buying.items():
        rule = _rules(rules, asset, quote)
        quantity = rule.amount_to_precision(delta * scale)
        leg = _leg(asset, quote, OrderSide.BUY, quantity, prices[asset].ask, fee_rate, delta)
        reason = _below_minimum(rule, delta * scale, quantity, leg.notional, asset, quote)
        if reason:
            if scale < 1:
                reason += f" (scaled by {fmt(_round(scale, 6))} to the cash after the sells)"
            skipped.append(Skipped(asset, leg.symbol, OrderSide.BUY, quantity, reason))
        else:
            legs.append(leg)
    return legs, scale


def _leg(asset: str, quote: str, side: OrderSide, quantity: Decimal, price: Decimal, fee_rate: Decimal,
         wanted: Decimal) -> Leg:
    notional = quantity * price
    return Leg(asset, symbol_of(asset, quote), side, quantity, price, notional, notional * fee_rate, ZERO, ZERO,
               wanted=wanted)


def _below_minimum(rule: MarketRules, wanted: Decimal, quantity: Decimal, notional: Decimal, asset: str,
                   quote: str) -> str | None:
    minimum = rule.min_amount or ZERO
    if quantity <= 0 or quantity < minimum:
        return (f"{fmt(wanted)} {asset} is {fmt(quantity)} after the venue's precision, below the venue minimum "
                f"{fmt(minimum)} {asset}")
    if rule.min_notional and notional < rule.min_notional:
        return f"notional {fmt(_round(notional))} {quote} is below the venue minimum {fmt(rule.min_notional)} {quote}"
    return None


def _with_weights_after(legs: list[Leg], held: dict[str, Decimal], cash_after: Decimal,
                        prices: Mapping[str, Price], current: dict[str, Decimal],
                        targets: dict[str, Decimal]) -> list[Leg]:
    after = dict(held)
    for leg in legs:
        after[leg.asset] = after.get(leg.asset, ZERO) + (leg.quantity if leg.side == OrderSide.BUY else -leg.quantity)
    equity_after = cash_after + sum((q * prices[a].mid for a, q in after.items() if a in prices), ZERO)
    return [replace(leg, weight_before=current.get(leg.asset, ZERO), weight_target=targets.get(leg.asset, ZERO),
                    weight_after=after[leg.asset] * prices[leg.asset].mid / equity_after if equity_after > 0 else ZERO)
            for leg in legs]


def _rules(rules: Mapping[str, MarketRules], asset: str, quote: str) -> MarketRules:
    return rules.get(asset) or MarketRules(venue="paper", symbol=symbol_of(asset, quote), listed=True)


def symbol_of(asset: str, quote: str) -> str:
    """The spot symbol (ccxt unified) of ``asset`` in ``quote``: ``BTC`` in USDT is ``BTC/USDT``."""
    return f"{asset}/{quote}"


def _round(value: Decimal, places: int = 2) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places)) if value.is_finite() else value


def _pp(weight: Decimal) -> str:
    """A weight difference in percentage points, signed, two decimals: ``+3.35 pp``."""
    points = _round(weight * HUNDRED)
    return f"{'+' if points > 0 else ''}{fmt(points)} pp"


def describe_drifts(plan: Plan) -> str:
    """``BTC 41.69% → 50% (−8.31 pp), ETH …``: each asset's weight before and its target."""
    parts = []
    for asset, drift in plan.drifts().items():
        before, target = plan.weights.get(asset, ZERO), plan.targets.get(asset, ZERO)
        parts.append(f"{asset} {fmt(_round(before * HUNDRED))}% → {fmt(_round(target * HUNDRED))}% ({_pp(drift)})")
    return ", ".join(parts) or "no asset held or wanted"
