"""An index provider pulled by the poller: its answer is a portfolio target (``weights``, with
reference prices and a time), read by the ``tradewire`` dialect and ingested as a rebalance of
the poller's strategy; polling the same target again records nothing new."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import text

from app.config_file import FileConfig, PollerConfig, load_config
from app.db import unit_of_work
from app.ingest.poller import poll_once
from tests.conftest import drain_queues
from tests.test_poller import PredictionApi

KEY = "index-provider-key-123"


class IndexApi(PredictionApi):
    """``GET /v1/index`` with ``x-api-key``: the current target weights of an index."""

    answer: dict[str, Any] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.headers.get("x-api-key") != KEY:
            return self._send(401, {"error": "bad key"})
        self._send(200, self.answer)


@pytest.fixture
def index_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), IndexApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_index_providers_weights_are_polled_into_a_rebalance_once(db, index_api, monkeypatch):
    monkeypatch.setenv("INDEX_KEY", KEY)
    IndexApi.answer = {"weights": {"BTC": "0.5", "ETH": "0.3"}, "prices": {"BTC": "50000", "ETH": "2000"},
                       "time": "2026-11-28T00:00:00Z"}
    config = FileConfig(pollers={"index": PollerConfig.model_validate({
        "base_url": index_api, "api_key_env": "INDEX_KEY", "strategy": "default", "dialect": "tradewire",
        "path": "/v1/index", "query": {}, "auth": "header", "auth_name": "x-api-key",
        "markets": [{"timeframe": "1d"}]})})
    poll_once(config, datetime.now(UTC))
    drain_queues()
    poll_once(config, datetime.now(UTC))  # the same target again: already recorded, nothing new
    drain_queues()
    with unit_of_work() as session:
        signals = session.execute(text("select action, status from signals")).all()
        positions = dict(session.execute(text("select symbol, quantity from positions where quantity <> 0")).all())
    assert signals == [("rebalance", "accepted")]
    # 10,000 USDT of equity on the paper account, fee 0.1 %: 0.5 → about 5,000 USDT of BTC, 0.3 → 3,000 of ETH
    assert set(positions) == {"BTC/USDT", "ETH/USDT"}
    assert Decimal("0.099") < positions["BTC/USDT"] <= Decimal("0.1")
    assert Decimal("1.49") < positions["ETH/USDT"] <= Decimal("1.5")


def test_a_poller_dialect_that_is_neither_a_prediction_dialect_nor_tradewire_is_refused(tmp_path):
    from app.errors import ConfigError

    path = tmp_path / "config.toml"
    path.write_text('[pollers.index]\nbase_url = "http://127.0.0.1:1"\napi_key_env = "K"\nstrategy = "default"\n'
                    'dialect = "okx"\nmarkets = [{timeframe = "1d"}]\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert error.value.field == "pollers.index.dialect" and "tradewire" in error.value.message
