"""Scale-out: several API processes and several workers against one PostgreSQL and one Redis,
started as a user starts them, and a venue's order-count limit under a burst.

* ``tradewire api`` with ``TRADEWIRE_API_PROCESSES=2`` and three ``tradewire worker``
  processes: every alert of a concurrent burst is answered, decided once and filled once, and
  each symbol's orders are sent in the order their signals were decided.
* A burst to the fake Binance server that answers ``429 / -1015`` past N new orders in a
  sliding window (Binance's ORDERS limit): with ``order_rate_limit`` the workers (two
  processes) share the account's count in Redis and pace their sends; without it, refused
  sends are backed off and sent again. Either way no order is lost or placed twice.
"""

import os
import time
from decimal import Decimal

from sqlalchemy import text

from app.db import unit_of_work
from app.jobs.queue import enqueue_intent
from tests.processes import free_port, post_together, ready, spawn, stop, wait_for
from tests.venues import start_fake_binance
from tests.venues.tradewire import apply_settings, binance_account, make_intent

SYMBOLS = [f"S{n:02d}" for n in range(20)]


def _count(sql: str) -> int:
    with unit_of_work() as session:
        return session.execute(text(sql)).scalar_one()


def test_two_api_processes_and_three_workers_fill_every_alert_once_in_order(db, services, tmp_path):
    port = free_port()
    env = {**os.environ, "TRADEWIRE_PORT": str(port), "TRADEWIRE_API_PROCESSES": "2"}
    processes = [spawn(["api"], env, tmp_path / "api.log"),
                 *(spawn(["worker"], env, tmp_path / f"worker-{n}.log") for n in range(3))]
    base = f"http://127.0.0.1:{port}"
    # 60 alerts: 20 symbols × 3 buys, all posted in the same instant.
    bodies = [{"tradewire": 1, "symbol": f"BINANCE:{s}USDT", "action": "buy", "price": "100",
               "size": size, "size_unit": "base", "idempotency_key": f"scale-{s}-{n}"}
              for s in SYMBOLS for n, size in enumerate(("2", "1", "0.5"))]
    try:
        wait_for(lambda: ready(base), 30, "the API to be ready")
        api_children = [int(p) for p in open(f"/proc/{processes[0].pid}/task/{processes[0].pid}/children").read().split()]
        statuses = post_together(base, db, bodies)
        assert statuses == [202] * len(bodies)
        wait_for(lambda: _count("select count(*) from orders where status = 'FILLED'") == len(bodies), 60,
                 "every order to be FILLED")
    finally:
        for process in processes:
            stop(process)
    assert len(api_children) >= 2  # uvicorn's supervisor runs the two API processes
    with unit_of_work() as session:
        assert session.execute(text("select count(*) from signals where status = 'accepted'")).scalar_one() == 60
        # one order per intent, each client order id once
        assert session.execute(text(
            "select count(*) from order_intents i where (select count(*) from orders o where o.intent_id = i.id) <> 1"
        )).scalar_one() == 0
        assert session.execute(text("select count(distinct client_order_id) from orders")).scalar_one() == 60
        positions = dict(session.execute(text("select symbol, quantity from positions")).all())
        # each symbol's orders were claimed in the order their signals were decided
        out_of_order = session.execute(text(
            "select count(*) from (select symbol, claimed_at, "
            "lag(claimed_at) over (partition by account_id, symbol order by created_at, sequence) as before "
            "from order_intents) t where before is not null and claimed_at < before")).scalar_one()
    assert positions == {f"{s}/USDT": Decimal("3.5") for s in SYMBOLS}
    assert out_of_order == 0


