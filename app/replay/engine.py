"""The replay loop: each signal, in receipt order, decided by the live risk engine
(``app.risk.engine.evaluate``) on the simulated account's state at its receipt time, its orders
filled from candles (``orders``), booked in the replay's own ``Ledger``.

Between two signals the simulation advances in time order through what the candles make
happen: orders reaching their first candle, resting limits and stop-loss / take-profit
triggers reached by a candle's range, and equity marks at every ``mark_period`` boundary (and
after every fill). Nothing is read from or written to the database here.
"""

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, localcontext

from app.domain.enums import Action, OrderSide, OrderType, TradingState
from app.domain.intents import OrderPlan
from app.domain.marketdata import Quote
from app.domain.money import MONEY_CONTEXT, fmt
from app.domain.reports import Trigger
from app.domain.signal import Signal
from app.replay.history import Series, price
from app.replay.inputs import ReplaySignal
from app.replay.ledger import DAY, Ledger
from app.replay.orders import LIMIT, MARKET, Costs, SimOrder, at_open, range_fill, scan
from app.replay.spec import Effective, FillModel
from app.risk.engine import AccountState, RiskContext, evaluate
from app.risk.market import DEFAULT_TIMEFRAME, MarketView
from app.risk.rules import MarketRules, ccxt_rules, paper_rules
from app.risk.sizing import ATR_KEYS
from app.risk.state import DAILY_LOSS_REASON

Progress = Callable[[int], None]


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass
class Outcome:
    """What happened to one signal in one configuration: ``reason`` it traded nothing (or why
    an order of it did not fill), ``filled`` when any of its orders filled."""

    reason: str | None = None
    filled: bool = False
    check: str | None = None


