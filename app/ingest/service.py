"""Ingest one request: record it, parse it, decide, write the intents and their events
(``intent.ready``, ``cancel.requested``), all in one transaction; the relay turns the events
into jobs when it commits. Never waits for a venue.

Every authenticated request becomes a ``signals`` row: ``invalid`` when it does not parse or
holds a value PostgreSQL cannot store (with the redacted raw body and the reason),
``duplicate`` when its idempotency key (or, for a signed request, its signature) was seen,
else ``accepted`` or ``rejected`` with the stored risk decision.

Redaction: secret-named fields, and every occurrence of the credentials the request
authenticated with (``secrets``: the URL token, the body secret or the API key), are replaced
by ``***`` in everything stored (raw body, payload, reason).
"""

import hashlib
import json
import logging
import secrets as secrets_module
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from app.config_file import Subscription
from app.domain.enums import Action, IntentStatus, OrderType, PositionSide, SignalStatus, SizeUnit, Source
from app.domain.intents import CheckOutcome, RiskDecision, client_order_id_for
from app.domain.signal import Signal
from app.errors import NotFound, SignalParseError
from app import events
from app.events import Emitted
from app.ingest import outbox
from app.db import unit_of_work
from app.ingest.market_wait import MarketsMissing, wait_for_markets
from app.ingest.parsers import Parsed
from app.ingest.parsers.body import redact, redact_decoded, redact_secrets, storable
from app.ingest.parsers.tradewire import ALL_SYMBOLS
from app.ingest.received import Received
from app.notify import notify_on_commit
from app.persistence.models import Account, SignalRecord, Strategy
from app.persistence.repositories import StrategyRef, needs_account_lock, risk_reads
from app.portfolio import store as rebalances
from app.portfolio.decide import Decided, decide as rebalance_decision
from app.risk.engine import evaluate
from app.risk.state import DAILY_LOSS_REASON, Loaded, load_context, record_state_change
from app.routing.service import Route, decide_route, route_of
from app.shadow.mirror import shadow_outcomes

log = logging.getLogger(__name__)
# Signal fields stored in bounded columns: a longer value is refused (422) rather than failing the insert.
_BOUNDED = {"idempotency_key": SignalRecord.idempotency_key, "symbol": SignalRecord.symbol,
            "dialect": SignalRecord.dialect}


@dataclass(frozen=True)
class QueuedIntent:
    id: uuid.UUID
    client_order_id: str
    venue: str


@dataclass(frozen=True)
class IngestResult:
    """What the sender is told: the signal id (the original's for a duplicate) and its status."""

    signal_id: uuid.UUID
    status: SignalStatus
    reason: str | None = None
    intents: tuple[QueuedIntent, ...] = field(default=())


class InvalidSignal(SignalParseError):
    """A parse failure that has been recorded as an ``invalid`` signal with this id."""

    def __init__(self, error: SignalParseError, signal_id: uuid.UUID) -> None:
        super().__init__(error.message, field=error.field)
        self.signal_id = signal_id


