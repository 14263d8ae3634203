"""Signals as users send them: every corpus payload through the endpoint it is meant for, the
API-key endpoints (canonical signals, predictions, dry run), staleness and concurrency.

Through the real API app, PostgreSQL, Redis and an RQ worker in burst mode.
"""

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import unit_of_work
from app.domain.money import fmt
from app.persistence.models import (
    FillRecord,
    OrderIntentRecord,
    OrderRecord,
    PositionRecord,
    RiskDecisionRecord,
    SignalRecord,
)
from tests.conftest import ADMIN_TOKEN, CORPUS_DIR, corpus, corpus01_with_token, drain_queues, rendered_bytes


def count(model) -> int:
    with unit_of_work() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def api_key(client, admin, strategies=("default",)) -> str:
    answer = client.post("/api/v1/api-keys", headers=admin, json={"name": "t", "strategies": list(strategies)})
    return answer.json()["key"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- every corpus file, posted as a user would ----------------------------------------------

# What a user must see per corpus file: HTTP status, signal status, and a text in the
# reason (rejected / invalid) or the fill as "quantity @ price" (accepted).
CORPUS_OUTCOMES: dict[str, tuple[int, str, str]] = {
    "01_hackingthemarkets_binance_strategy_filled.json": (202, "accepted", "FILLED 10000 @ 0.0027486"),
    "02_traderspost_indicator.json": (202, "accepted", "FILLED 0.00148296 @ 67432.5"),
    "03_traderspost_strategy.json": (202, "rejected", "no BTC/USDT position to close"),
    "05_3commas_signal_bot_strategy.json": (202, "rejected", "max lag 300 s"),
    "10_sadolintw_tradebot.json": (422, "invalid", "not valid JSON"),
    "16_octobot_plain_text.json": (202, "rejected", "needs the signal's reference price"),
    "23_tvbit_json_with_comments_malformed.json": (422, "invalid", "not valid JSON"),
    "30_apindicators_prediction.json": (202, "rejected", "needs the signal's reference price"),
}


def corpus_paths() -> list[Path]:
    return sorted(CORPUS_DIR.glob("*.json"))


def post_as_a_user(client, token: str, key: str, entry: dict[str, Any]):
    """Corpus 30 (a prediction API answer) to /api/v1/predictions with an API key; every
    other file to the strategy's TradingView webhook URL with TradingView's Content-Type."""
    body = rendered_bytes(entry)
    if entry.get("kind") == "prediction_api":
        return client.post("/api/v1/predictions", content=body, headers=bearer(key) | {"content-type": "application/json"})
    return client.post(f"/webhooks/tradingview/{token}", content=body, headers={"content-type": entry["content_type"]})


def what_the_user_sees(client, admin, answer) -> tuple[int, str, str]:
    """(HTTP status, signal status, reason or the first order's outcome) after the worker ran,
    as the signal's admin trace shows them (read from the tables it is built from)."""
    signal_id = answer.json()["signal_id"]
    drain_queues()
    with unit_of_work() as session:
        status, reason = session.execute(
            select(SignalRecord.status, SignalRecord.reason).where(SignalRecord.id == signal_id)
        ).one()
        order = session.execute(
            select(OrderRecord).join(OrderIntentRecord, OrderIntentRecord.id == OrderRecord.intent_id)
            .where(OrderIntentRecord.signal_id == signal_id).order_by(OrderIntentRecord.sequence)
        ).scalars().first()
        if status != "accepted" or order is None:
            return answer.status_code, status, reason or "(no orders)"
        fill = session.execute(select(FillRecord).where(FillRecord.order_id == order.id)).scalars().first()
        outcome = f"{order.status} {fmt(fill.quantity)} @ {fmt(fill.price)}" if fill else f"{order.status}: {order.reason}"
    return answer.status_code, status, outcome


@pytest.mark.parametrize("path", corpus_paths(), ids=lambda p: p.name[:2])
def test_every_corpus_payload_reaches_a_paper_fill_or_a_clear_rejection(client, db, admin, path: Path) -> None:
    entry = json.loads(path.read_text())
    answer = post_as_a_user(client, db, api_key(client, admin), entry)
    http_status, status, outcome = what_the_user_sees(client, admin, answer)
    print(f"\n| {path.name} | {http_status} | {status} | {outcome} |")
    assert http_status in (202, 422) and status in ("accepted", "rejected", "invalid")
    if status == "invalid":
        assert http_status == 422 and answer.json()["field"], answer.json()
    expected = CORPUS_OUTCOMES.get(path.name)
    if expected is not None:
        assert (http_status, status) == expected[:2]
        assert expected[2] in outcome


def test_corpus_03_after_02_closes_the_long_but_paper_needs_a_price(client, db, admin):
    """TradersPost's strategy template (03) carries no price: risk approves the close of the
    long 02 opened, and the paper venue, which has no market data here, rejects it saying so."""
    url = f"/webhooks/tradingview/{db}"
    client.post(url, content=rendered_bytes(corpus("02")))
    drain_queues()
    answer = client.post(url, content=rendered_bytes(corpus("03")))
    http_status, status, outcome = what_the_user_sees(client, admin, answer)
    assert (http_status, status, answer.json()["intents"]) == (202, "accepted", 1)
    assert outcome.startswith("REJECTED: paper venue has no price") and '"price": "{{close}}"' in outcome
    with_price = json.loads(rendered_bytes(corpus("03"))) | {"price": "67500"}
    closed = client.post(url, json=with_price)
    assert what_the_user_sees(client, admin, closed) == (202, "accepted", "FILLED 0.00148296 @ 67500")
    with unit_of_work() as session:
        positions = session.execute(select(PositionRecord.symbol, PositionRecord.quantity)).all()
    assert [(symbol, fmt(quantity)) for symbol, quantity in positions] == [("BTC/USDT", "0")]


# --- staleness -----------------------------------------------------------------------------


def threecommas(timestamp: str) -> bytes:
    payload = json.loads(rendered_bytes(corpus("05")))
    return json.dumps(payload | {"timestamp": timestamp}).encode()


def test_stale_3commas_signal_is_rejected_with_both_times(client, db):
    sent = (datetime.now(UTC) - timedelta(seconds=900)).replace(microsecond=0)
    answer = client.post(f"/webhooks/tradingview/{db}", content=threecommas(sent.isoformat().replace("+00:00", "Z")))
    data = answer.json()
    assert answer.status_code == 202 and data["status"] == "rejected"
    assert f"sent {sent.isoformat()}" in data["reason"]
    assert f"received {datetime.now(UTC):%Y-%m-%d}" in data["reason"]
    assert "max lag 300 s" in data["reason"]
    assert count(OrderIntentRecord) == 0


def test_fresh_3commas_signal_fills(client, db, admin):
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    answer = client.post(f"/webhooks/tradingview/{db}", content=threecommas(now))
    assert what_the_user_sees(client, admin, answer) == (202, "accepted", "FILLED 0.015 @ 67432.5")


def test_stale_canonical_signal_uses_its_max_lag(client, db, admin):
    body = {"symbol": "BTCUSDT", "action": "buy", "size": "0.001", "price": "60000", "max_lag": 60,
            "signal_time": int(time.time()) - 120}
    data = client.post("/api/v1/signals", json=body, headers=bearer(api_key(client, admin))).json()
    assert data["status"] == "rejected" and "max lag 60 s" in data["reason"] and "sent " in data["reason"]


# --- twenty identical alerts at once ---------------------------------------------------------


def post_concurrently(client, url: str, body: bytes, headers: dict[str, str], n: int = 20) -> list[Any]:
    barrier = threading.Barrier(n)
    answers: list[Any] = [None] * n

    def send(i: int) -> None:
        barrier.wait()
        answers[i] = client.post(url, content=body, headers=headers)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_twenty_identical_alerts_at_once_make_one_intent_and_one_order(client, db):
    answers = post_concurrently(client, f"/webhooks/tradingview/{db}", corpus01_with_token(db), {})
    assert {a.status_code for a in answers} == {202}
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses == ["accepted"] + ["duplicate"] * 19
    assert len({a.json()["signal_id"] for a in answers}) == 1
    drain_queues()
    assert count(OrderIntentRecord) == 1
    assert count(OrderRecord) == 1
    assert count(SignalRecord) == 20


def test_twenty_identical_api_signals_at_once_make_one_order(client, db, admin):
    body = json.dumps({"symbol": "ETHUSDT", "action": "buy", "size": "0.01", "price": "3000",
                       "idempotency_key": "gen-1"}).encode()
    answers = post_concurrently(client, "/api/v1/signals", body, bearer(api_key(client, admin)))
    assert sorted(a.json()["status"] for a in answers) == ["accepted"] + ["duplicate"] * 19
    drain_queues()
    assert count(OrderRecord) == 1


# --- POST /api/v1/signals -------------------------------------------------------------------


def test_canonical_signal_without_the_marker_fills_on_paper(client, db, admin):
    body = {"strategy": "default", "symbol": "BINANCE:ETHUSDT", "action": "buy", "size": 50, "size_unit": "quote",
            "price": "2500", "idempotency_key": "gen-7"}
    answer = client.post("/api/v1/signals", json=body, headers=bearer(api_key(client, admin)))
    assert what_the_user_sees(client, admin, answer) == (202, "accepted", "FILLED 0.02 @ 2500")
    with unit_of_work() as session:
        source, dialect = session.execute(select(SignalRecord.source, SignalRecord.dialect)).one()
    assert (source, dialect) == ("rest", "tradewire")


def test_invalid_canonical_signal_is_recorded_without_its_secret(client, db, admin):
    body = {"symbol": "BTCUSDT", "action": "{{strategy.order.action}}", "api_secret": "hunter2"}
    answer = client.post("/api/v1/signals", json=body, headers=bearer(api_key(client, admin)))
    assert answer.status_code == 422 and answer.json()["field"] == "action"
    with unit_of_work() as session:
        row = session.get(SignalRecord, answer.json()["signal_id"])
    assert row.status == "invalid" and "hunter2" not in row.raw_body and "BTCUSDT" in row.raw_body


def test_signals_endpoint_forces_the_tradewire_dialect(client, db, admin):
    answer = client.post("/api/v1/signals", content=rendered_bytes(corpus("16")), headers=bearer(api_key(client, admin)))
    assert answer.status_code == 422 and answer.json()["field"] == "body"


def test_body_above_64_kib_is_413_and_stores_nothing(client, db, admin):
    body = json.dumps({"symbol": "BTCUSDT", "action": "buy", "comment": "x" * 70_000}).encode()
    assert client.post("/api/v1/signals", content=body, headers=bearer(api_key(client, admin))).status_code == 413
    assert count(SignalRecord) == 0


@pytest.mark.parametrize("body", [b'{"symbol": "BTCUSDT", "action": "buy", "comment": "a\\u0000b"}',
                                  b'{"symbol": "BTCUSDT", "action": "buy"}\x00'])
def test_nul_character_is_422_not_a_server_error(client, db, admin, body):
    key = api_key(client, admin)
    answer = client.post("/api/v1/signals", content=body, headers=bearer(key))
    assert answer.status_code == 422 and "NUL" in answer.json()["message"]
    assert client.post(f"/webhooks/tradingview/{db}", content=body).status_code == 422


# --- POST /api/v1/predictions ---------------------------------------------------------------


def prediction(word: str, **extra: Any) -> bytes:
    return json.dumps(corpus("30")["rendered"] | {"prediction": word} | extra).encode()


def test_hold_prediction_is_recorded_and_places_nothing(client, db, admin):
    answer = client.post("/api/v1/predictions", content=prediction("HOLD"), headers=bearer(api_key(client, admin)))
    data = answer.json()
    assert answer.status_code == 202 and data["status"] == "accepted" and data["intents"] == 0
    drain_queues()
    with unit_of_work() as session:
        row = session.get(SignalRecord, data["signal_id"])
        approved = session.execute(select(RiskDecisionRecord.approved)).scalar_one()
    assert (row.source, row.dialect, row.action) == ("prediction", "prediction", "hold")
    assert approved is True
    assert count(OrderIntentRecord) == 0


def test_same_prediction_twice_is_a_duplicate(client, db, admin):
    key = api_key(client, admin)
    first = client.post("/api/v1/predictions", content=prediction("SELL"), headers=bearer(key)).json()
    again = client.post("/api/v1/predictions", content=prediction("SELL"), headers=bearer(key)).json()
    assert again["status"] == "duplicate" and again["signal_id"] == first["signal_id"]


def test_prediction_below_the_strategy_confidence_is_rejected_with_both_numbers(client, db, admin):
    from app.db import unit_of_work as uow
    from app.persistence.models import Strategy

    with uow() as session:
        strategy = session.execute(select(Strategy).where(Strategy.name == "default")).scalar_one()
        strategy.settings = {**strategy.settings, "min_confidence": "0.9"}
    data = client.post("/api/v1/predictions", content=prediction("BUY"), headers=bearer(api_key(client, admin))).json()
    assert data["status"] == "rejected" and "0.82" in data["reason"] and "0.9" in data["reason"]


# --- POST /api/v1/signals/dry-run -----------------------------------------------------------


def test_dry_run_answers_the_exact_orders_and_records_nothing(client, db, admin):
    answer = client.post("/api/v1/signals/dry-run", content=corpus01_with_token("x"),
                         headers=bearer(api_key(client, admin)))
    assert answer.status_code == 200
    data = answer.json()
    assert data["approved"] is True and data["strategy"] == "default" and data["account"] == "paper"
    assert data["orders"] == [{"symbol": "DOGE/USDT", "side": "buy", "type": "market", "quantity": "10000",
                               "limit_price": None, "price": "0.0027486", "notional": "27.486", "reduce_only": False}]
    assert [c["check"] for c in data["checks"]][:2] == ["trading_state", "daily_loss"]
    assert count(SignalRecord) == count(RiskDecisionRecord) == count(OrderIntentRecord) == 0


def test_dry_run_takes_any_dialect_and_the_admin_token(client, db):
    octobot = rendered_bytes(corpus("16"))
    answer = client.post("/api/v1/signals/dry-run?dialect=octobot", content=octobot, headers=bearer(ADMIN_TOKEN))
    data = answer.json()
    assert answer.status_code == 200 and data["strategy"] == "default"
    assert data["approved"] is False and "reference price" in data["reason"]
    assert count(SignalRecord) == 0


def test_dry_run_of_an_unparseable_body_is_422_and_records_nothing(client, db, admin):
    answer = client.post("/api/v1/signals/dry-run", content=rendered_bytes(corpus("23")),
                         headers=bearer(api_key(client, admin)))
    assert answer.status_code == 422 and answer.json()["field"] == "body"
    unknown = client.post("/api/v1/signals/dry-run?dialect=nope", content=b"{}", headers=bearer(ADMIN_TOKEN))
    assert unknown.status_code == 422 and unknown.json()["field"] == "dialect"
    assert count(SignalRecord) == 0


def test_dry_run_needs_credentials_and_keeps_the_key_scope(client, db, admin):
    assert client.post("/api/v1/signals/dry-run", content=corpus01_with_token("x")).status_code == 401
    client.post("/api/v1/strategies", json={"name": "other"}, headers=admin)
    key = api_key(client, admin, strategies=("other",))
    scoped = client.post("/api/v1/signals/dry-run?strategy=default", content=corpus01_with_token("x"), headers=bearer(key))
    assert scoped.status_code == 403
    own = client.post("/api/v1/signals/dry-run", content=corpus01_with_token("x"), headers=bearer(key))
    assert own.status_code == 200 and own.json()["strategy"] == "other"
