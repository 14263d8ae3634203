"""What each Telegram command reads or does, as text for a chat: thin functions over the admin
API's own services (``app.admin.*``) and the one way into ingest (``app.ingest.entry``), so
Telegram has no second source of truth and no SQL of its own.

Every function opens its own session and returns an ``Answer``: the text, the HTTP-like status
its audit row records (200 ok, 404 not found, 409 not possible now, …) and, for a destructive
command, the ``Pending`` action a confirm button will carry out.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from app.admin.accounts import TradingStateBody, get_account, list_accounts, set_trading_state
from app.admin.routes import list_fills, list_positions
from app.admin.schemas import SignalTrace
from app.admin.strategies import list_strategies
from app.admin.trace import signal_trace
from app.db import get_sessionmaker
from app.domain.enums import SignalStatus, TradingState
from app.domain.money import fmt
from app.errors import AppError, NotFound
from app.ingest.entry import ingest_exit
from app.ingest.service import InvalidSignal

STATES = {"halt": TradingState.HALTED, "reduce": TradingState.REDUCING, "resume": TradingState.ACTIVE}
MEANING = {TradingState.HALTED: "every order is denied", TradingState.REDUCING: "only orders that reduce a "
           "position pass", TradingState.ACTIVE: "orders pass the risk checks as usual"}
HELP = ("Commands: /status, /positions, /signal ID, /halt [ACCOUNT], /reduce [ACCOUNT], /resume [ACCOUNT], "
        "/closeall ACCOUNT. Without an account, /halt, /reduce and /resume apply to every account; each of "
        "them and /closeall asks to confirm first.")
_FILLS_PAGE = 500


@dataclass(frozen=True)
class Pending:
    """A destructive command waiting for its confirm button: ``command`` (halt, reduce, resume,
    closeall) and its ``account`` (None: every account)."""

    command: str
    account: str | None

    def label(self) -> str:
        return f"/{self.command}" + (f" {self.account}" if self.account else "")


@dataclass(frozen=True)
class Answer:
    text: str
    status: int = 200
    confirm: Pending | None = None


def status() -> Answer:
    """Per account: trading state, equity, today's realised PnL (UTC day, from the fills) and
    open positions."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    lines = []
    with get_sessionmaker()() as session:
        for account in list_accounts(session):
            realised = _realised_since(session, account.name, midnight)
            lines.append(f"{account.name} ({account.venue}): {account.trading_state}"
                         + (f" ({account.state_reason})" if account.state_reason else ""))
            lines.append(f"  equity {fmt(account.equity)} {account.quote_currency}; realised PnL today "
                         f"{fmt(realised)} {account.quote_currency}; {len(account.open_positions)} open position(s)")
            lines.extend(f"  {p.symbol} {fmt(p.quantity)} @ {_price(p.average_price)}" for p in account.open_positions)
            if account.circuit_breaker is not None and account.circuit_breaker.open:
                lines.append(f"  circuit breaker OPEN: {account.circuit_breaker.last_error or '?'}")
    return Answer("\n".join(lines) or "No accounts.")


def _realised_since(session: Session, account: str, since: datetime) -> Decimal:
    total, cursor = Decimal(0), None
    while True:
        page = list_fills(session, account=account, since=since, limit=_FILLS_PAGE, cursor=cursor)
        total += sum((f.realized_pnl for f in page.items), Decimal(0))
        cursor = page.next_cursor
        if cursor is None:
            return total


def positions() -> Answer:
    """Open positions of every account: signed base quantity, average price, realised PnL."""
    with get_sessionmaker()() as session:
        rows = list_positions(session, open=True)
    if not rows:
        return Answer("No open positions.")
    return Answer("\n".join(f"{p.account}: {p.symbol} {fmt(p.quantity)} @ {_price(p.average_price)} "
                            f"(realised {fmt(p.realized_pnl)})" for p in rows))


def signal(argument: str | None) -> Answer:
    """A signal's trace in a few lines: status and reason, the decision, each order's state."""
    try:
        signal_id = uuid.UUID((argument or "").strip())
    except ValueError:
        return Answer("Usage: /signal ID (the signal's id, as the webhook answered it).", 400)
    with get_sessionmaker()() as session:
        try:
            trace = signal_trace(session, signal_id)
        except NotFound:
            return Answer(f"No signal {signal_id}.", 404)
    return Answer(trace_text(trace))


