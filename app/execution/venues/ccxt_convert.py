"""ccxt's unified structures (floats, milliseconds) → our values (Decimal, UTC datetimes).

Order structure: https://docs.ccxt.com/#/README?id=order-structure — ``status`` is ``open``,
``closed`` (fully filled), ``canceled``, ``expired`` or ``rejected``; ``filled`` and ``amount``
in base units (contracts on contract markets). Trade structure:
https://docs.ccxt.com/#/README?id=trade-structure — ``fee`` ``{cost, currency}`` or ``fees``.
Floats become Decimal through ``str`` (their shortest repr), never ``Decimal(float)``.
"""

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.domain.orders import OrderStatus
from app.execution.venues.base import OpenOrder, Trade, VenueOrder

ZERO = Decimal(0)
_CLOSED_STATES = {"canceled": OrderStatus.CANCELED, "cancelled": OrderStatus.CANCELED,
                  "expired": OrderStatus.EXPIRED, "rejected": OrderStatus.REJECTED}


def dec(value: Any) -> Decimal | None:
    """A ccxt number (float, int or numeric string) as Decimal; None for None/''/NaN."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return Decimal(str(value))


def ts(milliseconds: Any, default: datetime | None = None) -> datetime:
    """A ccxt timestamp (ms since the epoch) as a UTC datetime; ``default`` (else now) when absent."""
    if milliseconds is None:
        return default or datetime.now(UTC)
    return datetime.fromtimestamp(int(milliseconds) / 1000, UTC)


def order_status(raw: dict[str, Any]) -> OrderStatus:
    """Our state for a ccxt order: ``open`` is ACCEPTED or PARTIALLY_FILLED by its fill,
    ``closed`` FILLED; an unknown status (some create answers carry none) is ACCEPTED."""
    status = raw.get("status")
    if status in _CLOSED_STATES:
        return _CLOSED_STATES[status]
    if status == "closed":
        return OrderStatus.FILLED
    return OrderStatus.PARTIALLY_FILLED if (dec(raw.get("filled")) or ZERO) > 0 else OrderStatus.ACCEPTED


def trade(raw: dict[str, Any], default_ts: datetime) -> Trade | None:
    """One ccxt trade, or None when it has no id (it cannot be deduplicated; fetch the trades)."""
    if raw.get("id") in (None, "") or raw.get("amount") is None or raw.get("price") is None:
        return None
    fee = raw.get("fee") or {}
    if not fee and len(raw.get("fees") or []) == 1:
        fee = raw["fees"][0]
    return Trade(
        trade_id=str(raw["id"]),
        quantity=dec(raw["amount"]) or ZERO,
        price=dec(raw["price"]) or ZERO,
        fee=dec(fee.get("cost")) or ZERO,
        fee_currency=fee.get("currency"),
        ts_event=ts(raw.get("timestamp"), default_ts),
    )


def trades_of(raws: list[dict[str, Any]], default_ts: datetime) -> tuple[Trade, ...] | None:
    """All trades with ids, or None if any lacks one."""
    converted = [trade(t, default_ts) for t in raws]
    if any(t is None for t in converted):
        return None
    return tuple(t for t in converted if t is not None)


def venue_order(raw: dict[str, Any], client_order_id: str, trades: tuple[Trade, ...]) -> VenueOrder:
    """A ccxt order with its complete ``trades`` as our ``VenueOrder``."""
    when = ts(raw.get("lastUpdateTimestamp") or raw.get("lastTradeTimestamp") or raw.get("timestamp"))
    filled = dec(raw.get("filled")) or ZERO
    average = dec(raw.get("average"))
    if average is None and filled > 0 and dec(raw.get("cost")):
        average = dec(raw.get("cost")) / filled  # type: ignore[operator]
    status = order_status(raw)
    return VenueOrder(
        client_order_id=client_order_id,
        venue_order_id=str(raw["id"]) if raw.get("id") not in (None, "") else None,
        status=status,
        filled_quantity=filled,
        average_price=average,
        ts_event=when,
        trades=trades,
        reason=f"venue reports the order {raw.get('status')}" if status == OrderStatus.REJECTED else None,
    )


def open_order(raw: dict[str, Any], client_order_id: str | None, ours: bool) -> OpenOrder:
    return OpenOrder(
        venue_order_id=str(raw.get("id")),
        client_order_id=client_order_id,
        symbol=str(raw.get("symbol")),
        side=raw.get("side"),
        order_type=raw.get("type"),
        quantity=dec(raw.get("amount")),
        price=dec(raw.get("price")),
        status=raw.get("status"),
        ours=ours,
    )


def json_safe(value: Any) -> Any:
    """A ccxt structure as plain JSON (non-finite floats → None, other objects → str), for JSONB."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
