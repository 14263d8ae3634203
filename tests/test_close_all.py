"""Close-all and cancel-all (issue 13): from a Tradewire alert (``"action": "close_all"``) and
from the admin API (``POST /api/v1/accounts/{name}/close-all`` / ``cancel-all``, ``?symbol=``).
close_all writes one reduce-only exit per open position, each decided by the risk engine as an
exit under its symbol's lock and aware of orders in flight; cancel_all emits ``cancel.requested``."""

from decimal import Decimal
from itertools import count

from sqlalchemy import select

from app.db import unit_of_work
from app.domain.enums import Action
from app.ingest.parsers import tradewire
from app.persistence.models import Account, EventRecord, OrderIntentRecord, PositionRecord
from tests.conftest import drain_queues

_keys = count()


def send(client, token: str, action: str, symbol: str | None = "BTCUSDT", **extra):
    body = {"tradewire": 1, "action": action, "idempotency_key": f"k{next(_keys)}", **extra}
    if symbol:
        body["symbol"] = symbol
    answer = client.post(f"/webhooks/tradingview/{token}", json=body)
    assert answer.status_code == 202, answer.text
    return answer.json()


def positions() -> dict[str, Decimal]:
    with unit_of_work() as session:
        return {p.symbol: p.quantity for p in session.execute(select(PositionRecord)).scalars() if p.quantity != 0}


def exits(signal_id: str) -> list[OrderIntentRecord]:
    with unit_of_work() as session:
        return list(session.execute(select(OrderIntentRecord).where(OrderIntentRecord.signal_id == signal_id)
                                    .order_by(OrderIntentRecord.symbol)).scalars())


def quotes() -> None:
    """Fresh quotes of the paper account's market-data source, as the streamer writes them: an
    operator's close-all carries no price, the paper venue fills it at the market."""
    from datetime import UTC, datetime

    from app.domain.marketdata import Quote
    from app.marketdata import cache

    now = datetime.now(UTC)
    for symbol, bid, ask in (("BTC/USDT", "60100", "60101"), ("ETH/USDT", "3010", "3011")):
        cache.write_quote(Quote("binance", symbol, Decimal(bid), Decimal(ask), Decimal(bid), now, now))


def open_two(client, token: str) -> None:
    send(client, token, "buy", "BTCUSDT", price="60000", size="0.01")
    send(client, token, "buy", "ETHUSDT", price="3000", size="0.1")
    drain_queues()
    assert positions() == {"BTC/USDT": Decimal("0.01"), "ETH/USDT": Decimal("0.1")}


def test_tradewire_dialect_reads_close_all_and_cancel_all_with_or_without_a_symbol():
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    signal = tradewire.parse({"tradewire": 1, "action": "close_all"}, now)
    assert signal.action == Action.CLOSE_ALL and signal.symbol == "*"
    signal = tradewire.parse({"tradewire": 1, "action": "cancel_all", "symbol": "BINANCE:ETHUSDT"}, now)
    assert signal.action == Action.CANCEL_ALL and signal.symbol == "ETH/USDT"


def test_close_all_alert_for_one_symbol_then_admin_close_all_for_the_rest(client, db, admin):
    open_two(client, db)
    answer = send(client, db, "close_all", "ETHUSDT", price="3000")
    assert answer["status"] == "accepted", answer
    [eth] = exits(answer["signal_id"])
    assert (eth.symbol, eth.side, eth.quantity, eth.reduce_only) == ("ETH/USDT", "sell", Decimal("0.1"), True)
    drain_queues()
    assert positions() == {"BTC/USDT": Decimal("0.01")}

    answer = client.post("/api/v1/accounts/paper/close-all", headers=admin)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "accepted" and len(body["client_order_ids"]) == 1
    quotes()
    drain_queues()
    assert positions() == {}
    trace = client.get(f"/api/v1/signals/{body['signal_id']}", headers=admin).json()
    assert trace["strategy"] == "operator:paper" and trace["action"] == "close_all" and trace["symbol"] == "*"
    assert trace["intents"][0]["order"]["status"] == "FILLED" and trace["intents"][0]["reduce_only"]
    assert any(c["check"] == "BTC/USDT trading_state" for c in trace["decision"]["checks"])

    again = client.post("/api/v1/accounts/paper/close-all", headers=admin).json()
    assert again["status"] == "accepted" and again["client_order_ids"] == []  # nothing left to close


def test_close_all_counts_an_entry_still_in_flight(client, db, admin):
    send(client, db, "buy", "BTCUSDT", price="60000", size="0.01")
    send(client, db, "buy", "BTCUSDT", price="60000", size="0.02")  # both pending: nothing executed yet
    body = client.post("/api/v1/accounts/paper/close-all", params={"symbol": "BTC/USDT"}, headers=admin).json()
    [exit_] = exits(body["signal_id"])
    assert exit_.quantity == Decimal("0.03") and exit_.reduce_only  # the position once the entries fill
    quotes()
    drain_queues()
    assert positions() == {}


def test_close_all_on_a_halted_account_is_rejected_with_the_reason(client, db, admin):
    open_two(client, db)
    with unit_of_work() as session:
        session.execute(select(Account).where(Account.name == "paper")).scalar_one().trading_state = "HALTED"
    body = client.post("/api/v1/accounts/paper/close-all", headers=admin).json()
    assert body["status"] == "rejected" and "BTC/USDT: " in body["reason"] and "ETH/USDT: " in body["reason"]
    assert body["client_order_ids"] == []


def test_cancel_all_from_an_alert_and_from_the_admin_api_requests_the_cancel_without_a_symbol(client, db, admin):
    answer = send(client, db, "cancel_all", None)
    assert answer["status"] == "accepted"
    body = client.post("/api/v1/accounts/paper/cancel-all", params={"symbol": "ETHUSDT"}, headers=admin).json()
    assert body["status"] == "accepted" and body["client_order_ids"] == []
    with unit_of_work() as session:
        events = {str(e.signal_id): e.payload for e in session.execute(
            select(EventRecord).where(EventRecord.kind == "cancel.requested")).scalars()}
    assert events[answer["signal_id"]]["symbol"] is None and events[answer["signal_id"]]["venue"] == "paper"
    assert events[body["signal_id"]]["symbol"] == "ETH/USDT"


def test_unknown_account_is_404(client, db, admin):
    assert client.post("/api/v1/accounts/nope/close-all", headers=admin).status_code == 404
    assert client.post("/api/v1/accounts/paper/cancel-all").status_code == 401
