"""The bar-close burst: every alert of a bar close posted at the same moment.

    python -m bench.burst [--alerts 1000] [--symbols 500] [--connections 64] [--api-workers 1] [--rq-workers 1]

TradingView fires all the alerts of a bar close together, gives each webhook 3 seconds to
answer and never retries (https://www.tradingview.com/support/solutions/43000529348/). This
posts ``--alerts`` distinct alerts (``--symbols`` symbols × the rest in strategies, corpus 01's
payload) over ``--connections`` keep-alive connections as fast as the server answers, against
a stack started like ``tradewire up`` (``bench.stack``: the API, RQ workers, a fresh database),
on the paper venue, and prints:

- answered within 3 s of the first post (and the status counts), the last answer;
- the last fill (every order FILLED on paper), measured from the first post;
- per-stage percentiles from the timestamps Tradewire persists (``bench.e2e``'s stages);
- the peak resident memory (RSS, MiB) of the API and worker processes during the burst.
"""

import argparse
import asyncio
import json
import os
import platform
import threading
import time
from pathlib import Path

from bench import loadgen
from bench.e2e import percentile, stage_durations, wait_for_fills
from bench.ingest import strategies
from bench.stack import corpus01, stack

DEADLINE_S = 3.0


def make_alerts(tokens: list[str], symbols: int, count: int) -> list[tuple[str, bytes]]:
    """``count`` distinct alerts: symbol ``i % symbols``, strategy ``i // symbols``."""
    template = corpus01()
    alerts = []
    for i in range(count):
        token = tokens[(i // symbols) % len(tokens)]
        payload = json.loads(json.dumps(template))
        payload["passphrase"] = token
        payload["ticker"] = f"B{i % symbols:03d}USDT"
        payload["strategy"]["order_id"] = f"burst {i}"
        alerts.append((f"/webhooks/tradingview/{token}", json.dumps(payload).encode()))
    return alerts


async def fire(port: int, alerts: list[tuple[str, bytes]], connections: int) -> tuple[float, list[tuple[float, int]]]:
    """Post every alert, ``connections`` at a time; returns the wall-clock time of the first
    post and, per alert, (seconds from the first post to its answer, HTTP status or 0)."""
    conns = [loadgen.Connection("127.0.0.1", port) for _ in range(connections)]
    for c in conns:  # connect first: TradingView's senders hold warm connections too
        c.reader, c.writer = await asyncio.open_connection("127.0.0.1", port)
    answers: list[tuple[float, int]] = []
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for a in alerts:
        queue.put_nowait(a)
    first = time.time()
    start = time.perf_counter()

    async def run(conn: loadgen.Connection) -> None:
        while not queue.empty():
            path, body = queue.get_nowait()
            try:
                status = await conn.request(loadgen.build_request("127.0.0.1", port, path, body))
            except (OSError, ConnectionError, asyncio.IncompleteReadError):
                status = 0
                conn.close()
            answers.append((time.perf_counter() - start, status))

    await asyncio.gather(*(run(c) for c in conns))
    for c in conns:
        c.close()
    return first, answers


class MemoryWatch:
    """Samples the RSS of the given processes and their children every 50 ms (Linux /proc)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids, self.peak = pids, {name: 0.0 for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "MemoryWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                for each in [pid, *_children(pid)]:
                    self.peak[name] = max(self.peak[name], _rss_mib(each))
            self._stop.wait(0.05)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def report(first: float, answers: list[tuple[float, int]], rows: list[tuple], memory: dict[str, float],
           args: argparse.Namespace) -> dict:
    statuses: dict[int, int] = {}
    for _, status in answers:
        statuses[status] = statuses.get(status, 0) + 1
    ok = [t for t, s in answers if 200 <= s < 300]
    within = sum(1 for t in ok if t <= DEADLINE_S)
    fills = sorted(r[6].timestamp() - first for r in rows if r[6] is not None)
    per_stage = stage_durations(rows)
    result = {
        "bench": "burst", "alerts": len(answers), "api_workers": args.api_workers, "rq_workers": args.rq_workers,
        "connections": args.connections, "statuses": statuses,
        "answered_2xx_within_3s": within, "last_answer_s": round(max(t for t, _ in answers), 3),
        "filled": len(fills), "filled_within_3s": sum(1 for f in fills if f <= DEADLINE_S),
        "last_fill_s": round(fills[-1], 3) if fills else None,
        "stages_ms": {k: {"p50": round(percentile(v, 50), 1), "p99": round(percentile(v, 99), 1)}
                      for k, v in per_stage.items()},
        "peak_rss_mib": {k: round(v, 1) for k, v in memory.items()},
        "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}",
    }
    print(f"\nburst of {len(answers)} alerts over {args.connections} connections, {args.api_workers} API process(es), "
          f"{args.rq_workers} worker(s), paper venue")
    print(f"  answered 2xx within 3 s of the first post: {within} of {len(answers)}   (statuses {statuses})")
    print(f"  last answer: {result['last_answer_s']} s   last fill: {result['last_fill_s']} s   "
          f"filled: {len(fills)} ({result['filled_within_3s']} within 3 s)")
    print(f"  {'stage':<16} {'p50 ms':>9} {'p99 ms':>9}")
    for name, v in result["stages_ms"].items():
        print(f"  {'→ ' + name:<16} {v['p50']:>9} {v['p99']:>9}")
    print(f"  peak RSS MiB: {result['peak_rss_mib']}")
    print(json.dumps(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--rq-workers", type=int, default=1)
    parser.add_argument("--fill-timeout", type=float, default=120)
    args = parser.parse_args()
    strategies_needed = -(-args.alerts // args.symbols)
    config = "[accounts.paper]\nstarting_balance = 100000000\n"
    with stack(api_workers=args.api_workers, rq_workers=args.rq_workers, config=config) as s:
        tokens = strategies(s["base"], strategies_needed)
        alerts = make_alerts(tokens, args.symbols, args.alerts)
        port = int(s["base"].rsplit(":", 1)[1])
        with MemoryWatch({"api": s["api_pid"], **{f"worker{n}": p for n, p in enumerate(s["worker_pids"])}}) as mem:
            first, answers = asyncio.run(fire(port, alerts, args.connections))
            accepted = sum(1 for _, st in answers if st == 202)
            rows = wait_for_fills(s["database_url"], accepted, args.fill_timeout)
    report(first, answers, rows, mem.peak, args)


if __name__ == "__main__":
    main()
