"""``[dialects.NAME]`` (issue 18): a dialect defined in the configuration file, without code.

A JSON mapping and a KEY=VALUE text mapping, each detected from a webhook post and filled on
the default paper account, their secret accepted as the webhook secret and never stored; a
value map giving hold for ``0``; the dry run showing what a forced mapping read; a strategy
reading with its own dialect; a poller reading a mapped prediction API (a local HTTP server);
mistakes in the file refused when it is loaded, naming the key; and detection that leaves
every shared corpus payload with the dialect it had.

The mappings here are invented senders (a JSON bot with a numeric side, a ``;``-separated
KEY=VALUE bot, a comma-separated positional bot); the corpus is tests/corpus.
"""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.config import get_settings
from app.config_file import FileConfig, load_config
from app.db import unit_of_work
from app.domain.enums import Action
from app.errors import ConfigError
from app.ingest import parsers
from app.ingest.parsers.mapped import compile_all
from app.ingest.poller import poll_once
from app.persistence.models import OrderIntentRecord, OrderRecord, ReplayRecord, SignalRecord
from app.replay.service import create, run
from app.replay.spec import load_request
from tests.conftest import ADMIN_TOKEN, CORPUS_DIR, drain_queues
from tests.test_poller import PredictionApi, prediction_api  # noqa: F401 (fixture)

NOW = datetime(2026, 2, 10, 14, 5, tzinfo=UTC)
BODY_SECRET = "mybot-secret-7f3a9c"

MAPPINGS = """
[dialects.mybot]
format = "json"
detect = { present = ["/instrument", "/side"] }
secret = "/auth/code"    # "code" is no secret-looking name: only the mapping says it is one
[dialects.mybot.fields]
symbol = "/instrument"
action = { from = "/side", map = { "1" = "buy", "-1" = "sell", "0" = "hold" } }
size = { from = "/qty", default = 0.001 }
price = "/px"
signal_time = "/ts"
comment = "/note"

[dialects.kvbot]
format = "text"
separator = ";"
key_value = "="
detect = { present = ["TICKER", "SIDE"] }
secret = "PASS"
[dialects.kvbot.fields]
symbol = "TICKER"
action = { from = "SIDE", map = { LONG = "buy", SHORT = "sell", FLAT = "exit" } }
size = "QTY"
price = "CLOSE"
signal_time = "TIME"

[dialects.csvbot]
format = "text"
separator = ","
detect = { prefix = "CSV1," }
[dialects.csvbot.fields]
symbol = 1
action = { from = 2, map = { LONG = "buy", SHORT = "sell" } }
price = 3
size = { default = "0.1" }
"""

