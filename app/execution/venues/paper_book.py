"""The paper venue's own book of resting orders, kept in Redis as a real venue keeps its own.

Only orders that rest are here: a GTC or post-only limit order not (fully) filled at once, and
an untriggered stop-loss / take-profit. Market orders and immediate fills never are: they are
reported and forgotten, and our ledger is the only record of them (so an order the paper venue
does not find, and our ledger did not book, was never placed).

Keys (under the queue prefix, so tests are isolated):
* ``{prefix}:paper:order:{client_order_id}``: the resting order (JSON, Decimals as strings),
  with the trades it has had so far;
* ``{prefix}:paper:resting:{source}:{symbol}``: set of the client order ids resting on a
  symbol, which the matcher (``app.execution.paper_matcher``) checks on each market update.

Every change of one order happens under its Redis lock, so the matcher and a cancel never
both act on it.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.config import get_settings
from app.domain.enums import OrderSide, OrderType, TimeInForce
from app.domain.orders import OrderStatus
from app.domain.reports import Trade, Trigger, VenueOrder
from app.redis_client import get_redis

LOCK_SECONDS = 10


@dataclass(frozen=True)
class Resting:
    """A resting paper order: ``quantity`` and ``filled`` in base units, prices quote per base."""

    client_order_id: str
    account: str
    source: str | None
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None
    time_in_force: TimeInForce | None
    trigger: Trigger | None
    trigger_price: Decimal | None
    created_at: datetime
    trades: tuple[Trade, ...] = field(default=())

    @property
    def filled(self) -> Decimal:
        return sum((t.quantity for t in self.trades), Decimal(0))

    def report(self, status: OrderStatus | None = None, reason: str | None = None, at: datetime | None = None) -> VenueOrder:
        """This order as the venue reports it (every trade so far, their volume-weighted price)."""
        filled = self.filled
        if status is None:
            status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
        average = sum((t.price * t.quantity for t in self.trades), Decimal(0)) / filled if filled else None
        return VenueOrder(self.client_order_id, f"paper-{self.client_order_id}", status, filled, average,
                          at or (self.trades[-1].ts_event if self.trades else self.created_at), self.trades, reason)


def _prefix() -> str:
    return f"{get_settings().queue_prefix}:paper"


def _order_key(client_order_id: str) -> str:
    return f"{_prefix()}:order:{client_order_id}"


def _index_key(source: str | None, symbol: str) -> str:
    return f"{_prefix()}:resting:{source or '-'}:{symbol}"


def put(order: Resting) -> None:
    """Store (or replace) a resting order and index it under its symbol."""
    pipe = get_redis().pipeline()
    pipe.set(_order_key(order.client_order_id), _encode(order))
    pipe.sadd(_index_key(order.source, order.symbol), order.client_order_id)
    pipe.execute()


def get(client_order_id: str) -> Resting | None:
    raw = get_redis().get(_order_key(client_order_id))
    return _decode(raw) if raw is not None else None


def remove(order: Resting) -> None:
    """The order no longer rests (filled, cancelled, expired)."""
    pipe = get_redis().pipeline()
    pipe.delete(_order_key(order.client_order_id))
    pipe.srem(_index_key(order.source, order.symbol), order.client_order_id)
    pipe.execute()


def resting_on(source: str | None, symbol: str) -> list[str]:
    """Client order ids resting on ``symbol`` of ``source``."""
    return sorted(v.decode() for v in get_redis().smembers(_index_key(source, symbol)))


def all_resting(account: str) -> list[Resting]:
    """Every resting order of ``account`` (for ``fetch_open_orders``)."""
    redis, found = get_redis(), []
    for key in redis.scan_iter(f"{_prefix()}:order:*"):
        raw = redis.get(key)
        order = _decode(raw) if raw is not None else None
        if order is not None and order.account == account:
            found.append(order)
    return found


@contextmanager
def locked(client_order_id: str) -> Iterator[None]:
    """Hold the order's lock (one actor at a time: matcher, cancel, the order's own send)."""
    with get_redis().lock(f"{_prefix()}:lock:{client_order_id}", timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS):
        yield


def with_trades(order: Resting, trades: tuple[Trade, ...]) -> Resting:
    return replace(order, trades=order.trades + trades)


def _encode(order: Resting) -> str:
    data: dict[str, Any] = asdict(order)
    data["trades"] = [{**asdict(t), "ts_event": t.ts_event.isoformat()} for t in order.trades]
    data["created_at"] = order.created_at.isoformat()
    return json.dumps(data, default=str)


def _decode(raw: bytes | str) -> Resting:
    data = json.loads(raw)
    dec = lambda v: Decimal(v) if v is not None else None  # noqa: E731
    trades = tuple(Trade(t["trade_id"], Decimal(t["quantity"]), Decimal(t["price"]), Decimal(t["fee"]),
                         t["fee_currency"], datetime.fromisoformat(t["ts_event"])) for t in data["trades"])
    return Resting(
        data["client_order_id"], data["account"], data["source"], data["symbol"], OrderSide(data["side"]),
        OrderType(data["order_type"]), Decimal(data["quantity"]), dec(data["limit_price"]),
        TimeInForce(data["time_in_force"]) if data["time_in_force"] else None,
        Trigger(data["trigger"]) if data["trigger"] else None, dec(data["trigger_price"]),
        datetime.fromisoformat(data["created_at"]), trades,
    )
