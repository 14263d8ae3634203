"""Route one signal of a strategy with a venue group (``[strategies.X] route``).

``decide_route`` is what ingest calls instead of deciding each subscribed account (fan-out):

1. each account's cached order book is read (before any lock: a symbol nobody asked about
   yet may wait for its first book, bounded as a first quote is: ``app.risk.market``);
2. each account's own risk decision, under its own lock, in account id order (the lock order
   of every process: ``app.ingest.service``);
3. the candidates' breakers and balances (our tables), their fees (the account's tier or the
   stored ccxt market's ``taker``), and the cost model's choice (``app.routing.cost``);
4. the decisions to record: the chosen account(s) get the opening order, each with a ``route``
   check holding every candidate's figures and the reason; a closing (reduce-only) leg always
   stays on the account whose position it closes; when no venue can take the order, one
   rejected decision says why for each.

Nothing here writes: ingest records the decisions and intents in its transaction.
"""

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.config_file import AccountConfig, market_data_source
from app.domain.enums import OrderSide, OrderType
from app.domain.intents import CheckOutcome, OrderPlan, RiskDecision
from app.domain.marketdata import OrderBook
from app.domain.money import fmt
from app.domain.signal import Signal
from app.domain.symbols import base_quote, is_derivative
from app.marketdata import cache
from app.marketdata.sources import source_config
from app.persistence.models import Account, BalanceRecord, Strategy, VenueBreakerRecord
from app.persistence.repositories import StrategyRef, needs_account_lock, risk_reads
from app.risk.engine import evaluate
from app.risk.market import FIRST_QUOTE_WAIT_SECONDS
from app.risk.state import Loaded, load_context
from app.routing.cost import Candidate, Choice, Estimate, Skip, choose

ROUTE_CHECK = "route"


@dataclass(frozen=True)
class RouteMember:
    """One account of the venue group, with what locking and costing it needs."""

    account_id: uuid.UUID
    account_name: str
    venue: str
    config: AccountConfig
    account_wide_lock: bool = True
    risk_reads: frozenset[str] | None = None


@dataclass(frozen=True)
class Route:
    """A strategy's venue group: ``members`` in the order of ``route`` (the first approved
    one's risk decision sizes the order), and whether a large order may be split."""

    members: tuple[RouteMember, ...]
    split: bool = False


@dataclass(frozen=True)
class Routed:
    """One decision to record: the account, its context and the (routed) decision."""

    account_id: uuid.UUID
    loaded: Loaded
    decision: RiskDecision


class MarketsWait(Protocol):
    """``app.ingest.market_wait.MarketsMissing``: rewords a "not listed" denial."""

    def explain(self, decision: RiskDecision) -> RiskDecision: ...


@dataclass(frozen=True)
class RouteCheck(CheckOutcome):
    """The ``route`` check: ``detail`` in words, ``route`` the structured decision
    (``Choice.as_json``), stored with the decision's checks."""

    route: dict[str, Any] | None = None

    def as_json(self) -> dict[str, object]:
        return super().as_json() | {"route": self.route}


_ROUTE = select(Strategy.settings["route"], Strategy.settings["route_split"]).where(Strategy.id == bindparam("id"))
_MEMBERS = select(Account.id, Account.name, Account.venue, Account.settings).where(
    Account.name.in_(bindparam("names", expanding=True)))


def route_of(session: Session, strategy_id: uuid.UUID) -> Route | None:
    """The strategy's venue group, or None when it has no ``route`` (one small read)."""
    row = session.execute(_ROUTE, {"id": strategy_id}).first()
    names = list(row[0] or ()) if row is not None else []
    if not names:
        return None
    found = {name: (account_id, venue, settings)
             for account_id, name, venue, settings in session.execute(_MEMBERS, {"names": names})}
    members = tuple(RouteMember(found[n][0], n, found[n][1], AccountConfig.model_validate(found[n][2] or {}),
                                needs_account_lock(found[n][2]), risk_reads(found[n][2]))
                    for n in names if n in found)
    return Route(members, bool(row[1])) if members else None


