"""The exit ladder: take-profits, a stop-loss, break-even and a trailing stop, as a pure state machine.

An ``ExitLadder`` is what a signal or a strategy asks for (Cornix's and 3Commas' "multiple
targets": freqtrade#5930): up to ``MAX_TAKE_PROFITS`` take-profits, each a price or a percent
from the entry's average fill price and a ``fraction`` of the entry's filled quantity; a
stop-loss (price or percent); "move the stop to break-even plus ``break_even_offset_percent``
after take-profit k"; a trailing stop (``percent`` or ``amount`` behind the best price since
activation, optional ``activation_price`` / ``activation_percent``).

``LadderState`` is where a running ladder stands. Emulated (Tradewire watches the price):
``advance(ladder, state, price)`` is the one transition: the new state and the ``Move``s it
made, in order. Native (the take-profits and the stop rest on the venue as trigger orders):
``resting(ladder, state)`` is what the venue should hold, ``take_profit_filled`` /
``stop_filled`` are the transitions when one of those orders fills, and ``trail`` moves the
trailing stop with the price (the stop order on the venue follows it). Nothing here does I/O; the
follow-up stage (``app.followups.ladder`` / ``app.followups.native_ladder``) stores the state
and turns moves into orders.

Prices are quote per base, quantities base units, percents 0–100, all ``Decimal``. Sides are
the entry's: a ``buy`` ladder protects a long (exits sell, profits above the entry), a ``sell``
ladder a short (exits buy, profits below).
"""

from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.domain.enums import OrderSide
from app.domain.money import MAX_AMOUNT, MONEY_CONTEXT

MAX_TAKE_PROFITS = 10
HUNDRED = Decimal(100)
ACTIVE, DONE, CANCELLED = "active", "done", "cancelled"
MoveKind = Literal["take_profit", "break_even", "trailing_raised", "stop_loss", "trailing_exit"]
EXITS = frozenset({"take_profit", "stop_loss", "trailing_exit"})


def _one_of(a: object, b: object, what: str) -> None:
    if (a is None) == (b is None):
        raise ValueError(f"{what}: give exactly one")


class TakeProfit(BaseModel):
    """One target: ``price`` (quote per base) or ``percent`` from the entry's average price, and
    the ``fraction`` (0–1] of the entry's filled quantity it closes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    price: Decimal | None = Field(default=None, gt=0, le=MAX_AMOUNT)
    percent: Decimal | None = Field(default=None, gt=0, le=1000)
    fraction: Decimal = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _price_or_percent(self) -> "TakeProfit":
        _one_of(self.price, self.percent, "a take-profit has a price or a percent")
        return self


class TrailingStop(BaseModel):
    """A stop ``percent`` (or ``amount``, quote per base) behind the best price since it became
    active: at once, or when the price reaches ``activation_price`` / ``activation_percent``
    from the entry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    percent: Decimal | None = Field(default=None, gt=0, lt=100)
    amount: Decimal | None = Field(default=None, gt=0, le=MAX_AMOUNT)
    activation_price: Decimal | None = Field(default=None, gt=0, le=MAX_AMOUNT)
    activation_percent: Decimal | None = Field(default=None, gt=0, le=1000)

    @model_validator(mode="after")
    def _distance(self) -> "TrailingStop":
        _one_of(self.percent, self.amount, "a trailing stop has a percent or an amount")
        if self.activation_price is not None and self.activation_percent is not None:
            raise ValueError("a trailing stop has an activation price or an activation percent, not both")
        return self