CONFIG = MAPPINGS + """
[accounts.paper]
market_data = ""          # no market data: the paper venue fills at the sender's price

[strategies.default]
account = "paper"

[strategies.csv]
account = "paper"
dialect = "csvbot"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tradewire.toml"
    path.write_text(text)
    return path


@pytest.fixture
def mapped_file(services, monkeypatch, tmp_path) -> Path:
    """TRADEWIRE_CONFIG names a file with the mappings; list it before ``client`` / ``db``."""
    path = write(tmp_path, CONFIG)
    monkeypatch.setenv("TRADEWIRE_CONFIG", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def mybot(side: Any = 1, **extra: Any) -> dict[str, Any]:
    return {"instrument": "BINANCE:BTCUSDT", "side": side, "qty": "0.001", "px": 60000, "ts": "2026-02-10T14:00:00Z",
            "note": "mybot entry", "auth": {"code": BODY_SECRET}} | extra


def kvbot(side: str = "LONG") -> bytes:
    return f"TICKER=ETHUSDT;SIDE={side};QTY=0.01;CLOSE=2500;TIME=1770732000000;PASS={BODY_SECRET}".encode()


def trace(client, signal_id: str) -> dict[str, Any]:
    return client.get(f"/api/v1/signals/{signal_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()


def stored_everywhere(signal_id: str) -> str:
    """Everything stored about a signal (raw body, payload, reason) as one text."""
    with unit_of_work() as session:
        row = session.get(SignalRecord, signal_id)
        return json.dumps([row.raw_body, row.payload, row.reason])


# --- The webhook: detected, filled on paper, the secret never stored ---------------------

def test_a_mapped_json_alert_is_detected_and_fills_on_paper_without_its_secret(mapped_file, client, db):
    answer = client.post(f"/webhooks/tradingview/{db}", content=json.dumps(mybot()))
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "accepted" and answer.json()["intents"] == 1
    drain_queues()
    seen = trace(client, answer.json()["signal_id"])
    assert (seen["dialect"], seen["symbol"], seen["action"]) == ("mybot", "BTC/USDT", "buy")
    assert seen["signal"]["comment"] == "mybot entry" and seen["signal_time"].startswith("2026-02-10T14:00:00")
    order = seen["intents"][0]["order"]
    assert (order["status"], order["fills"][0]["quantity"], order["fills"][0]["price"]) == ("FILLED", "0.001", "60000")
    assert BODY_SECRET not in stored_everywhere(seen["id"]) and "***" in seen["raw_body"]


def test_the_mapped_secret_is_the_webhook_secret_without_a_url_token(mapped_file, client, db):
    body = mybot(auth={"code": db}, ts="2026-02-10T14:01:00Z")
    answer = client.post("/webhooks/tradingview", content=json.dumps(body))
    assert answer.status_code == 202 and answer.json()["status"] == "accepted", answer.text
    assert db not in stored_everywhere(answer.json()["signal_id"])
    wrong = client.post("/webhooks/tradingview", content=json.dumps(mybot(auth={"code": "not-a-token"})))
    assert wrong.status_code == 401


def test_a_mapped_key_value_text_alert_fills_on_paper_without_its_secret(mapped_file, client, db):
    answer = client.post(f"/webhooks/tradingview/{db}", content=kvbot(), headers={"content-type": "text/plain"})
    assert answer.status_code == 202 and answer.json()["status"] == "accepted", answer.text
    drain_queues()
    seen = trace(client, answer.json()["signal_id"])
    assert (seen["dialect"], seen["symbol"], seen["action"]) == ("kvbot", "ETH/USDT", "buy")
    order = seen["intents"][0]["order"]
    assert (order["status"], order["fills"][0]["quantity"], order["fills"][0]["price"]) == ("FILLED", "0.01", "2500")
    assert BODY_SECRET not in stored_everywhere(seen["id"]) and "TICKER=ETHUSDT" in seen["raw_body"]


def test_a_value_mapped_to_hold_is_recorded_and_places_nothing(mapped_file, client, db):
    answer = client.post(f"/webhooks/tradingview/{db}", content=json.dumps(mybot(side=0)))
    assert answer.status_code == 202
    assert (answer.json()["status"], answer.json()["intents"]) == ("accepted", 0)
    drain_queues()
    assert trace(client, answer.json()["signal_id"])["action"] == "hold"
    with unit_of_work() as session:
        assert session.execute(select(func.count()).select_from(OrderIntentRecord)).scalar_one() == 0


def test_a_bad_value_is_invalid_naming_the_senders_field_and_listing_the_map(mapped_file, client, db):
    answer = client.post(f"/webhooks/tradingview/{db}", content=json.dumps(mybot(side=2)))
    assert answer.status_code == 422
    assert answer.json()["field"] == "side" and "1, -1, 0" in answer.json()["message"]
    placeholder = client.post(f"/webhooks/tradingview/{db}", content=kvbot(side="{{strategy.order.action}}"))
    assert placeholder.status_code == 422
    assert placeholder.json()["field"] == "SIDE" and "placeholder" in placeholder.json()["message"]
    assert BODY_SECRET not in stored_everywhere(placeholder.json()["signal_id"])


def test_a_strategy_reads_its_webhooks_with_its_own_dialect(mapped_file, client, db, admin):
    token = client.post("/api/v1/strategies/csv/rotate-token", headers=admin).json()["token"]
    body = b"X9,SOLUSDT,LONG,150"  # no CSV1 prefix: detection would not take it
    assert client.post(f"/webhooks/tradingview/{db}", content=body).status_code == 422
    answer = client.post(f"/webhooks/tradingview/{token}", content=body)
    assert answer.status_code == 202 and answer.json()["status"] == "accepted", answer.text
    seen = trace(client, answer.json()["signal_id"])
    assert (seen["strategy"], seen["dialect"], seen["symbol"], seen["signal"]["size"]["amount"]) == (
        "csv", "csvbot", "SOL/USDT", "0.1")
    forced = client.post(f"/webhooks/tradingview/{token}?dialect=kvbot", content=kvbot("SHORT"))
    assert forced.status_code == 202 and trace(client, forced.json()["signal_id"])["dialect"] == "kvbot"


# --- The API: ?dialect= on the signals endpoint and the dry run ---------------------------

def test_the_dry_run_shows_what_a_forced_mapping_read(mapped_file, client, db, admin):
    body = {"instrument": "ETHUSDT", "side": "-1", "px": "2500", "auth": {"code": BODY_SECRET}}
    answer = client.post("/api/v1/signals/dry-run?dialect=mybot", content=json.dumps(body), headers=admin)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert (data["signal"]["dialect"], data["signal"]["action"], data["signal"]["size"]) == (
        "mybot", "sell", {"amount": "0.001", "unit": "base"})
    assert data["read"]["action"] == {"from": "side", "found": "-1", "used": "sell"}
    assert data["read"]["size"] == {"from": "qty", "found": None, "used": "0.001"}
    assert BODY_SECRET not in answer.text
    unknown = client.post("/api/v1/signals/dry-run?dialect=nobot", content=json.dumps(body), headers=admin)
    assert unknown.status_code == 422 and unknown.json()["field"] == "dialect" and "mybot" in unknown.json()["message"]
    with unit_of_work() as session:
        assert session.execute(select(func.count()).select_from(SignalRecord)).scalar_one() == 0


def test_the_signals_endpoint_takes_a_mapping_by_name_and_nothing_else(mapped_file, client, db, admin):
    key = client.post("/api/v1/api-keys", headers=admin, json={"name": "k", "strategies": ["default"]}).json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    answer = client.post("/api/v1/signals?dialect=mybot", content=json.dumps(mybot(ts="2026-02-10T14:02:00Z")),
                         headers=headers)
    assert answer.status_code == 202 and answer.json()["status"] == "accepted", answer.text
    with unit_of_work() as session:
        row = session.get(SignalRecord, answer.json()["signal_id"])
        assert (row.source, row.dialect) == ("rest", "mybot")
    refused = client.post("/api/v1/signals?dialect=traderspost", content=b"{}", headers=headers)
    assert refused.status_code == 422 and refused.json()["field"] == "dialect"


# --- The poller reads a mapped prediction API -------------------------------------------

MYPRED = {
    "format": "json", "detect": {"present": ["/pair", "/signal"]},
    "fields": {"symbol": "/pair", "action": {"from": "/signal", "map": {"LONG": "buy", "SHORT": "sell",
                                                                        "NEUTRAL": "hold"}},
               "confidence": "/conf", "timeframe": "/tf", "signal_time": "/ts"},
}


def test_a_poller_reads_its_answers_with_a_mapped_dialect(db, prediction_api, monkeypatch):  # noqa: F811
    answers = {"BTCUSDT": {"pair": "BTCUSDT", "signal": "LONG", "conf": "0.9", "tf": "4h", "ts": 1770732000},
               "ETHUSDT": {"pair": "ETHUSDT", "signal": "neutral", "conf": 0.4, "tf": "4h", "ts": 1770732000}}

    def do_get(self) -> None:
        from urllib.parse import parse_qs, urlparse
        query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        self._send(200, answers[query["symbol"]])

    monkeypatch.setattr(PredictionApi, "do_GET", do_get)
    config = FileConfig.model_validate({"dialects": {"mypred": MYPRED}, "pollers": {"mine": {
        "base_url": prediction_api, "api_key_env": "MYPRED_KEY", "strategy": "default", "dialect": "mypred",
        "markets": [{"symbol": "BTCUSDT", "timeframe": "4h"}, {"symbol": "ETHUSDT", "timeframe": "4h"}]}}})
    assert poll_once(config, NOW, env={"MYPRED_KEY": "k"}) == 2
    assert poll_once(config, NOW, env={"MYPRED_KEY": "k"}) == 0  # already recorded
    with unit_of_work() as session:
        rows = {r.symbol: r for r in session.execute(select(SignalRecord)).scalars()}
    assert {s: (r.source, r.dialect, r.action, r.payload["confidence"]) for s, r in rows.items()} == {
        "BTC/USDT": ("prediction", "mypred", "buy", "0.9"), "ETH/USDT": ("prediction", "mypred", "hold", "0.4")}
    assert rows["ETH/USDT"].status == "accepted"  # a mapped NEUTRAL is a HOLD: recorded, nothing placed
    drain_queues()
    with unit_of_work() as session:
        assert session.execute(select(OrderRecord).where(OrderRecord.symbol == "ETH/USDT")).first() is None


# --- Mistakes in the file: refused when it is loaded, naming the key ---------------------

GOOD_JSON = """
[dialects.myfmt]
detect = { present = ["/instrument"] }
[dialects.myfmt.fields]
symbol = "/instrument"
action = { from = "/side", map = { "1" = "buy" } }
"""


@pytest.mark.parametrize("old,new,key", [
    ('action = { from = "/side", map = { "1" = "buy" } }', 'action = { from = "/side", map = { "1" = "buyy" } }',
     "dialects.myfmt.fields.action.map"),
    ('symbol = "/instrument"\n', 'symbol = "/instrument"\ncolour = "/c"\n', "dialects.myfmt.fields.colour"),
    ('symbol = "/instrument"\n', 'symbol = "instrument"\n', "dialects.myfmt.fields.symbol"),
    ('symbol = "/instrument"\n', 'symbol = "/a~2b"\n', "dialects.myfmt.fields.symbol"),
    ('symbol = "/instrument"\n', 'symbol = "/instrument"\nsize = { default = "a lot" }\n',
     "dialects.myfmt.fields.size.default"),
    ('symbol = "/instrument"\n', 'symbol = "/instrument"\nsize = { from = "/q", mapp = {} }\n',
     "dialects.myfmt.fields.size.mapp"),
    ('symbol = "/instrument"\n', '', "dialects.myfmt.fields.symbol"),
    ('detect = { present = ["/instrument"] }\n', '', "dialects.myfmt.detect"),
    ('detect = { present = ["/instrument"] }', 'detect = {}', "dialects.myfmt.detect"),
    ('detect = { present = ["/instrument"] }', 'detect = { regex = "^x" }', "dialects.myfmt.detect.regex"),
    ('[dialects.myfmt]\n', '[dialects.myfmt]\nformat = "text"\n', "dialects.myfmt.separator"),
    ('[dialects.myfmt]\n', '[dialects.myfmt]\nformat = "text"\nseparator = ","\n', "dialects.myfmt.fields.symbol"),
    ("dialects.myfmt", "dialects.tradingview", "dialects.tradingview"),
    ("dialects.myfmt", "dialects.MyFmt", "dialects.MyFmt"),
])
def test_a_mistake_in_a_mapping_is_refused_naming_the_key(tmp_path, old, new, key):
    assert old in GOOD_JSON
    load_config(write(tmp_path, GOOD_JSON))  # the unchanged mapping loads
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, GOOD_JSON.replace(old, new)))
    assert caught.value.field == key, caught.value.message
    assert key in caught.value.message


def test_strategies_and_pollers_may_name_only_known_dialects(tmp_path):
    poller = ('[pollers.p]\nbase_url = "https://api.example.test"\napi_key_env = "K"\nstrategy = "default"\n'
              'markets = [{symbol = "BTCUSDT", timeframe = "4h"}]\n')
    loaded = load_config(write(tmp_path, GOOD_JSON + '[strategies.s]\ndialect = "myfmt"\n' + poller
                               + 'dialect = "myfmt"\n'))
    assert (loaded.strategies["s"].dialect, loaded.pollers["p"].dialect) == ("myfmt", "myfmt")
    for text, key in [(GOOD_JSON + '[strategies.s]\ndialect = "nofmt"\n', "strategies.s.dialect"),
                      (GOOD_JSON + poller + 'dialect = "tradingview"\n', "pollers.p.dialect")]:
        with pytest.raises(ConfigError) as caught:
            load_config(write(tmp_path, text))
        assert caught.value.field == key


def test_the_process_refuses_a_file_with_a_broken_mapping(monkeypatch, tmp_path):
    monkeypatch.setenv("TRADEWIRE_CONFIG", str(write(tmp_path, GOOD_JSON.replace('"/side"', '"side"'))))
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"dialects\.myfmt\.fields\.action: 'side' is not a JSON pointer"):
            get_settings()
    finally:
        monkeypatch.delenv("TRADEWIRE_CONFIG")
        get_settings.cache_clear()


# --- Detection: unambiguous, and the corpus keeps its dialects ---------------------------

def mapped(text: str = MAPPINGS) -> dict[str, Any]:
    import tomllib
    return compile_all(FileConfig.model_validate(tomllib.loads(text)).dialects)


def decoded(path: Path) -> Any:
    rendered = json.loads(path.read_text(encoding="utf-8"))["rendered"]
    return parsers.decode_body((rendered if isinstance(rendered, str) else json.dumps(rendered)).encode())


# Mappings a user could well write for senders whose alerts look like the corpus's. The first
# three claim corpus payloads a built-in dialect with a shape of its own reads (3Commas, TradersPost,
# APIndicators), which keep them; the last two name a marker of their sender, so the payloads the
# catch-all readers take (tradingview, octobot) stay theirs.
LOOKALIKES = MAPPINGS + """
[dialects.signalbot]
detect = { present = ["/tv_instrument", "/action"] }
fields = { symbol = "/tv_instrument", action = "/action" }