def decide_route(session: Session, strategy: StrategyRef, signal: Signal, route: Route,
                 waits: Mapping[uuid.UUID, MarketsWait | None] | None = None, *, lock: bool = True) -> list[Routed]:
    """The decisions to record for ``signal`` on the venue group (see the module). With
    ``lock`` each account's decision holds its lock until the caller's transaction ends, and a
    first book may be waited for (the dry run passes False: no lock, no wait)."""
    books = {m.account_id: read_book(m, signal.symbol, wait=lock) for m in route.members}
    decided: dict[uuid.UUID, tuple[Loaded, RiskDecision]] = {}
    for member in sorted(route.members, key=lambda m: str(m.account_id)):
        loaded = load_context(session, member.account_id, strategy.id, signal, lock=lock,
                              account_wide=member.account_wide_lock, reads=member.risk_reads)
        decision = evaluate(loaded.context)
        missing = (waits or {}).get(member.account_id)
        decided[member.account_id] = (loaded, missing.explain(decision) if missing is not None else decision)
    group = next((m for m in route.members if _opening(decided[m.account_id][1]) is not None), None)
    if group is None:  # nothing opens: closing legs stay where their positions are
        approved = [Routed(m.account_id, *decided[m.account_id]) for m in route.members
                    if decided[m.account_id][1].approved]
        return approved or [Routed(m.account_id, *decided[m.account_id]) for m in route.members]
    opening = _opening(decided[group.account_id][1])
    assert opening is not None
    candidates = _candidates(session, route, decided, books, opening.side, signal.symbol)
    choice = choose(candidates, opening.quantity, allow_split=route.split)
    return _outcomes(route, group, decided, choice, route_check(choice, candidates))


def route_check(choice: Choice, candidates: list[Candidate]) -> RouteCheck:
    """The ``route`` check of a choice: every candidate's figures or skip reason, and the reason."""
    base, quote = base_quote(choice.symbol)
    words = []
    for e, c in zip(choice.estimates, candidates):
        if isinstance(e, Skip):
            words.append(f"{e.account} on {e.venue}: skipped, {e.reason}")
            continue
        words.append(f"{e.account} on {e.venue}: average {fmt(_short(e.average_price))}, taker fee "
                     f"{fmt(e.fee_rate * 100)}% ({e.fee_source}) {fmt(_short(e.fee))} {quote}, all-in "
                     f"{fmt(_short(e.all_in_cost))} {quote} ({fmt(_short(e.all_in_price))} per {base})"
                     + (f"; {c.balance_note}" if c.balance_note else ""))
    detail = f"{choice.side.value} {fmt(choice.quantity)} {choice.symbol}: " + "; ".join(words)
    detail += f". Chosen: {choice.reason}" if choice.allocations else ""
    if isinstance(choice.split, str) and choice.split_allowed:
        detail += f" (no split: {choice.split})"
    passed = bool(choice.allocations)
    return RouteCheck(ROUTE_CHECK, passed, None if passed else choice.reason, detail, route=choice.as_json())


def read_book(member: RouteMember, symbol: str, *, wait: bool = True) -> tuple[OrderBook | None, str | None]:
    """(the account's cached book of ``symbol`` if fresh, else None and why):
    from its market-data source (``market_data_source``), never older than the source's
    ``max_quote_age_seconds``. A symbol with no book yet is requested from the streamer and,
    with ``wait``, waited for up to ``FIRST_QUOTE_WAIT_SECONDS`` while the source is live."""
    source = market_data_source(member.config)
    if source is None:
        return None, f"{member.account_name} has no market-data source (market_data = \"\"): no book to cost"
    max_age = source_config(source).max_quote_age_seconds
    try:
        cached = cache.read_book(source, symbol)
        reason = cache.freshness(source, symbol, cached, max_age, what="book")
        book = cached if reason is None else None
        if cached is None:
            cache.request(source, symbol)
            if wait and cache.status(source).get("mode") in ("stream", "poll"):
                book, reason = _wait_for_book(source, symbol, max_age)
    except Exception as e:  # Redis down: this candidate cannot be costed
        return None, f"market data unavailable ({type(e).__name__})"
    return book, reason


