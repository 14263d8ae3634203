"""Prediction-API dialects of issue 18 (Token Metrics, multi-timeframe signals, quantile
forecast, trade levels): each sample of tests/dialects/prediction_apis.json (with its public
source), quoted and bare numbers, placeholders refused, HOLD / NEUTRAL / FLAT / 0 recorded with
no order, the poller pulling a Token Metrics answer with query-parameter auth, and detection
that leaves the shared corpus where it was."""

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.config_file import FileConfig, PollerConfig
from app.db import unit_of_work
from app.domain.enums import Action, OrderType
from app.domain.signal import Signal
from app.errors import SignalParseError
from app.ingest.parsers import DIALECTS, decode_body, dialect_spec, parse
from app.ingest.poller import poll_once
from app.persistence.models import OrderIntentRecord, SignalRecord
from tests.conftest import CORPUS_DIR, drain_queues
from tests.test_api_signals import api_key, bearer
from tests.test_poller import PredictionApi, prediction_api  # noqa: F401 (fixture)

RECEIVED_AT = datetime(2026, 2, 10, 14, 5, tzinfo=UTC)
SAMPLES = json.loads((Path(__file__).parent / "dialects" / "prediction_apis.json").read_text(encoding="utf-8"))
NEW = ("tokenmetrics", "signals_mtf", "forecast", "trade_levels")


def sample(name: str) -> dict[str, Any]:
    assert SAMPLES["sources"][name], "each sample names where its shape comes from"
    return copy.deepcopy(SAMPLES[name])


def read(data: Any, dialect: str | None = None, **pick: str) -> Signal:
    spec = dialect_spec(dialect, **pick) if dialect else None
    return parse(json.dumps(data).encode(), RECEIVED_AT, dialect=spec).signal


def refused(data: Any, dialect: str | None = None, **pick: str) -> SignalParseError:
    with pytest.raises(SignalParseError) as caught:
        read(data, dialect, **pick)
    return caught.value


def quoted(data: Any) -> Any:
    """Every number written as text, as templated senders do."""
    if isinstance(data, dict):
        return {k: quoted(v) for k, v in data.items()}
    if isinstance(data, list):
        return [quoted(v) for v in data]
    return str(data) if isinstance(data, (int, float)) and not isinstance(data, bool) else data


# --- Token Metrics --------------------------------------------------------------------------

def test_tokenmetrics_picks_the_symbol_and_reads_1_as_buy() -> None:
    signal = read(sample("tokenmetrics"), "tokenmetrics", symbol="BTCUSDT")
    assert (signal.dialect, signal.symbol, signal.action, signal.timeframe) == ("tokenmetrics", "BTC/USDT", Action.BUY, "1d")
    assert signal.confidence == Decimal("0.784") and signal.indicators["TM_INVESTOR_GRADE"] == Decimal("81.2")
    assert signal.signal_time == datetime(2026, 2, 10, tzinfo=UTC)


def test_tokenmetrics_zero_is_hold_and_many_tokens_unpicked_name_symbol() -> None:
    assert read(sample("tokenmetrics"), "tokenmetrics", symbol="ETHUSDT").action == Action.HOLD
    assert refused(sample("tokenmetrics")).field == "symbol"  # detected, two tokens, none picked
    assert refused(sample("tokenmetrics"), "tokenmetrics", symbol="SOLUSDT").field == "symbol"


def test_tokenmetrics_quoted_numbers_and_bad_signal() -> None:
    assert read(quoted(sample("tokenmetrics")), "tokenmetrics", symbol="BTCUSDT").action == Action.BUY
    bad = sample("tokenmetrics")
    bad["data"][0]["TRADING_SIGNAL"] = 2
    assert refused(bad, "tokenmetrics", symbol="BTCUSDT").field == "TRADING_SIGNAL"


# --- Multi-timeframe signals ------------------------------------------------------------------

def test_signals_mtf_the_picked_timeframe_is_read() -> None:
    signal = read(sample("signals_mtf"), "signals_mtf", timeframe="4h")
    assert (signal.dialect, signal.action, signal.timeframe, signal.confidence) == (
        "signals_mtf", Action.BUY, "4h", Decimal("0.81"))
    assert signal.indicators == {"rsi_14": Decimal("48.9"), "atr_14": Decimal("850.5"), "score": Decimal("0.67")}
    assert read(sample("signals_mtf"), "signals_mtf", timeframe="1h").action == Action.SELL
    assert read(quoted(sample("signals_mtf")), "signals_mtf", timeframe="1d").action == Action.HOLD


def test_signals_mtf_without_a_timeframe_names_timeframe() -> None:
    assert refused(sample("signals_mtf")).field == "timeframe"
    assert refused(sample("signals_mtf"), "signals_mtf", timeframe="15m").field == "timeframe"


# --- Quantile forecast ------------------------------------------------------------------------

