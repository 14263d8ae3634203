"""Notifications: Telegram, Discord, Slack and generic-webhook channels, each subscribed to
event kinds in ``[notifications.channels.NAME]`` of the config file.

``notify(kind, payload)`` queues one RQ job per subscribed channel on ``{prefix}-notify``
(delivery with retries, ``app.notify.jobs``); it never sends, never blocks on a channel and
never raises, so it is safe on any path. Inside a transaction, use
``notify_on_commit(session, kind, payload)``: it writes a ``notification`` event in that
transaction (``app.events``) when a channel subscribes to ``kind``, and the relay queues the
deliveries once it commits (or its sweep does, if the process dies first).

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

from sqlalchemy.orm import Session

from app import events
from app.config_file import EVENT_KINDS
from app.domain.money import fmt
from app.notify.config import notifications_config
from app.notify.jobs import enqueue_deliveries

log = logging.getLogger(__name__)

__all__ = ["EVENT_KINDS", "notify", "notify_on_commit"]


def notify(kind: str, payload: dict[str, Any]) -> None:
    """Queue ``kind`` with ``payload`` for every channel subscribed to it. Never raises."""
    try:
        if kind not in EVENT_KINDS:
            log.warning("unknown notification kind %r; not sent", kind)
            return
        enqueue_deliveries(kind, {**plain(payload), "at": datetime.now(UTC).isoformat()})
    except Exception as e:  # a notification must never break the caller
        log.warning("notification not queued", extra={"kind": kind, "error": f"{type(e).__name__}: {e}"})


def notify_on_commit(session: Session, kind: str, payload: dict[str, Any]) -> None:
    """A ``notification`` event in ``session``'s transaction, for the channels subscribed to
    ``kind`` (none subscribed: nothing is written). Never raises for a bad config."""
    if kind not in EVENT_KINDS:
        log.warning("unknown notification kind %r; not sent", kind)
        return
    try:
        wanted = any(channel.subscribes(kind) for channel in notifications_config().channels.values())
    except Exception as e:  # a notification must never break the caller
        log.warning("notification not queued", extra={"kind": kind, "error": f"{type(e).__name__}: {e}"})
        return
    if wanted:
        events.emit(session, events.NOTIFICATION,
                    {"kind": kind, "payload": {**plain(payload), "at": datetime.now(UTC).isoformat()}})


def plain(value: Any) -> Any:
    """JSON-safe copy: Decimal → exact string, datetime → ISO-8601, UUID/Enum → string."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
