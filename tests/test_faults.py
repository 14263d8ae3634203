"""Fault suite: while signals flow, Redis restarts, PostgreSQL restarts, a worker is SIGKILLed.

Runs on throwaway servers (tests/faults/services.py) with Tradewire's real processes
(``tradewire api``, ``worker``, ``scheduler``). Afterwards: every signal that got a 2xx is in
the database, every intent is terminal or visibly in doubt, no intent has more than one
order, and every position equals the sum of its fills.
"""

import json
import os
import signal
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.faults.services import ThrowawayPostgres, ThrowawayRedis, remove
from tests.processes import free_port, ready, spawn, stop, wait_for

pytestmark = pytest.mark.faults
SYMBOLS = ["BTC", "ETH", "SOL", "XRP", "ADA", "DOGE"]


@pytest.fixture
def throwaway():
    root = Path(tempfile.mkdtemp(prefix="tradewire-faults-"))
    pg, redis = ThrowawayPostgres(root), ThrowawayRedis(root)
    pg.start()
    redis.start()
    with psycopg.connect(pg.url, autocommit=True) as c:
        c.execute("create database tradewire")
    try:
        yield pg, redis, root
    finally:
        redis.stop()
        try:
            pg.stop()
        except Exception:
            pass
        remove(root)


class Stream:
    """Posts one alert every ``interval`` seconds from a thread; keeps every answer."""

    def __init__(self, base: str, token: str, interval: float = 0.05, symbols: list[str] = SYMBOLS,
                 price: str = "10") -> None:
        self.base, self.token, self.interval, self.symbols, self.price = base, token, interval, symbols, price
        self.answers: list[tuple[int, dict]] = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        with httpx.Client(timeout=5) as client:
            while self.running:
                body = {"tradewire": 1, "symbol": f"BINANCE:{self.symbols[n % len(self.symbols)]}USDT", "action": "buy",
                        "size": "10", "size_unit": "quote", "price": self.price, "idempotency_key": f"fault-{n}"}
                try:
                    answer = client.post(f"{self.base}/webhooks/tradingview/{self.token}", content=json.dumps(body))
                    self.answers.append((answer.status_code, answer.json()))
                except (httpx.HTTPError, json.JSONDecodeError) as e:
                    self.answers.append((0, {"error": type(e).__name__}))
                n += 1
                time.sleep(self.interval)

    def __enter__(self) -> "Stream":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()


def test_signals_survive_redis_and_postgresql_restarts_and_a_killed_worker(throwaway):
    pg, redis, root = throwaway
    port = free_port()
    database_url = pg.url.rsplit("/", 1)[0] + "/tradewire"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRADEWIRE_")},
           "TRADEWIRE_DATABASE_URL": database_url, "TRADEWIRE_REDIS_URL": redis.url, "TRADEWIRE_PORT": str(port),
           "TRADEWIRE_DATA_DIR": str(root / "data"), "TRADEWIRE_ADMIN_TOKEN": ADMIN_TOKEN,
           "TRADEWIRE_SWEEPER_GRACE_SECONDS": "1", "TRADEWIRE_SWEEPER_INTERVAL_SECONDS": "0.5",
           "TRADEWIRE_ORDER_LOOKUP_GRACE_SECONDS": "2", "TRADEWIRE_RECONCILE_INTERVAL_SECONDS": "1"}
    assert spawn(["migrate"], env, root / "migrate.log").wait(timeout=60) == 0
    token = (root / "data" / "default_strategy_token").read_text().strip()
    api = spawn(["api"], env, root / "api.log")
    scheduler = spawn(["scheduler"], env, root / "scheduler.log")
    workers = [spawn(["worker"], env, root / f"worker{n}.log") for n in range(2)]
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: ready(base), 30, "the API")
        with Stream(base, token) as stream:
            time.sleep(2)
            redis.stop()  # Redis restarts: intents committed meanwhile wait for the sweeper
            time.sleep(1.5)
            redis.start()
            time.sleep(2)
            os.killpg(workers[0].pid, signal.SIGKILL)  # a worker dies, maybe in the middle of an order
            workers[0] = spawn(["worker"], env, root / "worker2.log")
            time.sleep(2)
            pg.stop()  # PostgreSQL restarts: ingest answers 503 while it is down
            time.sleep(2)
            pg.start()
            time.sleep(4)
        wait_for(lambda: _settled(database_url), 90, f"every intent to settle ({_unsettled(database_url)})")
        statuses = Counter(code for code, _ in stream.answers)
    finally:
        for process in [api, scheduler, *workers]:
            stop(process)
    assert statuses[202] > 50, statuses
    assert statuses[503] > 0, f"no 503 while PostgreSQL was down: {statuses}"
    assert set(statuses) <= {202, 503}, statuses
    assert all(body["code"] == "service_unavailable" for code, body in stream.answers if code == 503)
    accepted = [body["signal_id"] for code, body in stream.answers if code == 202]
    _check_invariants(database_url, accepted, stream.answers)