def _wait_for_book(source: str, symbol: str, max_age: float) -> tuple[OrderBook | None, str | None]:
    deadline = time.monotonic() + FIRST_QUOTE_WAIT_SECONDS
    book, reason = cache.usable_book(source, symbol, max_age)
    while book is None and time.monotonic() < deadline:
        time.sleep(cache.POLL_SECONDS)
        book, reason = cache.usable_book(source, symbol, max_age)
    return book, reason


# ------------------------------------------------------------------------------ candidates
_BREAKERS = select(VenueBreakerRecord.venue, VenueBreakerRecord.opened_at, VenueBreakerRecord.last_error).where(
    VenueBreakerRecord.venue.in_(bindparam("venues", expanding=True)), VenueBreakerRecord.opened_at.is_not(None))
_BALANCES = select(BalanceRecord.account_id, BalanceRecord.currency, BalanceRecord.total).where(
    BalanceRecord.account_id.in_(bindparam("ids", expanding=True)))


def _candidates(session: Session, route: Route, decided: Mapping[uuid.UUID, tuple[Loaded, RiskDecision]],
                books: Mapping[uuid.UUID, tuple[OrderBook | None, str | None]], side: OrderSide,
                symbol: str) -> list[Candidate]:
    """One ``Candidate`` per member, in route order, from its decision, book, fee, breaker and balance."""
    breakers = {venue: (opened_at, error) for venue, opened_at, error in
                session.execute(_BREAKERS, {"venues": sorted({m.venue for m in route.members})})}
    balances: dict[uuid.UUID, dict[str, Decimal]] = {m.account_id: {} for m in route.members}
    for account_id, currency, total in session.execute(_BALANCES, {"ids": [m.account_id for m in route.members]}):
        balances[account_id][currency] = total
    return [_candidate(m, *decided[m.account_id], books[m.account_id], side, symbol, breakers.get(m.venue),
                       balances[m.account_id]) for m in route.members]


def _candidate(member: RouteMember, loaded: Loaded, decision: RiskDecision,
               book: tuple[OrderBook | None, str | None], side: OrderSide, symbol: str,
               breaker: tuple[datetime, str | None] | None, balances: dict[str, Decimal]) -> Candidate:
    opening = _opening(decision)
    rules = loaded.context.rules
    fee_rate, fee_source = fee_of(member, rules.market)
    snapshot, book_reason = book
    balance, currency, note = _balance(member, symbol, side, balances)
    market = rules.market or {}
    contract_size = Decimal(str(market.get("contractSize") or 1)) if market.get("contract") else Decimal(1)
    unusable = _unusable(member, decision, opening, side, breaker, book_reason)
    levels = () if snapshot is None else (snapshot.asks if side == OrderSide.BUY else snapshot.bids)
    limit = opening.limit_price if opening is not None and opening.order_type == OrderType.LIMIT else None
    return Candidate(member.account_name, member.venue, side, opening.quantity if opening else Decimal(0), rules,
                     fee_rate, fee_source, tuple(levels), unusable, limit, balance, currency, note, contract_size)


def _unusable(member: RouteMember, decision: RiskDecision, opening: OrderPlan | None, side: OrderSide,
              breaker: tuple[datetime, str | None] | None, book_reason: str | None) -> str | None:
    if not decision.approved:
        return f"its risk decision denied the order: {decision.reason}"
    if opening is None:
        return "its risk decision opens nothing on this account (only a closing order)"
    if opening.side != side:
        return f"its risk decision would {opening.side.value}, the group's order is a {side.value}"
    if breaker is not None:
        opened_at, error = breaker
        return (f"the {member.venue} circuit breaker is open (since {opened_at.isoformat(timespec='seconds')}; "
                f"last error: {error or 'none recorded'})")
    return book_reason


