"""Positions checked against the venue (issue 13): the reconciler compares the ledger with the
fake Bybit's positions (real ``ccxt.bybit``, ``fetch_positions``); a position closed by hand or
liquidated on the exchange, or one the ledger never saw, is a drift with a notification
(delivered to a local Discord stand-in); ``sync_mode = "adopt"`` makes the ledger follow."""

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from app.db import unit_of_work
from app.execution.service import execute_intent
from app.jobs.queue import get_redis
from app.jobs.reconciler import reconcile
from app.notify.config import reset_notifications_config
from app.notify.jobs import get_notify_queue
from app.persistence.models import EventRecord, FillRecord, PositionDriftRecord, PositionRecord
from tests.conftest import drain_queues
from tests.venues import make_ccxt_bybit
from tests.venues.tradewire import apply_settings, bybit_account, make_intent

PERP = "BTC/USDT:USDT"


@pytest.fixture
def fake(fake_bybit):
    return fake_bybit


@pytest.fixture
def discord(db, tmp_path, monkeypatch):
    """A Discord webhook stand-in subscribed to ``position_drift``; yields the bodies it got."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "tradewire.toml"
    config.write_text(f"""
[notifications.channels.desk]
type = "discord"
url = "http://127.0.0.1:{server.server_port}/discord"
events = ["position_drift"]
""")
    monkeypatch.setenv("TRADEWIRE_CONFIG", str(config))
    reset_notifications_config()
    yield received
    server.shutdown()
    reset_notifications_config()


def open_long(account_id, quantity: str = "0.01") -> None:
    assert execute_intent(make_intent(account_id, symbol=PERP, quantity=quantity).id).value == "FILLED"


def ledger(account_id) -> PositionRecord:
    with unit_of_work() as session:
        return session.execute(select(PositionRecord).where(PositionRecord.account_id == account_id,
                                                            PositionRecord.symbol == PERP)).scalar_one()


def drifts() -> list[PositionDriftRecord]:
    with unit_of_work() as session:
        return list(session.execute(select(PositionDriftRecord).order_by(PositionDriftRecord.detected_at)).scalars())


def drift_notifications() -> list[dict]:
    with unit_of_work() as session:
        payloads = session.execute(select(EventRecord.payload).where(EventRecord.kind == "notification")).scalars()
        return [p["payload"] for p in payloads if p["kind"] == "position_drift"]


def deliver_notifications() -> None:
    queue = get_notify_queue()
    SimpleWorker([queue], connection=get_redis(), serializer=queue.serializer).work(
        burst=True, with_scheduler=False, logging_level="ERROR")


def test_a_position_closed_by_hand_on_the_exchange_is_a_drift_with_its_notification(client, admin, fake, discord,
                                                                                   monkeypatch):
    apply_settings(monkeypatch)
    account = bybit_account(fake, monkeypatch)
    open_long(account)
    assert reconcile().drifts == 0 and drifts() == []  # the ledger and the venue agree

    fake.close_by_hand(PERP)
    assert fake.position_size(PERP) == 0
    assert reconcile().drifts == 1
    (drift,) = drifts()
    assert (drift.kind, drift.ledger_quantity, drift.venue_quantity, drift.action, drift.resolved_at) == (
        "closed_on_venue", Decimal("0.01"), Decimal(0), "reported", None)
    assert "closed on the venue (liquidation, or closed by hand on the exchange)" in drift.detail
    (note,) = drift_notifications()
    assert (note["account"], note["symbol"], note["ledger_quantity"], note["venue_quantity"], note["sync_mode"]) == (
        "bybit-test", PERP, "0.01", "0", "report")
    deliver_notifications()
    assert len(discord) == 1 and "position_drift" in discord[0]["content"] and PERP in discord[0]["content"]

    assert reconcile().drifts == 0  # seen again: the same drift, no second row nor message
    assert len(drifts()) == 1 and len(drift_notifications()) == 1
    assert ledger(account).quantity == Decimal("0.01")  # report mode: the ledger is left as it was
    shown = client.get("/api/v1/drifts", headers=admin).json()
    assert [(d["account"], d["symbol"], d["kind"], d["ledger_quantity"], d["venue_quantity"]) for d in shown] == [
        ("bybit-test", PERP, "closed_on_venue", "0.01", "0")]


def test_adopt_mode_makes_the_ledger_follow_a_liquidation_without_a_fill(client, admin, fake, discord, monkeypatch):
    apply_settings(monkeypatch)
    account = bybit_account(fake, monkeypatch, sync_mode="adopt")
    open_long(account)
    fake.liquidate(PERP, "54500")

    assert reconcile().drifts == 1  # first pass: reported; a fill still on its way would show here
    assert ledger(account).quantity == Decimal("0.01") and drifts()[0].action == "reported"
    reconcile()  # seen twice: adopted
    (drift,) = drifts()
    assert (drift.action, drift.sync_mode) == ("adopted", "adopt") and drift.resolved_at is not None
    assert "adopted: ledger position 0.01 -> 0 (an adjustment, not a fill)" in drift.detail
    assert ledger(account).quantity == 0
    with unit_of_work() as session:
        assert session.execute(select(func.count()).select_from(FillRecord)).scalar_one() == 1  # the entry's only
    assert reconcile().drifts == 0 and len(drifts()) == 1  # they agree now
    assert client.get("/api/v1/drifts", headers=admin).json() == []
    assert [d["action"] for d in client.get("/api/v1/drifts?resolved=true", headers=admin).json()] == ["adopted"]


def test_a_position_the_ledger_never_saw_is_adopted_with_the_venues_entry_price(fake, monkeypatch, db):
    apply_settings(monkeypatch)
    account = bybit_account(fake, monkeypatch, sync_mode="adopt")
    open_long(account)
    # a missed alert: the sender's order placed outside Tradewire
    make_ccxt_bybit(fake).create_order(PERP, "market", "buy", 0.02, None, {"clientOrderId": "by-hand-1"})
    reconcile()
    assert drifts()[0].kind == "size_mismatch"
    reconcile()
    position = ledger(account)
    assert position.quantity == Decimal("0.03") and position.average_price == Decimal(60000)
    assert drifts()[0].action == "adopted"


def test_a_close_by_hand_adopted_cancels_the_positions_protective_orders(fake, monkeypatch, db):
    """Adopting a position closed on the exchange is a close like any other: the stop-loss and
    take-profit resting on the venue for it are cancelled (they protected nothing any more)."""
    apply_settings(monkeypatch)
    account = bybit_account(fake, monkeypatch, sync_mode="adopt")
    entry = make_intent(account, symbol=PERP, quantity="0.01", stop_loss="58000", take_profit="62000")
    assert execute_intent(entry.id).value == "FILLED"
    drain_queues()  # the protective orders are written and placed
    with fake.engine.lock:
        assert sorted(o["status"] for o in fake.engine.orders if o["trigger"]) == ["Untriggered", "Untriggered"]
    fake.close_by_hand(PERP)
    reconcile()
    reconcile()  # seen twice: adopted, position.flat
    assert drifts()[0].action == "adopted" and ledger(account).quantity == 0
    drain_queues()
    with fake.engine.lock:
        assert sorted(o["status"] for o in fake.engine.orders if o["trigger"]) == ["Deactivated", "Deactivated"]
