"""The paper venue: fills like a real venue from the market-data cache, keeps its own book.

Models (freqtrade's and Hummingbot's dry runs; ``app.domain.matching``):
* A market order walks the cached L2 book of the account's market-data source
  (``app.marketdata``) from the best level: its fills are the levels taken, so its average is
  the book's volume-weighted price. A book thinner than the order fills what it has and the
  rest is cancelled (CANCELED with the fills); ``max_slippage_bps`` stops the walk that far
  from the best level (nothing within it: REJECTED). Without a fresh book it takes the fresh
  quote's ask / bid, and without that the signal's reference price moved ``slippage_bps``
  against it; each fill says in the order's reason which price it used and why. Nothing at
  all: REJECTED with the reasons.
* A limit order takes the levels at or better than its price at once (taker), then GTC rests
  in the paper book (``paper_book``) until the market crosses its price (the matcher, driven by
  market-data updates, fills it at its price, maker); IOC cancels the rest (EXPIRED, as
  Binance reports it), FOK fills whole or expires untouched, post-only (PO) is REJECTED when it
  would take liquidity (Binance: "Order would immediately match and take").
* A stop-loss / take-profit rests untriggered and fires from market data as a market order.
* Optional latency between the send and the fill: ``latency_ms`` plus up to
  ``latency_jitter_ms`` of uniform jitter (the market moves meanwhile).

Fees: ``taker_fee_rate`` / ``maker_fee_rate`` × notional, in the quote currency (0.1%:
Binance's base spot rate). Balances are ours: the ledger books each new fill in the fill's
transaction (``books_balances``); the venue never sees a session.
"""

import random
import time
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, localcontext

from app.domain.enums import OrderSide, OrderType, TimeInForce
from app.domain.marketdata import Level
from app.domain.matching import BPS, crosses, slippage_limit, taker_price, triggered, vwap, walk_book
from app.domain.money import MONEY_CONTEXT, fmt
from app.domain.orders import OrderStatus
from app.domain.reports import OpenOrder, OrderRequest, Trade, VenueOrder
from app.domain.symbols import base_quote
from app.errors import OrderRejected
from app.execution.venues import paper_book
from app.execution.venues.base import Venue
from app.execution.venues.paper_book import Resting
from app.marketdata import cache

STORED = Decimal("1e-18")  # money columns are NUMERIC(38, 18)


