"""A signal for a venue whose markets are not stored yet waits for them, bounded.

Risk reads a symbol's precision and limits from the ``markets`` table, which the workers fill
(at start, then when stale: ``app.execution.markets``). Right after a start the API can be
ready before a worker has stored them, and the first alerts would be refused as "not listed".
So ingest, before the decision's lock (never while holding it), checks that the account's
venue has markets stored; if not, it asks the workers for them (one ``load_markets`` job on
the venue's queue, at most once per ``REQUEST_EVERY_SECONDS``) and polls the table every
``POLL_SECONDS`` for up to ``wait_seconds()``. The API itself never calls the venue. After
the bound the signal is rejected with a reason saying what to check.
"""

import logging
import time
import uuid
from dataclasses import dataclass, replace

from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain.intents import RiskDecision
from app.jobs.queue import get_queue, get_redis
from app.persistence.models import Account, MarketRecord

log = logging.getLogger(__name__)

# How long a signal waits for its venue's markets (s): the default of the markets_wait_seconds setting.
MARKETS_WAIT_SECONDS = 5.0
POLL_SECONDS = 0.1
# Signals arriving together ask the workers once; a lost request is asked again after this.
REQUEST_EVERY_SECONDS = 30
# An account seen with markets is not checked again for this long (no query per signal).
READY_SECONDS = 60.0
LOAD_MARKETS_FUNCTION = "app.jobs.worker.load_markets"

_ACCOUNT_MARKETS = select(Account.venue, exists().where(MarketRecord.venue == Account.venue)).where(
    Account.id == bindparam("account_id")
)
_STORED = select(exists().where(MarketRecord.venue == bindparam("venue")))
_ready: dict[uuid.UUID, float] = {}


@dataclass(frozen=True)
class MarketsMissing:
    """The account's venue still had no markets stored after ``waited`` seconds."""

    venue: str
    waited: float

    @property
    def reason(self) -> str:
        return (f"markets of {self.venue} are not loaded yet (waited {self.waited:g} s); "
                "the worker loads them at start — is it running?")

    def explain(self, decision: RiskDecision) -> RiskDecision:
        """``decision`` with its "not listed" denial worded as what it is: no markets yet.
        Any other outcome (approved, halted, a symbol outside the account's list) stands."""
        if decision.approved or not _unlisted(decision.checks[-1].as_json()):
            return decision
        checks = (*decision.checks[:-1], replace(decision.checks[-1], reason=self.reason))
        return replace(decision, checks=checks, reason=self.reason)

    def explain_dry_run(self, result: dict) -> dict:
        """The dry run's answer (``app.risk.dry_run``) reworded as ``explain`` does."""
        checks = result.get("checks") or []
        if result.get("approved") or not checks or not _unlisted(checks[-1]):
            return result
        return result | {"reason": self.reason, "checks": [*checks[:-1], checks[-1] | {"reason": self.reason}]}


def _unlisted(check: dict) -> bool:
    # The engine's symbol check also refuses a symbol outside the account's list; only the
    # "not listed" outcome is about the venue's markets (app.risk.engine.check_symbol).
    return check.get("check") == "symbol" and not check.get("passed") and " is not listed on " in (check.get("reason") or "")


def wait_seconds() -> float:
    """The bound of the wait (s): the ``markets_wait_seconds`` setting."""
    return get_settings().markets_wait_seconds


def wait_for_markets(session: Session, account_id: uuid.UUID) -> MarketsMissing | None:
    """None once the account's venue has markets stored (at once for ``paper``, which needs
    none), waiting for them up to ``wait_seconds()``; else what is missing.

    Call it before any lock is taken: it may sleep. ``session`` is only read (each poll is a
    statement of its own, so under READ COMMITTED it sees what a worker committed meanwhile).
    """
    if _ready.get(account_id, 0.0) > time.monotonic():
        return None
    row = session.execute(_ACCOUNT_MARKETS, {"account_id": account_id}).first()
    if row is None or row[0] == "paper" or row[1]:
        return _mark_ready(account_id)
    venue, bound = row[0], wait_seconds()
    request_markets(venue)
    log.info("waiting up to %g s for the markets of %s", bound, venue)
    deadline = time.monotonic() + bound
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(POLL_SECONDS, left))
        if session.execute(_STORED, {"venue": venue}).scalar():
            return _mark_ready(account_id)
    log.warning("markets of %s not stored after %g s: is a worker serving %s running?", venue, bound, venue)
    return MarketsMissing(venue, bound)


def _mark_ready(account_id: uuid.UUID) -> None:
    if len(_ready) > 10_000:
        _ready.clear()
    _ready[account_id] = time.monotonic() + READY_SECONDS
    return None


def request_markets(venue: str) -> bool:
    """Ask the workers serving ``venue`` to load its markets: a ``load_markets`` job on the
    venue's queue, unless one was asked within ``REQUEST_EVERY_SECONDS`` (a Redis flag shared
    by every API process). Returns True when a job was queued; Redis down is logged."""
    prefix = get_settings().queue_prefix
    try:
        if not get_redis().set(f"{prefix}:markets:wanted:{venue}", "1", nx=True, ex=REQUEST_EVERY_SECONDS):
            return False
        get_queue(venue).enqueue(LOAD_MARKETS_FUNCTION, venue, job_id=f"{prefix}-markets-{venue}",
                                 result_ttl=600, failure_ttl=86400)
        return True
    except Exception as e:  # redis-py raises several unrelated classes for a down server
        log.warning("could not ask the workers for the markets of %s: %s", venue, type(e).__name__)
        return False
