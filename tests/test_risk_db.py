"""Risk against the real PostgreSQL: serialised decisions, persisted trading state, config."""

import json
import os
import threading
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from app.bootstrap import apply_config
from app.config_file import AccountConfig, FileConfig, RiskLimits, StrategyConfig, load_config
from app.db import unit_of_work
from app.errors import ConfigError
from app.persistence.models import Account, OrderIntentRecord, PositionRecord, SignalRecord
from tests.processes import free_port, ready, spawn, stop, wait_for

SYMBOLS = ["BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "DOT", "LINK", "AVAX", "LTC",
           "TRX", "ATOM", "NEAR", "APT", "ARB", "OP", "FIL", "ETC", "XLM", "UNI"]


def configure(**risk) -> None:
    with unit_of_work() as session:
        apply_config(session, FileConfig(accounts={"paper": AccountConfig(risk=RiskLimits(**risk))}))


def message(symbol: str, action: str = "buy", **extra) -> bytes:
    return json.dumps({"tradewire": 1, "symbol": f"BINANCE:{symbol}USDT", "action": action, "price": "10",
                       "signal_time": "2026-11-21T00:00:00Z", **extra}).encode()


def test_twenty_alerts_at_once_against_three_open_positions_approve_exactly_three(db, tmp_path):
    configure(max_open_positions=3, sizing="fixed_quote", sizing_value=Decimal(50))
    port = free_port()
    api = spawn(["api"], {**os.environ, "TRADEWIRE_PORT": str(port)}, tmp_path / "api.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: ready(base), 20, "the API")
        barrier = threading.Barrier(len(SYMBOLS))
        answers: list[dict] = []

        def fire(symbol: str) -> None:
            with httpx.Client() as client:
                barrier.wait()
                answers.append(client.post(f"{base}/webhooks/tradingview/{db}", content=message(symbol)).json())

        threads = [threading.Thread(target=fire, args=(s,)) for s in SYMBOLS]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        stop(api)
    statuses = sorted(a["status"] for a in answers)
    assert statuses == ["accepted"] * 3 + ["rejected"] * 17
    assert all("the limit is 3" in a["reason"] for a in answers if a["status"] == "rejected")
    with unit_of_work() as session:
        assert session.execute(select(func.count()).select_from(OrderIntentRecord)).scalar_one() == 3


def test_kill_switch_persists_and_an_operator_can_resume(client, db, admin):
    client.put("/api/v1/accounts/paper/trading-state", json={"state": "HALTED"}, headers=admin)
    with unit_of_work() as session:
        account = session.execute(select(Account).where(Account.name == "paper")).scalar_one()
        assert (account.trading_state, account.state_reason) == ("HALTED", "operator")
    assert client.post(f"/webhooks/tradingview/{db}", content=message("BTC")).json()["status"] == "rejected"
    client.put("/api/v1/accounts/paper/trading-state", json={"state": "ACTIVE"}, headers=admin)
    assert client.post(f"/webhooks/tradingview/{db}", content=message("ETH")).json()["status"] == "accepted"
    bad = client.put("/api/v1/accounts/paper/trading-state", json={"state": "PAUSED"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["field"] == "state"


def test_daily_loss_limit_puts_the_account_in_reducing(client, db):
    from tests.conftest import drain_queues

    configure(daily_loss_limit=Decimal(1), sizing="fixed_base", sizing_value=Decimal(100))
    client.post(f"/webhooks/tradingview/{db}", content=message("SOL", price="10"))
    drain_queues()
    client.post(f"/webhooks/tradingview/{db}", content=message("SOL", action="exit", price="9"))  # loses 100 + fees
    drain_queues()
    answer = client.post(f"/webhooks/tradingview/{db}", content=message("ETH")).json()
    assert answer["status"] == "rejected" and "daily realised loss" in answer["reason"] and "REDUCING" in answer["reason"]
    with unit_of_work() as session:
        account = session.execute(select(Account).where(Account.name == "paper")).scalar_one()
        assert (account.trading_state, account.state_reason) == ("REDUCING", "daily loss limit")
        assert session.execute(select(func.count()).where(SignalRecord.status == "rejected")).scalar_one() == 1


def test_config_errors_name_the_key(tmp_path):
    path = tmp_path / "tradewire.toml"
    path.write_text('[accounts.paper.risk]\nsizing = "martingale"\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "accounts.paper.risk.sizing" in error.value.message
    path.write_text('[strategies.ma-cross]\naccount = "binance-main"\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert error.value.field == "strategies.ma-cross.account"
    path.write_text('[accounts.paper.risk]\nmax_open_position = 3\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "max_open_position" in error.value.message


def test_issue_example_config_loads(tmp_path):
    path = tmp_path / "tradewire.toml"
    path.write_text((__import__("pathlib").Path(__file__).parent.parent / "tradewire.example.toml").read_text())
    config = load_config(path)
    assert config.accounts["paper"].risk.max_open_positions == 3
    assert config.strategies["ma-cross"].min_confidence == Decimal("0.75")


def test_a_eur_account_sizes_and_shows_equity_in_eur(client, admin):
    """One equity function (app.domain.equity) for risk sizing and the admin API: the EUR
    balance plus spot positions quoted in EUR at cost; a USDT-quoted spot position and a
    perpetual are not part of a EUR account's equity."""
    with unit_of_work() as session:
        created = apply_config(session, FileConfig(
            accounts={"eu": AccountConfig(quote_currency="EUR", starting_balance=Decimal(5000),
                                          risk=RiskLimits(sizing="percent_equity", sizing_value=Decimal(10)))},
            strategies={"eu": StrategyConfig(account="eu")},
        ))
        account_id = session.execute(select(Account.id).where(Account.name == "eu")).scalar_one()
        session.add_all([
            PositionRecord(account_id=account_id, symbol="BTC/EUR", quantity=Decimal("0.1"), average_price=Decimal(40000)),
            PositionRecord(account_id=account_id, symbol="ETH/USDT", quantity=Decimal(1), average_price=Decimal(3000)),
            PositionRecord(account_id=account_id, symbol="SOL/EUR:EUR", quantity=Decimal(5), average_price=Decimal(100)),
        ])
    token = created[0].token
    body = json.dumps({"tradewire": 1, "symbol": "KRAKEN:BTCEUR", "action": "buy", "price": "45000"})
    answer = client.post(f"/webhooks/tradingview/{token}", content=body).json()
    assert answer["status"] == "accepted", answer
    with unit_of_work() as session:
        intent = session.execute(select(OrderIntentRecord).where(OrderIntentRecord.account_id == account_id)).scalar_one()
    assert intent.quantity == Decimal("0.02")  # 10% of (5000 + 0.1 * 40000) EUR = 900 EUR / 45000
    view = client.get("/api/v1/accounts/eu", headers=admin).json()
    assert (view["quote_currency"], Decimal(view["equity"])) == ("EUR", Decimal(9000))
