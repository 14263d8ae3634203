"""The operator's view through the real API: trace, lists with filters and cursors, accounts,
strategies (disable, rotate), re-drive."""

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit

from sqlalchemy import select, update

from app.db import unit_of_work
from app.jobs.queue import get_queue
from app.persistence.models import Account, BalanceRecord, OrderIntentRecord, OrderRecord
from tests.conftest import corpus01_with_token, drain_queues


def alert(symbol: str = "DOGE", action: str = "buy", size: str = "100", price: str = "0.1", minute: int = 0,
          **extra) -> bytes:
    return json.dumps({"tradewire": 1, "symbol": f"BINANCE:{symbol}USDT", "action": action, "size": size,
                       "size_unit": "base", "price": price, "signal_time": f"2026-11-20T10:{minute:02d}:00Z",
                       **extra}).encode()


def send(client, token: str, body: bytes) -> dict:
    return client.post(f"/webhooks/tradingview/{token}", content=body).json()


def test_trace_has_every_step_with_its_latency_every_check_and_no_secret(client, db, admin):
    answer = send(client, db, corpus01_with_token(db))
    drain_queues()
    trace = client.get(f"/api/v1/signals/{answer['signal_id']}", headers=admin).json()
    steps = trace["timeline"]
    assert [s["step"] for s in steps] == [
        "received", "parsed", "decided", "enqueued", "claimed", "submitted", "acknowledged", "filled"]
    timed = [s for s in steps if s["at"] is not None]
    assert steps[1]["at"] is None and "dialect" in steps[1]["detail"]
    since_received = [s["ms_since_received"] for s in timed]
    assert since_received[0] == 0 and since_received == sorted(since_received)
    # each step's own latency adds up to the time since receipt
    assert abs(sum(s["ms_since_previous"] for s in timed[1:]) - since_received[-1]) < 0.01
    assert all(s["client_order_id"] == trace["intents"][0]["client_order_id"] for s in timed[3:])
    checks = trace["decision"]["checks"]
    assert checks and all({"check", "passed", "reason"} <= set(c) <= {"check", "passed", "reason", "detail", "market"}
                          for c in checks)
    assert db not in trace["raw_body"] and "***" in trace["raw_body"]
    assert trace["account"] == "paper" and trace["strategy"] == "default"


def test_signal_list_pages_with_a_cursor_newest_first_and_filters(client, db, admin):
    ids = [send(client, db, alert(symbol, minute=i))["signal_id"] for i, symbol in enumerate(["DOGE", "XRP", "ADA"])]
    invalid = client.post(f"/webhooks/tradingview/{db}", content=b'{"tradewire": 1, "symbol": ').json()["signal_id"]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/signals", params=params, headers=admin).json()
        assert page["limit"] == 2 and len(page["items"]) <= 2
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [invalid, *reversed(ids)]
    only = client.get("/api/v1/signals", params={"status": "invalid"}, headers=admin).json()["items"]
    assert [s["id"] for s in only] == [invalid]
    xrp = client.get("/api/v1/signals", params={"symbol": "XRP/USDT", "strategy": "default",
                                                 "source": "tradingview", "dialect": "tradewire"}, headers=admin)
    assert [s["id"] for s in xrp.json()["items"]] == [ids[1]]
    received = datetime.fromisoformat(xrp.json()["items"][0]["received_at"])
    later = client.get("/api/v1/signals", params={"from": received.isoformat()}, headers=admin).json()["items"]
    assert {s["id"] for s in later} == {ids[1], ids[2], invalid}
    bad = client.get("/api/v1/signals", params={"cursor": "not-a-cursor"}, headers=admin)
    assert bad.status_code == 400 and bad.json()["field"] == "cursor"


def test_orders_fills_and_decisions_lists_filter(client, db, admin):
    send(client, db, alert("DOGE", minute=1))
    send(client, db, alert("XRP", minute=2))
    drain_queues()
    client.put("/api/v1/accounts/paper/trading-state", json={"state": "HALTED"}, headers=admin)
    send(client, db, alert("ADA", minute=3))
    orders = client.get("/api/v1/orders", params={"status": "filled", "venue": "paper"}, headers=admin).json()
    assert sorted(o["symbol"] for o in orders["items"]) == ["DOGE/USDT", "XRP/USDT"]
    assert all(o["account"] == "paper" for o in orders["items"])
    fills = client.get("/api/v1/fills", params={"symbol": "XRP/USDT"}, headers=admin).json()["items"]
    assert [(f["symbol"], f["quantity"], f["price"]) for f in fills] == [("XRP/USDT", "100", "0.1")]
    denied = client.get("/api/v1/decisions", params={"approved": False}, headers=admin).json()["items"]
    assert [(d["symbol"], d["failed_check"]) for d in denied] == [("ADA/USDT", "trading_state")]
    by_check = client.get("/api/v1/decisions", params={"failed_check": "trading_state"}, headers=admin).json()
    assert len(by_check["items"]) == 1
    order = client.get(f"/api/v1/orders/{orders['items'][0]['id']}", headers=admin).json()
    assert [e["to"] for e in order["events"]][-1] == "FILLED" and len(order["fills"]) == 1