def test_forecast_up_is_buy_flat_is_hold() -> None:
    signal = read(sample("forecast"), "forecast", timeframe="24h")
    assert (signal.dialect, signal.symbol, signal.action, signal.price) == ("forecast", "ETH/USDT", Action.BUY,
                                                                           Decimal("2650.4"))
    assert signal.indicators["p50"] == Decimal("2702.3") and signal.signal_time == datetime(2026, 2, 10, 14, tzinfo=UTC)
    assert read(quoted(sample("forecast")), "forecast", timeframe="7d").action == Action.HOLD
    assert refused(sample("forecast")).field == "timeframe"


# --- Trade levels ----------------------------------------------------------------------------

@pytest.mark.parametrize("transform", [lambda d: d, quoted], ids=["bare", "quoted"])
def test_trade_levels_is_a_limit_order_with_sl_and_tp(transform) -> None:
    signal = read(transform(sample("trade_levels")))
    assert (signal.dialect, signal.symbol, signal.action, signal.order_type) == (
        "trade_levels", "SOL/USDT", Action.BUY, OrderType.LIMIT)
    assert (signal.limit_price, signal.stop_loss, signal.take_profit) == (
        Decimal("182.4"), Decimal("175.0"), Decimal("198.0"))
    assert signal.indicators == {"tp_hit_probability": Decimal("0.58"), "sl_hit_probability": Decimal("0.31")}


def test_trade_levels_neutral_is_hold_without_levels() -> None:
    signal = read(sample("trade_levels") | {"action": "NEUTRAL"}, "trade_levels")
    assert (signal.action, signal.limit_price, signal.stop_loss) == (Action.HOLD, None, None)


# --- Shared: placeholders, detection ---------------------------------------------------------

@pytest.mark.parametrize("name,path,pick", [
    ("tokenmetrics", ("data", 0, "TRADING_SIGNAL"), {"symbol": "BTCUSDT"}),
    ("signals_mtf", ("signals", "4h", "confidence"), {"timeframe": "4h"}),
    ("forecast", ("current_price",), {"timeframe": "24h"}),
    ("trade_levels", ("entry_price",), {}),
])
def test_a_literal_placeholder_is_refused_naming_the_field(name: str, path: tuple, pick: dict[str, str]) -> None:
    data = sample(name)
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = "{{plot_0}}"
    error = refused(data, name, **pick)
    assert "placeholder" in error.message and path[-1] in error.field


