"""Ingest benchmark: fixed-rate load of real corpus payloads across many symbols and strategies.

    python -m bench.ingest [--rates 50,200,500,1000,2000] [--duration 10] [--api-workers 2] [--rq-workers 1]

Prints a table and a JSON line per rate, then the highest rate sustained with p99 ≤ 25 ms
(achieved rate within 5% of the target and no errors).
"""

import argparse
import asyncio
import json
import platform
import os

import httpx

from bench import loadgen
from bench.stack import ADMIN, SYMBOLS, corpus01, stack

P99_TARGET_MS = 25.0


def make_payloads(tokens: list[str]):
    template = corpus01()

    def make(i: int) -> tuple[str, bytes]:
        token = tokens[i % len(tokens)]
        payload = json.loads(json.dumps(template))
        payload["passphrase"] = token
        payload["ticker"] = f"{SYMBOLS[i % len(SYMBOLS)]}USDT"
        payload["strategy"]["order_id"] = f"bench {i}"
        return f"/webhooks/tradingview/{token}", json.dumps(payload).encode()

    return make


def strategies(base: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    return [httpx.post(f"{base}/api/v1/strategies", json={"name": f"bench-{n}"}, headers=headers).json()["token"]
            for n in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="50,200,500,1000,2000")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--rq-workers", type=int, default=1)
    parser.add_argument("--strategies", type=int, default=10)
    args = parser.parse_args()
    rows = []
    with stack(api_workers=args.api_workers, rq_workers=args.rq_workers) as s:
        tokens = strategies(s["base"], args.strategies)
        make = make_payloads(tokens)
        offset = 0
        for rate in (float(r) for r in args.rates.split(",")):
            result = asyncio.run(loadgen.run("127.0.0.1", int(s["base"].rsplit(":", 1)[1]), rate, args.duration,
                                             lambda i, o=offset: make(i + o)))
            offset += int(rate * args.duration)
            row = result.summary()
            rows.append(row)
            print(json.dumps({"bench": "ingest", **row}), flush=True)
    print_table(rows, args)


def print_table(rows: list[dict], args: argparse.Namespace, name: str = "ingest") -> None:
    print(f"\n{name}: {args.api_workers} API worker(s), {args.rq_workers} RQ worker(s), {args.duration:.0f} s per rate, "
          f"{os.cpu_count()} cores, {platform.python_version()}")
    print(f"{'target/s':>9} {'achieved/s':>11} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}")
    for r in rows:
        print(f"{r['target_rate']:>9.0f} {r['achieved_rate']:>11.1f} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} "
              f"{r['p99_ms']:>8.2f} {r['max_ms']:>8.2f} {r['errors']:>7}")
    good = [r for r in rows if r["p99_ms"] <= P99_TARGET_MS and r["errors"] == 0
            and r["achieved_rate"] >= 0.95 * r["target_rate"]]
    best = max((r["target_rate"] for r in good), default=0)
    print(f"highest sustained rate with p99 <= {P99_TARGET_MS:.0f} ms: {best:.0f} signals/s")
    print(json.dumps({"bench": f"{name}_summary", "highest_sustained_rate": best}))


if __name__ == "__main__":
    main()
