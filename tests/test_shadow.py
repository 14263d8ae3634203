"""Paper shadow of a live strategy (issue 15): a live account on the fake Binance (the real
``ccxt.binance`` over HTTP, tests/venues) with a paper shadow fed by the same market data (the
Redis cache, written by the test as the market-data process would). The fake venue fills at its
own price and the cached book differs, so the two fills differ by an amount computed here by
hand. Nothing of ours is mocked; queues are drained by a real RQ worker."""

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.bootstrap import apply_config
from app.config import get_settings
from app.config_file import ConfigError, FileConfig, check_file_config
from app.db import unit_of_work
from app.domain.marketdata import OrderBook, Quote
from app.jobs.worker import warm_up
from app.marketdata import cache
from app.persistence.models import Account, BalanceRecord, OrderIntentRecord, RiskDecisionRecord
from app.risk.market import forget_sources
from tests.conftest import drain_queues
from tests.test_marketdata import SPOT_OPTIONS, use_config
from tests.venues.tradewire import KEY_ENV, SECRET_ENV, apply_settings

BTC = "BTC/USDT"
SENDER, BID, ASK = D("59980"), D("59990"), D("60000")
LIVE_FILL = D("60030")  # the fake Binance's price: its market orders fill there
BOOK_ASKS = ((D("60000"), D("0.001")), (D("60010"), D("1")))  # the shadow walks these
ALERT = {"ticker": "BTCUSDT", "exchange": "BINANCE", "time": "2026-01-01T00:00:00Z", "bar": {"close": str(SENDER)},
         "strategy": {"order_action": "buy", "order_contracts": "0.002", "market_position": "long",
                      "prev_market_position": "flat"}}


def config_text(fake) -> str:
    return f"""
[market_data.binance]
max_quote_age_seconds = 300

[accounts.binance-live]
venue = "binance"
api_key_env = "{KEY_ENV}"
secret_env = "{SECRET_ENV}"
api_url = "{fake.url}"
{SPOT_OPTIONS}

[accounts.poor-shadow]
venue = "paper"
starting_balance = 1

[strategies.live]
account = "binance-live"
shadow = true

[strategies.poor]
account = "binance-live"
shadow = "poor-shadow"

[strategies.plain]
account = "binance-live"
"""


@pytest.fixture
def tokens(fake, db, monkeypatch, tmp_path: Path) -> dict[str, str]:
    """The file above applied (as ``tradewire migrate`` does); the strategies' webhook tokens."""
    monkeypatch.setenv(KEY_ENV, fake.api_key)
    monkeypatch.setenv(SECRET_ENV, fake.secret)
    use_config(monkeypatch, tmp_path, config_text(fake))
    apply_settings(monkeypatch)
    with unit_of_work() as session:
        created = apply_config(session, get_settings())
    forget_sources()
    warm_up(["binance"])
    fake.set_price(BTC, LIVE_FILL)
    return {c.name: c.token for c in created}


def market_now() -> None:
    """The binance quote and book in the cache, as the market-data process writes them."""
    now = datetime.now(UTC)
    cache.write_quote(Quote("binance", BTC, BID, ASK, D("59995"), now, now))
    cache.write_book(OrderBook("binance", BTC, ((BID, D("1")),), BOOK_ASKS, now, now))


def post(client, token: str, **changes) -> dict:
    answer = client.post(f"/webhooks/tradingview/{token}", json=ALERT | changes)
    assert answer.status_code == 202, answer.text
    return answer.json()


def branches(client, admin, signal_id: str) -> tuple[dict, dict]:
    trace = client.get(f"/api/v1/signals/{signal_id}", headers=admin).json()
    return trace, {d["account"]: d for d in trace["decisions"]}


def bps(price: D, reference: D) -> D:
    return ((price - reference) / reference * 10_000).quantize(D("0.01"), rounding=ROUND_HALF_UP)