def ingest(
    session: Session,
    strategy: StrategyRef,
    received: Received,
    *,
    secrets: Iterable[str] = (),
    skip_recorded: bool = False,
) -> IngestResult | None:
    """Record, parse, decide and write intents in the caller's transaction (``session``
    must be inside ``begin()``); the caller commits (which dispatches the events). ``secrets``:
    the credentials the request authenticated with, redacted wherever they appear. With
    ``skip_recorded`` a signal whose idempotency key is already recorded for the strategy
    writes nothing and returns None (the poller re-reading an unchanged prediction).

    Before the decision's lock, a signal for a venue with no markets stored waits for them
    (bounded, ``app.ingest.market_wait``); it is rejected with that reason if none arrive.

    Raises ``InvalidSignal`` after recording an unparseable body or a signal with a field
    too long to store (the caller must commit it).
    """
    secrets = tuple(secrets)
    record = _new_record(strategy, received)
    try:
        parsed, signal = parse_signal(received, strategy)
    except SignalParseError as e:
        raise _invalid(session, record, redact(received.body, secrets), e, secrets) from e
    if skip_recorded and _recorded(session, record, signal):
        return None
    record.raw_body = redact_decoded(parsed.data, received.body, secrets)
    route = None if strategy.alone else route_of(session, strategy.id)  # a venue group (app.routing)
    subscribers = _route_subscribers(route) if route is not None else subscribers_of(session, strategy)
    bulk = signal.action in (Action.CLOSE_ALL, Action.CANCEL_ALL)
    waits = {sub.account_id: None if bulk else wait_for_markets(session, sub.account_id) for sub in subscribers}
    outcomes = []
    if route is not None and not bulk and signal.action != Action.REBALANCE:  # one order, routed (app.routing)
        by_id = {sub.account_id: sub for sub in subscribers}
        outcomes = [Outcome(by_id[r.account_id], r.loaded, r.decision)
                    for r in decide_route(session, strategy, signal, route, waits)]
        subscribers = []  # every account of the group is decided
    # One account after the other, in account id order (every process locks in this order, so
    # two fanned-out signals never deadlock); each decision under its own account's lock.
    outcomes += [_decide(session, strategy, sub, signal, waits[sub.account_id]) for sub in subscribers]
    if not strategy.alone:
        outcomes += shadow_outcomes(session, strategy, outcomes)  # the paper shadow's branch (app.shadow)
    result = _record(session, record, signal, outcomes, secrets)
    if signal.action == Action.REBALANCE and result.status != SignalStatus.DUPLICATE:
        for outcome in outcomes:  # each account's rebalance row, with the decision it belongs to
            if outcome.rebalance is not None:
                rebalances.record(session, result.signal_id, strategy.id, outcome.subscriber.account_id,
                                  outcome.rebalance)
    return result


@dataclass(frozen=True)
class Subscriber:
    """An account subscribed to the strategy: its size multiplier and leverage cap."""

    account_id: uuid.UUID
    account_name: str
    multiplier: Decimal = Decimal(1)
    max_leverage: Decimal | None = None
    account_wide_lock: bool = True
    risk_reads: frozenset[str] | None = None

    def apply(self, loaded: Loaded) -> Loaded:
        """The context with the multiplier applied to the size (the signal's own opening size,
        else the account's sizing value: every sizing rule is linear in it, so the quantity is
        scaled after sizing and before the venue's precision) and the leverage cap lowered."""
        ctx = loaded.context
        if self.multiplier != 1:
            size = ctx.signal.size
            if size is not None and size.unit != SizeUnit.PERCENT_POSITION:
                signal = ctx.signal.model_copy(update={"size": size.model_copy(
                    update={"amount": size.amount * self.multiplier})})
                ctx = replace(ctx, signal=signal)
            elif size is None:
                ctx = replace(ctx, limits=ctx.limits.model_copy(
                    update={"sizing_value": ctx.limits.sizing_value * self.multiplier}))
        if self.max_leverage is not None and ctx.account is not None:
            futures = ctx.account.futures
            cap = self.max_leverage

            def lowered(current: Decimal | None) -> Decimal:
                return cap if current is None else min(current, cap)

            futures = futures.model_copy(update={
                "max_leverage": lowered(futures.max_leverage),
                "symbols": {k: v.model_copy(update={"max_leverage": lowered(v.max_leverage)})
                            for k, v in futures.symbols.items()},
            })
            ctx = replace(ctx, account=ctx.account.model_copy(update={"futures": futures}))
        return replace(loaded, context=ctx) if ctx is not loaded.context else loaded


@dataclass(frozen=True)
class Part:
    """One symbol's share of an account's decision: its context, signal and the engine's answer."""

    loaded: Loaded
    signal: Signal
    decision: RiskDecision


@dataclass(frozen=True)
class Outcome:
    """One account's decision (the stored row) and the parts its intents come from: one for
    an ordinary signal, one per open position for ``close_all``, none for ``cancel_all``."""

    subscriber: Subscriber
    loaded: Loaded | None
    decision: RiskDecision
    parts: tuple[Part, ...] | None = None
    venue: str | None = None
    rebalance: Decided | None = None  # a rebalance's plan and legs (app.portfolio), recorded with the decision

    def __post_init__(self) -> None:
        if self.parts is None:
            object.__setattr__(self, "parts", (Part(self.loaded, None, self.decision),) if self.loaded else ())


