"""The simulated account of one replay configuration: cash, positions, round-trip trades,
equity marks. Money is ``Decimal``; positions move by ``app.domain.positions.apply_fill`` and
balances as the paper ledger books them (``app.execution.balances``): a spot buy pays notional
+ fee and receives the base, a spot sell the reverse, a derivative fill pays its fee. Unlike
the live paper ledger, a derivative's realised PnL is also booked to the cash balance here, so
equity includes it.
"""

from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from app.domain.enums import OrderSide
from app.domain.equity import equity
from app.domain.money import MONEY_CONTEXT
from app.domain.positions import PositionState, apply_fill
from app.domain.symbols import is_derivative

STORED = Decimal("1e-18")  # money columns are NUMERIC(38, 18), as the paper venue rounds fees
DAY = 86_400


@dataclass
class Trade:
    """A round trip: from flat to flat again. ``pnl`` net of every fee of its fills (quote)."""

    n: int
    symbol: str
    side: str  # long / short
    entry_at: float
    entry_signal: int
    quantity: Decimal = Decimal(0)  # largest absolute position held
    bought: Decimal = Decimal(0)
    bought_value: Decimal = Decimal(0)
    sold: Decimal = Decimal(0)
    sold_value: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    pnl: Decimal = Decimal(0)
    exit_at: float | None = None
    exit_signal: int | None = None
    exit_reason: str | None = None
    fills: int = 0


@dataclass(frozen=True, slots=True)
class Holding:
    symbol: str
    quantity: Decimal
    average_price: Decimal | None


@dataclass
class Ledger:
    """Cash in the quote currency, positions by symbol, trades, marks (epoch s, equity)."""

    cash: Decimal
    quote: str
    positions: dict[str, PositionState] = field(default_factory=dict)
    open_trades: dict[str, Trade] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    realised_by_day: dict[int, Decimal] = field(default_factory=dict)
    realised: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    fill_count: int = 0
    open_since: dict[str, float] = field(default_factory=dict)
    exposure: dict[str, float] = field(default_factory=dict)
    any_since: float | None = None
    any_exposure: float = 0.0

    def position(self, symbol: str) -> Decimal:
        state = self.positions.get(symbol)
        return state.quantity if state is not None else Decimal(0)

    def equity_at_cost(self) -> Decimal:
        """Equity as live risk sees it (``app.domain.equity``: spot at average entry)."""
        holdings = [Holding(s, p.quantity, p.average_price) for s, p in self.positions.items() if p.quantity]
        return equity(self.cash, holdings, self.quote)

    def can_pay(self, symbol: str, side: OrderSide, quantity: Decimal, price: Decimal, fee: Decimal) -> str | None:
        """None, or why the paper balances refuse this fill (insufficient funds)."""
        if is_derivative(symbol) or side == OrderSide.SELL:
            return None
        with localcontext(MONEY_CONTEXT):
            needed = quantity * price + fee
        if needed > self.cash:
            return (f"insufficient funds: the fill needs {needed.quantize(Decimal('1e-8'))} {self.quote}, "
                    f"the account has {self.cash.quantize(Decimal('1e-8'))} {self.quote}")
        return None

    def fill(self, symbol: str, side: OrderSide, quantity: Decimal, price: Decimal, fee: Decimal, at: float,
             signal: int, reason: str) -> Decimal:
        """Book one fill (split in two when it crosses zero); returns the PnL it realised."""
        current = self.position(symbol)
        signed = quantity if side == OrderSide.BUY else -quantity
        if current and (current > 0) != (current + signed > 0) and current + signed != 0:
            with localcontext(MONEY_CONTEXT):
                first_fee = fee * abs(current) / quantity
            realised = self._fill(symbol, side, abs(current), price, first_fee, at, signal, reason)
            return realised + self._fill(symbol, side, quantity - abs(current), price, fee - first_fee, at, signal, reason)
        return self._fill(symbol, side, quantity, price, fee, at, signal, reason)

    def _fill(self, symbol: str, side: OrderSide, quantity: Decimal, price: Decimal, fee: Decimal, at: float,
              signal: int, reason: str) -> Decimal:
        before = self.positions.get(symbol, PositionState())
        after, realised = apply_fill(before, side, quantity, price, fee)
        with localcontext(MONEY_CONTEXT):
            if is_derivative(symbol):
                self.cash += realised
            elif side == OrderSide.BUY:
                self.cash -= quantity * price + fee
            else:
                self.cash += quantity * price - fee
            self.positions[symbol] = after
            self.realised += realised
            self.fees += fee
            day = int(at) // DAY
            self.realised_by_day[day] = self.realised_by_day.get(day, Decimal(0)) + realised
            self._trade(symbol, side, quantity, price, fee, realised, before.quantity, after.quantity, at, signal, reason)
        self.fill_count += 1
        if not after.quantity:
            del self.positions[symbol]
        return realised

    def _trade(self, symbol: str, side: OrderSide, quantity: Decimal, price: Decimal, fee: Decimal, realised: Decimal,
               before: Decimal, after: Decimal, at: float, signal: int, reason: str) -> None:
        trade = self.open_trades.get(symbol)
        if trade is None:
            trade = Trade(len(self.trades) + len(self.open_trades) + 1, symbol, "long" if after > 0 else "short", at, signal)
            self.open_trades[symbol] = trade
            self._exposure_opens(symbol, at)
        if side == OrderSide.BUY:
            trade.bought += quantity
            trade.bought_value += quantity * price
        else:
            trade.sold += quantity
            trade.sold_value += quantity * price
        trade.fees += fee
        trade.pnl += realised
        trade.fills += 1
        trade.quantity = max(trade.quantity, abs(after))
        if after == 0:
            trade.exit_at, trade.exit_signal, trade.exit_reason = at, signal, reason
            self.trades.append(self.open_trades.pop(symbol))
            self._exposure_closes(symbol, at)

    def _exposure_opens(self, symbol: str, at: float) -> None:
        self.open_since[symbol] = at
        if self.any_since is None:
            self.any_since = at

    def _exposure_closes(self, symbol: str, at: float) -> None:
        self.exposure[symbol] = self.exposure.get(symbol, 0.0) + at - self.open_since.pop(symbol)
        if not self.open_since and self.any_since is not None:
            self.any_exposure += at - self.any_since
            self.any_since = None

    def close_exposure(self, at: float) -> None:
        """End every exposure interval at ``at`` (the replay's end); positions stay open."""
        for symbol in sorted(self.open_since):
            self.exposure[symbol] = self.exposure.get(symbol, 0.0) + at - self.open_since[symbol]
            self.open_since[symbol] = at
        if self.any_since is not None:
            self.any_exposure += at - self.any_since
            self.any_since = at

    def marked(self, prices: dict[str, Decimal]) -> Decimal:
        """Equity marked to ``prices`` (symbol → price; a symbol without one at its entry)."""
        with localcontext(MONEY_CONTEXT):
            total = self.cash
            for symbol, state in self.positions.items():
                mark = prices.get(symbol) or state.average_price or Decimal(0)
                if is_derivative(symbol):
                    total += state.quantity * (mark - (state.average_price or mark))
                else:
                    total += state.quantity * mark
            return total