def fee_of(member: RouteMember, market: dict[str, Any] | None) -> tuple[Decimal | None, str]:
    """(taker fee rate as a fraction of notional, where it came from): the account's
    ``taker_fee_rate`` (its fee tier), a paper account's ``paper.taker_fee_rate`` (default
    ``TRADEWIRE_PAPER_FEE_RATE``), else the ``taker`` of the stored ccxt market."""
    config = member.config
    if member.venue == "paper":
        rate = config.paper.taker_fee_rate
        return (rate, "paper.taker_fee_rate") if rate is not None else (get_settings().paper_fee_rate,
                                                                        "TRADEWIRE_PAPER_FEE_RATE")
    tier = config.taker_fee_rate
    if tier is not None:
        return tier, "account taker_fee_rate"
    taker = (market or {}).get("taker")
    return (Decimal(str(taker)), "ccxt market taker") if taker is not None else (None, "unknown")


def _balance(member: RouteMember, symbol: str, side: OrderSide,
             balances: dict[str, Decimal]) -> tuple[Decimal | None, str | None, str | None]:
    """(what the order may spend, its currency, a note when it is not checked). The balances
    table holds totals (a real venue's last snapshot; the paper venue's own book)."""
    base, quote = base_quote(symbol)
    if is_derivative(symbol):
        return None, None, "margin not checked (contract market)"
    if not balances:
        return None, None, "balance not known yet (no snapshot of this account)"
    currency = quote if side == OrderSide.BUY else base
    return balances.get(currency, Decimal(0)), currency, None


def _opening(decision: RiskDecision) -> OrderPlan | None:
    """The decision's opening (not reduce-only) order, if approved and it has one."""
    if not decision.approved:
        return None
    return next((p for p in decision.orders if not p.reduce_only), None)


# ------------------------------------------------------------------------------ outcomes
def _outcomes(route: Route, group: RouteMember, decided: Mapping[uuid.UUID, tuple[Loaded, RiskDecision]],
              choice: Choice, check: RouteCheck) -> list[Routed]:
    """What ingest records: the chosen accounts with their part of the order (plus any closing
    leg of theirs), accounts that only close, accounts whose decision changes their trading
    state, and — when nothing is sent at all — one rejected decision giving every reason."""
    parts: dict[str, Estimate] = {a.account: a for a in choice.allocations}
    out = []
    for member in route.members:
        loaded, decision = decided[member.account_id]
        closing = tuple(p for p in decision.orders if p.reduce_only) if decision.approved else ()
        part, opening = parts.get(member.account_name), _opening(decision)
        if part is not None and opening is not None:
            orders = (*closing, replace(opening, quantity=part.quantity))
            out.append(Routed(member.account_id, loaded, RiskDecision(True, (*decision.checks, check), orders)))
        elif closing:
            out.append(Routed(member.account_id, loaded, RiskDecision(True, (*decision.checks, check), closing)))
        elif decision.trading_state_change is not None:
            out.append(Routed(member.account_id, loaded, replace(decision, checks=(*decision.checks, check))))
    if not any(r.decision.approved for r in out):
        loaded, decision = decided[group.account_id]
        out.append(Routed(group.account_id, loaded, RiskDecision(False, (*decision.checks, check),
                                                                 reason=choice.reason)))
    return out


def _short(value: Decimal) -> Decimal:
    """A figure for the sentence: 8 decimal places."""
    return value.quantize(Decimal("1e-8")).normalize() if value.is_finite() else value


__all__ = ["ROUTE_CHECK", "Route", "RouteCheck", "RouteMember", "Routed", "decide_route", "fee_of", "read_book",
           "route_check", "route_of"]
