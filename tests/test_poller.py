"""The prediction poller against a local HTTP server standing in for the prediction API
(http.server in a thread): the Bearer key and the query are checked by the server; answers
land as ``prediction`` signals in the real PostgreSQL; re-polling records nothing new."""

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from app.config_file import FileConfig, PollerConfig, load_config
from app.db import unit_of_work
from app.errors import ConfigError
from app.ingest.poller import due, poll_once
from app.persistence.models import SignalRecord
from tests.conftest import corpus

KEY = "apind-test-key-123"
ENV = {"APINDICATORS_KEY": KEY}
NOW = datetime(2026, 2, 10, 14, 5, tzinfo=UTC)


class PredictionApi(BaseHTTPRequestHandler):
    """Answers GET /v1/predictions?symbol=&timeframe= like corpus 30, for the asked market."""

    answers: dict[tuple[str, str], Any] = {}
    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.seen.append({"path": url.path, "query": query, "authorization": self.headers.get("Authorization")})
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            return self._send(401, {"error": "bad key"})
        if url.path != "/v1/predictions" or set(query) != {"symbol", "timeframe"}:
            return self._send(400, {"error": "symbol and timeframe are required"})
        answer = self.answers.get((query["symbol"], query["timeframe"]))
        if answer is None:
            return self._send(404, {"error": "no prediction"})
        self._send(200, answer)

    def _send(self, status: int, body: Any) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def prediction_api() -> Iterator[str]:
    PredictionApi.answers, PredictionApi.seen = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), PredictionApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def prediction(symbol: str, timeframe: str, word: str = "BUY", timestamp: str = "2026-02-10T14:00:00Z") -> dict:
    return corpus("30")["rendered"] | {"symbol": symbol, "timeframe": timeframe, "prediction": word, "timestamp": timestamp}


def config(base_url: str, markets: list[dict[str, str]], **poller: Any) -> FileConfig:
    settings = {"base_url": base_url, "api_key_env": "APINDICATORS_KEY", "strategy": "default",
                "interval_seconds": 300, "markets": markets} | poller
    return FileConfig(pollers={"apindicators": PollerConfig.model_validate(settings)})


def signals() -> list[SignalRecord]:
    with unit_of_work() as session:
        return list(session.execute(select(SignalRecord).order_by(SignalRecord.received_at)).scalars())


def test_poll_sends_the_bearer_key_and_the_query_and_records_each_market(db, prediction_api):
    PredictionApi.answers = {("BTCUSDT", "4h"): prediction("BTCUSDT", "4h"),
                             ("ETHUSDT", "1h"): prediction("ETHUSDT", "1h", "HOLD")}
    markets = [{"symbol": "BTCUSDT", "timeframe": "4h"}, {"symbol": "ETHUSDT", "timeframe": "1h"}]
    assert poll_once(config(prediction_api, markets), NOW, env=ENV) == 2
    assert [(r["path"], r["query"], r["authorization"]) for r in PredictionApi.seen] == [
        ("/v1/predictions", {"symbol": "BTCUSDT", "timeframe": "4h"}, f"Bearer {KEY}"),
        ("/v1/predictions", {"symbol": "ETHUSDT", "timeframe": "1h"}, f"Bearer {KEY}"),
    ]
    rows = {r.symbol: r for r in signals()}
    assert {s: (r.source, r.dialect, r.action) for s, r in rows.items()} == {
        "BTC/USDT": ("prediction", "prediction", "buy"), "ETH/USDT": ("prediction", "prediction", "hold")}
    assert rows["ETH/USDT"].status == "accepted"  # HOLD: recorded, nothing to order
    assert rows["BTC/USDT"].status == "rejected" and "reference price" in rows["BTC/USDT"].reason


def test_re_polling_the_same_prediction_records_nothing_new(db, prediction_api):
    PredictionApi.answers = {("BTCUSDT", "4h"): prediction("BTCUSDT", "4h")}
    cfg = config(prediction_api, [{"symbol": "BTCUSDT", "timeframe": "4h"}])
    assert poll_once(cfg, NOW, env=ENV) == 1
    assert poll_once(cfg, NOW + timedelta(minutes=5), env=ENV) == 0
    assert len(signals()) == 1
    PredictionApi.answers = {("BTCUSDT", "4h"): prediction("BTCUSDT", "4h", timestamp="2026-02-10T18:00:00Z")}
    assert poll_once(cfg, NOW + timedelta(hours=4), env=ENV) == 1
    assert len(signals()) == 2


def test_a_wrong_key_or_a_failing_market_records_nothing_and_others_still_run(db, prediction_api, caplog):
    PredictionApi.answers = {("ETHUSDT", "1h"): prediction("ETHUSDT", "1h", "HOLD")}
    markets = [{"symbol": "BTCUSDT", "timeframe": "4h"}, {"symbol": "ETHUSDT", "timeframe": "1h"}]
    assert poll_once(config(prediction_api, markets), NOW, env={"APINDICATORS_KEY": "wrong-key-456"}) == 0
    assert signals() == [] and "HTTP 401" in caplog.text and "wrong-key-456" not in caplog.text
    assert poll_once(config(prediction_api, markets), NOW, env=ENV) == 1  # BTC: 404, ETH: recorded
    assert [r.symbol for r in signals()] == ["ETH/USDT"]


