"""RQ job functions. Their signatures are a wire contract: new parameters only as keywords
with defaults. Each takes ids, loads, acts, commits."""

import uuid
from datetime import UTC

from rq import get_current_job

from app import followups
from app.execution import cancel, service


def execute_intent(intent_id: str) -> str | None:
    """Execute the order intent ``intent_id``; returns the order's final status for RQ's result."""
    job = get_current_job()
    enqueued_at = job.enqueued_at if job is not None else None
    if enqueued_at is not None and enqueued_at.tzinfo is None:
        enqueued_at = enqueued_at.replace(tzinfo=UTC)  # RQ stores UTC without a zone
    status = service.execute_intent(uuid.UUID(intent_id), enqueued_at=enqueued_at)
    return status.value if status else None


def cancel_open_orders(account_id: str, symbol: str | None = None) -> dict[str, int]:
    """Cancel the account's open orders placed by Tradewire (in ``symbol``, or all): the
    ``cancel`` action. Orders on the venue that Tradewire did not place are left alone.
    Returns counts by the orders' status afterwards, for RQ's result."""
    return cancel.cancel_open_orders(uuid.UUID(account_id), symbol)


def handle_event(event_id: str) -> str:
    """Run the handler of event ``event_id`` (``app.followups``); returns what it did."""
    return followups.handle(uuid.UUID(event_id))
