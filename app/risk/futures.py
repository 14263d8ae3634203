"""Risk steps for perpetuals and for the sender's view of the position (issue 13).

* ``check_futures``: the leverage and margin mode an entry will trade at — the signal's, else
  the account's ``[futures]`` (per-symbol overrides first) — refused above ``max_leverage``;
  hedge mode is refused (positions are kept per (account, symbol), one net position); a
  leverage or margin mode on a spot symbol is refused (it would be silently ignored). The
  venue is set before the entry by ``app.execution.futures``.
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
from app.domain.symbols import is_derivative

# The engine imports this module, so its ``RiskContext`` (``ctx``) and plans are typed loosely
# here: this module must not import the engine back (no import cycles, even for type checking).
RiskContext = Any
Plans = tuple

HEDGE_REFUSAL = "position_mode hedge is not supported yet: Tradewire keeps one net position per (account, symbol)"


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
    if not is_derivative(signal.symbol):
        if signal.leverage is not None or signal.margin_mode is not None:
            return f"leverage and margin_mode apply to perpetuals; {signal.symbol} is spot", plans
        return None, plans
    if account is None or not _opens(ctx):
        return None, plans
    if account.futures.position_mode == "hedge" or signal.position_side is not None:
        return HEDGE_REFUSAL, plans
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
    return f"set on {ctx.rules.venue} before the entry: {words}" if words else None


def check_position_sync(ctx: RiskContext, plans: Plans) -> tuple[str | None, Plans]:
    warning = desync(ctx)
    if warning is not None and ctx.strategy.on_desync == "reject":
        return f"{warning}; the strategy's on_desync is reject", plans
    return None, plans


def desync(ctx: RiskContext) -> str | None:
    """The sentence saying the sender's ``prev_position`` and the ledger disagree, or None."""
    said = ctx.signal.prev_position
    if said is None:
        return None
    held = ctx.state.expected
    ours = PositionSide.LONG if held > 0 else PositionSide.SHORT if held < 0 else PositionSide.FLAT
    if said == ours:
        return None
    return (f"desync: the sender's prev_position is {said.value} but the ledger holds {fmt(held)} "
            f"{ctx.signal.symbol} ({ours.value})")


def _opens(ctx: RiskContext) -> bool:
    return ctx.signal.action in (Action.BUY, Action.SELL) and ctx.signal.target_position != PositionSide.FLAT