class ExitLadder(BaseModel):
    """The exits of one entry (see the module). Take-profits are taken in the order given; their
    fractions add up to at most 1 (the rest waits for the stop or the trailing stop)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    take_profits: list[TakeProfit] = Field(default_factory=list, max_length=MAX_TAKE_PROFITS)
    stop_loss: Decimal | None = Field(default=None, gt=0, le=MAX_AMOUNT)
    stop_loss_percent: Decimal | None = Field(default=None, gt=0, lt=100)
    break_even_after: int | None = Field(default=None, ge=1, le=MAX_TAKE_PROFITS,
                                         description="move the stop to the entry after this take-profit (1 = first)")
    break_even_offset_percent: Decimal = Field(default=Decimal(0), ge=0, le=100,
                                               description="the break-even stop this far beyond the entry, in profit")
    trailing_stop: TrailingStop | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "ExitLadder":
        if self.stop_loss is not None and self.stop_loss_percent is not None:
            raise ValueError("a stop-loss is a price or a percent, not both")
        if sum((tp.fraction for tp in self.take_profits), Decimal(0)) > 1:
            raise ValueError("the take-profits' fractions add up to more than 1")
        if self.break_even_after is not None and self.break_even_after > len(self.take_profits):
            raise ValueError(f"break_even_after {self.break_even_after}: there are only "
                             f"{len(self.take_profits)} take-profits")
        if not (self.take_profits or self.trailing_stop or self.stop_loss or self.stop_loss_percent):
            raise ValueError("an exit ladder needs a take-profit, a stop-loss or a trailing stop")
        return self


@dataclass(frozen=True)
class LadderState:
    """A running ladder: the entry's ``side``, average ``entry_price`` and filled ``quantity``;
    ``closed`` (ordered out so far), ``taken`` (take-profits done), the fixed ``stop``, the
    trailing stop ``trail`` and the best price ``best`` since it became active; ``status``
    ``active`` / ``done`` / ``cancelled``."""

    side: OrderSide
    entry_price: Decimal
    quantity: Decimal
    closed: Decimal = Decimal(0)
    taken: int = 0
    stop: Decimal | None = None
    trail: Decimal | None = None
    best: Decimal | None = None
    status: str = ACTIVE

    @property
    def remaining(self) -> Decimal:
        return max(self.quantity - self.closed, Decimal(0))

    @property
    def exit_side(self) -> OrderSide:
        return OrderSide.SELL if self.side == OrderSide.BUY else OrderSide.BUY


@dataclass(frozen=True)
class Move:
    """One step of a ladder: an exit (``quantity`` to close at market, reduce-only) or a stop
    moved (``stop``: the new stop). ``index``: the take-profit's number (1-based), ``trigger``:
    the level that was reached, ``price``: the market price that reached it."""

    kind: MoveKind
    price: Decimal
    trigger: Decimal | None = None
    quantity: Decimal | None = None
    stop: Decimal | None = None
    index: int | None = None

    @property
    def is_exit(self) -> bool:
        return self.kind in EXITS


def _sign(side: OrderSide) -> int:
    return 1 if side == OrderSide.BUY else -1


def _from_entry(entry: Decimal, side: OrderSide, percent: Decimal) -> Decimal:
    """The price ``percent`` in profit from ``entry`` (negative: in loss)."""
    with localcontext(MONEY_CONTEXT):
        return entry * (1 + _sign(side) * percent / HUNDRED)


def take_profit_prices(ladder: ExitLadder, side: OrderSide, entry: Decimal) -> list[Decimal]:
    """Each take-profit's price for an entry at ``entry``."""
    return [tp.price if tp.price is not None else _from_entry(entry, side, tp.percent) for tp in ladder.take_profits]


def start(ladder: ExitLadder, side: OrderSide, entry_price: Decimal, quantity: Decimal) -> LadderState:
    """The state of a ladder whose entry just filled ``quantity`` at ``entry_price`` on average."""
    stop = ladder.stop_loss
    if stop is None and ladder.stop_loss_percent is not None:
        stop = _from_entry(entry_price, side, -ladder.stop_loss_percent)
    return LadderState(side, entry_price, quantity, stop=stop)


def resize(state: LadderState, quantity: Decimal, entry_price: Decimal) -> LadderState:
    """The entry filled more (a partial fill went on): the ladder covers ``quantity`` at the new
    average ``entry_price``; what was already closed stays closed. A percent stop is not moved."""
    return replace(state, quantity=quantity, entry_price=entry_price)


def cancel(state: LadderState) -> LadderState:
    return replace(state, status=CANCELLED)