@dataclass
class Simulation:
    """One configuration over one set of signals and candles (epoch seconds throughout)."""

    config: Effective
    fill: FillModel
    series: dict[str, Series]
    start: float
    end: float
    mark_step: int
    markets: dict[tuple[str, str], dict | None] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fill = self.fill
        self.costs = Costs.of(fill.spread_bps, fill.slippage_bps or Decimal(0), fill.taker_fee_rate or Decimal(0),
                              fill.maker_fee_rate or Decimal(0))
        balance = self.config.account.starting_balance
        self.ledger = Ledger(cash=balance, quote=self.config.account.quote_currency)
        self.pending: list[SimOrder] = []
        self.resting: list[SimOrder] = []
        self.seq = 0
        self.intents: deque[float] = deque()
        self.last_order: dict[str, float] = {}
        self.state, self.state_reason, self.state_day = TradingState.ACTIVE, None, 0
        self.seen: dict[tuple[str, str, str], str] = {}
        self.outcomes: dict[int, Outcome] = {}
        self.marks: list[tuple[float, Decimal]] = [(self.start, balance)]
        self.period_marks: list[tuple[float, Decimal]] = [(self.start, balance)]
        self.next_mark = (int(self.start) // self.mark_step + 1) * self.mark_step
        self.rules: dict[str, MarketRules] = {}

    # ------------------------------------------------------------------ signals
    def run(self, signals: list[ReplaySignal], progress: Progress | None = None) -> "Simulation":
        for k, item in enumerate(signals, start=1):
            self.handle(item)
            if progress is not None and k % 2000 == 0:
                progress(k)
        self.finish()
        return self

    def handle(self, item: ReplaySignal) -> None:
        t = item.received_at.timestamp()
        self.advance(t)
        outcome = self.outcomes[item.n] = Outcome()
        signal = item.decode()
        if signal is None:
            outcome.reason, outcome.check = item.error, "invalid"
            return
        key = (signal.source.value, signal.strategy, signal.idempotency_key)
        if key in self.seen:
            outcome.reason, outcome.check = f"duplicate of {self.seen[key]} (same idempotency key)", "duplicate"
            return
        self.seen[key] = item.ref
        if signal.account not in (None, self.config.account_name):
            outcome.check = "invalid"
            outcome.reason = (f"invalid: strategy {self.config.strategy_name!r} trades on account "
                              f"{self.config.account_name!r}, not {signal.account!r}")
            return
        self._lapse(t)
        series = self.series.get(signal.symbol)
        context = RiskContext(signal, self._state(signal.symbol, t), self.config.limits, self.config.strategy,
                              self._rules(signal.symbol), utc(t), self._market(signal, series, t))
        decision = evaluate(context)
        if decision.trading_state_change is not None:
            self.state, self.state_reason, self.state_day = decision.trading_state_change, DAILY_LOSS_REASON, int(t) // DAY
        if not decision.approved:
            outcome.check = next((c.name for c in decision.checks if not c.passed), "risk")
            outcome.reason = f"risk {outcome.check}: {decision.reason}"
            return
        if not decision.orders:
            outcome.check = signal.action.value
            outcome.reason = (f"cancel: {self._cancel(signal.symbol)} resting order(s) of {signal.symbol} cancelled"
                              if signal.action == Action.CANCEL else f"{signal.action.value}: the signal asks for no order")
            return
        for plan in decision.orders:
            self._send(plan, item.n, signal, series, t)

    def _send(self, plan: OrderPlan, n: int, signal: Signal, series: Series | None, t: float) -> None:
        self.seq += 1
        opening = not plan.reduce_only
        order = SimOrder(self.seq, n, signal.symbol, plan.side, plan.quantity,
                         LIMIT if plan.order_type == OrderType.LIMIT else MARKET, plan.reduce_only, plan.limit_price,
                         plan.time_in_force, stop_loss=signal.stop_loss if opening else None,
                         take_profit=signal.take_profit if opening else None)
        self.intents.append(t)
        self.last_order[signal.symbol] = t
        i = series.first_at_or_after(t) if series is not None else None
        if i is None or series is None or series.ts[i] - t > self.fill.max_gap_seconds:
            note = self.missing.get(signal.symbol, "")
            self._problem(order, f"no {signal.symbol} candle within {self.fill.max_gap_seconds} s after "
                                 f"{utc(t).isoformat()}: the order cannot fill{'; ' + note if note else ''}", "no_candles")
            return
        order.due = i
        self.pending.append(order)

    def _problem(self, order: SimOrder, reason: str, check: str = "fill") -> None:
        outcome = self.outcomes.setdefault(order.signal, Outcome())
        if not outcome.filled:
            outcome.reason, outcome.check = reason, check

    # ------------------------------------------------------------------ what risk reads
    def _state(self, symbol: str, t: float) -> AccountState:
        while self.intents and self.intents[0] < t - 60:
            self.intents.popleft()
        in_flight = Decimal(0)
        for order in self.pending:
            if order.symbol == symbol:
                in_flight += order.quantity if order.side == OrderSide.BUY else -order.quantity
        for order in self.resting:
            if order.symbol == symbol and order.reduce_only and not order.protective:
                in_flight += order.quantity if order.side == OrderSide.BUY else -order.quantity
        opening = {o.symbol for o in self.pending if not o.reduce_only}
        last = self.last_order.get(symbol)
        return AccountState(
            trading_state=self.state, position=self.ledger.position(symbol), equity=self.ledger.equity_at_cost(),
            open_symbols=frozenset(self.ledger.positions) | opening, orders_last_minute=len(self.intents),
            last_order_at=utc(last) if last is not None else None,
            realized_pnl_today=self.ledger.realised_by_day.get(int(t) // DAY, Decimal(0)), in_flight=in_flight)

    def _lapse(self, t: float) -> None:
        """A state set by the daily loss limit lapses at 00:00 UTC (``app.risk.state``)."""
        if self.state != TradingState.ACTIVE and self.state_reason == DAILY_LOSS_REASON and int(t) // DAY > self.state_day:
            self.state, self.state_reason = TradingState.ACTIVE, None

    def _rules(self, symbol: str) -> MarketRules:
        rules = self.rules.get(symbol)
        if rules is None:
            account = self.config.account
            rules = self.rules[symbol] = (paper_rules(symbol, account.min_notional) if account.venue == "paper"
                                          else ccxt_rules(account.venue, symbol, self.markets.get((account.venue, symbol))))
        return rules

    def _market(self, signal: Signal, series: Series | None, t: float) -> MarketView:
        """The quote at ``t``: the last closed candle's close ± half the spread; ATR from the candles."""
        source = self.fill.source
        i = series.closed_before(t) if series is not None else 0
        if series is None or i == 0:
            return MarketView(source, quote_reason=f"no {signal.symbol} candle closed before {utc(t).isoformat()}")
        closed_at = series.ts[i - 1] + series.step
        if t - closed_at > self.fill.max_gap_seconds:
            return MarketView(source, quote_reason=f"the last {signal.symbol} candle closed {t - closed_at:.0f} s earlier")
        last = price(series.close[i - 1])
        with localcontext(MONEY_CONTEXT):
            bid, ask = last * (1 - self.costs.half_spread), last * (1 + self.costs.half_spread)
        quote = Quote(source, signal.symbol, bid, ask, last, utc(closed_at), utc(closed_at))
        limits = self.config.limits
        if limits.sizing != "atr_risk" or signal.size is not None or any(k in signal.indicators for k in ATR_KEYS):
            return MarketView(source, quote, None)
        timeframe = signal.timeframe or DEFAULT_TIMEFRAME
        atr, why = series.atr(t, timeframe)
        return MarketView(source, quote, None, atr, why, timeframe)

    # ------------------------------------------------------------------ simulated time
    def advance(self, t: float) -> None:
        """Everything the candles make happen up to ``t``, in time order."""
        horizon = min(t, self.end)
        while True:
            best: tuple | None = None
            for order in self.pending:
                at = self.series[order.symbol].ts[order.due]  # type: ignore[index]
                if at <= horizon and (best is None or (at, 1, 0, order.seq) < best[0]):
                    best = ((at, 1, 0, order.seq), "due", order)
            for order in self.resting:
                series = self.series[order.symbol]
                if order.hit is None:
                    scan(order, series, series.closed_before(horizon), self.costs)
                if order.hit is not None:
                    key = (series.ts[order.hit], 1, 0 if order.kind == Trigger.STOP_LOSS.value else 1, order.seq)
                    if best is None or key < best[0]:
                        best = (key, "hit", order)
            if self.next_mark <= horizon and (best is None or (self.next_mark, 0, 0, 0) < best[0]):
                best = ((self.next_mark, 0, 0, 0), "mark", None)
            if best is None:
                return
            if best[1] == "mark":
                self._mark_period(self.next_mark)
                self.next_mark += self.mark_step
            elif best[1] == "due":
                self._due(best[2])
            else:
                self._hit(best[2])

    def _due(self, order: SimOrder) -> None:
        self.pending.remove(order)
        series = self.series[order.symbol]
        i = order.due
        assert i is not None
        fill_price, maker, words = at_open(order, series, i, self.costs)
        if fill_price is None:
            if words == "rests":
                order.next_index = i
                self.resting.append(order)
            else:
                self._problem(order, words)
            return
        self._execute(order, fill_price, maker, words, series.ts[i], protect_from=i)

    def _hit(self, order: SimOrder) -> None:
        self.resting.remove(order)
        series = self.series[order.symbol]
        i = order.hit
        assert i is not None
        fill_price, maker, words = range_fill(order, series, i, self.costs)
        self._execute(order, fill_price, maker, words, series.ts[i], protect_from=i + 1)

    def _execute(self, order: SimOrder, fill_price: Decimal, maker: bool, words: str, at: float, protect_from: int) -> None:
        position, quantity = self.ledger.position(order.symbol), order.quantity
        if order.reduce_only:
            reduces = position < 0 if order.side == OrderSide.BUY else position > 0
            if not reduces:
                self._problem(order, f"reduce-only {order.side.value} found no {order.symbol} position to reduce ({words})")
                return
            quantity = min(quantity, abs(position))
        fee = self.costs.fee(quantity, fill_price, maker)
        refused = self.ledger.can_pay(order.symbol, order.side, quantity, fill_price, fee)
        if refused is not None:
            self._problem(order, f"{refused} ({words})")
            return
        self.ledger.fill(order.symbol, order.side, quantity, fill_price, fee, at, order.signal,
                         order.kind if order.protective else "signal")
        outcome = self.outcomes.setdefault(order.signal, Outcome())
        outcome.filled, outcome.reason, outcome.check = True, None, None
        if not self.ledger.position(order.symbol):
            self.resting = [o for o in self.resting if not (o.protective and o.symbol == order.symbol)]
        elif not order.reduce_only and (order.stop_loss or order.take_profit):
            self._arm(order, at, protect_from)
        self.marks.append((at, self._equity(at, {order.symbol: fill_price})))

    def _arm(self, entry: SimOrder, at: float, start: int) -> None:
        """Stop-loss / take-profit for the whole position (replacing earlier ones on the symbol)."""
        position = self.ledger.position(entry.symbol)
        self.resting = [o for o in self.resting if not (o.protective and o.symbol == entry.symbol)]
        side = OrderSide.SELL if position > 0 else OrderSide.BUY
        for kind, trigger in ((Trigger.STOP_LOSS, entry.stop_loss), (Trigger.TAKE_PROFIT, entry.take_profit)):
            if trigger is not None:
                self.seq += 1
                self.resting.append(SimOrder(self.seq, entry.signal, entry.symbol, side, abs(position), kind.value,
                                             reduce_only=True, trigger_price=trigger, next_index=start))
                self.intents.append(at)
                self.last_order[entry.symbol] = at

    def _cancel(self, symbol: str) -> int:
        kept = [o for o in self.resting if o.symbol != symbol]
        cancelled = len(self.resting) - len(kept)
        for order in self.resting:
            if order.symbol == symbol and not order.protective:
                self._problem(order, f"cancelled by a cancel signal before it filled", "cancelled")
        self.resting = kept
        return cancelled

    # ------------------------------------------------------------------ equity
    def _equity(self, at: float, known: dict[str, Decimal] | None = None) -> Decimal:
        prices = dict(known or {})
        for symbol in self.ledger.positions:
            if symbol not in prices:
                close = self.series[symbol].last_close(at)
                if close is not None:
                    prices[symbol] = close
        return self.ledger.marked(prices)

    def _mark_period(self, at: float) -> None:
        value = self._equity(at)
        self.marks.append((at, value))
        self.period_marks.append((at, value))

    def finish(self) -> None:
        """Advance to the end, mark there, and say why orders still open never filled."""
        self.advance(self.end)
        if self.marks[-1][0] < self.end:
            self.marks.append((self.end, self._equity(self.end)))
        self.ledger.close_exposure(self.end)
        for order in self.pending:
            self._problem(order, f"the replay ended ({utc(self.end).isoformat()}) before the order's first candle", "ended")
        for order in self.resting:
            if not order.protective:
                what = f"limit {fmt(order.limit_price)}" if order.limit_price is not None else order.kind
                self._problem(order, f"{what} still resting when the replay ended: the candles never reached it", "ended")
