"""The webhook through the real API app, PostgreSQL, Redis and an RQ worker (burst mode)."""

import json
import uuid
from decimal import Decimal

from sqlalchemy import func, select

from app.db import unit_of_work
from app.persistence.models import EventRecord, FillRecord, OrderIntentRecord, OrderRecord, PositionRecord, SignalRecord
from tests.conftest import corpus01_with_token, drain_queues


def count(model) -> int:
    with unit_of_work() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def position(symbol: str) -> Decimal:
    with unit_of_work() as session:
        value = session.execute(select(PositionRecord.quantity).where(PositionRecord.symbol == symbol)).scalar()
    return value if value is not None else Decimal(0)


def post(client, token: str, body: bytes | dict, content_type: str = "application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(f"/webhooks/tradingview/{token}", content=data, headers={"content-type": content_type})


def alert(
    action: str, target: str, prev: str, contracts: str, time: str, close: str = "0.1", ticker: str = "DOGEUSDT"
) -> dict:
    return {
        "ticker": ticker,
        "exchange": "BINANCE",
        "time": time,
        "bar": {"close": close},
        "strategy": {
            "order_action": action,
            "order_contracts": contracts,
            "market_position": target,
            "prev_market_position": prev,
        },
    }


def test_corpus01_alert_becomes_a_paper_fill_and_a_long_position(client, db, admin):
    answer = post(client, db, corpus01_with_token(db))
    assert answer.status_code == 202
    assert answer.json()["status"] == "accepted"
    drain_queues()
    trace = client.get(f"/api/v1/signals/{answer.json()['signal_id']}", headers=admin).json()
    order = trace["intents"][0]["order"]
    assert order["status"] == "FILLED"
    assert order["fills"][0]["quantity"] == "10000"
    assert order["fills"][0]["price"] == "0.0027486"
    assert order["fills"][0]["fee"] == "0.027486"  # 0.1% of 27.486 USDT
    assert [s["step"] for s in trace["timeline"]] == [
        "received", "parsed", "decided", "enqueued", "claimed", "submitted", "acknowledged", "filled"
    ]
    assert position("DOGE/USDT") == Decimal("10000")
    balances = client.get("/api/v1/accounts", headers=admin).json()[0]["balances"]
    assert balances == {"USDT": "9972.486514", "DOGE": "10000"}


def test_text_plain_content_type_is_parsed_as_json(client, db):
    answer = post(client, db, corpus01_with_token(db), content_type="text/plain")
    assert answer.json()["status"] == "accepted"


def test_unknown_token_is_401_and_nothing_is_stored(client, db):
    answer = post(client, "not-a-token", corpus01_with_token("x"))
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthenticated"
    assert count(SignalRecord) == 0


def test_unparseable_body_is_422_and_recorded_invalid_without_its_secret(client, db, admin):
    body = b'{"passphrase": "hunter2", "ticker": "BTCUSDT", "action": "buy",,}'
    answer = post(client, db, body, content_type="text/plain")
    assert answer.status_code == 422
    assert answer.json()["field"] == "body"
    assert "not valid JSON" in answer.json()["message"]
    trace = client.get(f"/api/v1/signals/{answer.json()['signal_id']}", headers=admin).json()
    assert trace["status"] == "invalid"
    assert "hunter2" not in trace["raw_body"] and "BTCUSDT" in trace["raw_body"]


def test_leftover_placeholder_is_invalid_naming_the_field(client, db):
    body = alert("buy", "long", "flat", "{{strategy.order.contracts}}", "2026-01-01T00:00:00Z")
    answer = post(client, db, body)
    assert answer.status_code == 422
    assert answer.json()["field"] == "strategy.order_contracts"


def test_duplicate_alert_places_no_second_order(client, db):
    first = post(client, db, corpus01_with_token(db)).json()
    second = post(client, db, corpus01_with_token(db)).json()
    assert second == {**second, "status": "duplicate", "signal_id": first["signal_id"], "intents": 0}
    drain_queues()
    assert count(OrderRecord) == 1
    assert count(SignalRecord) == 2  # the repeat is recorded too


def test_body_passphrase_identifies_the_strategy_without_a_url_token(client, db):
    answer = client.post("/webhooks/tradingview", content=corpus01_with_token(db))
    assert answer.status_code == 202
    assert client.post("/webhooks/tradingview", content=corpus01_with_token("wrong")).status_code == 401


def test_halted_account_rejects_with_the_reason_and_orders_nothing(client, db, admin):
    assert client.put("/api/v1/accounts/paper/trading-state", json={"state": "HALTED"}, headers=admin).status_code == 200
    answer = post(client, db, corpus01_with_token(db)).json()
    assert answer["status"] == "rejected"
    assert "HALTED" in answer["reason"]
    assert count(OrderIntentRecord) == 0


def test_sell_to_flat_closes_the_long_and_reversal_closes_then_opens(client, db):
    perp = "DOGE/USDT:USDT"
    post(client, db, alert("buy", "long", "flat", "100", "2026-01-01T00:00:00Z", ticker="DOGEUSDT.P"))
    drain_queues()
    assert position(perp) == Decimal("100")
    post(client, db, alert("sell", "flat", "long", "100", "2026-01-01T00:01:00Z", ticker="DOGEUSDT.P"))
    drain_queues()
    assert position(perp) == Decimal("0")
    post(client, db, alert("sell", "short", "flat", "300", "2026-01-01T00:02:00Z", ticker="DOGEUSDT.P"))
    drain_queues()
    assert position(perp) == Decimal("-300")
    answer = post(client, db, alert("buy", "long", "short", "500", "2026-01-01T00:03:00Z", ticker="DOGEUSDT.P")).json()
    assert answer["intents"] == 2
    drain_queues()
    assert position(perp) == Decimal("500")


def test_opposite_signal_on_spot_only_closes_the_long(client, db):
    post(client, db, alert("buy", "long", "flat", "100", "2026-01-01T00:00:00Z"))
    drain_queues()
    answer = post(client, db, alert("sell", "short", "long", "100", "2026-01-01T00:01:00Z")).json()
    assert answer["intents"] == 1
    drain_queues()
    assert position("DOGE/USDT") == Decimal("0")


def test_job_run_twice_places_one_order(client, db):
    from app.execution.service import execute_intent

    post(client, db, corpus01_with_token(db))
    with unit_of_work() as session:
        intent_id = session.execute(select(OrderIntentRecord.id)).scalar_one()
    execute_intent(intent_id)
    execute_intent(intent_id)
    drain_queues()
    assert count(OrderRecord) == 1
    assert count(FillRecord) == 1


def test_sweeper_enqueues_an_intent_whose_enqueue_was_lost(client, db):
    from app.jobs.queue import get_queue
    from app.jobs.relay import sweep

    post(client, db, corpus01_with_token(db))
    get_queue("paper").empty()  # as if Redis lost the job
    assert sweep(grace_seconds=0) == 1
    drain_queues()
    assert count(FillRecord) == 1
    assert sweep(grace_seconds=0) == 0


def test_paper_rejects_a_buy_beyond_its_balance(client, db, admin):
    answer = post(client, db, alert("buy", "long", "flat", "1000000", "2026-01-01T00:00:00Z", close="1")).json()
    drain_queues()
    order = client.get(f"/api/v1/signals/{answer['signal_id']}", headers=admin).json()["intents"][0]["order"]
    assert order["status"] == "REJECTED"
    assert "insufficient funds" in order["reason"] and "10000 USDT" in order["reason"]
    assert position("DOGE/USDT") == Decimal("0")


def test_admin_endpoints_need_the_admin_token(client, db):
    assert client.get("/api/v1/orders").status_code == 401
    assert client.get("/api/v1/orders", headers={"Authorization": f"Bearer {db}"}).status_code == 401


def test_new_strategy_gets_a_token_and_a_webhook_url_that_works(client, db, admin):
    created = client.post("/api/v1/strategies", json={"name": "ma-cross"}, headers=admin).json()
    assert created["webhook_url"].endswith(f"/webhooks/tradingview/{created['token']}")
    assert post(client, created["token"], corpus01_with_token("x")).status_code == 202
    listed = client.get("/api/v1/strategies", headers=admin).text
    assert created["token"] not in listed


def test_readyz_reports_postgresql_and_redis(client):
    ready = client.get("/readyz").json()
    assert (ready["status"], ready["checks"]) == ("ready", {"postgresql": "ok", "redis": "ok"})


def test_sweeper_takes_back_a_job_whose_worker_died_before_claiming_it(client, db):
    from datetime import timedelta

    from rq.job import Job, JobStatus

    from app.jobs.queue import JOB_SERIALIZER, get_queue, get_redis
    from app.jobs.relay import sweep

    post(client, db, corpus01_with_token(db))
    with unit_of_work() as session:
        intent = session.execute(select(OrderIntentRecord)).scalar_one()
        job = Job.fetch(intent.client_order_id, connection=get_redis(), serializer=JOB_SERIALIZER)
    get_queue("paper").remove(job)
    job.set_status(JobStatus.STARTED)  # a worker took the job, then was SIGKILLed before its claim
    assert sweep(grace_seconds=0) == 0  # a started job is left alone at first
    with unit_of_work() as session:
        session.execute(
            OrderIntentRecord.__table__.update().values(created_at=OrderIntentRecord.created_at - timedelta(seconds=60))
        )
    assert sweep(grace_seconds=0) == 1
    drain_queues()
    assert count(FillRecord) == 1


def test_sweeper_takes_back_a_job_lost_between_dequeue_and_start(client, db):
    from datetime import timedelta

    from rq.job import Job

    from app.jobs.queue import JOB_SERIALIZER, get_queue, get_redis
    from app.jobs.relay import sweep

    post(client, db, corpus01_with_token(db))
    with unit_of_work() as session:
        intent = session.execute(select(OrderIntentRecord)).scalar_one()
    get_queue("paper").remove(Job.fetch(intent.client_order_id, connection=get_redis(), serializer=JOB_SERIALIZER))  # still "queued", in no queue
    assert sweep(grace_seconds=0) == 0  # young: left alone
    with unit_of_work() as session:
        session.execute(
            OrderIntentRecord.__table__.update().values(created_at=OrderIntentRecord.created_at - timedelta(seconds=60))
        )
    assert sweep(grace_seconds=0) == 1
    drain_queues()
    assert count(FillRecord) == 1


def test_cancel_alert_queues_the_cancellation_on_the_accounts_venue(client, db):
    from app.jobs.queue import get_queue

    body = {"tradewire": 1, "symbol": "BINANCE:DOGEUSDT", "action": "cancel", "signal_time": "2026-01-01T00:00:00Z"}
    answer = post(client, db, body).json()
    assert (answer["status"], answer["intents"]) == ("accepted", 0)
    jobs = get_queue("paper").jobs
    assert [j.func_name for j in jobs] == ["app.jobs.tasks.handle_event"]  # of the cancel.requested event
    with unit_of_work() as session:
        event = session.get(EventRecord, uuid.UUID(jobs[0].args[0]))
        assert (event.kind, event.payload["symbol"], event.signal_id) == ("cancel.requested", "DOGE/USDT",
                                                                          uuid.UUID(answer["signal_id"]))
    drain_queues()
    assert get_queue("paper").count == 0
    with unit_of_work() as session:
        assert session.get(EventRecord, event.id).handled_at is not None