def _decide(session: Session, strategy: StrategyRef, sub: Subscriber, signal: Signal,
            missing: MarketsMissing | None) -> Outcome:
    """One subscribed account's outcome, decided under its lock: a bulk action or a rebalance
    as its own function says, else the risk engine on the account's (multiplied) context."""
    if signal.action == Action.CANCEL_ALL:
        return _cancel_all(session, sub, signal)
    if signal.action == Action.CLOSE_ALL:
        return _close_all(session, strategy, sub, signal)
    if signal.action == Action.REBALANCE:
        return _rebalance(session, strategy, sub, signal)
    loaded = load_context(
        session, sub.account_id, strategy.id, signal, account_wide=sub.account_wide_lock, reads=sub.risk_reads,
    )
    loaded = sub.apply(loaded)
    decision = evaluate(loaded.context)
    if missing is not None:
        decision = missing.explain(decision)
    return Outcome(sub, loaded, decision)


def _bulk_symbol(signal: Signal) -> str | None:
    return None if signal.symbol == ALL_SYMBOLS else signal.symbol


def _cancel_all(session: Session, sub: Subscriber, signal: Signal) -> Outcome:
    """``cancel_all``: the account's open orders (in the symbol) are cancelled by the
    ``cancel.requested`` handler; cancelling never adds risk, so no limit applies."""
    symbol = _bulk_symbol(signal)
    check = CheckOutcome("cancel_all", True, detail=f"cancel every open order of {sub.account_name}"
                         + (f" in {symbol}" if symbol else " in every symbol"))
    venue = session.connection().execute(select(Account.venue).where(Account.id == sub.account_id)).scalar_one()
    return Outcome(sub, None, RiskDecision(True, (check,)), parts=(), venue=venue)


_OPEN_POSITIONS = text(
    "SELECT symbol, position_side FROM positions WHERE account_id = :account_id AND quantity <> 0 "
    "AND (CAST(:symbol AS VARCHAR) IS NULL OR symbol = :symbol) "
    "UNION SELECT symbol, coalesce(position_side, 'net') FROM order_intents WHERE account_id = :account_id "
    "AND purpose = 'entry' AND status IN ('pending', 'submitting') AND reduce_only IS FALSE "
    "AND (CAST(:symbol AS VARCHAR) IS NULL OR symbol = :symbol) ORDER BY 1, 2"
)


def _close_all(session: Session, strategy: StrategyRef, sub: Subscriber, signal: Signal) -> Outcome:
    """``close_all``: one reduce-only exit per open (or opening) position of the account (in
    the symbol; a hedge-mode account's long and short each), each decided by the risk engine
    as an ``exit`` under its symbol's lock, so orders in flight are counted. The account's
    decision is approved when any exit is."""
    symbol = _bulk_symbol(signal)
    positions = session.connection().execute(_OPEN_POSITIONS, {"account_id": sub.account_id, "symbol": symbol}).all()
    parts, checks = [], []
    for each, side in positions:
        exit_signal = signal.model_copy(update={
            "action": Action.EXIT, "symbol": each, "size": None, "target_position": PositionSide.FLAT,
            "order_type": OrderType.MARKET, "limit_price": None, "time_in_force": None, "prev_position": None,
            "position_side": None if side == "net" else PositionSide(side)})
        loaded = load_context(session, sub.account_id, strategy.id, exit_signal,
                              account_wide=sub.account_wide_lock, reads=sub.risk_reads)
        decision = evaluate(loaded.context)
        parts.append(Part(loaded, exit_signal, decision))
        where = each if side == "net" else f"{each} {side}"
        checks += [replace(c, name=f"{where} {c.name}") for c in decision.checks]
    if not parts:
        where = f" in {symbol}" if symbol else ""
        check = CheckOutcome("close_all", True, detail=f"no open position{where}: nothing to close")
        return Outcome(sub, None, RiskDecision(True, (check,)), parts=())
    approved = [p for p in parts if p.decision.approved]
    denied = [f"{p.signal.symbol}: {p.decision.reason}" for p in parts if not p.decision.approved]
    merged = RiskDecision(bool(approved), tuple(checks), tuple(o for p in approved for o in p.decision.orders),
                          "; ".join(denied) or None)
    return Outcome(sub, parts[0].loaded, merged, parts=tuple(approved))


