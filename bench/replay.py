"""Replay throughput: 100,000 signals over one year of 1-minute candles for 20 symbols.

    python -m bench.replay [--signals 100000] [--symbols 20] [--days 365] [--configs 1] [--db-symbols 0]

Synthetic data, generated in memory: each symbol's candles are a seeded random walk
(525,600 one-minute candles a symbol for a year), the signals corpus-30 predictions (BUY /
SELL / HOLD with a confidence and an ``atr_14``) at random minutes, as JSON bodies read by the
``prediction`` parser. The run is the replay's own path after loading: ``parse_all`` then one
``Simulation`` per configuration (risk engine per signal, fills from the candles, report).
``--db-symbols N`` also stores N symbols' candles in the configured PostgreSQL
(``TRADEWIRE_DATABASE_URL``, a fresh database) and times ``history.load`` (binary COPY) of them,
the per-symbol cost to add for a replay over stored candles.

Prints wall-clock seconds per phase and the process's peak RSS (``ru_maxrss``).
"""

import argparse
import json
import random
import resource
import time
from array import array
from datetime import UTC, datetime, timedelta

from app.domain.enums import Source
from app.replay.history import Series
from app.replay.inputs import Raw

BASES = ("BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "AVAX", "DOT", "LINK", "LTC", "TRX", "ATOM", "NEAR",
         "UNI", "APT", "ARB", "OP", "FIL", "INJ", "SUI", "SEI", "TIA", "PEPE")
START = datetime(2025, 1, 1, tzinfo=UTC)


def walk(symbol: str, minutes: int, seed: int) -> Series:
    """A seeded random walk of one-minute candles (prices rounded to 4 significant decimals)."""
    rng = random.Random(seed)
    t0 = int(START.timestamp())
    ts, o, h, lo, c = array("q"), array("d"), array("d"), array("d"), array("d")
    price = 10 ** rng.uniform(0, 4.5)
    gauss, up = rng.gauss, rng.random
    for k in range(minutes):
        nxt = price * (1 + gauss(0, 0.0008))
        high, low = max(price, nxt) * (1 + up() * 0.0004), min(price, nxt) * (1 - up() * 0.0004)
        ts.append(t0 + 60 * k)
        o.append(round(price, 4))
        h.append(round(high, 4))
        lo.append(round(low, 4))
        c.append(round(nxt, 4))
        price = nxt
    return Series(symbol, 60, ts, o, h, lo, c)


