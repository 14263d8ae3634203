"""Many signals per prediction answer (issue 18): a Token Metrics answer listing several tokens,
posted to ``POST /api/v1/predictions`` without ``?symbol=`` or polled for a market without a
symbol, records one signal per token, each with its own decision, intents and idempotency key;
a ``0`` (NEUTRAL) token is recorded and places nothing; one bad row is recorded ``invalid``
without losing the others; the answer lists every signal and keeps the one-signal fields.

The answers are tests/dialects/prediction_apis.json's Token Metrics sample (its source is there)
with rows added or changed; the market is the fake Binance public API (tests/test_paper_market.py).
"""

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.config import get_settings
from app.config_file import FileConfig, PollerConfig
from app.db import unit_of_work
from app.ingest.poller import poll_once
from app.persistence.models import OrderIntentRecord, OrderRecord, SignalRecord
from tests.conftest import drain_queues
from tests.test_api_signals import api_key, bearer
from tests.test_paper_market import market, order_of, warm  # noqa: F401 (fixture)
from tests.test_poller import PredictionApi, prediction_api  # noqa: F401 (fixture)

SAMPLES = json.loads((Path(__file__).parent / "dialects" / "prediction_apis.json").read_text(encoding="utf-8"))
NOW = datetime(2026, 2, 10, 14, 5, tzinfo=UTC)


def answer(**signals: Any) -> dict[str, Any]:
    """The Token Metrics sample with one row per ``TOKEN=signal`` (the BTC row's other columns)."""
    body = copy.deepcopy(SAMPLES["tokenmetrics"])
    row = body["data"][0]
    body["data"] = [row | {"TOKEN_SYMBOL": token, "TRADING_SIGNAL": signal} for token, signal in signals.items()]
    body["length"] = len(body["data"])
    return body


def post(client, key: str, body: dict[str, Any], query: str = ""):
    return client.post(f"/api/v1/predictions?dialect=tokenmetrics{query}", content=json.dumps(body),
                       headers=bearer(key))