[dialects.tpstyle]
detect = { present = ["/ticker", "/action", "/sentiment"] }
fields = { symbol = "/ticker", action = "/action" }

[dialects.apistyle]
detect = { present = ["/symbol", "/prediction"] }
fields = { symbol = "/symbol", action = { from = "/prediction", map = { BUY = "buy", SELL = "sell" } } }

[dialects.tvmarked]
detect = { present = ["/ticker", "/action"], equals = { "/bot" = "mine" } }
fields = { symbol = "/ticker", action = "/action" }

[dialects.kvmarked]
format = "text"
separator = "\\n"
key_value = "="
detect = { present = ["SYMBOL", "SIGNAL", "BOT"] }
fields = { symbol = "SYMBOL", action = "SIGNAL" }
"""


CLAIMED = {"03": "tpstyle", "05": "signalbot", "30": "apistyle"}  # a mapping's rule holds for these


@pytest.mark.parametrize("path", sorted(CORPUS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_no_corpus_payload_changes_dialect_when_mappings_are_configured(path: Path) -> None:
    data, dialects = decoded(path), mapped(LOOKALIKES)
    before, after = parsers.detect(data), parsers.detect(data, dialects)
    assert (after and after.NAME) == (before and before.NAME)
    claims = [d.NAME for d in dialects.values() if d.detect(data)]
    assert claims == ([CLAIMED[path.name[:2]]] if path.name[:2] in CLAIMED else [])


def test_a_body_two_dialects_could_read_goes_to_the_more_specific_one() -> None:
    dialects = mapped(LOOKALIKES + """