def _burst_on_rate_limited_binance(db, monkeypatch, tmp_path, *, order_rate_limit: str | None):
    """30 market orders over 10 symbols queued at once to two worker processes, against a fake
    Binance that takes at most 10 new orders per 2 s. Returns (fake, intents, seconds to drain)."""
    symbols = [f"{s}/USDT" for s in SYMBOLS[:10]]
    fake = start_fake_binance(markets=symbols, prices={s: "10" for s in symbols}, balances={"USDT": "1000000"},
                              order_limit=(10, 2.0))
    try:
        apply_settings(monkeypatch, TRADEWIRE_VENUE_TIMEOUT_MS="2000")
        overrides = {"order_rate_limit": order_rate_limit} if order_rate_limit else {}
        account_id = binance_account(fake, monkeypatch, **overrides)
        intents = [make_intent(account_id, symbol=symbols[n % 10], quantity="1") for n in range(30)]
        env = dict(os.environ)
        workers = [spawn(["worker", "--venue", "binance"], env, tmp_path / f"worker-{n}.log") for n in range(2)]
        try:
            wait_for(lambda: _count("select count(*) from markets") > 0, 30, "the workers to load the markets")
            started = time.monotonic()
            for intent in intents:
                enqueue_intent(intent.id, intent.client_order_id, "binance")
            wait_for(lambda: _count("select count(*) from orders where status in ('FILLED', 'REJECTED', 'DENIED')")
                     == len(intents), 90, "every order to reach a final status")
            drained = time.monotonic() - started
        finally:
            for w in workers:
                stop(w)
        return fake, intents, drained
    finally:
        fake.stop()


def _placed_once_and_filled(fake, intents) -> None:
    for intent in intents:
        assert fake.count_orders(intent.client_order_id) == 1, intent.client_order_id
    assert _count("select count(*) from orders where status = 'FILLED'") == len(intents)
    assert _count("select count(*) from orders where send_count > 1 and status <> 'FILLED'") == 0
    placed = sorted(r["time"] for r in fake.calls("POST", "/api/v3/order") if r["status"] == 200)
    # the venue's own window: never more than 10 new orders accepted within 2 s
    assert all(placed[i + 10] - placed[i] >= 2.0 - 0.05 for i in range(len(placed) - 10))


def test_a_rate_limited_burst_is_paced_across_workers_and_nothing_is_lost_or_doubled(db, monkeypatch, tmp_path):
    fake, intents, drained = _burst_on_rate_limited_binance(db, monkeypatch, tmp_path, order_rate_limit="10/2s")
    _placed_once_and_filled(fake, intents)
    refused = [r for r in fake.calls("POST", "/api/v3/order") if r["status"] == 429]
    # paced by the shared count, the venue (almost) never has to refuse: at a window's edge a
    # send can reach it a few ms before the venue's oldest order leaves its own window
    assert len(refused) <= 3, len(refused)
    assert drained >= 4.0  # 30 orders at 10 per 2 s cannot all go out in under 4 s


def test_without_a_configured_limit_refused_sends_are_backed_off_until_placed(db, monkeypatch, tmp_path):
    fake, intents, _ = _burst_on_rate_limited_binance(db, monkeypatch, tmp_path, order_rate_limit=None)
    refused = [r for r in fake.calls("POST", "/api/v3/order") if r["status"] == 429]
    assert refused  # the burst did hit the venue's limit
    _placed_once_and_filled(fake, intents)


def test_a_malformed_order_rate_limit_is_refused_when_the_file_loads_naming_the_key(tmp_path):
    import pytest

    from app.config_file import load_config
    from app.errors import ConfigError
    from app.execution.order_rate import OrderRate

    path = tmp_path / "config.toml"
    for bad in ("50", "0/10s", "50/0s", "50/10h", "fifty/10s"):
        path.write_text(f'[accounts.bn]\nvenue = "binance"\norder_rate_limit = "{bad}"\n')
        with pytest.raises(ConfigError) as error:
            load_config(path)
        assert error.value.field == "accounts.bn.order_rate_limit", bad
    path.write_text('[accounts.bn]\nvenue = "binance"\norder_rate_limit = "1200/1m"\n')
    assert OrderRate.parse(load_config(path).accounts["bn"].order_rate_limit) == OrderRate(1200, 60)