def _rebalance(session: Session, strategy: StrategyRef, sub: Subscriber, signal: Signal) -> Outcome:
    """``rebalance``: the account's legs to the target weights, each decided by the risk engine
    (``app.portfolio.decide``); the sells are written now, the buys once the sells are done
    (or now, when there is no sell). The multiplier does not apply: weights are fractions."""
    decided = rebalance_decision(session, strategy.id, sub.account_id, signal)
    parts = tuple(Part(p.loaded, p.signal, p.decision) for p in decided.written)
    return Outcome(sub, None, decided.decision, parts=parts, venue=decided.venue, rebalance=decided)


_SUBSCRIPTIONS = select(Strategy.settings["accounts"]).where(Strategy.id == bindparam("strategy_id"))
_ACCOUNTS = select(Account.id, Account.name, Account.settings).where(Account.name.in_(bindparam("names", expanding=True)))


def subscribers_of(session: Session, strategy: StrategyRef) -> list[Subscriber]:
    """The strategy's accounts in account id order (the lock order): its primary account,
    and those of its ``accounts`` (``StrategyConfig.accounts``)."""
    primary = Subscriber(strategy.account_id, strategy.account_name, account_wide_lock=strategy.account_wide_lock,
                         risk_reads=strategy.risk_reads)
    if strategy.alone:
        return [primary]
    subscribed = session.connection().execute(_SUBSCRIPTIONS, {"strategy_id": strategy.id}).scalar_one_or_none()
    if not subscribed:
        return [primary]
    subs = {name: Subscription.model_validate(value or {}) for name, value in subscribed.items()}
    found = []
    for account_id, name, settings in session.connection().execute(_ACCOUNTS, {"names": sorted(subs)}):
        sub = subs[name]
        found.append(Subscriber(account_id, name, sub.multiplier, sub.max_leverage,
                                needs_account_lock(settings), risk_reads(settings)))
    if strategy.account_name in subs:
        by_name = {s.account_name: s for s in found}
        by_name.setdefault(strategy.account_name, replace(primary, multiplier=subs[strategy.account_name].multiplier,
                                                          max_leverage=subs[strategy.account_name].max_leverage))
        found = list(by_name.values())
    else:
        found = [primary, *(s for s in found if s.account_id != primary.account_id)]
    return sorted(found, key=lambda s: str(s.account_id))


def _route_subscribers(route: Route) -> list[Subscriber]:
    """The venue group's accounts in account id order (the lock order); close_all, cancel_all
    and rebalance act on each of them as on fanned-out accounts."""
    return sorted((Subscriber(m.account_id, m.account_name, account_wide_lock=m.account_wide_lock,
                              risk_reads=m.risk_reads) for m in route.members), key=lambda s: str(s.account_id))


def parse_signal(received: Received, strategy: StrategyRef) -> tuple[Parsed, Signal]:
    """The request's canonical signal for ``strategy`` (source and strategy set), checked
    as ingest and the dry run require (``check_signal``). Raises ``SignalParseError``."""
    parsed = received.parse()
    signal = parsed.signal.model_copy(update={"source": received.source, "strategy": strategy.name})
    check_signal(signal, strategy)
    return parsed, signal


def _recorded(session: Session, record: SignalRecord, signal: Signal) -> bool:
    """True when ``signal``'s idempotency key is already a signal of the record's strategy
    and source. (A prediction without a timestamp gets a key from the time it was received,
    so each poll records it anew.)"""
    return session.connection().execute(
        _FIND_ORIGINAL, {"source": record.source, "strategy_id": record.strategy_id, "key": signal.idempotency_key}
    ).first() is not None


def check_signal(signal: Signal, strategy: StrategyRef) -> None:
    """What ingest refuses after parsing (the dry run refuses the same): a signal for another
    account than the strategy's, or a field longer than its column.

    Raises ``SignalParseError`` naming the field.
    """
    if signal.account not in (None, strategy.account_name):
        raise SignalParseError(
            f"strategy {strategy.name!r} trades on account {strategy.account_name!r}, not {signal.account!r}",
            field="account",
        )
    for name, column in _BOUNDED.items():
        value, limit = getattr(signal, name, None), column.type.length
        if isinstance(value, str) and limit is not None and len(value) > limit:
            raise SignalParseError(f"{name} is {len(value)} characters; the limit is {limit}", field=name)


