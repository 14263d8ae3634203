"""Notifications: Telegram, Discord, Slack and generic-webhook channels, each subscribed to
event kinds in ``[notifications.channels.NAME]`` of the config file.

``notify(kind, payload)`` queues one RQ job per subscribed channel on ``{prefix}-notify``
(delivery with retries, ``app.notify.jobs``); it never sends, never blocks on a channel and
never raises, so it is safe on any path. Inside a transaction, use
``notify_on_commit(session, kind, payload)``: it queues only if and when the transaction commits.

Kinds and the payload fields their messages use (other fields are passed through to the
generic webhook; Decimals, datetimes and UUIDs become strings):

- ``fill``: account, venue, symbol, side, quantity, price, fee, fee_currency, realized_pnl, client_order_id
- ``rejection``: account, venue, symbol, side, quantity, client_order_id, reason
- ``venue_error``: venue, error (class or code), message, client_order_id (optional)
- ``order_in_doubt``: venue, symbol, client_order_id, intent_id, error
- ``trading_state_change``: account, from, to, reason
- ``daily_loss_limit``: account, realized_pnl_today, limit, state
"""

import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.config_file import EVENT_KINDS

log = logging.getLogger(__name__)
_PENDING = "tradewire_notifications"

__all__ = ["EVENT_KINDS", "notify", "notify_on_commit"]


def notify(kind: str, payload: dict[str, Any]) -> None:
    """Queue ``kind`` with ``payload`` for every channel subscribed to it. Never raises."""
    try:
        from app.notify.jobs import enqueue_deliveries

        if kind not in EVENT_KINDS:
            log.warning("unknown notification kind %r; not sent", kind)
            return
        enqueue_deliveries(kind, {**plain(payload), "at": datetime.now(UTC).isoformat()})
    except Exception as e:  # a notification must never break the caller
        log.warning("notification not queued", extra={"kind": kind, "error": f"{type(e).__name__}: {e}"})


def notify_on_commit(session: Session, kind: str, payload: dict[str, Any]) -> None:
    """``notify`` once ``session``'s transaction commits; nothing if it rolls back."""
    pending = session.info.setdefault(_PENDING, [])
    if not session.info.get(_PENDING + "_listening"):
        event.listen(session, "after_commit", _flush)
        event.listen(session, "after_rollback", _discard)
        session.info[_PENDING + "_listening"] = True
    pending.append((kind, plain(payload)))


def _flush(session: Session) -> None:
    pending, session.info[_PENDING] = session.info.get(_PENDING, []), []
    for kind, payload in pending:
        notify(kind, payload)


def _discard(session: Session) -> None:
    session.info[_PENDING] = []


def plain(value: Any) -> Any:
    """JSON-safe copy: Decimal → exact string, datetime → ISO-8601, UUID/Enum → string."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        from app.domain.money import fmt

        return fmt(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