def test_missing_key_variable_unreachable_api_or_unknown_strategy_is_logged_not_raised(db, prediction_api, caplog):
    markets = [{"symbol": "BTCUSDT", "timeframe": "4h"}]
    assert poll_once(config(prediction_api, markets), NOW, env={}) == 0
    assert "APINDICATORS_KEY is not set" in caplog.text
    assert poll_once(config("http://127.0.0.1:9", markets, timeout_seconds=2), NOW, env=ENV) == 0
    PredictionApi.answers = {("BTCUSDT", "4h"): prediction("BTCUSDT", "4h")}
    assert poll_once(config(prediction_api, markets, strategy="nope"), NOW, env=ENV) == 0
    assert "no enabled strategy 'nope'" in caplog.text
    assert signals() == []


def test_an_unparseable_answer_is_recorded_invalid(db, prediction_api):
    PredictionApi.answers = {("BTCUSDT", "4h"): {"symbol": "BTCUSDT", "timeframe": "4h", "prediction": "MAYBE"}}
    assert poll_once(config(prediction_api, [{"symbol": "BTCUSDT", "timeframe": "4h"}]), NOW, env=ENV) == 1
    [row] = signals()
    assert (row.status, row.source) == ("invalid", "prediction") and "prediction" in row.reason


def test_due_follows_each_pollers_interval(db, prediction_api):
    PredictionApi.answers = {("BTCUSDT", "4h"): prediction("BTCUSDT", "4h")}
    cfg = config(prediction_api, [{"symbol": "BTCUSDT", "timeframe": "4h"}], interval_seconds=60)
    poller = cfg.pollers["apindicators"]
    assert due(poller, None, NOW)
    assert not due(poller, NOW, NOW + timedelta(seconds=59))
    assert due(poller, NOW, NOW + timedelta(seconds=60))
    state: dict[str, datetime] = {}
    poll_once(cfg, NOW, last_polled=state, env=ENV)
    poll_once(cfg, NOW + timedelta(seconds=30), last_polled=state, env=ENV)
    assert len(PredictionApi.seen) == 1 and state == {"apindicators": NOW}
    poll_once(cfg, NOW + timedelta(seconds=61), last_polled=state, env=ENV)
    assert len(PredictionApi.seen) == 2


def test_poller_config_is_read_from_the_toml_file_and_errors_name_the_key(tmp_path: Path):
    good = tmp_path / "good.toml"
    good.write_text(
        '[pollers.apindicators]\nbase_url = "https://api.example.test"\napi_key_env = "APINDICATORS_KEY"\n'
        'strategy = "default"\ninterval_seconds = 900\nmarkets = [{symbol = "BTCUSDT", timeframe = "4h"}]\n'
    )
    poller = load_config(good).pollers["apindicators"]
    assert (poller.interval_seconds, poller.markets[0].symbol, poller.markets[0].timeframe) == (900, "BTCUSDT", "4h")
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace("interval_seconds = 900", "interval_seconds = 0"))
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    assert caught.value.field == "pollers.apindicators.interval_seconds"
    missing = tmp_path / "missing.toml"
    missing.write_text(good.read_text().replace('markets = [{symbol = "BTCUSDT", timeframe = "4h"}]\n',
                                                'markets = [{symbol = "BTCUSDT"}]\n'))
    with pytest.raises(ConfigError, match=r"pollers\.apindicators\.markets\.0\.timeframe"):
        load_config(missing)


def test_the_scheduler_process_polls_the_configured_prediction_api(db, prediction_api, tmp_path):
    import os

    from tests.processes import spawn, stop, wait_for

    PredictionApi.answers[("BTCUSDT", "4h")] = prediction("BTCUSDT", "4h", "HOLD")
    path = tmp_path / "tradewire.toml"
    path.write_text(
        f'[pollers.apindicators]\nbase_url = "{prediction_api}"\napi_key_env = "APINDICATORS_KEY"\n'
        'strategy = "default"\ninterval_seconds = 60\nmarkets = [{symbol = "BTCUSDT", timeframe = "4h"}]\n'
    )
    env = {**os.environ, **ENV, "TRADEWIRE_CONFIG": str(path)}
    scheduler = spawn(["scheduler"], env, tmp_path / "scheduler.log")

    def recorded():
        with unit_of_work() as session:
            return session.execute(select(SignalRecord.status).where(SignalRecord.source == "prediction")).scalars().all()

    try:
        statuses = wait_for(recorded, 20, "the scheduler to record the polled prediction")
    finally:
        stop(scheduler)
    assert statuses == ["accepted"]  # a HOLD is recorded and places nothing
    assert PredictionApi.seen[0]["query"] == {"symbol": "BTCUSDT", "timeframe": "4h"}