def _new_record(strategy: StrategyRef, received: Received) -> SignalRecord:
    limit = SignalRecord.content_type.type.length or 128
    content_type = received.content_type
    return SignalRecord(
        id=uuid.uuid4(), source=received.source.value, strategy_id=strategy.id, received_at=received.received_at,
        content_type=storable(content_type)[:limit] if content_type is not None else None,
    )


def _invalid(
    session: Session, record: SignalRecord, raw_body: str, error: SignalParseError, secrets: tuple[str, ...]
) -> "InvalidSignal":
    record.raw_body = raw_body
    record.status, record.reason = SignalStatus.INVALID.value, redact_secrets(error.message, secrets)
    session.add(record)
    session.flush()
    return InvalidSignal(error, record.id)


def record_unstorable(
    strategy: StrategyRef, received: Received, error: Exception, *, secrets: Iterable[str] = ()
) -> "InvalidSignal":
    """Record, in a new transaction, a request whose ingest PostgreSQL refused (a value it
    cannot store: ``DataError``, an encoding error), as ``invalid`` with the redacted raw body.
    Returns the ``InvalidSignal`` to answer (422)."""
    secrets = tuple(secrets)
    log.info("signal recorded as invalid, PostgreSQL refused a value: %s", type(error).__name__)
    problem = SignalParseError(
        f"the signal holds a value that cannot be stored ({type(error).__name__}: "
        f"{str(error).splitlines()[0][:200] if str(error) else 'no detail'})", field="body",
    )
    with unit_of_work() as session:
        record = _new_record(strategy, received)
        return _invalid(session, record, redact(received.body, secrets), problem, secrets)


def record_replay(
    session: Session, strategy: StrategyRef, received: Received, original: str, *, secrets: Iterable[str] = ()
) -> IngestResult:
    """Record a replayed signed request as ``duplicate`` (nothing decided, nothing queued) and
    answer with the original's signal id when ``original`` is one (else with this row's id)."""
    record = _new_record(strategy, received)
    try:
        original_id: uuid.UUID | None = uuid.UUID(original)
    except ValueError:
        original_id = None
    record.raw_body = redact(received.body, secrets)
    record.status = SignalStatus.DUPLICATE.value
    record.reason = (f"duplicate of signal {original_id} (the same signed request: API key, timestamp and signature)"
                     if original_id else "duplicate of a signed request still being processed (same API key, "
                     "timestamp and signature)")
    session.add(record)
    session.flush()
    return IngestResult(original_id or record.id, SignalStatus.DUPLICATE, record.reason)


def _record(
    session: Session, record: SignalRecord, signal: Signal, outcomes: list[Outcome], secrets: tuple[str, ...] = (),
) -> IngestResult:
    """Write the outcome in one statement; a repeated idempotency key becomes a ``duplicate``.
    The signal is accepted when any account accepted it; each account's outcome is its decision."""
    now = datetime.now(UTC)
    approved = any(o.decision.approved for o in outcomes)
    status = SignalStatus.ACCEPTED if approved else SignalStatus.REJECTED
    decisions, rows, queued, follow = [], [], [], []
    for outcome in outcomes:
        decision = outcome.decision
        decision_id = uuid.uuid4()
        for part in outcome.parts:
            part_signal = part.signal or signal
            intent_rows, intents = _intent_rows(decision_id, part.loaded, part_signal, part.decision, now,
                                                first=len(rows))
            rows += intent_rows
            queued += intents
            follow += _events(part.loaded, part_signal, part.decision, intents)
        if signal.action == Action.CANCEL_ALL:
            follow.append(events.new_event(events.CANCEL_REQUESTED, {
                "account_id": str(outcome.subscriber.account_id), "symbol": _bulk_symbol(signal),
                "venue": outcome.venue}))
        reason = redact_secrets(decision.reason, secrets) if decision.reason else decision.reason
        decisions.append(
            {"id": decision_id, "account_id": outcome.subscriber.account_id, "approved": decision.approved, "reason": reason,
             "checks": redact_secrets([c.as_json() for c in decision.checks], secrets),
             "quantity": decision.quantity, "created_at": now})
    if len(outcomes) == 1:
        reason = outcomes[0].decision.reason
    else:
        denied = [f"{o.subscriber.account_name}: {o.decision.reason}" for o in outcomes if not o.decision.approved]
        reason = "; ".join(denied) or None
    reason = redact_secrets(reason, secrets) if reason else reason
    written = outbox.write(
        session.connection(),
        _signal_values(record, signal, secrets) | {"status": status.value, "reason": reason, "decided_at": now},
        decisions,
        rows,
        [{"id": e.id, "kind": e.kind, "payload": e.payload, "job_id": e.job_id, "created_at": now} for e in follow],
    )
    if not written:
        return _record_duplicate(session, record, signal, secrets)
    events.remember(session, follow)
    for outcome in outcomes:
        for part in outcome.parts:
            if part.decision.trading_state_change is not None:
                _switch_state(session, part.loaded, part.decision)
    return IngestResult(record.id, status, reason, tuple(queued))


