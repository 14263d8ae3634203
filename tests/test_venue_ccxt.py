"""``CcxtVenue`` built from an account's settings, the account-based registry and the
per-venue quirks (client order id formats), through the real ccxt classes."""

import logging
import re
import uuid

import pytest
from sqlalchemy import select

from app.config_file import AccountConfig
from app.db import unit_of_work
from app.domain.intents import client_order_id_for
from app.execution.service import execute_intent
from app.execution.venues.binance import BinanceVenue
from app.execution.venues.ccxt_venue import VenueAccount, VenueTuning
from app.execution.venues.hyperliquid import HyperliquidVenue
from app.execution.venues.okx import OkxVenue
from app.execution.venues.bybit import BybitVenue
from app.execution.venues.registry import venue_for
from app.persistence.models import Account
from tests.venues import start_fake_binance
from tests.venues.tradewire import SECRET_ENV, apply_settings, binance_account, make_intent, order_of

CID = client_order_id_for(uuid.UUID("0123456789abcdef0123456789abcdef"))


@pytest.fixture
def fake():
    server = start_fake_binance()
    yield server
    server.stop()


@pytest.fixture
def account(fake, db, monkeypatch):
    apply_settings(monkeypatch)
    return binance_account(fake, monkeypatch)


def build(cls, venue: str, **config):
    return cls(VenueAccount(uuid.uuid4(), f"{venue}-test", venue, AccountConfig(venue=venue, **config)), VenueTuning())


def test_one_instance_per_account_by_id_or_name_rebuilt_when_settings_change(account):
    venue = venue_for(account)
    assert venue is venue_for("binance-test") and isinstance(venue, BinanceVenue)
    assert venue.exchange.enableRateLimit is True and venue.exchange.options["maxRetriesOnFailure"] == 0
    with unit_of_work() as session:
        row = session.get(Account, account)
        row.settings = {**row.settings, "options": {**row.settings["options"], "recvWindow": 7000}}
    rebuilt = venue_for(account)
    assert rebuilt is not venue and rebuilt.exchange.options["recvWindow"] == 7000


def test_api_url_replaces_the_host_of_every_api_url_and_sandbox_is_applied_first(fake, monkeypatch):
    monkeypatch.setenv("TW_K", "k")
    sandboxed = build(BinanceVenue, "binance", sandbox=True, api_key_env="TW_K")
    assert sandboxed.exchange.isSandboxModeEnabled and "testnet" in sandboxed.exchange.urls["api"]["public"]
    proxied = build(BinanceVenue, "binance", sandbox=True, api_url="http://127.0.0.1:9/prefix")
    urls = proxied.exchange.urls["api"]
    assert all(u.startswith("http://127.0.0.1:9/prefix/") for u in urls.values() if isinstance(u, str))
    assert urls["public"] == "http://127.0.0.1:9/prefix/api/v3"


def test_credentials_come_from_the_environment_and_are_never_stored_or_logged(fake, account, caplog):
    with unit_of_work() as session:
        stored = str(session.execute(select(Account.settings).where(Account.id == account)).scalar_one())
    assert fake.secret not in stored and fake.api_key not in stored and SECRET_ENV in stored
    fake.inject("/api/v3/order", "delay_after_store", method="POST", delay=1.0)
    with caplog.at_level(logging.DEBUG):
        intent = make_intent(account)
        execute_intent(intent.id)
    assert order_of(intent).status == "FILLED"
    assert fake.secret not in caplog.text and fake.api_key not in caplog.text


def test_unknown_exchange_id_denies_the_order_with_the_reason(db, monkeypatch):
    apply_settings(monkeypatch)
    account_id = uuid.uuid4()
    with unit_of_work() as session:
        session.add(Account(id=account_id, name="typo", venue="binanse", trading_state="ACTIVE",
                            settings=AccountConfig(venue="binanse").model_dump(mode="json")))
    intent = make_intent(account_id)
    assert execute_intent(intent.id).value == "DENIED"
    assert "'binanse' is not a ccxt exchange id" in order_of(intent).reason


def test_client_order_id_formats_per_venue():
    assert re.fullmatch(r"tw[0-9a-f]{30}", CID)
    assert build(BinanceVenue, "binance").venue_client_order_id(CID) == CID  # ≤ 36, [.A-Z:/a-z0-9_-]
    assert build(BybitVenue, "bybit").venue_client_order_id(CID) == CID  # ≤ 36
    okx = build(OkxVenue, "okx").venue_client_order_id(CID)
    assert re.fullmatch(r"[A-Za-z0-9]{1,32}", okx)
    hyperliquid = build(HyperliquidVenue, "hyperliquid")
    cloid = hyperliquid.venue_client_order_id(CID)
    assert re.fullmatch(r"0x[0-9a-f]{32}", cloid) and cloid.endswith(CID[2:])
    assert hyperliquid.our_client_order_id(cloid) == CID
    assert hyperliquid.our_client_order_id("0x" + "f" * 32) is None


def test_hyperliquid_market_orders_carry_the_reference_price_binance_ones_do_not():
    from decimal import Decimal

    from app.domain.enums import OrderSide, OrderType
    from app.execution.venues.base import OrderRequest

    request = OrderRequest(CID, "BTC/USDC:USDC", OrderSide.BUY, OrderType.MARKET, Decimal("0.01"),
                           reference_price=Decimal("60000"), reduce_only=True)
    hyperliquid = build(HyperliquidVenue, "hyperliquid")
    assert hyperliquid.order_price(request) == 60000.0
    assert hyperliquid.order_params(request) == {"clientOrderId": "0x00" + CID[2:], "reduceOnly": True}
    binance = build(BinanceVenue, "binance")
    assert binance.order_price(request) is None


def test_spot_orders_carry_no_reduce_only_flag():
    from decimal import Decimal

    from app.domain.enums import OrderSide, OrderType
    from app.execution.venues.base import OrderRequest

    request = OrderRequest(CID, "BTC/USDT", OrderSide.SELL, OrderType.MARKET, Decimal("0.01"), reduce_only=True)
    assert build(BinanceVenue, "binance").order_params(request) == {"clientOrderId": CID}
