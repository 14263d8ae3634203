"""The one way into ingest: the TradingView webhooks, ``/api/v1/signals``,
``/api/v1/predictions`` and the prediction poller all hand a ``Received`` (the body decoded
once) and an ``Admit`` (how the request is authenticated) to ``ingest_request``; the dry run
goes through ``dry_run_request`` the same way.

``ingest_request`` authenticates and ingests in one transaction (nothing is written when
authentication fails), records a replayed signed request as a ``duplicate``, records a
request PostgreSQL refuses as ``invalid`` in a second transaction, and after commit settles
the replay claim and notes the API key's use.
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from app.db import get_sessionmaker
from app.domain.enums import Source
from app.errors import NotFound
from app.ingest import service
from app.ingest.auth import settle_signature, strategy_by_name, touch_last_used
from app.ingest.market_wait import wait_for_markets
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
    original stored: its signal id, or ``pending``)."""

    strategy: StrategyRef
    secrets: tuple[str, ...] = ()
    key_id: uuid.UUID | None = None
    claim: str | None = None
    replay_of: str | None = None


# Authenticate a request inside the ingest transaction: raise to refuse (nothing is stored),
# return None to drop it silently (the poller's strategy is gone; it logs why).
Admit = Callable[[Session, Received], Admitted | None]
Outcome = IngestResult | InvalidSignal


def ingest_request(received: Received, admit: Admit, *, skip_recorded: bool = False) -> Outcome | None:
    """Authenticate ``received`` with ``admit`` and ingest it (``service.ingest``), committed.

    Returns the ``IngestResult`` (accepted, rejected, duplicate) or the recorded
    ``InvalidSignal``; None when ``admit`` dropped the request or, with ``skip_recorded``,
    its idempotency key was already recorded. Raises what ``admit`` raises.
    """
    session = get_sessionmaker()()
    admitted: Admitted | None = None
    outcome: Outcome | None = None
    try:
        try:
            with session.begin():
                admitted = admit(session, received)
                if admitted is not None:
                    admit_ingest(admitted.key_id, admitted.strategy, received.source)  # signals-per-minute ceiling
                    outcome = _ingest(session, received, admitted, skip_recorded)
        except UNSTORABLE as e:
            if admitted is None:
                raise
            outcome = service.record_unstorable(admitted.strategy, received, e, secrets=admitted.secrets)
    except BaseException:
        if admitted is not None and admitted.claim is not None:
            settle_signature(admitted.claim, None)  # nothing recorded: a retry may pass
        raise
    finally:
        session.close()
    if admitted is None:
        return None
    if admitted.claim is not None:
        settle_signature(admitted.claim, outcome.signal_id if outcome is not None else None)
    touch_last_used(admitted.key_id, received.received_at)
    return outcome


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
        _, signal = service.parse_signal(received, admitted.strategy)
        missing = wait_for_markets(session, admitted.strategy.account_id)
        result = dry_run(session, admitted.strategy, signal)
        return missing.explain_dry_run(result) if missing is not None else result
    finally:
        session.rollback()
        session.close()


def ingest_exit(symbol: str, strategy: str, *, comment: str, idempotency_key: str) -> Outcome | None:
    """An operator's exit of ``symbol`` (the console's close-position, Telegram's /closeall):
    Tradewire's canonical ``exit`` message ingested as a REST signal of ``strategy`` through
    the same path as any alert — risk decides, the relay queues the order.

    Raises ``NotFound`` when the strategy is gone or disabled, and what ``ingest_request`` raises.
    """
    body = json.dumps({"tradewire": 1, "symbol": symbol, "action": "exit", "comment": comment,
                       "idempotency_key": idempotency_key}).encode()
    received = Received.read(body, source=Source.REST, content_type="application/json", dialect="tradewire")

    def admit(session: Session, _: Received) -> Admitted:
        ref = strategy_by_name(session, strategy)
        if ref is None:
            raise NotFound(f"strategy {strategy!r} is gone or disabled")
        return Admitted(ref)

    return ingest_request(received, admit)