def test_a_live_buy_fills_on_binance_and_its_shadow_on_paper_with_the_same_quantity(client, admin, fake, tokens):
    with unit_of_work() as session:
        shadow = session.execute(select(Account).where(Account.name == "live-shadow")).scalar_one()
        balance = session.execute(select(BalanceRecord.total).where(BalanceRecord.account_id == shadow.id)).scalar_one()
        assert (shadow.venue, shadow.settings["market_data"], shadow.settings["quote_currency"]) == (
            "paper", "binance", "USDT")
        assert balance == D(10000)  # the live account's starting_balance (default)
    market_now()
    answer = post(client, tokens["live"])
    assert answer["status"] == "accepted", answer
    drain_queues()

    trace, by_account = branches(client, admin, answer["signal_id"])
    live, paper = by_account["binance-live"], by_account["live-shadow"]
    assert live["approved"] and paper["approved"] and live["quantity"] == paper["quantity"] == "0.002"
    live_order, paper_order = live["intents"][0]["order"], paper["intents"][0]["order"]
    assert (live_order["venue"], live_order["status"]) == ("binance", "FILLED")
    assert (paper_order["venue"], paper_order["status"]) == ("paper", "FILLED")
    assert fake.count_orders(live_order["client_order_id"]) == 1
    assert len(fake.orders) == 1  # the shadow's order never reached the venue
    assert [(f["price"], f["quantity"]) for f in live_order["fills"]] == [("60030", "0.002")]
    assert sorted((f["price"], f["quantity"]) for f in paper_order["fills"]) == [("60000", "0.001"), ("60010", "0.001")]

    # By hand: the shadow walks the book, 0.001 at 60000 and 0.001 at 60010.
    shadow_avg = (D("60000") * D("0.001") + D("60010") * D("0.001")) / D("0.002")
    assert shadow_avg == D("60005")
    (row,) = trace["shadow"]
    assert (row["symbol"], row["side"], row["sender_price"], row["market_price"], row["market_source"]) == (
        BTC, "buy", "59980", "60000", "binance")
    assert (row["live"]["average_price"], row["live"]["filled_quantity"], row["live"]["status"]) == (
        "60030", "0.002", "FILLED")
    assert (row["shadow"]["average_price"], row["shadow"]["filled_quantity"], row["shadow"]["status"]) == (
        "60005", "0.002", "FILLED")
    assert D(row["live"]["fee"]) == D("0.12006")  # Binance: 0.1% of 120.06 USDT
    assert D(row["shadow"]["fee"]) == D("0.12001")  # paper: 0.1% of 60 + 60.01 USDT
    assert D(row["slippage_bps"]) == bps(LIVE_FILL, shadow_avg) == D("4.17")
    assert D(row["live_vs_market_bps"]) == bps(LIVE_FILL, ASK) == D("5.00")
    assert D(row["shadow_vs_market_bps"]) == bps(shadow_avg, ASK) == D("0.83")
    assert D(row["live_vs_sender_bps"]) == bps(LIVE_FILL, SENDER) == D("8.34")
    print("\nLIVE VS SHADOW ROW", {k: row[k] for k in ("sender_price", "market_price", "slippage_bps",
                                                      "live_vs_market_bps", "shadow_vs_market_bps")},
          {side: {k: row[side][k] for k in ("account", "status", "average_price", "fee")}
           for side in ("live", "shadow")})

    report = client.get("/api/v1/strategies/live/shadow", headers=admin).json()
    assert (report["live_account"], report["shadow_account"]) == ("binance-live", "live-shadow")
    assert [r["signal_id"] for r in report["rows"]] == [answer["signal_id"]] and report["rows"][0] == row
    totals = report["totals"]
    assert (totals["signals"], totals["compared"], totals["live"]["fills"], totals["shadow"]["fills"]) == (1, 1, 1, 2)
    assert D(totals["live"]["fees"]) == D("0.12006") and D(totals["shadow"]["fees"]) == D("0.12001")
    # An opening fill realises minus its fee (app.domain.positions): live − shadow = −0.00005.
    assert D(totals["pnl_difference"]) == D("-0.12006") - D("-0.12001")
    assert D(totals["avg_slippage_bps"]) == D("4.17")
    (day,) = report["daily"]
    assert D(day["live_cumulative_pnl"]) == D("-0.12006") and D(day["shadow_cumulative_pnl"]) == D("-0.12001")

    # The live strategy's statistics count its own account only.
    stats = client.get("/api/v1/stats", params={"strategy": "live"}, headers=admin).json()
    assert [g["key"] for g in stats["by_account"]] == ["live/binance-live"]
    assert stats["by_strategy"][0]["fills"] == 1 and stats["overall"]["fills"] == 1