def trace_text(trace: SignalTrace) -> str:
    lines = [f"Signal {trace.id}: {trace.status}" + (f" ({trace.reason})" if trace.reason else ""),
             f"{trace.source}/{trace.dialect or '?'}: {trace.action or '?'} {trace.symbol or '?'}; "
             f"strategy {trace.strategy or '?'}, account {trace.account or '?'}"]
    if trace.decision is not None:
        verdict = "approved" if trace.decision.approved else f"denied: {trace.decision.reason}"
        quantity = f", quantity {fmt(trace.decision.quantity)}" if trace.decision.quantity is not None else ""
        lines.append(f"Decision: {verdict}{quantity}")
    for intent in trace.intents:
        order = intent.order
        state = intent.status if order is None else order.status + (
            f" {fmt(order.filled_quantity)} @ {_price(order.average_price)}" if order.filled_quantity else "")
        reason = f" ({order.reason})" if order is not None and order.reason else ""
        lines.append(f"Order {intent.client_order_id}: {intent.side.upper()} {fmt(intent.quantity)} {intent.symbol} "
                     f"{intent.order_type}: {state}{reason}")
    if not trace.intents:
        lines.append("Orders: none")
    timed = [s for s in trace.timeline if s.ms_since_received is not None]
    if len(timed) > 1:
        lines.append(f"Last step: {timed[-1].step} after {timed[-1].ms_since_received:g} ms")
    return "\n".join(lines)


def ask(command: str, argument: str | None) -> Answer:
    """The question a destructive command asks (with the action its button confirms), or why
    it cannot be asked (unknown account, nothing to close, a halted account's exits)."""
    account = (argument or "").strip() or None
    with get_sessionmaker()() as session:
        names = [a.name for a in list_accounts(session)]
        if account is not None and account not in names:
            return Answer(f"No account {account!r}. Accounts: {', '.join(names)}.", 404)
        if command == "closeall":
            return _ask_closeall(session, account)
    state = STATES[command]
    targets = account or f"every account ({', '.join(names)})"
    return Answer(f"Set {targets} to {state.value}: {MEANING[state]}. Confirm?", confirm=Pending(command, account))


def _ask_closeall(session: Session, account: str | None) -> Answer:
    if account is None:
        return Answer("Usage: /closeall ACCOUNT", 400)
    view = get_account(account, session)
    if not view.open_positions:
        return Answer(f"{account} has no open positions.", 409)
    if view.trading_state == TradingState.HALTED.value:
        return Answer(f"{account} is HALTED: its exits would be denied too. /reduce {account} first, then "
                      f"/closeall {account}.", 409)
    listed = ", ".join(f"{p.symbol} {fmt(p.quantity)}" for p in view.open_positions)
    return Answer(f"Close every open position of {account} ({listed}) with an exit signal each, at market? Confirm?",
                  confirm=Pending("closeall", account))


def perform(action: Pending, nonce: str, actor: str) -> Answer:
    """Carry out a confirmed action. ``nonce`` makes closeall's exit signals' idempotency keys."""
    if action.command == "closeall" and action.account is not None:
        return _closeall(action.account, nonce, actor)
    state = STATES[action.command]
    with get_sessionmaker()() as session:
        names = [action.account] if action.account else [a.name for a in list_accounts(session)]
    lines, worst = [], 200
    for name in names:
        with get_sessionmaker()() as session:
            try:
                done = set_trading_state(name, TradingStateBody(state=state), session)
            except AppError as e:
                lines.append(f"{name}: not changed: {e.message}")
                worst = max(worst, e.status_code)
                continue
        lines.append(f"{name}: {done.previous_state} -> {done.trading_state}")
    return Answer("\n".join(lines), worst)


def _closeall(account: str, nonce: str, actor: str) -> Answer:
    """One ``exit`` signal per open position of ``account``, ingested in-process through the
    account's first enabled strategy exactly as an alert posted to ``/api/v1/signals`` is (risk
    decides, the relay queues the orders)."""
    with get_sessionmaker()() as session:
        open_positions = list_positions(session, account=account, open=True)
        strategy = next((s.name for s in list_strategies(session) if s.account == account and s.enabled), None)
    if strategy is None:
        return Answer(f"{account} has no enabled strategy to send its exits through; nothing sent.", 409)
    if not open_positions:
        return Answer(f"{account} has no open positions; nothing sent.", 200)
    outcomes = [_exit(p.symbol, strategy, nonce, actor, p.position_side) for p in open_positions]
    return Answer(f"/closeall {account} through strategy {strategy}:\n" + "\n".join(line for line, _ in outcomes),
                  max(status for _, status in outcomes))


def _exit(symbol: str, strategy: str, nonce: str, actor: str, side: str = "net") -> tuple[str, int]:
    """Ingest one exit of ``symbol`` (a hedge-mode account's ``side``, long / short); its line
    for the chat and its status."""
    name = symbol if side == "net" else f"{symbol} {side}"
    try:
        outcome = ingest_exit(symbol, strategy, comment=f"/closeall by {actor}", position_side=side,
                              idempotency_key=f"telegram-closeall-{nonce}-{symbol}-{side}")
    except AppError as e:
        return f"{name}: not sent: {e.message}", e.status_code
    if outcome is None or isinstance(outcome, InvalidSignal):
        return f"{name}: not sent" + (f": {outcome.message}" if outcome is not None else ""), 422
    reason = f" ({outcome.reason})" if outcome.reason else ""
    line = f"{name}: exit {outcome.status.value}{reason}, signal {outcome.signal_id}"
    return line, 200 if outcome.status == SignalStatus.ACCEPTED else 409


def _price(value: Decimal | None) -> str:
    return "?" if value is None else fmt(value)