def _reached(side: OrderSide, price: Decimal, level: Decimal) -> bool:
    """A profit level (for the entry's ``side``) is reached at ``price``."""
    return price >= level if side == OrderSide.BUY else price <= level


def _better(side: OrderSide, a: Decimal, b: Decimal | None) -> bool:
    """Stop ``a`` is tighter (more in profit) than ``b``."""
    return b is None or (a > b if side == OrderSide.BUY else a < b)


def advance(ladder: ExitLadder, state: LadderState, price: Decimal) -> tuple[LadderState, list[Move]]:
    """The ladder at market ``price`` (the last trade, else the exit side's top of book): first
    a stop hit with the stops as they stood (the whole remainder exits), else every take-profit
    reached in order (with the break-even move after take-profit ``break_even_after``), then the
    trailing stop follows the best price. Returns the new state and its moves, in order."""
    if state.status != ACTIVE or state.remaining <= 0:
        return state, []
    hit = _stop_hit(state, price)
    if hit is not None:
        move = Move(hit[0], price, trigger=hit[1], quantity=state.remaining)
        return replace(state, closed=state.quantity, status=DONE), [move]
    state, moves = _take_profits(ladder, state, price)
    if state.remaining <= 0:
        return replace(state, status=DONE), moves
    state, trailed = _trail(ladder, state, price)
    return state, moves + trailed


def _stop_hit(state: LadderState, price: Decimal) -> tuple[MoveKind, Decimal] | None:
    """Which stop the price went through: the tighter of the fixed and the trailing stop."""
    stops: list[tuple[MoveKind, Decimal]] = []
    if state.stop is not None:
        stops.append(("stop_loss", state.stop))
    if state.trail is not None:
        stops.append(("trailing_exit", state.trail))
    if not stops:
        return None
    kind, level = max(stops, key=lambda s: _sign(state.side) * s[1])
    through = price <= level if state.side == OrderSide.BUY else price >= level
    return (kind, level) if through else None


def _take_profits(ladder: ExitLadder, state: LadderState, price: Decimal) -> tuple[LadderState, list[Move]]:
    moves: list[Move] = []
    levels = take_profit_prices(ladder, state.side, state.entry_price)
    while state.taken < len(levels) and _reached(state.side, price, levels[state.taken]):
        index = state.taken + 1
        with localcontext(MONEY_CONTEXT):
            wanted = ladder.take_profits[state.taken].fraction * state.quantity
        last = index == len(levels) and ladder.trailing_stop is None and state.stop is None
        quantity = state.remaining if last else min(wanted, state.remaining)
        state = replace(state, taken=index, closed=state.closed + quantity)
        moves.append(Move("take_profit", price, trigger=levels[index - 1], quantity=quantity, index=index))
        if ladder.break_even_after == index:
            even = _from_entry(state.entry_price, state.side, ladder.break_even_offset_percent)
            if _better(state.side, even, state.stop):
                state = replace(state, stop=even)
                moves.append(Move("break_even", price, trigger=levels[index - 1], stop=even, index=index))
        if state.remaining <= 0:
            break
    return state, moves


def _trail(ladder: ExitLadder, state: LadderState, price: Decimal) -> tuple[LadderState, list[Move]]:
    trailing = ladder.trailing_stop
    if trailing is None:
        return state, []
    if state.best is None:
        activation = trailing.activation_price
        if activation is None and trailing.activation_percent is not None:
            activation = _from_entry(state.entry_price, state.side, trailing.activation_percent)
        if activation is not None and not _reached(state.side, price, activation):
            return state, []
    best = price if state.best is None or _reached(state.side, price, state.best) else state.best
    with localcontext(MONEY_CONTEXT):
        distance = best * trailing.percent / HUNDRED if trailing.percent is not None else trailing.amount
        trail = best - _sign(state.side) * distance
    state = replace(state, best=best)
    if not _better(state.side, trail, state.trail):
        return state, []
    return replace(state, trail=trail), [Move("trailing_raised", price, trigger=best, stop=trail)]