def rss() -> float:
    """The process's resident memory now, MiB (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def predictions(count: int, bases: list[str], minutes: int, seed: int) -> list[Raw]:
    rng = random.Random(seed)
    items = []
    for k, minute in enumerate(sorted(rng.randrange(60, minutes - 60) for _ in range(count))):
        at = START + timedelta(minutes=minute, seconds=rng.randrange(0, 60))
        body = {"symbol": f"{rng.choice(bases)}USDT", "timeframe": "1h",
                "prediction": rng.choices(("BUY", "SELL", "HOLD"), (4, 4, 2))[0],
                "confidence": round(rng.uniform(0.5, 1.0), 2), "timestamp": at.isoformat()}
        items.append(Raw(f"bench {k}", at, json.dumps(body).encode(), Source.PREDICTION, "prediction"))
    return items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signals", type=int, default=100_000)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--configs", type=int, default=1)
    parser.add_argument("--db-symbols", type=int, default=0)
    args = parser.parse_args()
    minutes = args.days * 1440
    bases = list(BASES[:args.symbols])

    t = time.perf_counter()
    series = {f"{b}/USDT": walk(f"{b}/USDT", minutes, seed) for seed, b in enumerate(bases)}
    generated = time.perf_counter() - t
    raw = predictions(args.signals, bases, minutes, 99)
    print(f"data: {args.symbols} symbols x {minutes:,} 1m candles, {len(raw):,} signals; generated in {generated:.1f} s; "
          f"RSS {rss():.0f} MiB")

    from app.replay.report import dumps
    from app.replay.service import build
    from app.replay.spec import ConfigOverride, ReplayRequest, effective
    from app.replay.inputs import parse_all
    from app.config_file import AccountConfig, StrategyConfig

    overrides = [ConfigOverride(name=f"c{60 + 10 * k}", strategy={"min_confidence": f"0.{6 + k}"},
                                risk={"sizing": "percent_equity", "sizing_value": "5", "max_open_positions": 10})
                 for k in range(args.configs)]
    request = ReplayRequest.model_validate({
        "input": {"kind": "predictions_csv", "content": ""}, "configs": [o.model_dump() for o in overrides],
        "fill": {"source": "bench", "timeframe": "1m", "fetch_missing": False, "slippage_bps": "1",
                 "taker_fee_rate": "0.001"},
        "since": START.isoformat(), "until": (START + timedelta(minutes=minutes)).isoformat()})
    configs = [effective(o, "paper", "bench", AccountConfig().model_dump(mode="json"),
                         StrategyConfig().model_dump(mode="json")) for o in overrides]

    t = time.perf_counter()
    signals = parse_all(raw, "bench")
    parsed = time.perf_counter() - t
    print(f"RSS after parsing: {rss():.0f} MiB")
    t = time.perf_counter()
    report = build(request, raw, signals, configs, series, {}, {}, request.since, request.until)  # type: ignore[arg-type]
    simulated = time.perf_counter() - t
    t = time.perf_counter()
    text = dumps(report)
    dumped = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"parse {len(signals):,} signals: {parsed:.1f} s")
    print(f"simulate {len(configs)} configuration(s) + report: {simulated:.1f} s")
    print(f"report JSON: {len(text) / 1e6:.1f} MB in {dumped:.1f} s")
    print(f"replay total (parse + simulate + JSON): {parsed + simulated + dumped:.1f} s; peak RSS {peak:.0f} MiB")
    for row in report["comparison"]:
        print(f"  {row['config']}: trades {row['trades']}, realised {row['realised_pnl']}, "
              f"max drawdown {row['max_drawdown_percent']}%, Sharpe {row['sharpe']}, signals traded {row['signals_traded']}")
    if args.db_symbols:
        load_check(series, args.db_symbols)


def load_check(series: dict[str, Series], count: int) -> None:
    """Store ``count`` symbols' candles in a fresh database and time ``history.load`` of each."""
    from bench.stack import fresh_database

    with fresh_database() as database_url:
        _load_check(series, count, database_url)


def _load_check(series: dict[str, Series], count: int, database_url: str) -> None:
    import os

    from app.config import get_settings
    from app.db import reset_engine, unit_of_work
    from app.migrate import upgrade
    from app.replay import history

    os.environ["TRADEWIRE_DATABASE_URL"] = database_url
    upgrade(database_url)
    get_settings.cache_clear()
    reset_engine()
    import psycopg

    from tests.conftest import libpq_url

    for symbol in list(series)[:count]:
        s = series[symbol]
        with psycopg.connect(libpq_url(database_url)) as connection, connection.cursor() as cursor:
            with cursor.copy("COPY candles (source, symbol, timeframe, ts, open, high, low, close, volume) "
                             "FROM STDIN") as copy:
                for k in range(len(s)):
                    copy.write_row(("bench", symbol, "1m", datetime.fromtimestamp(s.ts[k], UTC), s.open[k], s.high[k],
                                    s.low[k], s.close[k], 1))
        t = time.perf_counter()
        with unit_of_work() as session:
            loaded = history.load(session, "bench", symbol, "1m", START, START + timedelta(days=366))
        print(f"load {symbol}: {len(loaded):,} candles in {time.perf_counter() - t:.2f} s "
              f"(equal: {loaded.close == s.close})")


if __name__ == "__main__":
    main()
