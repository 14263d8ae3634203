"""``tradewire replay``: run a replay in this process and print the comparison table.

    tradewire replay --predictions-csv preds.csv --config c60:min_confidence=0.6 --config c80:min_confidence=0.8
    tradewire replay --strategy default --since 2026-01-01 --until 2026-02-01
    tradewire replay --tradingview-csv trades.csv --symbol BINANCE:BTCUSDT --timezone Europe/Berlin
    tradewire replay --request replay.json --json report.json

The replay is recorded in ``replays`` like one posted to the API (its id is printed).
Argument parsing imports nothing heavy: the engine is imported when the command runs.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(commands: Any) -> None:
    """The ``replay`` subcommand's arguments on ``commands`` (argparse subparsers)."""
    replay = commands.add_parser("replay", help="replay stored or exported signals against candles; print the report")
    source = replay.add_mutually_exclusive_group(required=True)
    source.add_argument("--strategy", help="stored signals of this strategy (a prediction model's strategy too)")
    source.add_argument("--source", choices=["tradingview", "prediction", "rest"], help="stored signals of a source")
    source.add_argument("--jsonl", type=Path, help="JSON Lines file of {received_at, body}")
    source.add_argument("--tradingview-csv", type=Path, help="TradingView 'List of trades' export")
    source.add_argument("--predictions-csv", type=Path, help="CSV: symbol,timeframe,prediction,confidence,timestamp")
    source.add_argument("--request", type=Path, help="a JSON request as POST /api/v1/replays takes")
    replay.add_argument("--symbol", help="the chart's symbol of a TradingView export (default: from its file name)")
    replay.add_argument("--timezone", default="UTC", help="time zone of a TradingView export's times")
    replay.add_argument("--base-strategy", help="strategy whose stored settings the configurations start from")
    replay.add_argument("--since", help="first receipt time (ISO-8601)")
    replay.add_argument("--until", help="end of the period (ISO-8601, exclusive)")
    replay.add_argument("--config", action="append", default=[], metavar="NAME:key=value,...",
                        help="a configuration to compare (repeatable), e.g. c80:min_confidence=0.8,atr_multiplier=2")
    replay.add_argument("--market-source", default="binance", help="market-data source (ccxt id) of the candles")
    replay.add_argument("--timeframe", default="1m", help="candle timeframe fills are simulated on")
    replay.add_argument("--spread-bps", default="2")
    replay.add_argument("--slippage-bps")
    replay.add_argument("--fee-rate", help="taker fee rate (default: paper_fee_rate)")
    replay.add_argument("--mark-period", default="1d", choices=["1h", "4h", "1d"])
    replay.add_argument("--risk-free-rate", default="0", help="annual, e.g. 0.04")
    replay.add_argument("--no-fetch", action="store_true", help="never fetch missing candles")
    replay.add_argument("--json", type=Path, help="also write the report's exact JSON here")


def request_of(args: argparse.Namespace) -> dict[str, Any]:
    """The API request the arguments describe."""
    from app.replay.inputs import symbol_from_filename
    from app.replay.spec import parse_override

    if args.request:
        return json.loads(args.request.read_text())
    if args.strategy or args.source:
        spec: dict[str, Any] = {"kind": "stored", "strategy": args.strategy, "source": args.source}
    elif args.jsonl:
        spec = {"kind": "jsonl", "content": args.jsonl.read_text()}
    elif args.tradingview_csv:
        spec = {"kind": "tradingview_csv", "content": args.tradingview_csv.read_text(encoding="utf-8-sig"),
                "symbol": args.symbol or symbol_from_filename(args.tradingview_csv.name), "timezone": args.timezone}
    else:
        spec = {"kind": "predictions_csv", "content": args.predictions_csv.read_text()}
    fill: dict[str, Any] = {"source": args.market_source, "timeframe": args.timeframe, "spread_bps": args.spread_bps,
                            "fetch_missing": not args.no_fetch}
    if args.slippage_bps is not None:
        fill["slippage_bps"] = args.slippage_bps
    if args.fee_rate is not None:
        fill["taker_fee_rate"] = args.fee_rate
    configs = [parse_override(c).model_dump() for c in args.config] or [{"name": "base"}]
    return {"input": spec, "since": args.since, "until": args.until, "strategy": args.base_strategy,
            "configs": configs, "fill": fill, "mark_period": args.mark_period, "risk_free_rate": args.risk_free_rate}


def cmd_replay(settings: Any, args: argparse.Namespace) -> int:
    """Record the replay, run it here, print the table (and write ``--json``)."""
    from app.db import unit_of_work
    from app.replay import report, service
    from app.replay.spec import load_request

    settings.require_database_url()
    request = load_request(request_of(args))
    with unit_of_work() as session:
        replay_id = service.create(session, request)
    status = service.run(replay_id)
    with unit_of_work() as session:
        record = service.status(session, replay_id)
        text, error = record.report, record.error
    if status != service.Statuses.DONE or text is None:
        print(f"error: replay {replay_id} {status}: {error}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_bytes(text.encode())
    data = json.loads(text)
    print(f"replay {replay_id}: {data['inputs']['items']} signals, {data['period']['start']} .. {data['period']['end']}")
    for note in data["notes"]:
        print(f"note: {note}")
    print(report.table(data))
    return 0
