"""Paper execution throughput of one worker process (issue 16, target 3: ≥ 500 orders/s).

    python -m bench.worker [--orders 2000] [--symbols 500]

Queues ``--orders`` accepted signals first (the API alone, no worker running), then starts
one ``tradewire worker --burst`` and measures, from the timestamps Tradewire persists, the
rate between the first claim and the last fill. Each order is a market buy on the paper
venue priced by the signal's reference price; distinct symbols so no order waits for an
earlier one of its symbol.
"""

import argparse
import asyncio
import json
import subprocess
import sys
import time

import psycopg

from bench import loadgen
from bench.burst import make_alerts
from bench.ingest import strategies
from bench.stack import ROOT, stack


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--symbols", type=int, default=500)
    args = parser.parse_args()
    config = "[accounts.paper]\nstarting_balance = 100000000\n"
    with stack(api_workers=1, rq_workers=0, config=config) as s:
        tokens = strategies(s["base"], -(-args.orders // args.symbols))
        alerts = make_alerts(tokens, args.symbols, args.orders)
        port = int(s["base"].rsplit(":", 1)[1])
        result = asyncio.run(loadgen.run("127.0.0.1", port, 300, args.orders / 300,
                                         lambda i: alerts[i], connections=32))
        accepted = result.statuses.get(202, 0)
        started = time.perf_counter()
        worker = subprocess.run([sys.executable, "-m", "app.cli", "worker", "--burst"], env=s["env"], cwd=ROOT,
                                capture_output=True)
        wall = time.perf_counter() - started
        with psycopg.connect(s["database_url"]) as conn:
            first, last, filled, pending = conn.execute(
                "select min(i.claimed_at), max(o.updated_at), count(*) filter (where o.status = 'FILLED'), "
                "(select count(*) from order_intents where status = 'pending') "
                "from order_intents i join orders o on o.intent_id = i.id").fetchone()
    span = (last - first).total_seconds() if first and last else float("nan")
    row = {"bench": "worker", "accepted": accepted, "filled": filled, "pending_left": pending,
           "first_claim_to_last_fill_s": round(span, 2), "orders_per_s": round(filled / span, 1) if span else None,
           "worker_wall_s_with_startup": round(wall, 2), "worker_exit": worker.returncode}
    print(f"\none worker process, paper venue: {filled} of {accepted} orders filled in {span:.2f} s "
          f"= {row['orders_per_s']} orders/s (with process start-up: {wall:.2f} s)")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
