"""The one way into ingest: the TradingView webhooks, ``/api/v1/signals``,
``/api/v1/predictions`` and the prediction poller all hand a ``Received`` (the body decoded
once) and an ``Admit`` (how the request is authenticated) to ``ingest_request`` (one signal)
or ``ingest_answer`` (a prediction answer: one signal per symbol it lists); the dry run goes
through ``dry_run_request`` the same way.

A request is authenticated and its (first) signal ingested in one transaction (nothing is
written when authentication fails); a replayed signed request is recorded as a ``duplicate``,
a signal PostgreSQL refuses as ``invalid`` in a transaction of its own; after commit the
replay claim is settled and the API key's use noted.

Many signals per answer: each further signal is ingested in a transaction of its own, with
the admission of the first. One transaction per signal, not one for the answer, because each
signal is a unit of work of its own (its record, decision, intents and events commit
together and its orders start at once): a signal PostgreSQL refuses is rolled back and
recorded ``invalid`` alone, the others are kept; and a decision holds its (account, symbol)
lock only until its own commit, so an answer listing many symbols never holds many locks at
once (nor takes them in an order another answer could cross into a deadlock).
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import get_sessionmaker
from app.domain.enums import Source
from app.errors import NotFound
from app.ingest import service
from app.ingest.auth import settle_signature, strategy_by_name, touch_last_used
from app.ingest.market_wait import wait_for_markets
from app.ingest.parsers.body import redact_secrets
from app.ingest.received import Received
from app.ingest.service import IngestResult, InvalidSignal
from app.persistence.repositories import StrategyRef
from app.risk.dry_run import dry_run
from app.security.ratelimit import admit_ingest

# What PostgreSQL or its driver refuse to store: the request is then recorded as invalid.
UNSTORABLE = (DataError, UnicodeError)


@dataclass(frozen=True)
class Admitted:
    """Who sent a request: its ``strategy``, the credentials to redact (``secrets``), the API
    key (``key_id``), and for a signed request its replay claim (``claim``, the Redis key this
    request holds until it is recorded) or, when it was seen before, ``replay_of`` (what the
    original stored: its signal id, or ``pending``). ``dialect``: the strategy's own
    (``[strategies.X] dialect``), read with when the request forces none."""

    strategy: StrategyRef
    secrets: tuple[str, ...] = ()
    key_id: uuid.UUID | None = None
    claim: str | None = None
    replay_of: str | None = None
    dialect: str | None = None

    def reading(self, received: Received) -> tuple["Admitted", Received]:
        """The request read with the strategy's dialect (unless it forced one), and these
        credentials plus the secret at the reading mapping's ``secret`` place, to redact."""
        received = received.with_dialect(self.dialect)
        return replace(self, secrets=self.secrets + received.mapped_secrets()), received


# Authenticate a request inside the ingest transaction: raise to refuse (nothing is stored),
# return None to drop it silently (the poller's strategy is gone; it logs why).
Admit = Callable[[Session, Received], Admitted | None]
Outcome = IngestResult | InvalidSignal


@dataclass(frozen=True)
class Entry:
    """One signal of a request: ``symbol`` is the entry of a many-symbol answer as the answer
    spells it (None: the request's only signal); ``outcome`` is None when, with
    ``skip_recorded``, its idempotency key was already recorded."""

    symbol: str | None
    outcome: Outcome | None


def strategy_dialect(name: str) -> str | None:
    """``[strategies.NAME] dialect`` of the file this process read (None: detect)."""
    strategy = get_settings().strategies.get(name)
    return strategy.dialect if strategy is not None else None


def ingest_request(received: Received, admit: Admit, *, skip_recorded: bool = False) -> Outcome | None:
    """Authenticate ``received`` with ``admit`` and ingest it as one signal
    (``service.ingest``), committed.

    Returns the ``IngestResult`` (accepted, rejected, duplicate) or the recorded
    ``InvalidSignal``; None when ``admit`` dropped the request or, with ``skip_recorded``,
    its idempotency key was already recorded. Raises what ``admit`` raises.
    """
    entries = _ingest_entries(received, admit, skip_recorded, fan_out=False)
    return entries[0].outcome if entries else None


def ingest_answer(received: Received, admit: Admit, *, skip_recorded: bool = False) -> list[Entry] | None:
    """``ingest_request`` for a prediction answer: one signal per symbol of a many-symbol
    answer read with no symbol picked (``Received.entries``), each in its own transaction
    after the first (see the module's docstring), in the answer's order; else the one signal.

    Returns every ``Entry`` (each its outcome, or None when already recorded); None when
    ``admit`` dropped the request. Raises what ``admit`` raises; an error other than
    PostgreSQL refusing a value stops the answer there, the signals before it stay recorded
    (a retry records the rest: the others answer ``duplicate``).
    """
    return _ingest_entries(received, admit, skip_recorded, fan_out=True)


