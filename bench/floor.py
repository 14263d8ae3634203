"""The floor benchmark: the same load as bench.ingest against an app that only inserts the
payload into PostgreSQL and pushes to Redis (bench/floor_app.py).

    python -m bench.floor [--rates 50,200,500,1000,2000] [--duration 10] [--api-workers 2]
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys

import psycopg

from bench import loadgen
from bench.ingest import make_payloads, print_table
from bench.stack import ROOT, base_urls, fresh_database


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="50,200,500,1000,2000")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8124)
    args = parser.parse_args()
    _, redis_url = base_urls()
    rows = []
    with fresh_database() as db_url:
        with psycopg.connect(db_url, autocommit=True) as c:
            c.execute("create table bench_floor (id bigserial primary key, body jsonb not null, "
                      "received_at timestamptz not null default now())")
        env = {**os.environ, "TRADEWIRE_DATABASE_URL": db_url, "TRADEWIRE_REDIS_URL": redis_url}
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench.floor_app:app", "--host", "127.0.0.1", "--port", str(args.port),
             "--workers", str(args.api_workers), "--log-level", "warning", "--no-access-log"], env=env, cwd=ROOT)
        try:
            _wait_for_port(args.port)
            make = make_payloads(["floor"])
            offset = 0
            for rate in (float(r) for r in args.rates.split(",")):
                result = asyncio.run(loadgen.run("127.0.0.1", args.port, rate, args.duration,
                                                 lambda i, o=offset: make(i + o)))
                offset += int(rate * args.duration)
                rows.append(result.summary())
                print(json.dumps({"bench": "floor", **rows[-1]}), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=15)
    args.rq_workers = 0
    print_table(rows, args, name="floor (INSERT + Redis push)")


def _wait_for_port(port: int) -> None:
    import socket
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("floor app did not start")


if __name__ == "__main__":
    main()
