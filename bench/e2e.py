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
from bench.stack import stack

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
    args = parser.parse_args()
    config = '[accounts.paper]\nstarting_balance = 100000000\n'
    with stack(api_workers=args.api_workers, rq_workers=args.rq_workers, config=config) as s:
        port = int(s["base"].rsplit(":", 1)[1])
        result = asyncio.run(loadgen.run("127.0.0.1", port, args.rate, args.duration, make_payloads([s["token"]])))
        expected = result.statuses.get(202, 0)
        rows = wait_for_fills(s["database_url"], expected)
    report(rows, result, args)


def wait_for_fills(database_url: str, expected: int, timeout: float = 60) -> list[tuple]:
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url) as conn:
        while True:
            rows = conn.execute(QUERY).fetchall()
            conn.commit()
            if sum(1 for r in rows if r[6] is not None) >= expected or time.monotonic() > deadline:
                return rows


def report(rows: list[tuple], result: loadgen.Result, args: argparse.Namespace) -> None:
    per_stage: dict[str, list[float]] = {name: [] for name in STAGES}
    totals: dict[str, list[float]] = {"acknowledged": [], "filled": []}
    for row in rows:
        received, *steps = row
        previous = received
        for name, at in zip(STAGES, steps):
            if at is None or previous is None:
                break
            per_stage[name].append((at - previous).total_seconds() * 1000)
            previous = at
        if steps[4] is not None:
            totals["acknowledged"].append((steps[4] - received).total_seconds() * 1000)
        if steps[5] is not None:
            totals["filled"].append((steps[5] - received).total_seconds() * 1000)
    print(f"\ne2e at {args.rate:.0f} signals/s for {args.duration:.0f} s, paper venue, {args.api_workers} API / "
          f"{args.rq_workers} RQ workers: {len(totals['filled'])} fills of {result.statuses.get(202, 0)} accepted")
    print(f"{'stage':<28} {'p50 ms':>8} {'p99 ms':>8}")
    for name in STAGES:
        values = per_stage[name]
        print(f"{'  → ' + name:<28} {percentile(values, 50):>8.2f} {percentile(values, 99):>8.2f}")
    for name, values in totals.items():
        print(f"{'received → ' + name:<28} {percentile(values, 50):>8.2f} {percentile(values, 99):>8.2f}")
    print(json.dumps({"bench": "e2e", "rate": args.rate, "ingest": result.summary(),
                      "stages": {k: {"p50": percentile(v, 50), "p99": percentile(v, 99)} for k, v in per_stage.items()},
                      "totals": {k: {"p50": percentile(v, 50), "p99": percentile(v, 99),
                                     "mean": statistics.fmean(v) if v else None} for k, v in totals.items()}}))


if __name__ == "__main__":
    main()
