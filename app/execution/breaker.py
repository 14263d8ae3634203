"""A circuit breaker per venue, shared by every process through the ``venue_breakers`` table.

Each venue call that fails with a ``TemporaryVenueError`` (network, timeout, 5xx, rate limit)
adds one to the venue's consecutive failures; any answer from the venue (an order, a lookup,
even a rejection) resets them. At ``breaker_failure_threshold`` the breaker opens: the
venue's intents wait (they stay ``pending``, nothing is failed), the condition is logged and
shown by ``GET /api/v1/venues``. The scheduler probes an open venue every
``breaker_probe_interval_seconds`` with a cheap read (``Venue.probe``); a success closes the
breaker and re-enqueues the waiting intents.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.config import get_settings
from app.db import unit_of_work
from app.notify import notify_on_commit
from app.persistence.models import VenueBreakerRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BreakerState:
    """A venue's breaker as the admin API shows it."""

    venue: str
    open: bool
    consecutive_failures: int
    opened_at: datetime | None
    last_error: str | None
    last_failure_at: datetime | None
    last_probe_at: datetime | None


def is_open(venue: str) -> bool:
    """True while the venue's intents must wait."""
    with unit_of_work() as session:
        opened = session.execute(
            select(VenueBreakerRecord.opened_at).where(VenueBreakerRecord.venue == venue)
        ).scalar_one_or_none()
    return opened is not None


def record_failure(venue: str, error: str) -> bool:
    """Count one failed venue call; open the breaker at the threshold. Returns True if this
    failure opened it."""
    now = datetime.now(UTC)
    threshold = get_settings().breaker_failure_threshold
    with unit_of_work() as session:
        row = session.execute(
            pg_insert(VenueBreakerRecord)
            .values(venue=venue, consecutive_failures=1, last_error=error, last_failure_at=now, updated_at=now)
            .on_conflict_do_update(
                index_elements=["venue"],
                set_={
                    "consecutive_failures": VenueBreakerRecord.consecutive_failures + 1,
                    "last_error": error,
                    "last_failure_at": now,
                    "updated_at": now,
                },
            )
            .returning(VenueBreakerRecord.consecutive_failures, VenueBreakerRecord.opened_at)
        ).one()
        if row.opened_at is not None or row.consecutive_failures < threshold:
            return False
        session.execute(update(VenueBreakerRecord).where(VenueBreakerRecord.venue == venue).values(opened_at=now))
        notify_on_commit(session, "venue_error", {
            "venue": venue, "error": "circuit_breaker_open",
            "message": f"{row.consecutive_failures} consecutive failures; last: {error}",
        })
    log.error(
        "circuit breaker OPEN for venue %s after %d consecutive failures; its intents wait until a probe succeeds "
        "(last error: %s)", venue, row.consecutive_failures, error,
    )
    return True


def record_success(venue: str) -> None:
    """The venue answered: reset its failures and close its breaker if open."""
    with unit_of_work() as session:
        closed = session.execute(
            update(VenueBreakerRecord)
            .where(VenueBreakerRecord.venue == venue, VenueBreakerRecord.consecutive_failures > 0)
            .values(consecutive_failures=0, opened_at=None, updated_at=datetime.now(UTC))
            .returning(VenueBreakerRecord.opened_at)
        ).scalar_one_or_none()
    if closed is not None:
        log.warning("circuit breaker CLOSED for venue %s: it answers again", venue)


def probes_due() -> list[str]:
    """Open venues not probed for ``breaker_probe_interval_seconds``; marks them probed now."""
    now = datetime.now(UTC)
    cutoff = now - timedelta(seconds=get_settings().breaker_probe_interval_seconds)
    with unit_of_work() as session:
        return list(
            session.execute(
                update(VenueBreakerRecord)
                .where(
                    VenueBreakerRecord.opened_at.is_not(None),
                    (VenueBreakerRecord.last_probe_at.is_(None)) | (VenueBreakerRecord.last_probe_at <= cutoff),
                )
                .values(last_probe_at=now)
                .returning(VenueBreakerRecord.venue)
            ).scalars()
        )


def states() -> list[BreakerState]:
    """Every venue that has failed at least once since its last reset, or is open."""
    with unit_of_work() as session:
        rows = session.execute(select(VenueBreakerRecord).order_by(VenueBreakerRecord.venue)).scalars().all()
        return [
            BreakerState(r.venue, r.opened_at is not None, r.consecutive_failures, r.opened_at, r.last_error,
                         r.last_failure_at, r.last_probe_at)
            for r in rows
        ]
