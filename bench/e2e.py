"""End-to-end benchmark: signal received → order acknowledged → filled, at a fixed rate,
broken down per stage from the timestamps Tradewire persists.

    python -m bench.e2e [--rate 100] [--duration 20] [--rq-workers 2] [--venue paper|binance]

Stages: received → decided (signals.decided_at) → enqueued (RQ's enqueue time, kept on the
intent) → claimed (a worker took the job) → submitted → acknowledged → filled (order events).
With ``--venue binance`` the paper account is replaced by a Binance account pointed at the
fake Binance REST server of the test suite (real ccxt code path, signatures verified).
"""

import argparse
import asyncio
import json
import statistics
import time

import psycopg

from bench import loadgen
from bench.ingest import make_payloads
from bench.stack import SYMBOLS, stack

STAGES = ("decided", "enqueued", "claimed", "submitted", "acknowledged", "filled")
QUERY = """
select s.received_at, s.decided_at, i.enqueued_at, i.claimed_at,
       (select min(created_at) from order_events e where e.order_id = o.id and e.to_status = 'SUBMITTED'),
       (select min(created_at) from order_events e where e.order_id = o.id and e.to_status = 'ACCEPTED'),
       (select min(created_at) from order_events e where e.order_id = o.id and e.to_status = 'FILLED')
from signals s join order_intents i on i.signal_id = s.id join orders o on o.intent_id = i.id
where s.status = 'accepted'
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--rq-workers", type=int, default=2)
    parser.add_argument("--venue", choices=["paper", "binance"], default="paper")
    args = parser.parse_args()
    fake, config, extra_env = None, "[accounts.paper]\nstarting_balance = 100000000\n", {}
    if args.venue == "binance":
        fake, config, extra_env = _fake_binance()
    try:
        with stack(api_workers=args.api_workers, rq_workers=args.rq_workers, config=config, extra_env=extra_env) as s:
            token = s["token"] if fake is None else _strategy_on(s["env"], "binance-fake")
            if fake is not None:
                _wait_markets(s["database_url"])
            port = int(s["base"].rsplit(":", 1)[1])
            result = asyncio.run(loadgen.run("127.0.0.1", port, args.rate, args.duration, make_payloads([token])))
            rows = wait_for_fills(s["database_url"], result.statuses.get(202, 0))
    finally:
        if fake is not None:
            fake.stop()
    report(rows, result, args)


def _fake_binance() -> tuple[object, str, dict[str, str]]:
    """The test suite's fake Binance REST server (signatures verified), and an account on it."""
    from tests.venues import start_fake_binance
    from tests.venues.ccxt_helpers import SPOT_ONLY_OPTIONS

    symbols = [f"{s}/USDT" for s in SYMBOLS]
    fake = start_fake_binance(markets=symbols, prices={s: "0.0027486" for s in symbols},
                              balances={"USDT": "1000000000"})
    options = json.dumps(SPOT_ONLY_OPTIONS).replace(":", " =")
    config = ('[accounts.binance-fake]\nvenue = "binance"\napi_key_env = "BENCH_BINANCE_KEY"\n'
              f'secret_env = "BENCH_BINANCE_SECRET"\napi_url = "{fake.url}"\noptions = {options}\n')
    return fake, config, {"BENCH_BINANCE_KEY": fake.api_key, "BENCH_BINANCE_SECRET": fake.secret}


def _strategy_on(env: dict[str, str], account: str) -> str:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "app.cli", "strategy", "add", "bench-venue", "--account", account],
                         env=env, check=True, capture_output=True, text=True).stdout
    return next(line for line in out.splitlines() if "/webhooks/tradingview/" in line).rsplit("/", 1)[1].strip()


def _wait_markets(database_url: str) -> None:
    deadline = time.monotonic() + 30
    with psycopg.connect(database_url, autocommit=True) as conn:
        while conn.execute("select count(*) from markets").fetchone()[0] == 0:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not load the venue's markets")
            time.sleep(0.2)


def wait_for_fills(database_url: str, expected: int, timeout: float = 60) -> list[tuple]:
    """``QUERY``'s rows once ``expected`` orders are FILLED (or ``timeout`` seconds passed)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            rows = conn.execute(QUERY).fetchall()
            if sum(1 for r in rows if r[6] is not None) >= expected or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)


def stage_durations(rows: list[tuple]) -> dict[str, list[float]]:
    """Milliseconds spent in each stage (``STAGES``, each from the previous one) over ``QUERY``'s rows."""
    per_stage: dict[str, list[float]] = {name: [] for name in STAGES}
    for received, *steps in rows:
        previous = received
        for name, at in zip(STAGES, steps):
            if at is None or previous is None:
                break
            per_stage[name].append((at - previous).total_seconds() * 1000)
            previous = at
    return per_stage


def report(rows: list[tuple], result: loadgen.Result, args: argparse.Namespace) -> None:
    per_stage = stage_durations(rows)
    totals: dict[str, list[float]] = {"acknowledged": [], "filled": []}
    for row in rows:
        received, *steps = row
        if steps[4] is not None:
            totals["acknowledged"].append((steps[4] - received).total_seconds() * 1000)
        if steps[5] is not None:
            totals["filled"].append((steps[5] - received).total_seconds() * 1000)
    print(f"\ne2e at {args.rate:.0f} signals/s for {args.duration:.0f} s, {args.venue} venue, {args.api_workers} API / "
          f"{args.rq_workers} RQ workers: {len(totals['filled'])} fills of {result.statuses.get(202, 0)} accepted")
    print(f"{'stage':<28} {'p50 ms':>8} {'p99 ms':>8}")
    for name in STAGES:
        values = per_stage[name]
        print(f"{'  → ' + name:<28} {percentile(values, 50):>8.2f} {percentile(values, 99):>8.2f}")
    for name, values in totals.items():
        print(f"{'received → ' + name:<28} {percentile(values, 50):>8.2f} {percentile(values, 99):>8.2f}")
    print(json.dumps({"bench": "e2e", "venue": args.venue, "rate": args.rate, "ingest": result.summary(),
                      "stages": {k: {"p50": percentile(v, 50), "p99": percentile(v, 99)} for k, v in per_stage.items()},
                      "totals": {k: {"p50": percentile(v, 50), "p99": percentile(v, 99),
                                     "mean": statistics.fmean(v) if v else None} for k, v in totals.items()}}))


if __name__ == "__main__":
    main()