def count(model) -> int:
    with unit_of_work() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def no_market(services, monkeypatch, tmp_path) -> Iterator[None]:
    """The paper account without market data (list it before ``client``): a buy without a
    price is rejected at once, saying so."""
    path = tmp_path / "tradewire.toml"
    path.write_text('[accounts.paper]\nmarket_data = ""\n')
    monkeypatch.setenv("TRADEWIRE_CONFIG", str(path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_many_token_answer_is_one_signal_and_one_order_per_token(client, admin, market):  # noqa: F811
    market.set_price("BTC/USDT", "60000")
    market.set_price("ETH/USDT", "2500")
    warm("BTC/USDT")
    warm("ETH/USDT")
    key = api_key(client, admin)
    sent = post(client, key, answer(BTC=1, ETH="1", DOGE=0))
    assert sent.status_code == 202, sent.text
    data = sent.json()
    listed = [(s["symbol"], s["status"], s["intents"]) for s in data["signals"]]
    assert listed == [("BTC", "accepted", 1), ("ETH", "accepted", 1), ("DOGE", "accepted", 0)]
    assert (data["signal_id"], data["status"], data["intents"]) == (data["signals"][0]["signal_id"], "accepted", 1)
    drain_queues()
    orders = {s["symbol"]: order_of(s["signal_id"]) for s in data["signals"]}
    assert {t: (o.symbol, o.side, o.status) for t, o in orders.items() if o is not None} == {
        "BTC": ("BTC/USDT", "buy", "FILLED"), "ETH": ("ETH/USDT", "buy", "FILLED")}
    assert orders["DOGE"] is None  # 0 is NEUTRAL: recorded as a hold, nothing placed
    with unit_of_work() as session:
        rows = {r.symbol: (r.dialect, r.action, r.status) for r in session.execute(select(SignalRecord)).scalars()}
    assert rows == {"BTC/USDT": ("tokenmetrics", "buy", "accepted"), "ETH/USDT": ("tokenmetrics", "buy", "accepted"),
                    "DOGE/USDT": ("tokenmetrics", "hold", "accepted")}

    again = post(client, key, answer(BTC=1, ETH="1", DOGE=0)).json()
    assert [(s["symbol"], s["status"], s["signal_id"]) for s in again["signals"]] == [
        (s["symbol"], "duplicate", s["signal_id"]) for s in data["signals"]]
    drain_queues()
    assert count(OrderRecord) == 2


def test_a_bad_row_is_recorded_invalid_and_the_other_tokens_are_kept(no_market, client, db, admin):
    sent = post(client, api_key(client, admin), answer(BTC=1, ETH=2, SOL=0))
    assert sent.status_code == 202, sent.text
    data = sent.json()
    assert [(s["symbol"], s["status"]) for s in data["signals"]] == [
        ("BTC", "rejected"), ("ETH", "invalid"), ("SOL", "accepted")]
    assert "reference price" in data["signals"][0]["reason"] and "TRADING_SIGNAL" in data["signals"][1]["reason"]
    assert count(SignalRecord) == 3 and count(OrderIntentRecord) == 0


def test_an_answer_whose_every_row_is_bad_is_a_422_listing_each(no_market, client, db, admin):
    sent = post(client, api_key(client, admin), answer(BTC=2, ETH="x"))
    assert sent.status_code == 422
    data = sent.json()
    assert data["field"] == "TRADING_SIGNAL" and data["signal_id"] == data["signals"][0]["signal_id"]
    assert [(s["symbol"], s["status"]) for s in data["signals"]] == [("BTC", "invalid"), ("ETH", "invalid")]
    assert count(SignalRecord) == 2


def test_a_picked_or_single_token_answer_is_one_signal_as_before(no_market, client, db, admin):
    key = api_key(client, admin)
    picked = post(client, key, answer(BTC=1, ETH=0), "&symbol=ETHUSDT").json()
    assert (picked["status"], picked["intents"]) == ("accepted", 0)
    assert picked["signals"] == [{"signal_id": picked["signal_id"], "status": "accepted", "reason": None,
                                  "intents": 0, "symbol": None}]
    single = post(client, key, answer(SOL=-1)).json()
    assert single["status"] == "rejected" and [s["symbol"] for s in single["signals"]] == [None]
    with unit_of_work() as session:
        assert sorted(session.execute(select(SignalRecord.symbol)).scalars()) == ["ETH/USDT", "SOL/USDT"]


def test_a_poller_market_without_a_symbol_records_every_token_once(db, prediction_api, monkeypatch):  # noqa: F811
    seen: list[dict[str, str]] = []

    def do_get(self) -> None:
        from urllib.parse import parse_qs, urlparse
        seen.append({k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()})
        self._send(200, answer(BTC=1, ETH=0, DOGE=-1))

    monkeypatch.setattr(PredictionApi, "do_GET", do_get)
    poller = PollerConfig.model_validate({
        "base_url": prediction_api, "api_key_env": "TM_KEY", "strategy": "default", "dialect": "tokenmetrics",
        "path": "/v2/trading-signals", "query": {"symbol": "{base}", "limit": "100"}, "auth": "query",
        "auth_name": "api_key", "markets": [{"timeframe": "1d"}]})
    config = FileConfig(pollers={"tm": poller})
    assert poll_once(config, NOW, env={"TM_KEY": "tm-key-1"}) == 3
    assert seen == [{"limit": "100", "api_key": "tm-key-1"}]  # no symbol asked: every token
    assert poll_once(config, NOW, env={"TM_KEY": "tm-key-1"}) == 0  # each token already recorded
    with unit_of_work() as session:
        rows = {r.symbol: r.action for r in session.execute(select(SignalRecord)).scalars()}
    assert rows == {"BTC/USDT": "buy", "ETH/USDT": "hold", "DOGE/USDT": "sell"}