def test_account_shows_equity_open_positions_and_why_it_is_halted(client, db, admin):
    send(client, db, alert("DOGE", size="1000", price="0.1"))
    drain_queues()
    changed = client.put("/api/v1/accounts/paper/trading-state", json={"state": "HALTED"}, headers=admin).json()
    assert changed == {"name": "paper", "trading_state": "HALTED", "previous_state": "ACTIVE"}
    account = client.get("/api/v1/accounts/paper", headers=admin).json()
    assert (account["venue"], account["trading_state"], account["state_reason"]) == ("paper", "HALTED", "operator")
    assert account["open_positions"] == [{"symbol": "DOGE/USDT", "quantity": "1000", "average_price": "0.1",
                                         "position_side": "net", "mark_price": None, "notional": None,
                                         "unrealized_pnl": None}]  # no market data here
    # 10,000 - 100 - 0.1 fee in cash, plus 1,000 DOGE at their 0.1 entry
    assert account["balances"]["USDT"] == "9899.9" and account["equity"] == "9999.9"
    assert client.get("/api/v1/accounts/nope", headers=admin).status_code == 404


def test_disabled_strategy_is_refused_until_enabled(client, db, admin):
    assert client.post("/api/v1/strategies/default/disable", headers=admin).json()["enabled"] is False
    assert client.post(f"/webhooks/tradingview/{db}", content=alert()).status_code == 401
    assert client.patch("/api/v1/strategies/default", json={"enabled": True}, headers=admin).json()["enabled"]
    assert client.post(f"/webhooks/tradingview/{db}", content=alert()).status_code == 202
    assert client.post("/api/v1/strategies/nope/disable", headers=admin).status_code == 404


def test_rotated_token_replaces_the_old_webhook_url(client, db, admin):
    rotated = client.post("/api/v1/strategies/default/rotate-token", headers=admin).json()
    assert rotated["webhook_url"].endswith(f"/webhooks/tradingview/{rotated['token']}") and rotated["token"] != db
    assert client.post(f"/webhooks/tradingview/{db}", content=alert()).status_code == 401
    assert client.post(urlsplit(rotated["webhook_url"]).path, content=alert()).status_code == 202
    assert rotated["token"] not in client.get("/api/v1/strategies", headers=admin).text


def test_failed_intent_is_redriven_as_a_fresh_copy_once(client, db, admin):
    answer = send(client, db, alert("DOGE", size="200000", price="0.1"))  # 20,000 USDT > 10,000
    drain_queues()
    trace = client.get(f"/api/v1/signals/{answer['signal_id']}", headers=admin).json()
    failed = trace["intents"][0]
    assert (failed["status"], failed["order"]["status"]) == ("failed", "REJECTED")
    with unit_of_work() as session:  # the operator tops the paper account up
        session.execute(update(BalanceRecord).where(BalanceRecord.currency == "USDT").values(total=Decimal(50000)))
    redriven = client.post(f"/api/v1/intents/{failed['id']}/redrive", headers=admin).json()
    assert redriven["action"] == "copied" and redriven["client_order_id"] != failed["client_order_id"]
    drain_queues()
    intents = client.get(f"/api/v1/signals/{answer['signal_id']}", headers=admin).json()["intents"]
    assert [(i["status"], i["order"]["status"]) for i in intents] == [("failed", "REJECTED"), ("done", "FILLED")]
    assert intents[1]["client_order_id"] == redriven["client_order_id"]
    again = client.post(f"/api/v1/intents/{failed['id']}/redrive", headers=admin)
    assert again.status_code == 409 and redriven["new_intent_id"] in again.json()["message"]
    done = client.post(f"/api/v1/intents/{redriven['new_intent_id']}/redrive", headers=admin)
    assert done.status_code == 409 and "done" in done.json()["message"]
    assert client.post(f"/api/v1/intents/{uuid.uuid4()}/redrive", headers=admin).status_code == 404


def test_in_doubt_intent_is_requeued_under_its_own_client_order_id(client, db, admin):
    send(client, db, alert())
    get_queue("paper").empty()
    with unit_of_work() as session:  # as after a send whose answer was lost
        intent = session.execute(select(OrderIntentRecord)).scalar_one()
        intent.status = "submitting"
        account = session.execute(select(Account)).scalar_one()
        session.add(OrderRecord(intent_id=intent.id, account_id=account.id, venue="paper", symbol=intent.symbol,
                                side=intent.side, order_type="market", quantity=intent.quantity,
                                client_order_id=intent.client_order_id, status="SUBMITTED",
                                in_doubt_since=datetime.now(UTC)))
        intent_id, coid = intent.id, intent.client_order_id
    answer = client.post(f"/api/v1/intents/{intent_id}/redrive", headers=admin).json()
    assert (answer["action"], answer["client_order_id"], answer["new_intent_id"]) == ("re-enqueued", coid, None)
    assert get_queue("paper").job_ids == [coid]
    busy = client.post(f"/api/v1/intents/{intent_id}/redrive", headers=admin)
    assert busy.status_code == 409 and "queued or running" in busy.json()["message"]