[dialects.exact]
detect = { present = ["/instrument", "/side"], equals = { "/bot" = "exact" } }
[dialects.exact.fields]
symbol = "/instrument"
action = "/side"
""")
    assert parsers.detect({"instrument": "BTCUSDT", "side": "1"}, dialects).NAME == "mybot"
    assert parsers.detect({"instrument": "BTCUSDT", "side": "buy", "bot": "exact"}, dialects).NAME == "exact"
    generic = {"ticker": "BTCUSDT", "action": "buy", "instrument": "BTCUSDT", "side": "1"}
    assert parsers.detect(generic).NAME == "tradingview" and parsers.detect(generic, dialects).NAME == "mybot"
    specific = {"tv_instrument": "BTCUSDT", "action": "buy", "instrument": "BTCUSDT", "side": "1"}
    assert parsers.detect(specific, dialects).NAME == "threecommas"  # a built-in with a marker of its own wins
    forced = parsers.parse_decoded(generic, NOW, dialect="tradingview", mapped=dialects).signal
    assert (forced.dialect, forced.action) == ("tradingview", Action.BUY)


@pytest.mark.parametrize("side,qty,ts", [
    (1, 0.001, 1770732000), ("1", "0.001", "1770732000000"), (" 1 ", "1e-3", "2026-02-10T14:00:00Z"),
    ("1", "0.0010", "2026-02-10T15:00:00+01:00"), ("1", "0.001", "2026-02-10T14:00:00.000Z"),
])
def test_numbers_quoted_or_bare_and_every_time_format_read_alike(side, qty, ts) -> None:
    body = json.dumps(mybot(side=side, qty=qty, ts=ts)).encode()  # bare numbers stay bare in the JSON
    signal = parsers.parse(body, NOW, mapped=mapped()).signal
    assert (signal.action, signal.size.amount, signal.price, signal.signal_time) == (
        Action.BUY, Decimal("0.001"), Decimal("60000"), datetime(2026, 2, 10, 14, tzinfo=UTC))


def test_a_stored_alert_of_a_mapped_dialect_replays(mapped_file, client, db):
    """A replay reads stored bodies with the file's mappings, as the API read them (it said
    "unknown dialect 'kvbot'" before)."""
    answer = client.post(f"/webhooks/tradingview/{db}", content=kvbot(), headers={"content-type": "text/plain"})
    assert answer.json()["status"] == "accepted", answer.text
    request = load_request({"input": {"kind": "stored", "strategy": "default"},
                            "fill": {"source": "replaytest", "timeframe": "1h", "fetch_missing": False},
                            "configs": [{"name": "a"}]})
    with unit_of_work() as session:
        replay_id = create(session, request)
    assert run(replay_id) == "done"
    with unit_of_work() as session:
        report = json.loads(session.get(ReplayRecord, replay_id).report)
    assert report["inputs"]["items"] == 1
    reasons = [u["reason"] for u in report["configurations"][0]["untraded"]]
    assert reasons and not any(r.startswith("invalid") for r in reasons), reasons  # read: only the candles miss
