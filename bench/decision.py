"""Cost of one risk decision as the number of listed markets and traded symbols grows.

    python -m bench.decision [--decisions 4000]

A fresh database on the configured PostgreSQL with a Binance account (no network: risk reads
the stored ccxt markets). For each case, ``load_context`` + ``evaluate`` run in a transaction
per decision, round-robin over the traded symbols, and the time per decision is reported
(mean, p50, p99 in µs), split into the whole decision and the venue-precision step alone.
The last table times ccxt's own ``amount_to_precision`` on one shared exchange object fed
with ``set_markets`` (what Tradewire did before): its cost grows with the markets it holds.
"""

import argparse
import json
import os
import platform
import statistics
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import insert

from bench.stack import base_urls, fresh_database

CASES = ((2, 2), (2000, 2), (2000, 200))  # (markets listed, symbols traded)


def market(symbol: str) -> dict:
    base = symbol.split("/")[0]
    return {"id": f"{base}USDT", "symbol": symbol, "base": base, "quote": "USDT", "type": "spot", "spot": True,
            "active": True, "precision": {"amount": 0.001, "price": 0.01},
            "limits": {"amount": {"min": 0.001}, "cost": {"min": 5}}}


def symbols(count: int) -> list[str]:
    return [f"S{n:04d}/USDT" for n in range(count)]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"mean_us": round(statistics.fmean(ordered) * 1e6, 1), "p50_us": round(ordered[len(ordered) // 2] * 1e6, 1),
            "p99_us": round(ordered[int(len(ordered) * 0.99)] * 1e6, 1)}


def run_case(listed: int, traded: int, decisions: int) -> dict:
    from app.bootstrap import apply_config, create_strategy
    from app.config_file import AccountConfig, FileConfig, RiskLimits
    from app.db import get_engine, unit_of_work
    from app.domain.enums import Action
    from app.domain.signal import Signal
    from app.persistence.models import Account, MarketRecord
    from app.risk.engine import evaluate
    from app.risk.state import load_context

    names = symbols(listed)
    with unit_of_work() as session:
        session.execute(MarketRecord.__table__.delete())
        session.execute(insert(MarketRecord), [{"id": uuid.uuid4(), "venue": "binance", "symbol": s, "market": market(s)}
                                               for s in names])
        apply_config(session, FileConfig(accounts={"spot": AccountConfig(venue="binance", risk=RiskLimits(
            sizing="fixed_quote", sizing_value=Decimal(50)))}))
        account = session.query(Account).filter_by(name="spot").one()
        strategy = create_strategy(session, f"bench-{listed}-{traded}", account)
        account_id, strategy_id = account.id, strategy.id
    signals = [Signal(dialect="tradewire", idempotency_key=str(n), symbol=names[n % traded], raw_symbol=names[n % traded],
                      action=Action.BUY, price=Decimal("12.3456")) for n in range(decisions)]
    whole, precision = [], []
    for signal in signals:
        started = time.perf_counter()
        with unit_of_work() as session:
            loaded = load_context(session, account_id, strategy_id, signal, account_wide=False)
            decision = evaluate(loaded.context)
            session.rollback()
        whole.append(time.perf_counter() - started)
        assert decision.approved, decision.reason
        rules = loaded.context.rules
        started = time.perf_counter()
        rules.amount_to_precision(Decimal("4.0500123"))
        rules.price_to_precision(Decimal("12.345678"))
        precision.append(time.perf_counter() - started)
    get_engine().dispose()
    return {"listed": listed, "traded": traded, "decision": percentiles(whole[decisions // 10:]),
            "precision": percentiles(precision[decisions // 10:])}


def market_data_cost(decisions: int) -> dict:
    """What the market data adds to a decision: ``market_view`` (one Redis GET of the cached
    quote, the account's source from a per-process cache) timed alone, and whole decisions of
    a paper account priced by its cached quote (no price in the signal) against one with no
    market-data source whose signals carry their price."""
    from app.bootstrap import apply_config, create_strategy
    from app.config_file import AccountConfig, FileConfig, RiskLimits
    from app.db import unit_of_work
    from app.domain.enums import Action
    from app.domain.marketdata import Quote
    from app.domain.signal import Signal
    from app.marketdata import cache
    from app.persistence.models import Account
    from app.risk.engine import evaluate
    from app.risk.market import market_view
    from app.risk.state import load_context

    limits = RiskLimits(sizing="fixed_quote", sizing_value=Decimal(50))
    with unit_of_work() as session:
        apply_config(session, FileConfig(accounts={"md-on": AccountConfig(risk=limits),
                                                   "md-off": AccountConfig(market_data="", risk=limits)}))
        ids = {}
        for name in ("md-on", "md-off"):
            account = session.query(Account).filter_by(name=name).one()
            ids[name] = (account.id, create_strategy(session, f"bench-{name}", account).id)
    names = symbols(200)

    def fresh_quote(symbol: str) -> None:  # as the streamer keeps it (not timed)
        now = datetime.now(UTC)
        cache.write_quote(Quote("binance", symbol, Decimal("12.34"), Decimal("12.35"), Decimal("12.345"), now, now))

    def signal(n: int, priced: bool) -> Signal:
        return Signal(dialect="tradewire", idempotency_key=str(n), symbol=names[n % 200], raw_symbol=names[n % 200],
                      action=Action.BUY, price=Decimal("12.3456") if priced else None)

    results = {}
    for label, account, priced in (("with market data (priced by the cached quote)", "md-on", False),
                                   ("without market data (sender's price)", "md-off", True)):
        account_id, strategy_id = ids[account]
        whole, view = [], []
        for n in range(decisions):
            sig = signal(n, priced)
            fresh_quote(sig.symbol)
            started = time.perf_counter()
            with unit_of_work() as session:
                loaded = load_context(session, account_id, strategy_id, sig, account_wide=False)
                decision = evaluate(loaded.context)
                session.rollback()
            whole.append(time.perf_counter() - started)
            assert decision.approved, decision.reason
            with unit_of_work() as session:
                started = time.perf_counter()
                market_view(session, account_id, sig, wait=False)
                view.append(time.perf_counter() - started)
        results[label] = {"decision": percentiles(whole[decisions // 10:]), "market_view": percentiles(view[decisions // 10:])}
    return results


def shared_exchange_cost(listed: int, rounds: int = 200) -> dict:
    """ccxt's amount_to_precision on one exchange object that is re-fed every market it has seen
    whenever the market dict differs (the old ``app.risk.rules``)."""
    import ccxt

    exchange, markets, samples = ccxt.binance(), {s: market(s) for s in symbols(listed)}, []
    for n in range(rounds):
        symbol = f"S{n % listed:04d}/USDT"
        fresh = dict(markets[symbol])  # a new dict per decision, as each decision reads the row anew
        started = time.perf_counter()
        exchange.set_markets({**(exchange.markets or {}), symbol: fresh})
        exchange.amount_to_precision(symbol, "4.0500123")
        samples.append(time.perf_counter() - started)
    return {"listed": listed, **percentiles(samples)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=4000)
    args = parser.parse_args()
    from app.migrate import upgrade

    os.environ.setdefault("TRADEWIRE_QUEUE_PREFIX", f"bench-{uuid.uuid4().hex[:6]}")
    os.environ.setdefault("TRADEWIRE_REDIS_URL", base_urls()[1])
    with fresh_database() as url:
        os.environ["TRADEWIRE_DATABASE_URL"] = url
        upgrade(url)
        results = [run_case(listed, traded, args.decisions) for listed, traded in CASES]
        market = market_data_cost(args.decisions)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("listed  traded  decision mean/p50/p99 µs     precision mean/p50/p99 µs")
    for r in results:
        d, p = r["decision"], r["precision"]
        print(f"{r['listed']:>6}  {r['traded']:>6}  {d['mean_us']:>8} {d['p50_us']:>8} {d['p99_us']:>8}"
              f"      {p['mean_us']:>6} {p['p50_us']:>6} {p['p99_us']:>6}")
    old = [shared_exchange_cost(n) for n in (2, 100, 400, 2000)]
    print("before (shared ccxt exchange + set_markets), µs per precision call:")
    for r in old:
        print(f"{r['listed']:>6} markets  mean {r['mean_us']:>9}  p50 {r['p50_us']:>9}  p99 {r['p99_us']:>9}")
    print("market data, µs (mean / p50 / p99):")
    for label, r in market.items():
        d, v = r["decision"], r["market_view"]
        print(f"  {label}: decision {d['mean_us']} / {d['p50_us']} / {d['p99_us']}; "
              f"market_view {v['mean_us']} / {v['p50_us']} / {v['p99_us']}")
    print(json.dumps({"decision": results, "shared_exchange": old, "market_data": market}))


if __name__ == "__main__":
    main()
