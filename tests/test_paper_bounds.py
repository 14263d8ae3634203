"""Big paper accounts: every amount the config accepts fills and is booked exactly; an amount
money columns (NUMERIC(38, 18)) cannot hold is refused when the config is read, naming its key."""

import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.bootstrap import apply_config
from app.config_file import MAX_STARTING_BALANCE, load_config
from app.db import unit_of_work
from app.errors import ConfigError
from app.persistence.models import Account, BalanceRecord, FillRecord, OrderRecord
from tests.conftest import drain_queues

WHALE_CONFIG = """
[accounts.whale]
venue = "paper"
starting_balance = "1000000000000"  # 1e12 USDT: 13 integer digits + 18 places, beyond 28 digits
quote_currency = "USDT"

[accounts.whale.risk]
sizing = "fixed_quote"
sizing_value = "100000000000"  # 1e11 USDT per order

[strategies.whale]
account = "whale"
"""


def whale_token(tmp_path) -> str:
    path = tmp_path / "tradewire.toml"
    path.write_text(WHALE_CONFIG)
    with unit_of_work() as session:
        [created] = apply_config(session, load_config(path))
    return created.token


def balances(account: str) -> dict[str, Decimal]:
    with unit_of_work() as session:
        rows = session.execute(
            select(BalanceRecord.currency, BalanceRecord.total)
            .join(Account, Account.id == BalanceRecord.account_id)
            .where(Account.name == account)
        ).all()
    return {currency: total for currency, total in rows}


def test_a_trillion_usdt_paper_account_fills_and_books_exact_balances(client, tmp_path):
    token = whale_token(tmp_path)
    assert balances("whale") == {"USDT": Decimal("1e12")}
    alert = {"tradewire": 1, "symbol": "BINANCE:BTCUSDT", "action": "buy", "price": "50000"}
    answer = client.post(f"/webhooks/tradingview/{token}", content=json.dumps(alert))
    assert answer.status_code == 202 and answer.json()["status"] == "accepted", answer.text
    assert drain_queues() == 1

    with unit_of_work() as session:
        order = session.execute(select(OrderRecord)).scalar_one()
        assert (order.status, order.filled_quantity, order.average_price) == (
            "FILLED", Decimal(2_000_000), Decimal(50_000))
        [fill] = session.execute(select(FillRecord)).scalars().all()
        assert (fill.quantity, fill.price, fill.fee, fill.fee_currency) == (
            Decimal(2_000_000), Decimal(50_000), Decimal(100_000_000), "USDT")
    # 2,000,000 BTC × 50,000 = 1e11 USDT notional, 0.1% fee = 1e8 USDT
    assert balances("whale") == {"USDT": Decimal("899900000000"), "BTC": Decimal(2_000_000)}


TOO_BIG = {  # key: the lines under [accounts.whale] that set it beyond NUMERIC(38, 18) or the cap
    "accounts.whale.starting_balance": 'starting_balance = "100000000000000000000"',  # 10^20
    "accounts.whale.min_notional": 'min_notional = "1e21"',
    "accounts.whale.risk.sizing_value": '[accounts.whale.risk]\nsizing_value = "1e20"',
    "accounts.whale.risk.max_order_notional": '[accounts.whale.risk]\nmax_order_notional = "1e25"',
    "accounts.whale.risk.max_position_notional": '[accounts.whale.risk]\nmax_position_notional = "1e20"',
    "accounts.whale.risk.daily_loss_limit": '[accounts.whale.risk]\ndaily_loss_limit = "1e20"',
}
TOO_FINE = 'starting_balance = "1.0000000000000000001"'  # 19 places; the column keeps 18
ABOVE_CAP = 'starting_balance = "1e19"'  # fits the column, but leaves no room for gains


@pytest.mark.parametrize("named, toml", [*TOO_BIG.items(), ("accounts.whale.starting_balance", TOO_FINE),
                                         ("accounts.whale.starting_balance", ABOVE_CAP)])
def test_an_amount_beyond_what_money_columns_hold_is_refused_naming_its_key(tmp_path, named, toml):
    path = tmp_path / "tradewire.toml"
    path.write_text(f"[accounts.whale]\n{toml}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert error.value.field == named
    assert named in error.value.message


def test_the_largest_starting_balance_accepted_is_stored_as_written(db, tmp_path):
    path = tmp_path / "tradewire.toml"
    path.write_text(f'[accounts.whale]\nstarting_balance = "{MAX_STARTING_BALANCE}"\n')
    with unit_of_work() as session:
        apply_config(session, load_config(path))
    assert balances("whale") == {"USDT": MAX_STARTING_BALANCE}