def _switch_state(session: Session, loaded: Loaded, decision: RiskDecision) -> None:
    """The daily loss limit was hit: persist the account's new state and tell the operator."""
    state = loaded.context.state
    record_state_change(session, loaded.account_id, decision.trading_state_change, DAILY_LOSS_REASON)
    notify_on_commit(session, "daily_loss_limit", {
        "account_id": loaded.account_id, "state": decision.trading_state_change,
        "realized_pnl_today": state.realized_pnl_today, "limit": loaded.context.limits.daily_loss_limit,
    })
    notify_on_commit(session, "trading_state_change", {
        "account_id": loaded.account_id, "from": state.trading_state, "to": decision.trading_state_change,
        "reason": DAILY_LOSS_REASON,
    })


_SIGNALS = SignalRecord.__table__
_FIND_ORIGINAL = select(SignalRecord.id).where(
    SignalRecord.source == bindparam("source"),
    SignalRecord.strategy_id == bindparam("strategy_id"),
    SignalRecord.idempotency_key == bindparam("key"),
)


def _signal_values(record: SignalRecord, signal: Signal, secrets: tuple[str, ...] = ()) -> dict[str, object]:
    return {
        "id": record.id,
        "source": record.source,
        "strategy_id": record.strategy_id,
        "dialect": signal.dialect,
        "idempotency_key": signal.idempotency_key,
        "symbol": signal.symbol,
        "action": signal.action.value,
        "payload": redact_secrets(signal.summary(), secrets),
        "raw_body": record.raw_body,
        "content_type": record.content_type,
        "signal_time": signal.signal_time,
        "received_at": record.received_at,
        "reason": None,
        "decided_at": None,
    }


def _record_duplicate(
    session: Session, record: SignalRecord, signal: Signal, secrets: tuple[str, ...] = ()
) -> IngestResult:
    original = session.connection().execute(
        _FIND_ORIGINAL, {"source": record.source, "strategy_id": record.strategy_id, "key": signal.idempotency_key}
    ).scalar_one()
    values = _signal_values(record, signal, secrets) | {
        "idempotency_key": None,
        "status": SignalStatus.DUPLICATE.value,
        "reason": f"duplicate of signal {original} (same idempotency key)",
    }
    session.connection().execute(_SIGNALS.insert(), values)
    return IngestResult(original, SignalStatus.DUPLICATE, values["reason"])  # type: ignore[arg-type]


