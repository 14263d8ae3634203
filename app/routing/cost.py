"""The all-in cost of one order on each venue of a venue group, and the choice among them.

Pure: every figure arrives in ``Candidate`` values (read by ``app.routing.service``); nothing
here reads PostgreSQL, Redis or a venue. Prices are quote per base; amounts are in the order's
unit (base units; contracts on a contract market, whose notional is × ``contract_size``).

Formulas, for an order of side s and amount q on one venue:

* **Book walk** (what a taker pays; the paper venue fills the same way,
  ``app.domain.matching.walk_book``): take the levels of the opposite side best first — asks
  for a buy, bids for a sell — until q is filled; the average price is the volume-weighted
  p̄ = Σ pᵢ·qᵢ / q. A limit order takes only levels at or better than its limit price; the rest
  is priced at the limit (it rests there). A market order the cached book cannot fill is refused
  ("book too thin").
* **Notional** N = q · p̄ · contract_size (quote). **Taker fee** F = N · f, with f the taker fee
  rate: the account's ``taker_fee_rate`` (its fee tier) when set, else the ``taker`` of ccxt's
  market structure (https://docs.ccxt.com/#/README?id=market-structure: "taker fee rate,
  0.002 = 0.2%"); a paper account's ``paper.taker_fee_rate``.
* **All-in cost** C = N + F for a buy (quote paid), C = N − F for a sell (quote received); the
  **all-in price** c = C / (q · contract_size). The cheapest venue has the lowest c for a buy
  and the highest c for a sell; a tie goes to the account listed first in ``route``.
* **Split** (``split``, when ``route_split`` is on, market orders only): the marginal cost of
  one more unit on a venue is its next level's effective price p·(1 + f) for a buy,
  p·(1 − f) for a sell. Taking the levels of every usable venue in order of effective price
  (cheapest first for a buy, dearest first for a sell) until q is filled gives the cheapest
  allocation (a greedy fill of the merged books: each venue's effective prices only get worse
  level after level). Each venue's part is then cut to its amount precision; a part below the
  venue's minimum amount or minimum notional drops that venue and the fill is redone without
  it. The split is taken only when its total all-in cost is below the best single venue's (or
  no single venue can take q alone).

A candidate is refused, with the reason, when its breaker is open, its book is missing or
stale, its taker fee is unknown, q is not a multiple of its amount step, below its minimum
amount or notional, above what its own risk decision approved, beyond its cached book, or
above its balance (quote incl. fee for a buy; base for a spot sell).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from app.domain.enums import OrderSide
from app.domain.marketdata import Level
from app.domain.matching import walk_book
from app.domain.money import MONEY_CONTEXT, fmt
from app.domain.symbols import base_quote
from app.risk.rules import MarketRules

ONE = Decimal(1)


@dataclass(frozen=True)
class Candidate:
    """One account of the venue group as the cost model sees it.

    ``quantity``: the most this account's own risk decision approved (order unit). ``levels``:
    the side of its cached book a taker of ``side`` walks (asks for a buy, bids for a sell),
    best first. ``unusable``: why it cannot be used at all (breaker open, book missing or stale,
    its risk decision's denial); None when it can. ``fee_rate``: taker fee as a fraction of
    notional, ``fee_source`` where it came from (None: unknown, refused). ``balance``: what the
    order spends — quote currency for a buy (notional + fee), base for a spot sell — in
    ``balance_currency``; None when not known or not checked (``balance_note`` says which).
    """

    account: str
    venue: str
    side: OrderSide
    quantity: Decimal
    rules: MarketRules
    fee_rate: Decimal | None
    fee_source: str
    levels: tuple[Level, ...] = ()
    unusable: str | None = None
    limit_price: Decimal | None = None
    balance: Decimal | None = None
    balance_currency: str | None = None
    balance_note: str | None = None
    contract_size: Decimal = ONE

    def effective(self, price: Decimal) -> Decimal:
        """Marginal all-in price of one unit at ``price``: p·(1 + f) buying, p·(1 − f) selling."""
        fee = self.fee_rate or Decimal(0)
        with localcontext(MONEY_CONTEXT):
            return price * (ONE + fee if self.side == OrderSide.BUY else ONE - fee)


@dataclass(frozen=True)
class Estimate:
    """What sending ``quantity`` to this venue is expected to cost (see the module): ``average_price``
    p̄ from the book walk, ``notional`` N and ``fee`` F in quote, ``all_in_cost`` C (quote paid for
    a buy, received for a sell), ``levels`` the number of book levels taken."""

    account: str
    venue: str
    side: OrderSide
    quantity: Decimal
    average_price: Decimal
    notional: Decimal
    fee_rate: Decimal
    fee_source: str
    fee: Decimal
    all_in_cost: Decimal
    levels: int
    contract_size: Decimal = ONE

    @property
    def all_in_price(self) -> Decimal:
        """c = C / (q · contract_size), quote per base."""
        with localcontext(MONEY_CONTEXT):
            return self.all_in_cost / (self.quantity * self.contract_size)

    def as_json(self) -> dict[str, object]:
        return {"account": self.account, "venue": self.venue, "quantity": fmt(self.quantity),
                "average_price": fmt(shown(self.average_price)), "notional": fmt(shown(self.notional)),
                "fee_rate": fmt(self.fee_rate), "fee_source": self.fee_source, "fee": fmt(shown(self.fee)),
                "all_in_price": fmt(shown(self.all_in_price)), "all_in_cost": fmt(shown(self.all_in_cost)),
                "levels": self.levels} | (
                    {"contract_size": fmt(self.contract_size)} if self.contract_size != ONE else {})


@dataclass(frozen=True)
class Skip:
    """A candidate that cannot take the order, and why (one sentence with the numbers)."""

    account: str
    venue: str
    reason: str

    def as_json(self) -> dict[str, object]:
        return {"account": self.account, "venue": self.venue, "skipped": self.reason}


@dataclass(frozen=True)
class Choice:
    """The routing decision: every candidate's single-venue ``estimates`` (route order),
    the ``allocations`` to send (one for a single venue, several for a split, none when no
    venue can take it), ``reason`` for the choice in words, and the split that was costed
    (``split``: its parts, or why there is none; None when splitting is off)."""

    side: OrderSide
    symbol: str
    quantity: Decimal
    estimates: tuple[Estimate | Skip, ...]
    allocations: tuple[Estimate, ...]
    reason: str
    split_allowed: bool = False
    split: tuple[Estimate, ...] | str | None = None

    @property
    def kind(self) -> str:
        """``single``, ``split`` or ``none``."""
        return "none" if not self.allocations else "split" if len(self.allocations) > 1 else "single"

    def as_json(self) -> dict[str, object]:
        """The decision as stored in the ``route`` check (Decimals as exact text)."""
        split = self.split
        return {"side": self.side.value, "symbol": self.symbol, "quantity": fmt(self.quantity),
                "choice": self.kind, "reason": self.reason, "split_allowed": self.split_allowed,
                "candidates": [e.as_json() for e in self.estimates],
                "allocations": [a.as_json() for a in self.allocations],
                "split": split if split is None or isinstance(split, str) else [a.as_json() for a in split]}


def estimate(c: Candidate, quantity: Decimal) -> Estimate | Skip:
    """The cost of sending ``quantity`` to candidate ``c`` alone, or why it cannot take it."""
    reason = c.unusable or _fee_problem(c) or _size_problem(c, quantity)
    if reason is not None:
        return Skip(c.account, c.venue, reason)
    fills = walk_book(c.levels, quantity, c.side, c.limit_price)
    taken = sum((q for _, q in fills), Decimal(0))
    if taken < quantity:
        if c.limit_price is None:
            return Skip(c.account, c.venue, _thin(c, taken, quantity))
        fills.append((c.limit_price, quantity - taken))  # the rest rests at the limit price
    priced = _priced(c, quantity, fills)
    return _minimum_notional_problem(c, priced) or _funds_problem(c, priced) or priced


def choose(candidates: Sequence[Candidate], quantity: Decimal, *, allow_split: bool = False) -> Choice:
    """Where ``quantity`` goes (see the module): the candidate with the best all-in price, or
    a split when ``allow_split``, every candidate is a market order and the split costs less.
    ``candidates`` in route order (ties go to the first)."""
    side, symbol = candidates[0].side, candidates[0].rules.symbol
    singles = tuple(estimate(c, quantity) for c in candidates)
    usable = [e for e in singles if isinstance(e, Estimate)]
    best = _best(usable, side)
    parts: tuple[Estimate, ...] | str | None = None
    if allow_split:
        parts = split(candidates, quantity)
    chosen, reason = _decide(singles, usable, best, parts, quantity, symbol)
    return Choice(side, symbol, quantity, singles, chosen, reason, allow_split, parts)


def split(candidates: Sequence[Candidate], quantity: Decimal) -> tuple[Estimate, ...] | str:
    """The cheapest allocation of ``quantity`` across the candidates (the greedy of the module
    docstring), as one ``Estimate`` per venue used; or why there is none."""
    if any(c.limit_price is not None for c in candidates):
        return "a limit order is not split"
    pool = [c for c in candidates if c.unusable is None and c.fee_rate is not None]
    why = "fewer than two venues are usable"
    while len(pool) > 1:
        amounts = _topped_up(pool, _greedy(pool, quantity), quantity)
        if amounts is None:
            return f"the merged books hold less than {fmt(quantity)}, or the parts do not fit the venues' amount steps"
        parts = [(c, amounts[c.account]) for c in pool if amounts[c.account] > 0]
        priced = [(c, estimate(c, amount)) for c, amount in parts]
        refused = [(c, e) for c, e in priced if isinstance(e, Skip)]
        if not refused:
            estimates = tuple(e for _, e in priced if isinstance(e, Estimate))
            return estimates if len(estimates) > 1 else "one venue alone is cheapest"
        why = "; ".join(f"{c.account}'s part: {e.reason}" for c, e in refused)  # type: ignore[union-attr]
        pool.remove(min(refused, key=lambda ce: amounts[ce[0].account])[0])
    return why


# ------------------------------------------------------------------------------ the choice
def _decide(singles: tuple[Estimate | Skip, ...], usable: list[Estimate], best: Estimate | None,
            parts: tuple[Estimate, ...] | str | None, quantity: Decimal,
            symbol: str) -> tuple[tuple[Estimate, ...], str]:
    base, quote = base_quote(symbol)
    if isinstance(parts, tuple):
        total = _sum_cost(parts)
        listed = " + ".join(f"{p.account} {fmt(p.quantity)}" for p in parts)
        if best is None:
            return parts, (f"split across {listed}: {fmt(shown(total))} {quote} all-in; no single venue can take "
                           f"{fmt(quantity)} {base} alone")
        if _better(total, best.all_in_cost, best.side):
            saving = abs(best.all_in_cost - total)
            return parts, (f"split across {listed}: {fmt(shown(total))} {quote} all-in, {fmt(shown(saving))} {quote} "
                           f"better than {best.account} alone ({fmt(shown(best.all_in_cost))} {quote})")
    if best is None:
        return (), "no venue of the route can take the order: " + "; ".join(
            f"{s.account}: {s.reason}" for s in singles if isinstance(s, Skip))
    return (best,), _single_reason(best, usable, parts, base, quote)


def _single_reason(best: Estimate, usable: list[Estimate], parts: tuple[Estimate, ...] | str | None,
                   base: str, quote: str) -> str:
    word = "lowest" if best.side == OrderSide.BUY else "highest"
    others = [e for e in usable if e is not best]
    if others:
        listed = ", ".join(f"{e.account} {fmt(shown(e.all_in_price))}" for e in others)
        reason = (f"{best.account}: the {word} all-in price, {fmt(shown(best.all_in_price))} {quote} per {base} "
                  f"({listed})")
    else:
        reason = f"{best.account}: the only venue that can take the order"
    if isinstance(parts, tuple):
        reason += f"; a split would cost {fmt(shown(_sum_cost(parts)))} {quote}, no better"
    return reason


def _best(usable: list[Estimate], side: OrderSide) -> Estimate | None:
    if not usable:
        return None
    if side == OrderSide.BUY:
        return min(usable, key=lambda e: e.all_in_price)  # min/max keep the first of equals: route order
    return max(usable, key=lambda e: e.all_in_price)


def _better(cost: Decimal, than: Decimal, side: OrderSide) -> bool:
    """A buy pays less; a sell receives more."""
    return cost < than if side == OrderSide.BUY else cost > than


def _sum_cost(parts: Sequence[Estimate]) -> Decimal:
    with localcontext(MONEY_CONTEXT):
        return sum((p.all_in_cost for p in parts), Decimal(0))


# ------------------------------------------------------------------------------ one venue
def _priced(c: Candidate, quantity: Decimal, fills: list[Level]) -> Estimate:
    fee_rate = c.fee_rate if c.fee_rate is not None else Decimal(0)
    with localcontext(MONEY_CONTEXT):
        notional = sum((p * q for p, q in fills), Decimal(0)) * c.contract_size
        average = notional / (quantity * c.contract_size)
        fee = notional * fee_rate
        cost = notional + fee if c.side == OrderSide.BUY else notional - fee
    return Estimate(c.account, c.venue, c.side, quantity, average, notional, fee_rate, c.fee_source, fee, cost,
                    len(fills), c.contract_size)


def _fee_problem(c: Candidate) -> str | None:
    if c.fee_rate is not None:
        return None
    return (f"no taker fee known for {c.rules.symbol} on {c.venue} (its market has no 'taker'): set the "
            f"account's taker_fee_rate")


def _size_problem(c: Candidate, quantity: Decimal) -> str | None:
    base = base_quote(c.rules.symbol)[0]
    precise = c.rules.amount_to_precision(quantity)
    if precise != quantity:
        return f"{fmt(quantity)} {base} is not a multiple of the {c.venue} amount step (it would be {fmt(precise)})"
    minimum = c.rules.min_amount
    if minimum is not None and quantity < minimum:
        return f"{fmt(quantity)} {base} is below the {c.venue} minimum amount {fmt(minimum)} {base}"
    if quantity > c.quantity:
        return f"its risk decision approves at most {fmt(c.quantity)} {base} on this account"
    return None


def _minimum_notional_problem(c: Candidate, e: Estimate) -> Skip | None:
    minimum = c.rules.min_notional
    if minimum is None or e.notional >= minimum:
        return None
    quote = base_quote(c.rules.symbol)[1]
    return Skip(c.account, c.venue, f"notional {fmt(shown(e.notional))} {quote} is below the {c.venue} minimum "
                                    f"{fmt(minimum)} {quote}")


def _funds_problem(c: Candidate, e: Estimate) -> Skip | None:
    if c.balance is None:
        return None
    needed = e.all_in_cost if c.side == OrderSide.BUY else e.quantity * c.contract_size
    if needed <= c.balance:
        return None
    what = "notional + taker fee" if c.side == OrderSide.BUY else "the amount sold"
    return Skip(c.account, c.venue, f"not enough {c.balance_currency}: {what} is {fmt(shown(needed))} "
                                    f"{c.balance_currency}, the balance is {fmt(c.balance)}")


def _thin(c: Candidate, taken: Decimal, quantity: Decimal) -> str:
    base, side = base_quote(c.rules.symbol)[0], "ask" if c.side == OrderSide.BUY else "bid"
    return (f"book too thin: the {len(c.levels)} cached {side} levels on {c.venue} hold {fmt(taken)} of "
            f"{fmt(quantity)} {base}")


# ------------------------------------------------------------------------------ the split
def _greedy(pool: Sequence[Candidate], quantity: Decimal) -> dict[str, Decimal]:
    """Amount per account from taking the merged levels best effective price first, each
    account up to its approved quantity and, for a buy, its quote balance."""
    buy = pool[0].side == OrderSide.BUY
    queue = sorted(((c.effective(p), rank, i, c, p, a) for rank, c in enumerate(pool)
                    for i, (p, a) in enumerate(c.levels)),
                   key=lambda t: ((t[0] if buy else -t[0]), t[1], t[2]))
    taken = {c.account: Decimal(0) for c in pool}
    budget = {c.account: c.balance for c in pool}
    left = quantity
    with localcontext(MONEY_CONTEXT):
        for effective, _, _, c, _, amount in queue:
            if left <= 0:
                break
            room = min(amount, left, c.quantity - taken[c.account])
            if budget[c.account] is not None:
                per_unit = effective * c.contract_size if buy else c.contract_size
                room = min(room, budget[c.account] / per_unit)
            if room <= 0:
                continue
            taken[c.account] += room
            left -= room
            if budget[c.account] is not None:
                budget[c.account] -= room * (effective * c.contract_size if buy else c.contract_size)
    return taken


def _topped_up(pool: Sequence[Candidate], amounts: dict[str, Decimal],
               quantity: Decimal) -> dict[str, Decimal] | None:
    """The greedy's amounts cut to each venue's amount precision, the dust given to the first
    part (cheapest first) whose step, cap and book take it; None when the merged books are too
    thin or no part can take the dust."""
    if sum(amounts.values(), Decimal(0)) < quantity:
        return None
    cut = {c.account: c.rules.amount_to_precision(amounts[c.account]) if amounts[c.account] > 0 else Decimal(0)
           for c in pool}
    dust = quantity - sum(cut.values(), Decimal(0))
    if dust == 0:
        return cut
    for c in pool:
        grown = cut[c.account] + dust
        if cut[c.account] > 0 and c.rules.amount_to_precision(grown) == grown and grown <= c.quantity:
            return cut | {c.account: grown}
    return None


def shown(value: Decimal) -> Decimal:
    """A figure as stored and shown: 12 decimal places are plenty for quote amounts and prices
    (``app.routing.report`` shows the realised figures the same way)."""
    with localcontext(MONEY_CONTEXT):
        return value.quantize(Decimal("1e-12")).normalize() if value.is_finite() else value