# --------------------------------------------------------------------------- native ladders
@dataclass(frozen=True)
class Resting:
    """One order a native ladder keeps on the venue: ``kind`` ``take_profit`` (``index``
    1-based) or ``stop_loss``, a reduce-only market order triggered at ``trigger`` (quote per
    base) for ``quantity`` (base units, before the venue's precision)."""

    kind: Literal["take_profit", "stop_loss"]
    trigger: Decimal
    quantity: Decimal
    index: int | None = None


def trail(ladder: ExitLadder, state: LadderState, price: Decimal) -> tuple[LadderState, list[Move]]:
    """A native ladder's trailing stop at market ``price`` (the venue holds the take-profits and
    the stop): the best price and the trail follow it, nothing exits here — the trail becomes
    the stop order on the venue (``resting``)."""
    if state.status != ACTIVE or state.remaining <= 0:
        return state, []
    return _trail(ladder, state, price)


def effective_stop(state: LadderState) -> tuple[MoveKind, Decimal] | None:
    """The stop that protects the remainder: the tighter of the fixed stop and the trail."""
    stops: list[tuple[MoveKind, Decimal]] = []
    if state.stop is not None:
        stops.append(("stop_loss", state.stop))
    if state.trail is not None:
        stops.append(("trailing_exit", state.trail))
    return max(stops, key=lambda s: _sign(state.side) * s[1]) if stops else None


def resting(ladder: ExitLadder, state: LadderState) -> list[Resting]:
    """What the venue should hold for ``state``: each take-profit not yet taken (``fraction`` ×
    the entry's filled quantity, the last one the whole remainder when no stop follows it) and
    the stop for the whole remainder at the tighter of the fixed stop and the trail. Nothing
    once the ladder is not active."""
    if state.status != ACTIVE or state.remaining <= 0:
        return []
    orders: list[Resting] = []
    levels = take_profit_prices(ladder, state.side, state.entry_price)
    for number in range(state.taken + 1, len(levels) + 1):
        with localcontext(MONEY_CONTEXT):
            wanted = ladder.take_profits[number - 1].fraction * state.quantity
        last = number == len(levels) and ladder.trailing_stop is None and state.stop is None
        orders.append(Resting("take_profit", levels[number - 1],
                              state.remaining if last else min(wanted, state.remaining), number))
    stop = effective_stop(state)
    if stop is not None:
        orders.append(Resting("stop_loss", stop[1], state.remaining))
    return orders


def take_profit_filled(ladder: ExitLadder, state: LadderState, index: int, quantity: Decimal,
                       price: Decimal) -> tuple[LadderState, list[Move]]:
    """Take-profit ``index`` (1-based) filled ``quantity`` at ``price`` on the venue: it is taken
    (with the take-profits before it, which a gap filled at the same time), the break-even move
    follows after take-profit ``break_even_after``, and the ladder is done when nothing is left.
    A take-profit already counted changes nothing."""
    if state.status != ACTIVE or index <= state.taken:
        return state, []
    levels = take_profit_prices(ladder, state.side, state.entry_price)
    closed = min(state.closed + quantity, state.quantity)
    state = replace(state, taken=index, closed=closed)
    moves = [Move("take_profit", price, trigger=levels[index - 1], quantity=quantity, index=index)]
    if ladder.break_even_after is not None and ladder.break_even_after <= index:
        even = _from_entry(state.entry_price, state.side, ladder.break_even_offset_percent)
        if _better(state.side, even, state.stop):
            state = replace(state, stop=even)
            moves.append(Move("break_even", price, trigger=levels[index - 1], stop=even, index=index))
    if state.remaining <= 0:
        state = replace(state, status=DONE)
    return state, moves


def stop_filled(state: LadderState, quantity: Decimal, price: Decimal) -> tuple[LadderState, list[Move]]:
    """The stop filled ``quantity`` at ``price`` on the venue: the ladder is done (a
    ``trailing_exit`` when the trail was the tighter stop)."""
    if state.status != ACTIVE:
        return state, []
    kind, level = effective_stop(state) or ("stop_loss", None)
    move = Move(kind, price, trigger=level, quantity=quantity)
    return replace(state, closed=state.quantity, status=DONE), [move]
