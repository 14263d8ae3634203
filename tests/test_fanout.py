"""One alert, many accounts (issue 13): a strategy subscribed by several accounts gives one
decision and one intent set per account, each with its own client order id; one account's
venue outage never blocks the others, and the trace shows every account's branch."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from app.bootstrap import create_strategy, ensure_account
from app.config_file import AccountConfig, ConfigError, FileConfig, StrategyConfig, check_file_config
from app.db import unit_of_work
from app.jobs.worker import warm_up
from app.persistence.models import Account, OrderIntentRecord, RiskDecisionRecord
from tests.conftest import drain_queues
from tests.venues.tradewire import apply_settings, binance_account

ALERT = {"ticker": "BTCUSDT", "exchange": "BINANCE", "time": "2026-01-01T00:00:00Z", "bar": {"close": "60000"},
         "strategy": {"order_action": "buy", "order_contracts": "0.002", "market_position": "long",
                      "prev_market_position": "flat"}}


def test_toml_shapes_table_list_and_single_account():
    table = StrategyConfig.model_validate({"accounts": {"paper": 1, "paper2": {"multiplier": 0.5, "max_leverage": 3}}})
    assert table.account == "paper"
    assert table.subscriptions()["paper2"].multiplier == Decimal("0.5")
    assert table.subscriptions()["paper2"].max_leverage == Decimal(3)
    listed = StrategyConfig.model_validate({"account": "main", "accounts": ["a", "b"]})
    assert list(listed.subscriptions()) == ["main", "a", "b"]
    assert all(s.multiplier == 1 for s in listed.subscriptions().values())
    single = StrategyConfig.model_validate({"account": "paper"})
    assert list(single.subscriptions()) == ["paper"] and single.accounts == {}
    with pytest.raises(ConfigError, match="strategies.s.accounts: no account 'ghost'"):
        check_file_config(None, FileConfig.model_validate({"strategies": {"s": {"accounts": ["paper", "ghost"]}}}))


def _fanout_strategy(fake, monkeypatch, settings: dict) -> str:
    apply_settings(monkeypatch)
    binance_account(fake, monkeypatch)
    with unit_of_work() as session:
        ensure_account(session, "paper2", AccountConfig())
        paper = session.execute(select(Account).where(Account.name == "paper")).scalar_one()
        token = create_strategy(session, "fan", paper, settings=StrategyConfig.model_validate(settings)).token
    warm_up(["binance"])
    return token


def test_three_accounts_one_venue_down_two_fills_and_one_visible_failure(client, fake, admin, monkeypatch):
    token = _fanout_strategy(fake, monkeypatch, {
        "account": "paper", "accounts": {"paper": 1, "paper2": {"multiplier": 0.5}, "binance-test": 1}})
    fake.inject("/api/v3/order", "http_500", count=1000)
    answer = client.post(f"/webhooks/tradingview/{token}", json=ALERT)
    assert answer.status_code == 202 and answer.json()["status"] == "accepted", answer.text
    drain_queues()

    trace = client.get(f"/api/v1/signals/{answer.json()['signal_id']}", headers=admin).json()
    branches = {d["account"]: d for d in trace["decisions"]}
    assert set(branches) == {"paper", "paper2", "binance-test"}
    assert all(d["approved"] for d in branches.values())
    assert trace["decision"]["account"] == "paper" and trace["decision"]["approved"]  # the primary, as before
    assert branches["paper"]["quantity"] == "0.002" and branches["paper2"]["quantity"] == "0.001"
    orders = {name: d["intents"][0]["order"] for name, d in branches.items()}
    assert orders["paper"]["status"] == "FILLED" and orders["paper2"]["status"] == "FILLED"
    assert orders["paper"]["fills"][0]["quantity"] == "0.002" and orders["paper2"]["fills"][0]["quantity"] == "0.001"
    down = orders["binance-test"]
    assert down["status"] not in ("FILLED", "PARTIALLY_FILLED"), down
    assert down["status"] in ("SUBMITTED", "REJECTED", "DENIED") or down["reason"], down
    assert down["reason"], down  # the failure is visible, with the venue's answer
    coids = [d["intents"][0]["client_order_id"] for d in branches.values()]
    assert len(set(coids)) == 3 and len(trace["intents"]) == 3
    print("\nFAN-OUT TRACE", {n: (d["approved"], d["quantity"], orders[n]["status"], orders[n]["reason"])
                              for n, d in branches.items()})

    stats = client.get("/api/v1/stats", params={"strategy": "fan"}, headers=admin).json()
    by_account = {g["key"]: g for g in stats["by_account"]}
    assert by_account["fan/paper"]["fills"] == 1 and by_account["fan/paper2"]["fills"] == 1
    assert by_account["fan/binance-test"]["fills"] == 0
    assert by_account["fan/binance-test"]["signals"]["accepted"] == 1
    assert stats["by_strategy"][0]["fills"] == 2 and stats["by_strategy"][0]["signals"]["total"] == 1


def test_one_accounts_rejection_never_blocks_another(client, fake, admin, monkeypatch):
    token = _fanout_strategy(fake, monkeypatch, {"accounts": ["paper", "paper2"]})
    with unit_of_work() as session:
        paper2 = session.execute(select(Account).where(Account.name == "paper2")).scalar_one()
        paper2.trading_state = "HALTED"
    answer = client.post(f"/webhooks/tradingview/{token}", json=ALERT)
    assert answer.json()["status"] == "accepted", answer.text
    drain_queues()
    trace = client.get(f"/api/v1/signals/{answer.json()['signal_id']}", headers=admin).json()
    branches = {d["account"]: d for d in trace["decisions"]}
    assert branches["paper"]["approved"] and branches["paper"]["intents"][0]["order"]["status"] == "FILLED"
    assert not branches["paper2"]["approved"] and branches["paper2"]["intents"] == []
    assert "HALTED" in branches["paper2"]["reason"]
    assert trace["reason"].startswith("paper2: ")
    # The same alert again is a duplicate: nothing decided twice for any account.
    again = client.post(f"/webhooks/tradingview/{token}", json=ALERT)
    assert again.json()["status"] == "duplicate"
    with unit_of_work() as session:
        assert len(session.execute(select(RiskDecisionRecord)).scalars().all()) == 2
        assert len(session.execute(select(OrderIntentRecord)).scalars().all()) == 1


def test_all_accounts_rejecting_rejects_the_signal_with_each_reason(client, fake, admin, monkeypatch):
    token = _fanout_strategy(fake, monkeypatch, {"accounts": {"paper": 1, "paper2": 1}})
    with unit_of_work() as session:
        for account in session.execute(select(Account).where(Account.name.in_(["paper", "paper2"]))).scalars():
            account.trading_state = "HALTED"
    answer = client.post(f"/webhooks/tradingview/{token}", json=ALERT).json()
    assert answer["status"] == "rejected"
    assert "paper: " in answer["reason"] and "paper2: " in answer["reason"]


def test_subscription_multiplier_scales_the_size_and_its_cap_lowers_max_leverage():
    import uuid
    from datetime import UTC, datetime

    from app.ingest.parsers import tradewire
    from app.ingest.service import Subscriber
    from app.risk.engine import AccountState, RiskContext, evaluate
    from app.risk.rules import paper_rules
    from app.risk.state import Loaded

    now = datetime.now(UTC)
    account = AccountConfig.model_validate({"futures": {"max_leverage": 10, "symbols": {"BTC/USDT:USDT": {
        "max_leverage": 20}}}})
    state = AccountState(trading_state="ACTIVE", position=Decimal(0), equity=Decimal(10000), open_symbols=frozenset(),
                         orders_last_minute=0, last_order_at=None, realized_pnl_today=Decimal(0))

    def loaded(body: dict) -> Loaded:
        signal = tradewire.parse({"tradewire": 1, "symbol": "BTCUSDT", "action": "buy", "price": "50000", **body}, now)
        return Loaded(uuid.uuid4(), "paper", RiskContext(signal, state, account.risk, StrategyConfig(),
                                                         paper_rules("BTC/USDT", Decimal(5)), now, account=account))

    half = Subscriber(uuid.uuid4(), "paper2", Decimal("0.5"), Decimal(3))
    assert evaluate(half.apply(loaded({})).context).quantity == Decimal("0.001")  # 100 USDT / 50000 × 0.5
    assert evaluate(half.apply(loaded({"size": "0.004"})).context).quantity == Decimal("0.002")
    futures = half.apply(loaded({})).context.account.futures
    assert futures.max_leverage == 3 and futures.for_symbol("BTC/USDT:USDT").max_leverage == 3
    same = Subscriber(uuid.uuid4(), "paper")
    assert same.apply(loaded({})).context.account.futures.max_leverage == 10