@pytest.mark.parametrize("path", sorted(CORPUS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_no_corpus_payload_changes_dialect(path: Path) -> None:
    rendered = json.loads(path.read_text(encoding="utf-8"))["rendered"]
    data = decode_body((rendered if isinstance(rendered, str) else json.dumps(rendered)).encode())
    assert not any(DIALECTS[name].detect(data) for name in NEW)


def test_each_sample_is_detected_as_its_own_dialect() -> None:
    for name in NEW:
        claimed = [d for d, module in DIALECTS.items() if module.detect(sample(name))]
        assert claimed[0] == name, (name, claimed)


# --- The endpoint and the poller -------------------------------------------------------------

def test_push_neutral_mtf_is_recorded_with_no_order_and_unpicked_is_a_422(client, db, admin):
    key = api_key(client, admin)
    body = json.dumps(sample("signals_mtf")).encode()
    answer = client.post("/api/v1/predictions?dialect=signals_mtf&timeframe=1d", content=body, headers=bearer(key))
    data = answer.json()
    assert answer.status_code == 202 and data["status"] == "accepted" and data["intents"] == 0
    drain_queues()
    with unit_of_work() as session:
        row = session.get(SignalRecord, data["signal_id"])
        assert (row.dialect, row.action) == ("signals_mtf", "hold")
        assert session.execute(select(OrderIntentRecord)).first() is None
    answer = client.post("/api/v1/predictions?dialect=signals_mtf", content=body, headers=bearer(key))
    assert answer.status_code == 422 and "timeframe" in answer.text
    assert client.post("/api/v1/predictions?dialect=tradingview", content=body,
                       headers=bearer(key)).status_code == 422


def test_poller_pulls_tokenmetrics_with_a_query_parameter_key(db, prediction_api, monkeypatch):  # noqa: F811
    seen: list[dict[str, Any]] = []

    def do_get(self) -> None:
        from urllib.parse import parse_qs, urlparse
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        seen.append({"path": url.path, "query": query})
        if query.get("api_key") != "tm-secret-1":
            return self._send(401, {"error": "bad key"})
        self._send(200, sample("tokenmetrics"))

    monkeypatch.setattr(PredictionApi, "do_GET", do_get)
    poller = PollerConfig.model_validate({
        "base_url": prediction_api, "api_key_env": "TM_KEY", "strategy": "default", "dialect": "tokenmetrics",
        "path": "/v2/trading-signals", "query": {"symbol": "{base}", "limit": "1"}, "auth": "query",
        "auth_name": "api_key", "markets": [{"symbol": "BTCUSDT", "timeframe": "1d"},
                                            {"symbol": "ETHUSDT", "timeframe": "1d"}]})
    assert poll_once(FileConfig(pollers={"tm": poller}), RECEIVED_AT, env={"TM_KEY": "tm-secret-1"}) == 2
    assert [(s["path"], s["query"]["symbol"]) for s in seen] == [("/v2/trading-signals", "BTC"),
                                                                  ("/v2/trading-signals", "ETH")]
    with unit_of_work() as session:
        rows = {r.symbol: r for r in session.execute(select(SignalRecord)).scalars()}
        assert {s: (r.dialect, r.action) for s, r in rows.items()} == {
            "BTC/USDT": ("tokenmetrics", "buy"), "ETH/USDT": ("tokenmetrics", "hold")}
        assert all("tm-secret-1" not in (r.raw_body or "") for r in rows.values())


def test_poller_config_refuses_header_auth_without_a_name_and_a_bad_template() -> None:
    base = {"base_url": "http://x", "api_key_env": "K", "strategy": "s", "markets": [{"symbol": "BTCUSDT", "timeframe": "1h"}]}
    with pytest.raises(ValueError, match="auth_name"):
        PollerConfig.model_validate(base | {"auth": "header"})
    with pytest.raises(ValueError, match="query.symbol"):
        PollerConfig.model_validate(base | {"query": {"symbol": "{ticker}"}})


def test_poller_keys_load_from_toml_and_a_bad_one_is_named(tmp_path) -> None:
    from app.config_file import load_config
    from app.errors import ConfigError

    good = tmp_path / "good.toml"
    good.write_text('[pollers.tm]\nbase_url = "https://api.tokenmetrics.com"\napi_key_env = "TM_KEY"\n'
                    'strategy = "default"\ndialect = "tokenmetrics"\npath = "/v2/trading-signals"\n'
                    'query = {symbol = "{base}", limit = "1"}\nauth = "header"\nauth_name = "x-api-key"\n'
                    'markets = [{symbol = "BTCUSDT", timeframe = "1d"}]\n')
    poller = load_config(good).pollers["tm"]
    assert (poller.dialect, poller.path, poller.auth, poller.auth_name) == (
        "tokenmetrics", "/v2/trading-signals", "header", "x-api-key")
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace('dialect = "tokenmetrics"', 'dialect = "tradingview"'))
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    assert caught.value.field == "pollers.tm.dialect"


# --- Properties: any value in any field gives a signal or a named error -------------------

VALUES = st.one_of(
    st.sampled_from(["1", "-1", "0", 1, -1, 0, "1.0", "LONG", "short", "Neutral", "UP", "flat", "{{close}}", "",
                     " ", "NaN", "1e999999", "-0", "0.5", "67,432.5", "2026-02-10", "2026-02-10T14:00:00Z",
                     1770732000, 1770732000000, "1770732000", None, True, [], {}]),
    st.text(max_size=12), st.integers(), st.decimals(allow_nan=False, allow_infinity=False).map(str))
PATHS = {
    "tokenmetrics": [("data", 0, k) for k in ("TOKEN_SYMBOL", "DATE", "TRADING_SIGNAL", "TM_TRADER_GRADE",
                                               "TOKEN_TREND")],
    "signals_mtf": [("symbol",), ("timestamp",)] + [("signals", "4h", k) for k in
                                                    ("direction", "confidence", "score", "indicators")],
    "forecast": [("symbol",), ("current_price",), ("generated_at",), ("signal_24h", "direction"),
                 ("signal_24h", "confidence"), ("quantiles",)],
    "trade_levels": [(k,) for k in ("symbol", "action", "entry_price", "stop_loss", "take_profit",
                                    "tp_hit_probability", "confidence", "timestamp", "timeframe")],
}
PICKS = {"tokenmetrics": {"symbol": "BTCUSDT"}, "signals_mtf": {"timeframe": "4h"}, "forecast": {"timeframe": "24h"},
         "trade_levels": {}}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NEW), data=st.data())
def test_any_value_anywhere_gives_a_signal_or_a_named_error(name: str, data: st.DataObject) -> None:
    body = sample(name)
    for path in data.draw(st.lists(st.sampled_from(PATHS[name]), min_size=1, max_size=3)):
        target = body
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = data.draw(VALUES)
    for forced in (name, None):
        try:
            signal = read(body, forced, **PICKS[name])
        except SignalParseError as e:
            assert e.message and e.field
        else:
            assert signal.action in tuple(Action)


@pytest.mark.parametrize("when", ["2026-02-10", "2026-02-10T00:00:00.000Z", "2026-02-10T00:00:00+00:00",
                                  1770681600, "1770681600", 1770681600000])
def test_tokenmetrics_date_in_every_format(when: Any) -> None:
    body = sample("tokenmetrics")
    body["data"][0]["DATE"] = when
    assert read(body, "tokenmetrics", symbol="BTCUSDT").signal_time == datetime(2026, 2, 10, tzinfo=UTC)
