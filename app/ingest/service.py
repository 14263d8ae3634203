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

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.domain.enums import Action, IntentStatus, SignalStatus
from app.domain.intents import RiskDecision, client_order_id_for
from app.domain.signal import Signal
from app.errors import SignalParseError
from app import events
from app.events import Emitted
from app.ingest import outbox
from app.db import unit_of_work
from app.ingest.market_wait import wait_for_markets
from app.ingest.parsers import Parsed
from app.ingest.parsers.body import redact, redact_decoded, redact_secrets, storable
from app.ingest.received import Received
from app.notify import notify_on_commit
from app.persistence.models import SignalRecord
from app.persistence.repositories import StrategyRef
from app.risk.engine import evaluate
from app.risk.state import DAILY_LOSS_REASON, Loaded, load_context, record_state_change

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
    missing = wait_for_markets(session, strategy.account_id)
    loaded = load_context(
        session, strategy.account_id, strategy.id, signal,
        account_wide=strategy.account_wide_lock, reads=strategy.risk_reads,
    )
    decision = evaluate(loaded.context)
    if missing is not None:
        decision = missing.explain(decision)
    return _record(session, record, signal, loaded, decision, secrets)


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
    session: Session, record: SignalRecord, signal: Signal, loaded: Loaded, decision: RiskDecision,
    secrets: tuple[str, ...] = (),
) -> IngestResult:
    """Write the outcome in one statement; a repeated idempotency key becomes a ``duplicate``."""
    now = datetime.now(UTC)
    status = SignalStatus.ACCEPTED if decision.approved else SignalStatus.REJECTED
    decision_id = uuid.uuid4()
    rows, queued = _intent_rows(decision_id, loaded, signal, decision, now)
    follow = _events(loaded, signal, decision, queued)
    reason = redact_secrets(decision.reason, secrets) if decision.reason else decision.reason
    written = outbox.write(
        session.connection(),
        _signal_values(record, signal, secrets) | {"status": status.value, "reason": reason, "decided_at": now},
        {"id": decision_id, "account_id": loaded.account_id, "approved": decision.approved, "reason": reason,
         "checks": redact_secrets([c.as_json() for c in decision.checks], secrets), "quantity": decision.quantity,
         "created_at": now},
        rows,
        [{"id": e.id, "kind": e.kind, "payload": e.payload, "job_id": e.job_id, "created_at": now} for e in follow],
    )
    if not written:
        return _record_duplicate(session, record, signal, secrets)
    events.remember(session, follow)
    if decision.trading_state_change is not None:
        _switch_state(session, loaded, decision)
    return IngestResult(record.id, status, decision.reason, queued)


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
    decision_id: uuid.UUID, loaded: Loaded, signal: Signal, decision: RiskDecision, now: datetime
) -> tuple[list[dict[str, object]], tuple[QueuedIntent, ...]]:
    rows, queued = [], []
    for sequence, plan in enumerate(decision.orders):
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
