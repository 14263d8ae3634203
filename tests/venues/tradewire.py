"""Tradewire-side helpers for tests against the fake venues: an account pointed at a fake,
settings for quick tests, intents written as ingest writes them, and order inspection.

Everything goes through the real tables; nothing of ours is mocked.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import select

from .ccxt_helpers import SPOT_ONLY_OPTIONS

KEY_ENV, SECRET_ENV = "TW_TEST_BINANCE_KEY", "TW_TEST_BINANCE_SECRET"

# Short timeouts and windows so fault tests take seconds; the delays the tests inject are
# chosen against these (a 1.2 s delay outlives the 0.5 s timeout but lands before the grace ends).
QUICK_SETTINGS = {
    "TRADEWIRE_VENUE_TIMEOUT_MS": "500",
    "TRADEWIRE_VENUE_READ_ATTEMPTS": "3",
    "TRADEWIRE_VENUE_READ_BACKOFF_SECONDS": "0.05",
    "TRADEWIRE_ORDER_LOOKUP_GRACE_SECONDS": "2",
    "TRADEWIRE_BREAKER_FAILURE_THRESHOLD": "3",
    "TRADEWIRE_BREAKER_PROBE_INTERVAL_SECONDS": "0",
}


def apply_settings(monkeypatch, **env: str) -> None:
    """Set TRADEWIRE_* variables (QUICK_SETTINGS plus ``env``) and forget cached settings and venues."""
    from app.config import get_settings
    from app.execution.venues.registry import venue_for

    for key, value in {**QUICK_SETTINGS, **env}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    venue_for.cache_clear()


def binance_account(fake, monkeypatch, name: str = "binance-test", **overrides: Any) -> uuid.UUID:
    """An account on venue ``binance`` whose ccxt instance talks to ``fake`` (``api_url``),
    its credentials in the environment variables the settings name."""
    return venue_account(fake, monkeypatch, "binance", SPOT_ONLY_OPTIONS, name, KEY_ENV, SECRET_ENV, **overrides)


def bybit_account(fake, monkeypatch, name: str = "bybit-test", **overrides: Any) -> uuid.UUID:
    """An account on venue ``bybit`` (linear perpetuals) talking to the fake Bybit."""
    from .bybit_linear import LINEAR_ONLY_OPTIONS

    return venue_account(fake, monkeypatch, "bybit", LINEAR_ONLY_OPTIONS, name, "TW_TEST_BYBIT_KEY",
                         "TW_TEST_BYBIT_SECRET", **overrides)


def binance_futures_account(fake, monkeypatch, name: str = "binance-usdm-test", **overrides: Any) -> uuid.UUID:
    """An account on venue ``binanceusdm`` (USDⓈ-M futures) talking to the fake Binance futures."""
    from .ccxt_helpers import USDM_OPTIONS

    return venue_account(fake, monkeypatch, "binanceusdm", USDM_OPTIONS, name, "TW_TEST_BINANCE_USDM_KEY",
                         "TW_TEST_BINANCE_USDM_SECRET", **overrides)


def venue_account(fake, monkeypatch, venue: str, options: dict, name: str, key_env: str, secret_env: str,
                  **overrides: Any) -> uuid.UUID:
    from app.config_file import AccountConfig
    from app.db import unit_of_work
    from app.persistence.models import Account

    monkeypatch.setenv(key_env, fake.api_key)
    monkeypatch.setenv(secret_env, fake.secret)
    config = AccountConfig(venue=venue, api_key_env=key_env, secret_env=secret_env, api_url=fake.url,
                           options=dict(options), **overrides)
    account_id = uuid.uuid4()
    with unit_of_work() as session:
        session.add(Account(id=account_id, name=name, venue=venue, trading_state="ACTIVE",
                            settings=config.model_dump(mode="json")))
    return account_id


@dataclass(frozen=True)
class Intent:
    id: uuid.UUID
    client_order_id: str
    signal_id: uuid.UUID


def make_intent(account_id: uuid.UUID, *, symbol: str = "BTC/USDT", side: str = "buy", quantity: str = "0.001",
                order_type: str = "market", limit_price: str | None = None, reference_price: str | None = None,
                stop_loss: str | None = None, take_profit: str | None = None, reduce_only: bool = False) -> Intent:
    """A signal, its approving decision and one pending intent, as ingest writes them."""
    from app.db import unit_of_work
    from app.domain.intents import client_order_id_for
    from app.persistence.models import Account, OrderIntentRecord, RiskDecisionRecord, SignalRecord, Strategy

    intent_id, signal_id, decision_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    dec = lambda v: Decimal(v) if v is not None else None  # noqa: E731
    with unit_of_work() as session:
        strategy_id = session.execute(select(Strategy.id).order_by(Strategy.created_at).limit(1)).scalar_one()
        venue = session.get(Account, account_id).venue
        session.add(SignalRecord(id=signal_id, source="rest", strategy_id=strategy_id, status="accepted",
                                 idempotency_key=str(signal_id), symbol=symbol, action=side, raw_body="{}",
                                 received_at=now, decided_at=now))
        session.flush()
        session.add(RiskDecisionRecord(id=decision_id, signal_id=signal_id, account_id=account_id, approved=True,
                                       checks=[], quantity=Decimal(quantity)))
        session.flush()
        session.add(OrderIntentRecord(
            id=intent_id, signal_id=signal_id, decision_id=decision_id, account_id=account_id, venue=venue,
            symbol=symbol, side=side, order_type=order_type, quantity=Decimal(quantity),
            limit_price=dec(limit_price), reference_price=dec(reference_price),
            time_in_force="GTC" if order_type == "limit" else None, reduce_only=reduce_only,
            stop_loss=dec(stop_loss), take_profit=dec(take_profit), sequence=0,
            client_order_id=client_order_id_for(intent_id), status="pending", created_at=now,
        ))
    return Intent(intent_id, client_order_id_for(intent_id), signal_id)


def order_of(intent: Intent):
    """The intent's order row (detached), or None."""
    from app.db import unit_of_work
    from app.persistence.models import OrderRecord

    with unit_of_work() as session:
        return session.execute(select(OrderRecord).where(OrderRecord.intent_id == intent.id)).scalar_one_or_none()


def intent_status(intent: Intent) -> str:
    from app.db import unit_of_work
    from app.persistence.models import OrderIntentRecord

    with unit_of_work() as session:
        return session.get(OrderIntentRecord, intent.id).status


def events_of(intent: Intent) -> list[tuple[str | None, str, str | None]]:
    """(from, to, reason) of the intent's order events, oldest first."""
    from app.db import unit_of_work
    from app.persistence.models import OrderEventRecord, OrderRecord

    with unit_of_work() as session:
        rows = session.execute(
            select(OrderEventRecord.from_status, OrderEventRecord.to_status, OrderEventRecord.reason)
            .join(OrderRecord, OrderRecord.id == OrderEventRecord.order_id)
            .where(OrderRecord.intent_id == intent.id)
            .order_by(OrderEventRecord.id)
        ).all()
    return [tuple(r) for r in rows]


def eventually(predicate: Callable[[], bool], *, timeout: float = 20.0, step: Callable[[], Any] | None = None,
               interval: float = 0.2) -> bool:
    """Call ``step`` (e.g. a reconciler pass) until ``predicate`` holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if step is not None:
            step()
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def subprocess_env() -> dict[str, str]:
    """The environment a subprocess (a worker) needs: this process's, with the test settings."""
    return dict(os.environ)