def _ingest_entries(received: Received, admit: Admit, skip_recorded: bool, *, fan_out: bool) -> list[Entry] | None:
    session = get_sessionmaker()()
    admitted: Admitted | None = None
    pending: list[tuple[str | None, Received]] = [(None, received)]
    done: list[Entry] = []
    try:
        try:
            with session.begin():
                admitted = admit(session, received)
                if admitted is not None:
                    admit_ingest(admitted.key_id, admitted.strategy, received.source)  # signals-per-minute ceiling
                    admitted, read = admitted.reading(received)
                    pending = read.entries() if fan_out and admitted.replay_of is None else [(None, read)]
                    done.append(Entry(pending[0][0], _ingest(session, pending[0][1], admitted, skip_recorded)))
        except UNSTORABLE as e:
            if admitted is None:
                raise
            done.append(_unstorable(admitted, pending[0], e))
        for entry in pending[1:] if admitted is not None else ():
            done.append(_ingest_alone(session, entry, admitted, skip_recorded))
    except BaseException:
        if admitted is not None and admitted.claim is not None:
            settle_signature(admitted.claim, None)  # a retry may pass (what was recorded answers duplicate)
        raise
    finally:
        session.close()
    if admitted is None:
        return None
    if admitted.claim is not None:
        first = done[0].outcome if done else None
        settle_signature(admitted.claim, first.signal_id if first is not None else None)
    touch_last_used(admitted.key_id, received.received_at)
    return done


def _ingest_alone(session: Session, entry: tuple[str | None, Received], admitted: Admitted,
                  skip_recorded: bool) -> Entry:
    """A further signal of an answer, in a transaction of its own."""
    symbol, received = entry
    try:
        with session.begin():
            return Entry(symbol, _ingest(session, received, admitted, skip_recorded))
    except UNSTORABLE as e:
        return _unstorable(admitted, entry, e)


def _unstorable(admitted: Admitted, entry: tuple[str | None, Received], error: Exception) -> Entry:
    symbol, received = entry
    return Entry(symbol, service.record_unstorable(admitted.strategy, received, error, secrets=admitted.secrets))


def _ingest(session: Session, received: Received, admitted: Admitted, skip_recorded: bool) -> Outcome | None:
    if admitted.replay_of is not None:
        return service.record_replay(session, admitted.strategy, received, admitted.replay_of,
                                     secrets=admitted.secrets)
    try:
        return service.ingest(session, admitted.strategy, received, secrets=admitted.secrets,
                              skip_recorded=skip_recorded)
    except InvalidSignal as e:
        return e


def dry_run_request(received: Received, admit: Admit) -> dict[str, Any]:
    """What ``received`` would order (``app.risk.dry_run``), recording nothing: authenticated
    by ``admit``, parsed and checked as ingest does, waiting for the venue's markets as ingest
    does. Raises what ``admit`` raises and ``SignalParseError`` where ingest would record the
    request as invalid."""
    session = get_sessionmaker()()
    try:
        admitted = admit(session, received)
        assert admitted is not None, "the dry run's admit refuses by raising"
        admitted, received = admitted.reading(received)
        _, signal = service.parse_signal(received, admitted.strategy)
        missing = wait_for_markets(session, admitted.strategy.account_id)
        result = dry_run(session, admitted.strategy, signal)
        result = missing.explain_dry_run(result) if missing is not None else result
        reader = received.mapped_reader()
        if reader is not None and received.data is not None:
            result = {**result, "read": reader.explain(received.data)}  # what each mapped field read
        return redact_secrets(result, admitted.secrets)
    finally:
        session.rollback()
        session.close()


def ingest_exit(symbol: str, strategy: str, *, comment: str, idempotency_key: str,
                position_side: str | None = None) -> Outcome | None:
    """An operator's exit of ``symbol`` (the console's close-position, Telegram's /closeall):
    Tradewire's canonical ``exit`` message ingested as a REST signal of ``strategy`` through
    the same path as any alert — risk decides, the relay queues the order. ``position_side``
    (``long`` / ``short``): the hedge-mode position closed; None or ``net``: the one-way one.

    Raises ``NotFound`` when the strategy is gone or disabled, and what ``ingest_request`` raises.
    """
    side = {"position_side": position_side} if position_side not in (None, "net") else {}
    body = json.dumps({"tradewire": 1, "symbol": symbol, "action": "exit", "comment": comment,
                       "idempotency_key": idempotency_key, **side}).encode()
    received = Received.read(body, source=Source.REST, content_type="application/json", dialect="tradewire")

    def admit(session: Session, _: Received) -> Admitted:
        ref = strategy_by_name(session, strategy)
        if ref is None:
            raise NotFound(f"strategy {strategy!r} is gone or disabled")
        return Admitted(ref)

    return ingest_request(received, admit)
