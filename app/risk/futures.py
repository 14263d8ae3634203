"""Risk steps for perpetuals and for the sender's view of the position (issue 13).

* ``hedge_side``: in hedge mode (``position_mode = "hedge"``: a long and a short position per
  symbol, as Binance's ``dualSidePosition``, Bybit's ``positionIdx`` 1 / 2 and OKX's
  ``long_short_mode``) the position a signal acts on, read from the signal alone (below).
* ``check_futures``: the position side must be known in hedge mode and is refused in one-way
  mode; the leverage and margin mode an entry will trade at — the signal's, else the account's
  ``[futures]`` (per-symbol overrides first) — refused above ``max_leverage``; a leverage,
  margin mode or position side on a spot symbol is refused (it would be silently ignored).
  The venue is set before the entry by ``app.execution.futures``.
* ``check_position_sync``: the sender's ``prev_position`` against the ledger's expected
  position: a mismatch is a warning in the decision, a rejection with the strategy's
  ``on_desync = "reject"``.

Pure functions of the ``RiskContext`` (no I/O), like the engine's own steps.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.domain.enums import Action, PositionSide
from app.domain.money import fmt
from app.domain.signal import Signal
from app.domain.symbols import is_derivative

# The engine imports this module, so its ``RiskContext`` (``ctx``) and plans are typed loosely
# here: this module must not import the engine back (no import cycles, even for type checking).
RiskContext = Any
Plans = tuple

SIDES = (PositionSide.LONG, PositionSide.SHORT)


def hedge_side(signal: Signal) -> PositionSide | None:
    """The hedge-mode position (long / short) ``signal`` acts on, or None when it does not say.

    In order: ``position_side``; the sign of ``target_size`` / ``target_percent`` (TradingView's
    ``strategy.position_size`` is negative when short); ``target_position`` long / short; for a
    move to flat (an ``exit``, or a buy / sell whose target is flat) ``prev_position``, else the
    side a buy (short) or a sell (long) closes; a plain buy opens or adds to the long, a plain
    sell to the short (as Binance's ``positionSide`` and Bybit's ``positionIdx`` read an order).
    """
    if signal.position_side in SIDES:
        return signal.position_side
    target = signal.target_size if signal.target_size is not None else signal.target_percent
    if target is not None and target != 0:
        return PositionSide.LONG if target > 0 else PositionSide.SHORT
    if signal.target_position in SIDES:
        return signal.target_position
    to_flat = signal.action == Action.EXIT or signal.target_position == PositionSide.FLAT or target == 0
    if to_flat:
        if signal.prev_position in SIDES:
            return signal.prev_position
        if signal.action in (Action.BUY, Action.SELL):
            return PositionSide.SHORT if signal.action == Action.BUY else PositionSide.LONG
        return None
    if signal.action in (Action.BUY, Action.SELL):
        return PositionSide.LONG if signal.action == Action.BUY else PositionSide.SHORT
    return None


def is_hedged(account: Any, symbol: str) -> bool:
    """``account`` (an ``AccountConfig`` or None) trades ``symbol`` in hedge mode."""
    return account is not None and account.futures.position_mode == "hedge" and is_derivative(symbol)


def side_problem(ctx: RiskContext) -> str | None:
    """Why the position side cannot be used: unknown in hedge mode, asked for in one-way mode or on spot."""
    signal, account = ctx.signal, ctx.account
    if signal.action in (Action.HOLD, Action.CANCEL, Action.CANCEL_ALL, Action.CLOSE_ALL):
        return None
    asked = signal.position_side
    if asked == PositionSide.FLAT:
        return "position_side is long or short (the hedge-mode position acted on), not flat"
    if not is_derivative(signal.symbol):
        return f"position_side applies to perpetuals in hedge mode; {signal.symbol} is spot" if asked else None
    if is_hedged(account, signal.symbol):
        if ctx.hedge_side is None:
            return ("the account trades in hedge mode: say which position this exit closes (position_side long / "
                    "short, or prev_position)")
        return None
    if asked is not None:
        mode = account.futures.position_mode if account is not None else None
        return (f"position_side {asked.value} applies to hedge mode; the account's position_mode is "
                f"{mode or 'not set (one-way: one net position per symbol)'}")
    return None


@dataclass(frozen=True)
class Wanted:
    """The futures settings an entry asks for; None: not asked (the venue's stays), each with where it came from."""

    leverage: Decimal | None
    leverage_from: str
    margin_mode: str | None
    margin_mode_from: str
    max_leverage: Decimal | None

    def describe(self) -> str:
        parts = []
        if self.leverage is not None:
            parts.append(f"leverage {fmt(self.leverage)}x ({self.leverage_from})")
        if self.margin_mode is not None:
            parts.append(f"margin {self.margin_mode} ({self.margin_mode_from})")
        if self.max_leverage is not None:
            parts.append(f"max_leverage {fmt(self.max_leverage)}x")
        return ", ".join(parts)


def wanted(futures, symbol: str, leverage: Decimal | None, margin_mode: str | None) -> Wanted:
    """``futures`` (an account's ``FuturesConfig``) for ``symbol``, the signal's values winning."""
    config = futures.for_symbol(symbol)
    return Wanted(
        leverage if leverage is not None else config.leverage, "signal" if leverage is not None else "config",
        margin_mode or config.margin_mode, "signal" if margin_mode else "config", config.max_leverage,
    )


def check_futures(ctx: RiskContext, plans: Plans) -> tuple[str | None, Plans]:
    signal, account = ctx.signal, ctx.account
    problem = side_problem(ctx)
    if problem is not None:
        return problem, plans
    if not is_derivative(signal.symbol):
        if signal.leverage is not None or signal.margin_mode is not None:
            return f"leverage and margin_mode apply to perpetuals; {signal.symbol} is spot", plans
        return None, plans
    if account is None or not _opens(ctx):
        return None, plans
    want = wanted(account.futures, signal.symbol, signal.leverage, signal.margin_mode)
    if want.leverage is not None and want.max_leverage is not None and want.leverage > want.max_leverage:
        return (f"leverage {fmt(want.leverage)}x ({want.leverage_from}) exceeds max_leverage "
                f"{fmt(want.max_leverage)}x for {signal.symbol}"), plans
    return None, plans


def futures_detail(ctx: RiskContext) -> str | None:
    """What a passing ``futures`` step will set on the venue, for the decision and the dry run."""
    account = ctx.account
    if account is None or not is_derivative(ctx.signal.symbol) or not _opens(ctx):
        return None
    words = wanted(account.futures, ctx.signal.symbol, ctx.signal.leverage, ctx.signal.margin_mode).describe()
    mode = account.futures.position_mode
    words = ", ".join(w for w in (words, f"position mode {mode}" if mode else "") if w)
    side = f"; acts on the {ctx.hedge_side.value} position" if ctx.hedge_side is not None else ""
    return f"set on {ctx.rules.venue} before the entry: {words}{side}" if words else None


def check_position_sync(ctx: RiskContext, plans: Plans) -> tuple[str | None, Plans]:
    warning = desync(ctx)
    if warning is not None and ctx.strategy.on_desync == "reject":
        return f"{warning}; the strategy's on_desync is reject", plans
    return None, plans


def desync(ctx: RiskContext) -> str | None:
    """The sentence saying the sender's ``prev_position`` and the ledger disagree, or None.
    In hedge mode a ``prev_position`` long / short is compared with that side's position (a
    reversal's is the other side), flat with the side the signal acts on."""
    said = ctx.signal.prev_position
    if said is None:
        return None
    held, which = ctx.state.expected, ""
    if ctx.hedge_side is not None:
        compared = said if said in SIDES else ctx.hedge_side
        held = ctx.state.expected if compared == ctx.hedge_side else ctx.state.opposite
        which = f" on the {compared.value} side"
    ours = PositionSide.LONG if held > 0 else PositionSide.SHORT if held < 0 else PositionSide.FLAT
    if said == ours:
        return None
    return (f"desync: the sender's prev_position is {said.value} but the ledger holds {fmt(held)} "
            f"{ctx.signal.symbol}{which} ({ours.value})")


def _opens(ctx: RiskContext) -> bool:
    return ctx.signal.action in (Action.BUY, Action.SELL) and ctx.signal.target_position != PositionSide.FLAT