def _unsettled(database_url: str) -> list:
    with psycopg.connect(database_url) as c:
        return c.execute(
            "select i.status, o.status, o.reason from order_intents i left join orders o on o.intent_id = i.id "
            "where i.status in ('pending', 'submitting')"
        ).fetchall()


def _settled(database_url: str) -> bool:
    with psycopg.connect(database_url) as c:
        return c.execute("select count(*) from order_intents where status in ('pending', 'submitting')").fetchone()[0] == 0


def _check_invariants(database_url: str, accepted: list[str], answers: list) -> None:
    with psycopg.connect(database_url) as c:
        stored = {str(r[0]) for r in c.execute("select id from signals")}
        assert set(accepted) <= stored, "a signal answered 2xx is missing"
        per_intent = c.execute("select intent_id, count(*) from orders group by intent_id having count(*) > 1").fetchall()
        assert per_intent == [], "an intent has more than one order"
        unsettled = c.execute("select count(*) from order_intents where status not in ('done', 'failed')").fetchone()[0]
        assert unsettled == 0
        positions = dict(c.execute("select symbol, quantity from positions").fetchall())
        fills = c.execute(
            "select symbol, sum(case when side = 'buy' then quantity else -quantity end) from fills group by symbol"
        ).fetchall()
        assert {s: q for s, q in fills} == {s: q for s, q in positions.items() if q != 0 or s in dict(fills)}
        filled = c.execute("select count(*) from orders where status = 'FILLED'").fetchone()[0]
        assert filled == c.execute("select count(*) from fills").fetchone()[0] > 50
        without_order = c.execute(
            "select count(*) from order_intents i where not exists (select 1 from orders o where o.intent_id = i.id)"
        ).fetchone()[0]
        assert without_order == 0, "an accepted intent never reached the venue"