def _intent_rows(
    decision_id: uuid.UUID, loaded: Loaded, signal: Signal, decision: RiskDecision, now: datetime, first: int = 0
) -> tuple[list[dict[str, object]], tuple[QueuedIntent, ...]]:
    rows, queued = [], []
    for sequence, plan in enumerate(decision.orders, start=first):
        intent_id = uuid.uuid4()
        client_order_id = client_order_id_for(intent_id)
        rows.append(
            {
                "id": intent_id,
                "decision_id": decision_id,
                "account_id": loaded.account_id,
                "venue": loaded.venue,
                "symbol": signal.symbol,
                "side": plan.side.value,
                "order_type": plan.order_type.value,
                "quantity": plan.quantity,
                "limit_price": plan.limit_price,
                "reference_price": signal.price,
                "time_in_force": plan.time_in_force.value if plan.time_in_force else None,
                "reduce_only": plan.reduce_only,
                "stop_loss": None if plan.reduce_only else signal.stop_loss,
                "take_profit": None if plan.reduce_only else signal.take_profit,
                "sequence": sequence,
                "client_order_id": client_order_id,
                "status": IntentStatus.PENDING.value,
                "created_at": now,
                "attempts": 0,
                "position_side": plan.position_side.value if plan.position_side else None,
                "exit_ladder": not plan.reduce_only and (
                    signal.exit_ladder is not None or loaded.context.strategy.exit_ladder is not None),
            }
        )
        queued.append(QueuedIntent(intent_id, client_order_id, loaded.venue))
    return rows, tuple(queued)


def _events(loaded: Loaded, signal: Signal, decision: RiskDecision, queued: tuple[QueuedIntent, ...]) -> list[Emitted]:
    """What the decision sets in motion: each intent is ready (one symbol's intents still run
    in decision order, ``app.execution.service``), and an approved ``cancel`` asks for the
    account's open orders (in the symbol) to be cancelled."""
    follow = [events.new_event(events.INTENT_READY, {"intent_id": str(q.id), "venue": q.venue}, job_id=q.client_order_id)
              for q in queued]
    if decision.approved and signal.action == Action.CANCEL:
        follow.append(events.new_event(events.CANCEL_REQUESTED, {
            "account_id": str(loaded.account_id), "symbol": signal.symbol, "venue": loaded.venue}))
    return follow


def operator_strategy(session: Session, account_name: str) -> StrategyRef:
    """The disabled strategy ``operator:<account>`` that records the operator's own actions on
    the account (close-all, cancel-all from the admin API) as signals, so they are traced like
    alerts. Created on first use; its token is random and never shown (it cannot be used).
    Raises ``NotFound`` for an unknown account."""
    account = session.execute(
        select(Account.id, Account.name, Account.settings).where(Account.name == account_name)).first()
    if account is None:
        raise NotFound(f"no account {account_name!r}")
    name = f"operator:{account_name}"
    if len(name) > 64:
        name = "operator:" + hashlib.sha256(account_name.encode()).hexdigest()[:40]
    strategy_id = session.execute(select(Strategy.id).where(Strategy.name == name)).scalar_one_or_none()
    if strategy_id is None:
        strategy_id = uuid.uuid4()
        session.execute(pg_insert(Strategy).values(
            id=strategy_id, name=name, account_id=account.id, enabled=False, created_at=datetime.now(UTC),
            token_hash=hashlib.sha256(secrets_module.token_bytes(32)).hexdigest(),
            settings={"account": account_name}).on_conflict_do_nothing(index_elements=["name"]))
        strategy_id = session.execute(select(Strategy.id).where(Strategy.name == name)).scalar_one()
    return StrategyRef(strategy_id, name, account.id, account.name, needs_account_lock(account.settings),
                       risk_reads(account.settings))


def operator_action(session: Session, account_name: str, action: Action, symbol: str | None = None,
                    operator: str | None = None) -> IngestResult:
    """``close_all`` / ``cancel_all`` on one account (in ``symbol``) by the operator: recorded
    and decided exactly as the same Tradewire alert would be (``source`` rest, ``dialect``
    tradewire), in the caller's transaction. Raises ``NotFound`` or ``InvalidSignal`` (a bad symbol)."""
    strategy = operator_strategy(session, account_name)
    body: dict[str, object] = {"tradewire": 1, "action": action.value, "idempotency_key": f"operator:{uuid.uuid4()}",
                               "comment": f"admin API{' by ' + operator if operator else ''}"}
    if symbol:
        body["symbol"] = symbol
    received = Received.read(json.dumps(body).encode(), source=Source.REST, content_type="application/json")
    result = ingest(session, strategy, received)
    assert result is not None
    return result