def test_a_shadow_refusal_leaves_the_live_order_as_it_is(client, admin, fake, tokens):
    market_now()
    # The paper venue refuses: 1 USDT cannot pay for 0.002 BTC.
    answer = post(client, tokens["poor"])
    assert answer["status"] == "accepted" and answer["reason"] is None, answer
    drain_queues()
    trace, by_account = branches(client, admin, answer["signal_id"])
    live_order = by_account["binance-live"]["intents"][0]["order"]
    paper_order = by_account["poor-shadow"]["intents"][0]["order"]
    assert (live_order["status"], live_order["fills"][0]["price"]) == ("FILLED", "60030")
    assert paper_order["status"] == "REJECTED" and "insufficient funds" in paper_order["reason"]
    (row,) = trace["shadow"]
    assert row["live"]["status"] == "FILLED" and row["shadow"]["status"] == "REJECTED"
    assert row["slippage_bps"] is None and row["live_vs_market_bps"] == "5"

    # A halted shadow account mirrors nothing; the live order goes on.
    with unit_of_work() as session:
        session.execute(select(Account).where(Account.name == "poor-shadow")).scalar_one().trading_state = "HALTED"
    market_now()
    again = post(client, tokens["poor"], time="2026-01-01T00:01:00Z")
    assert again["status"] == "accepted", again
    drain_queues()
    trace, by_account = branches(client, admin, again["signal_id"])
    assert by_account["binance-live"]["intents"][0]["order"]["status"] == "FILLED"
    refused = by_account["poor-shadow"]
    assert not refused["approved"] and refused["intents"] == [] and "HALTED" in refused["reason"]
    (row,) = trace["shadow"]
    assert (row["live"]["status"], row["shadow"]["status"]) == ("FILLED", "refused")
    assert "HALTED" in row["shadow"]["reason"]
    assert len(fake.orders) == 2  # one live order per signal, nothing else

    first = client.get("/api/v1/strategies/poor/shadow", params={"limit": 1}, headers=admin).json()
    assert [r["signal_id"] for r in first["rows"]] == [again["signal_id"]] and first["totals"]["signals"] == 2
    rest = client.get("/api/v1/strategies/poor/shadow", params={"limit": 1, "cursor": first["next_cursor"]},
                      headers=admin).json()
    assert [r["signal_id"] for r in rest["rows"]] == [answer["signal_id"]] and rest["next_cursor"] is None
    assert (rest["totals"]["compared"], rest["totals"]["shadow"]["fills"], rest["totals"]["live"]["fills"]) == (0, 0, 2)
    bad = client.get("/api/v1/strategies/poor/shadow", params={"cursor": "nonsense"}, headers=admin)
    assert bad.status_code == 400 and bad.json()["field"] == "cursor"


def test_a_strategy_without_a_shadow_writes_no_shadow_intent(client, admin, fake, tokens):
    market_now()
    answer = post(client, tokens["plain"])
    drain_queues()
    trace, by_account = branches(client, admin, answer["signal_id"])
    assert list(by_account) == ["binance-live"] and trace["shadow"] is None
    assert by_account["binance-live"]["intents"][0]["order"]["status"] == "FILLED"
    with unit_of_work() as session:
        accounts = session.execute(select(Account.name).distinct()
                                   .join(OrderIntentRecord, OrderIntentRecord.account_id == Account.id)).scalars().all()
        decisions = session.execute(select(func.count()).select_from(RiskDecisionRecord)).scalar_one()
    assert accounts == ["binance-live"] and decisions == 1
    report = client.get("/api/v1/strategies/plain/shadow", headers=admin).json()
    assert report["shadow_account"] is None and report["rows"] == [] and report["totals"]["signals"] == 0
    assert client.get("/api/v1/strategies/nope/shadow", headers=admin).status_code == 404


@pytest.mark.parametrize("strategy, accounts, message", [
    ({"account": "paper", "shadow": True}, {}, "account 'paper' is a paper account"),
    ({"account": "live", "shadow": "ghost"}, {}, "no account 'ghost'"),
    ({"account": "live", "shadow": "other"}, {"other": {"venue": "bybit"}}, "a shadow is a paper account"),
    ({"accounts": ["live", "p2"], "shadow": "p2"}, {"p2": {}}, "already trades this strategy's signals"),
])
def test_a_shadow_the_file_cannot_have_is_refused_naming_the_key(strategy, accounts, message):
    config = FileConfig.model_validate({"accounts": {"live": {"venue": "binance"}, **accounts},
                                        "strategies": {"s": strategy}})
    with pytest.raises(ConfigError, match=message) as refused:
        check_file_config(None, config)
    assert refused.value.field == "strategies.s.shadow"


def test_shadow_true_creates_a_paper_account_in_the_live_accounts_currency_and_market_data():
    config = FileConfig.model_validate({
        "accounts": {"okx-main": {"venue": "okx", "quote_currency": "USDC", "starting_balance": 2500}},
        "strategies": {"trend": {"account": "okx-main", "shadow": True}}})
    check_file_config(None, config)
    shadow = config.accounts["trend-shadow"]
    assert config.strategies["trend"].shadow == "trend-shadow"
    assert (shadow.venue, shadow.quote_currency, shadow.starting_balance, shadow.market_data) == (
        "paper", "USDC", D(2500), "okx")
