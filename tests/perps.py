"""Helpers shared by the perpetual-futures tests against the fake venues (Bybit linear, Binance
USDⓈ-M): a strategy on a futures account, an alert through the webhook, the follow-up jobs run
to the end, and what the ledger holds. Everything goes through the real tables and queue."""

import itertools
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import select, update

from app.bootstrap import create_strategy
from app.db import unit_of_work
from app.jobs.worker import warm_up
from app.persistence.models import Account, OrderRecord, PositionRecord, Strategy
from tests.conftest import drain_queues
from tests.venues.tradewire import apply_settings

_keys = itertools.count(1)


def strategy_on(make_account: Callable, exchange: str, fake, monkeypatch, *, strategy: dict | None = None,
                **futures) -> str:
    """An account made by ``make_account`` (``bybit_account``, ``binance_futures_account``) on
    ``fake`` with ``[futures]`` = ``futures``, the strategy ``perp-trend`` on it (``strategy``:
    its settings), the worker's markets of ccxt's ``exchange`` loaded; returns its webhook token."""
    apply_settings(monkeypatch)
    account_id = make_account(fake, monkeypatch, futures=futures, market_data="")
    with unit_of_work() as session:
        account = session.get(Account, account_id)
        created = create_strategy(session, "perp-trend", account)
        if strategy:
            session.execute(update(Strategy).where(Strategy.name == "perp-trend")
                            .values(settings={"account": account.name, **strategy}))
    warm_up([exchange])
    return created.token


def post_alert(client, token: str, symbol: str, **fields) -> dict:
    """A Tradewire alert for ``symbol`` (buy 0.01 at 60000 unless ``fields`` say otherwise),
    its answer after the queues ran once."""
    body = {"tradewire": 1, "symbol": symbol, "action": "buy", "size": "0.01", "price": "60000",
            "idempotency_key": f"k{next(_keys)}", **fields}
    answer = client.post(f"/webhooks/tradingview/{token}", json=body)
    assert answer.status_code in (200, 202), answer.text
    drain_queues()
    return answer.json()


def settle() -> None:
    """Run the queued jobs until none is left (follow-ups queue more)."""
    for _ in range(10):
        if not drain_queues():
            return


def orders() -> list[OrderRecord]:
    with unit_of_work() as session:
        return list(session.execute(select(OrderRecord).order_by(OrderRecord.created_at)).scalars())


def positions_of(symbol: str) -> dict[str, Decimal]:
    """The ledger's positions in ``symbol``, by position side."""
    with unit_of_work() as session:
        return dict(session.execute(select(PositionRecord.position_side, PositionRecord.quantity)
                                    .where(PositionRecord.symbol == symbol)).all())
