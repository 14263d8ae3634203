"""Model-based concurrency test: random interleavings of alerts against a real stack.

A seeded random driver posts batches of buy / sell / exit / reverse / target alerts for a few
spot and perpetual symbols *concurrently* (one thread per alert, posted together) to a real
``tradewire api`` process, with two ``tradewire worker`` processes and the scheduler running.
After each batch has settled, the money invariants are checked from the database:

* a spot position is never negative, at any point of its fill history;
* no reduce-only order exceeds the position net of what is in flight: replaying a symbol's
  fills in order, a reduce-only fill never takes the position past zero;
* every position equals the sum of its fills (signed), and no intent has more than one order.

Set ``TRADEWIRE_MODEL_SEED`` to replay a failing run; ``TRADEWIRE_MODEL_ROUNDS`` for more rounds.
"""

import os
import random
from decimal import Decimal

import pytest
from sqlalchemy import text

from app.db import unit_of_work
from tests.processes import free_port, post_together, ready, spawn, stop, wait_for

pytestmark = pytest.mark.faults
SYMBOLS = ("BINANCE:BTCUSDT", "BINANCE:ETHUSDT", "BYBIT:BTCUSDT.P")  # two spot, one linear perpetual
KINDS = ("buy", "sell", "exit", "reverse", "target_flat", "target_long", "target_short")


def alert(rng: random.Random, n: int) -> dict:
    """One random alert in the Tradewire dialect; sizes in base units, a fixed reference price."""
    kind, symbol = rng.choice(KINDS), rng.choice(SYMBOLS)
    body = {"tradewire": 1, "symbol": symbol, "price": "100", "idempotency_key": f"model-{n}",
            "size": rng.choice(("0.5", "1", "2")), "size_unit": "base"}
    if kind in ("buy", "sell", "exit"):
        body["action"] = kind
    elif kind == "reverse":
        body["action"] = rng.choice(("buy", "sell"))
        body["target_position"] = "long" if body["action"] == "buy" else "short"
    else:
        target = kind.removeprefix("target_")
        body["action"] = {"flat": rng.choice(("buy", "sell")), "long": "buy", "short": "sell"}[target]
        body["target_position"] = target
    return body


def settled() -> bool:
    """No intent is pending or being submitted, and no market order is open."""
    with unit_of_work() as session:
        return session.execute(text(
            "select count(*) from order_intents where status in ('pending', 'submitting')")).scalar_one() == 0


def violations() -> list[str]:
    """Every broken invariant, described; empty when the ledger is sound."""
    found: list[str] = []
    with unit_of_work() as session:
        fills = session.execute(text(
            "select f.symbol, f.side, f.quantity, i.reduce_only, o.client_order_id from fills f "
            "join orders o on o.id = f.order_id join order_intents i on i.id = o.intent_id "
            "order by f.created_at, f.id")).all()
        positions = dict(session.execute(text("select symbol, quantity from positions")).all())
        doubled = session.execute(text(
            "select intent_id from orders group by intent_id having count(*) > 1")).scalars().all()
    running: dict[str, Decimal] = {}
    for symbol, side, quantity, reduce_only, cid in fills:
        before = running.get(symbol, Decimal(0))
        after = before + (quantity if side == "buy" else -quantity)
        running[symbol] = after
        if ":" not in symbol and after < 0:
            found.append(f"spot {symbol} went negative: {before} -> {after} ({cid})")
        if reduce_only and (before == 0 or (before > 0 > after) or (before < 0 < after)):
            found.append(f"reduce-only {cid} took {symbol} past zero: {before} -> {after}")
    for symbol in set(running) | set(positions):
        if running.get(symbol, Decimal(0)) != positions.get(symbol, Decimal(0)):
            found.append(f"{symbol}: position {positions.get(symbol)} != sum of fills {running.get(symbol)}")
    found += [f"intent {i} has more than one order" for i in doubled]
    return found


def test_random_concurrent_alerts_keep_every_money_invariant(db, services, tmp_path):
    seed = int(os.environ.get("TRADEWIRE_MODEL_SEED", random.randrange(1 << 30)))
    rounds = int(os.environ.get("TRADEWIRE_MODEL_ROUNDS", "25"))
    rng = random.Random(seed)
    port = free_port()
    env = {**os.environ, "TRADEWIRE_PORT": str(port)}
    processes = [spawn(["api"], env, tmp_path / "api.log"), spawn(["worker"], env, tmp_path / "worker-1.log"),
                 spawn(["worker"], env, tmp_path / "worker-2.log"), spawn(["scheduler"], env, tmp_path / "scheduler.log")]
    base, posted, broken = f"http://127.0.0.1:{port}", 0, []
    try:
        wait_for(lambda: ready(base), 30, "the API to be ready")
        for _ in range(rounds):
            bodies = [alert(rng, posted + i) for i in range(rng.randint(2, 6))]
            posted += len(bodies)
            statuses = post_together(base, db, bodies)
            assert all(s == 202 for s in statuses), (seed, statuses, bodies)
            wait_for(settled, 30, "every intent of the batch to settle")
            broken = violations()
            if broken:
                break
    finally:
        for process in processes:
            stop(process)
    with unit_of_work() as session:
        orders = session.execute(text("select count(*) from orders")).scalar_one()
        fills = session.execute(text("select count(*) from fills")).scalar_one()
    print(f"\nmodel: seed={seed} rounds={rounds} alerts={posted} orders={orders} fills={fills} violations={len(broken)}")
    assert broken == [], f"seed {seed}: {broken}"
    assert fills > 0  # the run traded: the invariants were checked against real fills
