"""Replay inputs: TradingView's "List of trades" export, a predictions CSV, JSON Lines; and two
``min_confidence`` settings compared over the same predictions."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from app.domain.enums import Action, PositionSide

DATA = Path(__file__).resolve().parent / "replay_data"


def read(name: str) -> str:
    path = DATA / name
    assert path.exists(), f"missing test data {path}"
    return path.read_text(encoding="utf-8")


def test_tradingview_list_of_trades_export_becomes_the_strategy_alerts():
    from app.replay.inputs import parse_all, symbol_from_filename, tradingview_csv

    signals = parse_all(tradingview_csv(read("tradingview_list_of_trades.csv"), "BINANCE:BTCUSDT"), "tv")
    assert all(s.signal is not None for s in signals)
    # Three closed trades and one still open (its "Open" exit row is skipped), oldest first;
    # at the reversal (2026-02-11 04:00) the long's exit comes before the short's entry.
    got = [(s.received_at, s.signal.action, s.signal.target_position, s.signal.size.amount) for s in signals]
    assert got == [
        (datetime(2026, 2, 9, 20, tzinfo=UTC), Action.BUY, PositionSide.LONG, Decimal("0.02")),
        (datetime(2026, 2, 10, 12, tzinfo=UTC), Action.SELL, PositionSide.FLAT, Decimal("0.02")),
        (datetime(2026, 2, 10, 16, tzinfo=UTC), Action.BUY, PositionSide.LONG, Decimal("0.02")),
        (datetime(2026, 2, 11, 4, tzinfo=UTC), Action.SELL, PositionSide.FLAT, Decimal("0.02")),
        (datetime(2026, 2, 11, 4, tzinfo=UTC), Action.SELL, PositionSide.SHORT, Decimal("0.021")),
        (datetime(2026, 2, 11, 20, tzinfo=UTC), Action.BUY, PositionSide.FLAT, Decimal("0.021")),
        (datetime(2026, 2, 12, 8, tzinfo=UTC), Action.BUY, PositionSide.LONG, Decimal("0.021")),
    ]
    assert {s.signal.symbol for s in signals} == {"BTC/USDT"}
    assert signals[0].signal.price == Decimal("100350.20")
    assert symbol_from_filename("RSI_Strategy_BINANCE_BTCUSDT_2026-02-12.csv") == "BINANCE:BTCUSDT"


def test_the_legacy_tradingview_export_in_the_chart_time_zone_gives_the_same_trades():
    from app.replay.inputs import parse_all, tradingview_csv

    new = parse_all(tradingview_csv(read("tradingview_list_of_trades.csv"), "BINANCE:BTCUSDT"), "tv")
    old = parse_all(tradingview_csv(read("tradingview_list_of_trades_legacy.csv"), "BINANCE:BTCUSDT",
                                    "Europe/Berlin"), "tv")
    key = lambda s: (s.received_at, s.signal.action, s.signal.target_position, s.signal.size.amount)  # noqa: E731
    assert [key(s) for s in old] == [key(s) for s in new[:6]]


def test_predictions_csv_rows_are_read_by_the_prediction_parser():
    from app.replay.inputs import parse_all, predictions_csv

    signals = parse_all(predictions_csv(read("predictions.csv")), "model")
    assert len(signals) == 10 and all(s.signal is not None for s in signals)
    first = signals[0].signal
    assert (first.symbol, first.action, first.confidence, first.timeframe) == ("BTC/USDT", Action.BUY,
                                                                               Decimal("0.82"), "4h")
    assert first.indicators["atr_14"] == Decimal("1250.4") and first.dialect == "prediction"
    assert [s.signal.action for s in signals].count(Action.HOLD) == 1
    assert {s.signal.symbol for s in signals} == {"BTC/USDT", "ETH/USDT"}


def test_jsonl_keeps_every_line_and_says_why_a_body_could_not_be_read():
    from app.replay.inputs import jsonl, parse_all

    signals = parse_all(jsonl(read("alerts.jsonl")), "alerts")
    assert [s.ref for s in signals] == ["line 2", "line 3", "line 4", "line 5", "line 6"]
    assert [s.signal is not None for s in signals] == [True, True, False, True, False]
    assert "{{ticker}}" in signals[4].error


def test_two_min_confidence_settings_side_by_side(db):
    from app.replay.service import execute
    from app.replay.spec import load_request
    from tests.test_replay import store_candles

    start = datetime(2026, 2, 9, tzinfo=UTC)
    hours = 24 * 4
    btc = [(100_000 + 50 * k, 100_000 + 50 * k + 400, 100_000 + 50 * k - 400, 100_000 + 50 * (k + 1))
           for k in range(hours)]
    eth = [(3000 - k, 3000 - k + 12, 3000 - k - 12, 3000 - (k + 1)) for k in range(hours)]
    store_candles("replaytest", "BTC/USDT", "1h", start, timedelta(hours=1), btc)
    store_candles("replaytest", "ETH/USDT", "1h", start, timedelta(hours=1), eth)
    report = execute(load_request({
        "input": {"kind": "predictions_csv", "content": read("predictions.csv")},
        "until": (start + timedelta(hours=hours - 1)).isoformat(),
        "fill": {"source": "replaytest", "timeframe": "1h", "fetch_missing": False},
        "configs": [{"name": "c60", "strategy": {"min_confidence": "0.6"},
                     "risk": {"sizing": "atr_risk", "sizing_value": "1"}},
                    {"name": "c80", "strategy": {"min_confidence": "0.8"},
                     "risk": {"sizing": "atr_risk", "sizing_value": "1"}}],
    }))
    c60, c80 = report["configurations"]
    assert c60["summary"]["signals"]["traded"] > c80["summary"]["signals"]["traded"] > 0
    refused = [u for u in c80["untraded"] if "below the strategy's minimum 0.8" in u["reason"]]
    assert {u["confidence"] for u in refused} == {"0.55", "0.64", "0.71", "0.77", "0.6", "0.58"}
    assert [b["bucket"] for b in c60["per_confidence"]] == ["0.5-0.6", "0.6-0.7", "0.7-0.8", "0.8-0.9", "0.9-1.0"]
    # The risk engine checks confidence before the target: the 0.55 HOLD is refused for it.
    hold = next(u for u in c60["untraded"] if u["action"] == "hold")
    assert hold["reason"] == "risk confidence: confidence 0.55 is below the strategy's minimum 0.6"