class PaperVenue(Venue):
    """Simulated venue of one paper account (``account``: its id as text). ``source``: the
    account's market-data source (None: reference prices only)."""

    name = "paper"
    remote = False
    lookup_is_authoritative = True  # its book is Redis + our ledger: an order found in neither was never placed
    supports_protective_orders = True
    books_balances = True

    def __init__(self, account: str = "", *, source: str | None = None, max_quote_age_seconds: float = 5.0,
                 taker_fee_rate: Decimal = Decimal("0.001"), maker_fee_rate: Decimal | None = None,
                 slippage_bps: Decimal = Decimal(0), max_slippage_bps: Decimal | None = None,
                 latency_ms: int = 0, latency_jitter_ms: int = 0) -> None:
        self.account, self.source, self.max_age = account, source, max_quote_age_seconds
        self.taker_fee_rate = taker_fee_rate
        self.maker_fee_rate = taker_fee_rate if maker_fee_rate is None else maker_fee_rate
        self.slippage_bps, self.max_slippage_bps = slippage_bps, max_slippage_bps
        self.latency_ms, self.latency_jitter_ms = latency_ms, latency_jitter_ms

    # --------------------------------------------------------------------- the interface
    def create_order(self, request: OrderRequest) -> VenueOrder:
        """Fill, rest or refuse ``request`` (see the module). Raises ``OrderRejected``."""
        self._wait_latency()
        if request.trigger is not None:
            return self._rest(request, ())
        if request.order_type == OrderType.MARKET:
            return self._market(request)
        return self._limit(request)

    def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        resting = paper_book.get(client_order_id)
        return resting.report() if resting is not None else None

    def cancel_order(self, client_order_id: str, symbol: str, venue_order_id: str | None = None) -> VenueOrder | None:
        with paper_book.locked(client_order_id):
            resting = paper_book.get(client_order_id)
            if resting is None:
                return None
            paper_book.remove(resting)
        return resting.report(OrderStatus.CANCELED, "canceled on the paper venue", datetime.now(UTC))

    def fetch_open_orders(self, symbols: list[str] | None = None) -> list[OpenOrder]:
        return [OpenOrder(f"paper-{r.client_order_id}", r.client_order_id, r.symbol, r.side.value, r.order_type.value,
                          r.quantity, r.limit_price or r.trigger_price, "open", True)
                for r in paper_book.all_resting(self.account) if not symbols or r.symbol in symbols]

    def match(self, client_order_id: str) -> VenueOrder | None:
        """Check one resting order against the market now: its report if it filled (or fired
        and filled), None if nothing happened. Called by the matcher on market updates."""
        with paper_book.locked(client_order_id):
            resting = paper_book.get(client_order_id)
            if resting is None:
                return None
            report = self._match(resting)
            if report is not None and report.status != OrderStatus.PARTIALLY_FILLED:
                paper_book.remove(resting)
            elif report is not None:
                paper_book.put(paper_book.with_trades(resting, report.trades[len(resting.trades):]))
            return report

    # --------------------------------------------------------------------- market orders
    def _market(self, request: OrderRequest) -> VenueOrder:
        levels, priced_by = self._levels(request)
        if not levels:
            raise OrderRejected(f"paper venue has no price for this market order: {priced_by}")
        fills = walk_book(levels, request.quantity, request.side, self._cap(levels, request.side))
        if not fills:
            raise OrderRejected(f"paper venue cannot fill this market order {self._within()}: {priced_by}")
        trades = self._trades(request.client_order_id, fills, self.taker_fee_rate, request.symbol)
        filled = sum((q for _, q in fills), Decimal(0))
        if filled < request.quantity:
            reason = (f"{priced_by}; filled {fmt(filled)} of {fmt(request.quantity)}: the book had no more "
                      f"{self._within()}; the rest is cancelled")
            return self._report(request, OrderStatus.CANCELED, trades, reason)
        return self._report(request, OrderStatus.FILLED, trades, priced_by)

    def _levels(self, request: OrderRequest) -> tuple[list[Level], str]:
        """The levels a taker of ``request`` walks, and which price source they came from."""
        reasons = []
        if self.source is not None:
            book, why = cache.usable_book(self.source, request.symbol, self.max_age)
            if book is not None:
                levels = list(book.asks if request.side == OrderSide.BUY else book.bids)
                if levels:
                    return levels, f"priced from the {self.source} order book ({len(levels)} levels)"
                why = f"the {self.source} book of {request.symbol} has no {'asks' if request.side == OrderSide.BUY else 'bids'}"
            reasons.append(why)
            quote, why = cache.usable_quote(self.source, request.symbol, self.max_age)
            price = taker_price(quote, request.side) if quote is not None else None
            if price is not None:
                return [(price, request.quantity)], f"priced from the {self.source} quote ({reasons[0]})"
            reasons.append(why or f"the {self.source} quote has no {'ask' if request.side == OrderSide.BUY else 'bid'}")
        if request.reference_price is not None:
            direction = 1 if request.side == OrderSide.BUY else -1
            with localcontext(MONEY_CONTEXT):
                price = request.reference_price * (1 + direction * self.slippage_bps / BPS)
            why = "; ".join(reasons) if reasons else "no market-data source for this account"
            return [(price, request.quantity)], f"priced from the signal's reference price ({why})"
        reasons.append("the signal carried no reference price (add \"price\": \"{{close}}\" to the alert)")
        return [], "; ".join(r for r in reasons if r)

    def _cap(self, levels: list[Level], side: OrderSide) -> Decimal | None:
        if self.max_slippage_bps is None or not levels:
            return None
        return slippage_limit(levels[0][0], side, self.max_slippage_bps)

    def _within(self) -> str:
        return f"within max_slippage_bps {fmt(self.max_slippage_bps)}" if self.max_slippage_bps is not None else "levels"

    # --------------------------------------------------------------------- limit orders
    def _limit(self, request: OrderRequest) -> VenueOrder:
        tif, limit = request.time_in_force or TimeInForce.GTC, request.limit_price
        if limit is None:
            raise OrderRejected("a limit order needs a limit price")
        levels, priced_by = self._book_levels(request)
        fills = walk_book(levels, request.quantity, request.side, limit)
        filled = sum((q for _, q in fills), Decimal(0))
        if tif == TimeInForce.PO and fills:
            raise OrderRejected(f"post-only order would take liquidity at {fmt(fills[0][0])} "
                                f"(limit {fmt(limit)}): Order would immediately match and take")
        if tif == TimeInForce.FOK and filled < request.quantity:
            return self._report(request, OrderStatus.EXPIRED, (), f"fill-or-kill: only {fmt(filled)} of "
                                f"{fmt(request.quantity)} available at {fmt(limit)} or better; nothing filled")
        trades = self._trades(request.client_order_id, fills, self.taker_fee_rate, request.symbol)
        if filled == request.quantity:
            return self._report(request, OrderStatus.FILLED, trades, priced_by)
        if tif == TimeInForce.IOC:
            return self._report(request, OrderStatus.EXPIRED, trades, f"immediate-or-cancel: filled {fmt(filled)} "
                                f"of {fmt(request.quantity)} at {fmt(limit)} or better; the rest expired")
        return self._rest(request, trades)

    def _book_levels(self, request: OrderRequest) -> tuple[list[Level], str]:
        """The book side a limit order may take from; a quote's top level without a book; none without either
        (then it rests, to be filled when market data shows the price crossed)."""
        if self.source is None:
            return [], "no market-data source"
        book, _ = cache.usable_book(self.source, request.symbol, self.max_age)
        if book is not None:
            return list(book.asks if request.side == OrderSide.BUY else book.bids), f"{self.source} order book"
        quote, _ = cache.usable_quote(self.source, request.symbol, self.max_age)
        price = taker_price(quote, request.side) if quote is not None else None
        return ([(price, request.quantity)] if price is not None else []), f"{self.source} quote"

    def _rest(self, request: OrderRequest, trades: tuple[Trade, ...]) -> VenueOrder:
        resting = Resting(request.client_order_id, self.account, self.source, request.symbol, request.side,
                          request.order_type, request.quantity, request.limit_price, request.time_in_force,
                          request.trigger, request.trigger_price, datetime.now(UTC), trades)
        paper_book.put(resting)
        return resting.report()

    # --------------------------------------------------------------------- resting orders
    def _match(self, resting: Resting) -> VenueOrder | None:
        if self.source is None:
            return None
        quote, _ = cache.usable_quote(self.source, resting.symbol, self.max_age)
        if quote is None:
            return None
        request = _request_of(resting)
        if resting.trigger is not None:
            if not triggered(resting.trigger, resting.side, resting.trigger_price, quote):
                return None
            fired = self._market(request)
            return replace(fired, reason=f"{resting.trigger.value.replace('_', '-')} triggered at "
                                         f"{fmt(resting.trigger_price)}; {fired.reason}")
        if resting.limit_price is None or not crosses(resting.side, resting.limit_price, quote):
            return None
        left = resting.quantity - resting.filled
        trades = self._trades(resting.client_order_id, [(resting.limit_price, left)], self.maker_fee_rate,
                              resting.symbol, first=len(resting.trades) + 1)
        return paper_book.with_trades(resting, trades).report(
            OrderStatus.FILLED, f"resting limit filled at {fmt(resting.limit_price)} when the {self.source} market "
            f"crossed it (bid {fmt(quote.bid) if quote.bid else '-'}, ask {fmt(quote.ask) if quote.ask else '-'})")

    # --------------------------------------------------------------------- helpers
    def _trades(self, client_order_id: str, fills: list[Level], fee_rate: Decimal, symbol: str,
                first: int = 1) -> tuple[Trade, ...]:
        now, quote_currency = datetime.now(UTC), base_quote(symbol)[1]
        with localcontext(MONEY_CONTEXT):
            return tuple(Trade(f"{client_order_id}-{n}", quantity, price, (quantity * price * fee_rate).quantize(STORED),
                               quote_currency, now)
                         for n, (price, quantity) in enumerate(fills, start=first))

    def _report(self, request: OrderRequest, status: OrderStatus, trades: tuple[Trade, ...], reason: str | None) -> VenueOrder:
        filled = sum((t.quantity for t in trades), Decimal(0))
        average = vwap([(t.price, t.quantity) for t in trades])
        return VenueOrder(request.client_order_id, f"paper-{request.client_order_id}", status, filled, average,
                          datetime.now(UTC), trades, reason)

    def _wait_latency(self) -> None:
        if self.latency_ms or self.latency_jitter_ms:
            time.sleep((self.latency_ms + random.uniform(0, self.latency_jitter_ms)) / 1000)


def _request_of(resting: Resting) -> OrderRequest:
    """A resting order's remaining part as a market request (a fired stop), ids kept."""
    return OrderRequest(resting.client_order_id, resting.symbol, resting.side, OrderType.MARKET,
                        resting.quantity - resting.filled, reduce_only=True if resting.trigger else False)
