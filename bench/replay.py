"""Replay throughput: 100,000 signals over one year of 1-minute candles for 20 symbols.

    python -m bench.replay [--signals 100000] [--symbols 20] [--days 365] [--configs 1] [--db]
    python -m bench.replay --db --signals 5000 --symbols 3 --days 30     # quick

Synthetic data: each symbol's candles are a seeded random walk (525,600 one-minute candles a
symbol for a year), the signals corpus-30 predictions (BUY / SELL / HOLD with a confidence) at
random minutes, as JSON bodies read by the ``prediction`` parser. The run is the replay's own
path: ``parse_all``, then the candles, then one ``Simulation`` per configuration (risk engine
per signal, fills from the candles) and the report.

Without ``--db`` the candles are handed over in memory. With ``--db`` they are first stored in
a fresh database on the configured PostgreSQL (``TRADEWIRE_DATABASE_URL``; each symbol generated,
written with COPY and dropped, so the process never holds them), and the replay loads them as
a real one does (``app.replay.service.candles``: ``history.load_all``); the loaded series are
checked equal to the generated ones (a digest per symbol).

Prints wall-clock seconds per phase and the process's peak RSS (``ru_maxrss``).
"""

import argparse
import hashlib
import json
import os
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


def digest(series: Series) -> str:
    """A digest of the series' open times and prices (their bytes)."""
    h = hashlib.sha256()
    for column in (series.ts, series.open, series.high, series.low, series.close):
        h.update(column.tobytes())
    return h.hexdigest()


def store(database_url: str, series: Series, source: str = "bench") -> None:
    """Write ``series`` to the ``candles`` table with one COPY (prices as ``repr`` of the double,
    as ``app.marketdata.candles`` stores ccxt's)."""
    import psycopg

    from tests.conftest import libpq_url

    lines = [f"{source}\t{series.symbol}\t1m\t{datetime.fromtimestamp(t, UTC).isoformat()}\t{o!r}\t{h!r}\t{lo!r}\t"
             f"{c!r}\t1\n" for t, o, h, lo, c in zip(series.ts, series.open, series.high, series.low, series.close)]
    with psycopg.connect(libpq_url(database_url)) as connection, connection.cursor() as cursor:
        columns = "source, symbol, timeframe, ts, open, high, low, close, volume"
        with cursor.copy(f"COPY candles ({columns}) FROM STDIN") as copy:
            for k in range(0, len(lines), 50_000):
                copy.write("".join(lines[k:k + 50_000]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signals", type=int, default=100_000)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--configs", type=int, default=1)
    parser.add_argument("--db", action="store_true", help="store the candles in PostgreSQL and load them from there")
    args = parser.parse_args()
    if args.db:
        from bench.stack import fresh_database

        with fresh_database() as database_url:
            run(args, database_url)
    else:
        run(args, None)


def run(args: argparse.Namespace, database_url: str | None) -> None:
    minutes = args.days * 1440
    bases = list(BASES[:args.symbols])
    t = time.perf_counter()
    series: dict[str, Series] = {}
    digests: dict[str, str] = {}
    if database_url is not None:
        _use_database(database_url)
    for seed, b in enumerate(bases):
        s = walk(f"{b}/USDT", minutes, seed)
        if database_url is None:
            series[s.symbol] = s
        else:
            digests[s.symbol] = digest(s)
            store(database_url, s)
            del s
    if database_url is not None:
        _settle(database_url)
    generated = time.perf_counter() - t
    raw = predictions(args.signals, bases, minutes, 99)
    where = "stored in PostgreSQL" if database_url else "in memory"
    print(f"data: {args.symbols} symbols x {minutes:,} 1m candles ({where}), {len(raw):,} signals; generated"
          f"{' and stored' if database_url else ''} in {generated:.1f} s; RSS {rss():.0f} MiB")

    from app.replay.report import dumps
    from app.replay.service import build, prepare
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
    notes: dict[str, str] = {}
    if database_url is None:
        signals = parse_all(raw, "bench")
    else:  # the replay's own path: each symbol's candles load (in PostgreSQL) while the rest is parsed
        signals, _, _, series, notes = prepare(request, raw, "bench", request.fill.resolved(), needs_atr=False)
    prepared = time.perf_counter() - t
    what = "parse" if database_url is None else "parse + load from PostgreSQL (overlapped)"
    print(f"{what}: {prepared:.1f} s; RSS {rss():.0f} MiB")
    if database_url is not None:
        # The replay's window starts an hour before the period (warm-up), where nothing is stored:
        # one note per symbol ("fetching is off"), as a real replay of this data would say.
        equal = all(digest(series[symbol]) == digests[symbol] for symbol in digests)
        print(f"  {len(series)} symbols, {sum(len(x) for x in series.values()):,} candles loaded "
              f"(equal to the generated: {equal}; notes: {len(notes)})")
    t = time.perf_counter()
    report = build(request, raw, signals, configs, series, notes, {}, request.since,  # type: ignore[arg-type]
                   request.until)  # type: ignore[arg-type]
    simulated = time.perf_counter() - t
    t = time.perf_counter()
    text = dumps(report)
    dumped = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"simulate {len(configs)} configuration(s) + report: {simulated:.1f} s")
    print(f"report JSON: {len(text) / 1e6:.1f} MB in {dumped:.1f} s")
    print(f"replay total ({what} + simulate + JSON): {prepared + simulated + dumped:.1f} s; peak RSS {peak:.0f} MiB")
    for row in report["comparison"]:
        print(f"  {row['config']}: trades {row['trades']}, realised {row['realised_pnl']}, "
              f"max drawdown {row['max_drawdown_percent']}%, Sharpe {row['sharpe']}, "
              f"signals traded {row['signals_traded']}")


def _settle(database_url: str) -> None:
    """VACUUM ANALYZE and CHECKPOINT after the bulk insert, as a long-lived ``candles`` table is,
    so autovacuum and the checkpointer do not run during the measured replay."""
    import psycopg

    from tests.conftest import libpq_url

    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE) candles")
        connection.execute("CHECKPOINT")


def _use_database(database_url: str) -> None:
    """Point this process's settings and engine at ``database_url``, migrated."""
    from app.config import get_settings
    from app.db import reset_engine
    from app.migrate import upgrade

    os.environ["TRADEWIRE_DATABASE_URL"] = database_url
    upgrade(database_url)
    get_settings.cache_clear()
    reset_engine()


if __name__ == "__main__":
    main()