def test_venue_delays_before_and_after_storing_and_a_killed_worker_place_each_order_once(throwaway):
    """A stream of alerts to a Binance account (the fake Binance REST server, real ccxt) while
    the venue delays its answers past our timeout, before and after storing, and a worker is
    SIGKILLed: every intent ends with at most one order on the venue, settled or visibly in doubt."""
    from tests.venues import start_fake_binance
    from tests.venues.ccxt_helpers import SPOT_ONLY_OPTIONS

    pg, redis, root = throwaway
    fake = start_fake_binance(balances={"USDT": "1000000"})
    port = free_port()
    config = root / "tradewire.toml"
    config.write_text(
        '[accounts.binance-fake]\nvenue = "binance"\napi_key_env = "TW_FAULT_KEY"\nsecret_env = "TW_FAULT_SECRET"\n'
        f'api_url = "{fake.url}"\noptions = {json.dumps(SPOT_ONLY_OPTIONS).replace(":", " =")}\n'
    )
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRADEWIRE_")},
           "TRADEWIRE_DATABASE_URL": pg.url.rsplit("/", 1)[0] + "/tradewire", "TRADEWIRE_REDIS_URL": redis.url,
           "TRADEWIRE_PORT": str(port), "TRADEWIRE_DATA_DIR": str(root / "data"), "TRADEWIRE_ADMIN_TOKEN": ADMIN_TOKEN,
           "TRADEWIRE_CONFIG": str(config), "TW_FAULT_KEY": fake.api_key, "TW_FAULT_SECRET": fake.secret,
           "TRADEWIRE_SWEEPER_GRACE_SECONDS": "1", "TRADEWIRE_SWEEPER_INTERVAL_SECONDS": "0.5",
           "TRADEWIRE_VENUE_TIMEOUT_MS": "500", "TRADEWIRE_ORDER_LOOKUP_GRACE_SECONDS": "2",
           "TRADEWIRE_RECONCILE_INTERVAL_SECONDS": "1"}
    database_url = env["TRADEWIRE_DATABASE_URL"]
    assert spawn(["migrate"], env, root / "migrate.log").wait(timeout=60) == 0, (root / "migrate.log").read_text()
    added = spawn(["strategy", "add", "fault-stream", "--account", "binance-fake"], env, root / "strategy.log")
    assert added.wait(timeout=60) == 0
    token = _webhook_token((root / "strategy.log").read_text())
    api = spawn(["api"], env, root / "api.log")
    scheduler = spawn(["scheduler"], env, root / "scheduler.log")
    workers = [spawn(["worker"], env, root / f"worker{n}.log") for n in range(2)]
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: ready(base), 30, "the API")
        wait_for(lambda: _markets_loaded(database_url), 30, "the workers to load Binance's markets")
        with Stream(base, token, interval=0.1, symbols=["BTC", "ETH"], price="3000"):
            time.sleep(1)
            fake.inject("/api/v3/order", "delay_before_store", method="POST", count=3, delay=1.2)
            time.sleep(2)
            fake.inject("/api/v3/order", "delay_after_store", method="POST", count=3, delay=1.2)
            time.sleep(2)
            fake.inject("/api/v3/order", "delay_after_store", method="POST", count=1, delay=3)
            time.sleep(0.3)
            os.killpg(workers[0].pid, signal.SIGKILL)
            workers[0] = spawn(["worker"], env, root / "worker2.log")
            time.sleep(3)
        wait_for(lambda: _settled(database_url), 90, f"every intent to settle ({_unsettled(database_url)})")
    finally:
        for process in [api, scheduler, *workers]:
            stop(process)
        fake.stop()
    with psycopg.connect(database_url) as c:
        intents = c.execute("select client_order_id, status from order_intents").fetchall()
        fills = c.execute("select count(*) from fills").fetchone()[0]
        in_doubt = c.execute("select count(distinct order_id) from order_events where reason like 'in doubt%'").fetchone()[0]
    print(f"intents {len(intents)}, fills {fills}, orders that went in doubt {in_doubt}, "
          f"venue orders {len(fake.orders)}")
    assert len(intents) > 30
    assert in_doubt >= 3, "the injected delays should have put orders in doubt"
    assert all(fake.count_orders(cid) <= 1 for cid, _ in intents), "an intent has two orders on the venue"
    assert sum(fake.count_orders(cid) for cid, _ in intents) == fills == sum(1 for _, st in intents if st == "done")
    assert fake.unknown_requests == [] and fake.server_errors == []


def _webhook_token(printed: str) -> str:
    for line in printed.splitlines():
        if "/webhooks/tradingview/" in line:
            return line.rsplit("/", 1)[1].strip()
    raise AssertionError(f"no webhook URL printed: {printed}")


def _markets_loaded(database_url: str) -> bool:
    with psycopg.connect(database_url) as c:
        return c.execute("select count(*) from markets where venue = 'binance'").fetchone()[0] > 0
