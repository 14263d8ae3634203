"""The console's sessions, CSRF and forms through the real app (PostgreSQL, Redis), without a
browser: what the cookie says, what is refused, and that a refused form changes nothing.
The browser walk-through is tests/test_console_browser.py."""

import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from app.console.messages import alert_messages

TOKEN = "console-pages-admin-token-0123456789abcdef"


@pytest.fixture
def app_client(db, monkeypatch):
    from app.config import get_settings
    from app.main import create_app

    monkeypatch.setenv("TRADEWIRE_ADMIN_TOKEN", TOKEN)
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        yield client
    get_settings.cache_clear()


def signed_in(client: TestClient) -> str:
    """Signs in; returns the page's CSRF token."""
    answer = client.post("/signin", data={"token": TOKEN}, follow_redirects=False)
    assert answer.status_code == 303
    return csrf_of(client.get("/accounts").text)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def admin_get(client: TestClient, path: str):
    return client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).json()


def test_pages_send_a_visitor_without_a_session_to_signin(app_client):
    for path in ("/", "/accounts", "/strategies", "/analytics", "/dry-run", "/signals/x"):
        answer = app_client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/signin"), path
    polled = app_client.get("/feed/rows", headers={"HX-Request": "true", "Referer": "http://testserver/"})
    assert polled.status_code == 401 and polled.headers["HX-Redirect"] == "/signin"


def test_signin_cookie_is_httponly_strict_and_the_token_is_never_on_a_page(app_client):
    answer = app_client.post("/signin", data={"token": TOKEN, "next": "/strategies"}, follow_redirects=False)
    assert answer.headers["location"] == "/strategies"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    for path in ("/", "/accounts", "/strategies", "/analytics", "/dry-run"):
        page = app_client.get(path)
        assert page.status_code == 200 and TOKEN not in page.text, path


def test_signin_over_https_sets_a_secure_cookie(db, app_client):
    with TestClient(app_client.app, base_url="https://testserver") as secure:
        answer = secure.post("/signin", data={"token": TOKEN}, follow_redirects=False)
    assert "secure" in answer.headers["set-cookie"].lower()


def test_signin_never_leaves_for_another_site(app_client):
    answer = app_client.post("/signin", data={"token": TOKEN, "next": "//evil.example/"}, follow_redirects=False)
    assert answer.headers["location"] == "/"


def test_wrong_token_answers_the_same_page_with_an_error_and_no_session(app_client):
    answer = app_client.post("/signin", data={"token": "guess"}, follow_redirects=False)
    assert answer.status_code == 401 and "set-cookie" not in answer.headers
    assert "That token does not sign in" in answer.text and "guess" not in answer.text
    assert app_client.get("/accounts", follow_redirects=False).status_code == 303


def test_an_action_without_the_sessions_csrf_token_is_refused_and_changes_nothing(app_client):
    signed_in(app_client)
    for csrf in (None, "forged"):
        data = {"state": "HALTED", "confirm": "yes"} | ({"csrf": csrf} if csrf else {})
        answer = app_client.post("/accounts/paper/trading-state", data=data, follow_redirects=False)
        assert answer.status_code == 403
    assert admin_get(app_client, "/api/v1/accounts/paper")["trading_state"] == "ACTIVE"


def test_kill_switch_asks_to_confirm_before_acting(app_client):
    csrf = signed_in(app_client)
    asked = app_client.post("/accounts/paper/trading-state", data={"csrf": csrf, "state": "HALTED"})
    assert "Yes, set HALTED" in asked.text
    assert admin_get(app_client, "/api/v1/accounts/paper")["trading_state"] == "ACTIVE"
    done = app_client.post("/accounts/paper/trading-state", data={"csrf": csrf, "state": "HALTED", "confirm": "yes"})
    assert "paper: ACTIVE → HALTED" in done.text
    assert admin_get(app_client, "/api/v1/accounts/paper")["trading_state"] == "HALTED"


def test_a_field_out_of_range_shows_its_error_next_to_it_and_changes_nothing(app_client):
    csrf = signed_in(app_client)
    before = admin_get(app_client, "/api/v1/strategies")
    answer = app_client.post("/strategies", data={"csrf": csrf, "name": "x" * 65, "account": "paper"})
    assert answer.status_code == 422
    assert re.search(r'id="s-name".*?<p class="error" id="name-error"', answer.text, re.S)
    assert admin_get(app_client, "/api/v1/strategies") == before
    state = app_client.post("/accounts/paper/trading-state", data={"csrf": csrf, "state": "PAUSED", "confirm": "yes"})
    assert state.status_code == 422 and 'id="state-paper-error"' in state.text
    assert admin_get(app_client, "/api/v1/accounts/paper")["trading_state"] == "ACTIVE"
    feed = app_client.get("/?limit=0")
    assert 'id="limit-error"' in feed.text


def test_signout_ends_the_session(app_client, services):
    from app.jobs.queue import get_redis

    csrf = signed_in(app_client)
    prefix = services["TRADEWIRE_QUEUE_PREFIX"]
    assert list(get_redis().scan_iter(f"{prefix}:console:session:*"))
    answer = app_client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    assert answer.headers["location"] == "/signin"
    assert not list(get_redis().scan_iter(f"{prefix}:console:session:*"))
    assert app_client.get("/", follow_redirects=False).status_code == 303


def test_api_key_is_shown_once_and_revoked_from_the_page(app_client):
    csrf = signed_in(app_client)
    created = app_client.post("/api-keys", data={"csrf": csrf, "key_name": "bot", "key_strategies": "default"})
    key = re.search(r'id="new-key">([^<]+)<', created.text).group(1)
    assert key.startswith("twk_") and key not in app_client.get("/strategies").text
    key_id = admin_get(app_client, "/api/v1/api-keys")[0]["id"]
    app_client.post(f"/api-keys/{key_id}/revoke", data={"csrf": csrf})
    assert admin_get(app_client, "/api/v1/api-keys")[0]["revoked_at"] is not None


def test_dry_run_page_reports_a_payload_no_dialect_reads_and_records_nothing(app_client):
    csrf = signed_in(app_client)
    answer = app_client.post("/dry-run", data={"csrf": csrf, "payload": "hello", "strategy": "default"})
    assert answer.status_code == 422 and 'id="payload-error"' in answer.text and "no dialect" in answer.text
    assert admin_get(app_client, "/api/v1/signals")["items"] == []


def test_console_pages_stay_out_of_the_openapi_document_and_vendored_files_are_served(app_client):
    paths = app_client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/signin" not in paths and "/accounts" not in paths
    for name in ("htmx-4.0.1.min.js", "lightweight-charts-5.2.1.standalone.production.js", "VENDORED.md"):
        assert app_client.get(f"/console/static/vendor/{name}").status_code == 200, name


# What TradingView puts in place of the placeholders, for the messages' own check.
FILLED = {"{{exchange}}": "BINANCE", "{{ticker}}": "DOGEUSDT", "{{strategy.order.action}}": "buy",
          "{{strategy.order.contracts}}": "10000", "{{strategy.market_position}}": "long",
          "{{strategy.prev_market_position}}": "flat", "{{close}}": "0.0027486", "{{timenow}}": "2026-02-10T14:00:00Z",
          "{{time}}": "2026-02-10T13:59:00Z", "{{strategy.order.price}}": "0.0027486",
          "{{strategy.order.id}}": "long-entry"}


@pytest.mark.parametrize("dialect", list(alert_messages("t0ken")))
def test_each_paste_ready_message_parses_in_its_own_dialect(dialect):
    from app.ingest.parsers import parse

    message = alert_messages("t0ken")[dialect]
    for placeholder, value in FILLED.items():
        message = message.replace(placeholder, value)
    assert "{{" not in message
    signal = parse(message.encode(), datetime.now(UTC)).signal
    assert signal.dialect == dialect
    assert signal.symbol in ("DOGE/USDT", "DOGE/USDT:USDT")
    if dialect != "octobot":  # OctoBot's minimal message has no size or price
        assert json.loads(message)


def test_a_viewer_reads_the_console_but_cannot_flip_the_kill_switch_and_the_audit_log_shows_it(app_client):
    token = app_client.post("/api/v1/admin-tokens", headers={"Authorization": f"Bearer {TOKEN}"},
                            json={"name": "vera", "role": "viewer"}).json()["token"]
    assert app_client.post("/signin", data={"token": token}, follow_redirects=False).status_code == 303
    csrf = csrf_of(app_client.get("/accounts").text)
    refused = app_client.post("/accounts/paper/trading-state", data={"csrf": csrf, "state": "HALTED", "confirm": "yes"})
    assert refused.status_code == 403 and "it needs the operator role" in refused.text
    assert admin_get(app_client, "/api/v1/accounts/paper")["trading_state"] == "ACTIVE"
    audit = admin_get(app_client, "/api/v1/audit")["items"]
    assert any(e["actor"] == "vera" and e["path"] == "/accounts/paper/trading-state" and e["status"] == 403
               for e in audit), audit


def fill_doge(client: TestClient, token: str) -> str:
    """Corpus 01 (buy 10000 DOGE/USDT at 0.0027486) filled on the paper account; its signal id."""
    from tests.conftest import corpus01_with_token, drain_queues

    answer = client.post(f"/webhooks/tradingview/{token}", content=corpus01_with_token(token))
    assert answer.status_code == 202, answer.text
    drain_queues()
    return answer.json()["signal_id"]


def quote_doge(bid: str, ask: str) -> None:
    """A fresh DOGE/USDT quote of the paper account's market-data source, as the streamer writes it."""
    from decimal import Decimal

    from app.domain.marketdata import Quote
    from app.marketdata import cache

    now = datetime.now(UTC)
    cache.write_quote(Quote("binance", "DOGE/USDT", Decimal(bid), Decimal(ask), Decimal(bid), now, now))


def position_row(page: str) -> str:
    return re.search(r'<tr data-position="paper:DOGE/USDT">(.*?)</tr>', page, re.S).group(1)


def test_positions_show_mark_notional_and_unrealised_pnl_and_a_dash_when_not_marked(app_client, db):
    signed_in(app_client)
    fill_doge(app_client, db)
    unmarked = app_client.get("/accounts").text
    cells = re.findall(r'class="num (?:mark|notional|unrealized)">([^<]*)<', position_row(unmarked))
    assert cells == ["—", "—", "—"]
    for testid in ("equity-at-market", "unrealized-pnl", "exposure"):
        assert re.search(rf'data-testid="{testid}">—<', unmarked), testid

    quote_doge("0.0028", "0.0028002")  # a long is marked at the bid
    view = admin_get(app_client, "/api/v1/accounts/paper")
    [held] = view["open_positions"]
    marked = app_client.get("/accounts").text
    row = position_row(marked)
    assert f'class="num mark">{held["mark_price"]}<' in row and held["mark_price"] == "0.0028"
    assert f'class="num notional">{held["notional"]}<' in row and held["notional"] == "28"
    assert f'class="num unrealized">{held["unrealized_pnl"]}<' in row and held["unrealized_pnl"] == "0.514"
    for testid, key in (("equity-at-market", "equity_at_market"), ("unrealized-pnl", "unrealized_pnl"),
                        ("exposure", "exposure")):
        assert f'data-testid="{testid}">{view[key]} USDT<' in marked, testid


def test_close_position_asks_to_confirm_then_ingests_an_exit_that_flattens_it(app_client, db):
    from tests.conftest import drain_queues

    csrf = signed_in(app_client)
    fill_doge(app_client, db)
    quote_doge("0.0028", "0.0028002")  # the exit carries no price: the paper venue sells at the market
    assert "Close position" in position_row(app_client.get("/accounts").text)
    asked = app_client.post("/positions/close", data={"csrf": csrf, "account": "paper", "symbol": "DOGE/USDT"})
    assert asked.status_code == 200 and "Yes, close DOGE/USDT" in asked.text and 'id="close-confirm"' in asked.text
    assert len(admin_get(app_client, "/api/v1/signals")["items"]) == 1  # nothing sent yet

    done = app_client.post("/positions/close", data={"csrf": csrf, "account": "paper", "symbol": "DOGE/USDT",
                                                     "confirm": "yes"})
    notice = re.search(r'<p class="notice" role="status">([^<]*)<', done.text).group(1)
    assert notice.startswith("Close paper DOGE/USDT: exit accepted, signal ")
    exit_id = re.search(r"signal ([0-9a-f-]{36})", notice).group(1)
    drain_queues()
    assert admin_get(app_client, "/api/v1/positions?open=true") == []
    exit_signal = admin_get(app_client, f"/api/v1/signals/{exit_id}")
    assert (exit_signal["source"], exit_signal["action"], exit_signal["signal"]["comment"]) == (
        "rest", "exit", "console close by bootstrap")
    assert exit_signal["intents"][0]["order"]["status"] == "FILLED"
    assert "Close position" not in position_row(app_client.get("/accounts").text)  # the row stays, closed

    again = app_client.post("/positions/close", data={"csrf": csrf, "account": "paper", "symbol": "DOGE/USDT",
                                                      "confirm": "yes"})
    assert "paper DOGE/USDT not closed: paper has no open DOGE/USDT position; nothing sent" in again.text
    assert app_client.get("/accounts?close=paper&symbol=BTC/USDT").status_code == 404


def test_a_hedge_mode_account_shows_its_long_and_short_and_closes_each_by_side(app_client, db):
    from sqlalchemy import select

    from app.db import unit_of_work
    from app.persistence.models import Account, PositionRecord

    csrf = signed_in(app_client)
    with unit_of_work() as session:
        account_id = session.execute(select(Account.id).where(Account.name == "paper")).scalar_one()
        for side, quantity in (("long", "0.01"), ("short", "-0.02")):
            session.add(PositionRecord(account_id=account_id, symbol="BTC/USDT:USDT", position_side=side,
                                       quantity=Decimal(quantity), average_price=Decimal(60000), realized_pnl=0))
    page = app_client.get("/accounts").text
    short = re.search(r'<tr data-position="paper:BTC/USDT:USDT:short">(.*?)</tr>', page, re.S).group(1)
    assert '<span class="pill">short</span>' in short and "-0.02" in short
    assert 'name="side" value="short"' in short
    assert re.search(r'<tr data-position="paper:BTC/USDT:USDT:long">', page)

    asked = app_client.get("/accounts", params={"close": "paper", "symbol": "BTC/USDT:USDT", "side": "short"})
    assert "Close paper's BTC/USDT:USDT short position (-0.02)?" in asked.text
    assert 'name="side" value="short"' in re.search(r'id="close-confirm"(.*?)</form>', asked.text, re.S).group(1)
    assert app_client.get("/accounts", params={"close": "paper", "symbol": "BTC/USDT:USDT"}).status_code == 404

    # the exit goes to risk naming the side (this paper account is not in hedge mode: refused, saying so)
    done = app_client.post("/positions/close", data={"csrf": csrf, "account": "paper", "symbol": "BTC/USDT:USDT",
                                                     "side": "short", "confirm": "yes"})
    notice = re.search(r'<p class="notice" role="status">([^<]*)<', done.text).group(1)
    assert "exit rejected (position_side short applies to hedge mode" in notice.replace("&#39;", "'")


def test_close_position_is_an_operator_lever_a_viewer_may_not_pull(app_client, db):
    from app.security.operators import Role
    from app.security.policy import required_role

    assert required_role("POST", "/positions/close") == Role.OPERATOR
    token = app_client.post("/api/v1/admin-tokens", headers={"Authorization": f"Bearer {TOKEN}"},
                            json={"name": "vera", "role": "viewer"}).json()["token"]
    fill_doge(app_client, db)
    app_client.post("/signin", data={"token": token})
    csrf = csrf_of(app_client.get("/accounts").text)
    refused = app_client.post("/positions/close", data={"csrf": csrf, "account": "paper", "symbol": "DOGE/USDT",
                                                        "confirm": "yes"})
    assert refused.status_code == 403 and "it needs the operator role" in refused.text
    assert len(admin_get(app_client, "/api/v1/signals")["items"]) == 1


def test_latency_histogram_buckets_and_percentiles():
    from app.admin.stats import percentile
    from app.console.services import latency_histogram

    values = [3.0, 9.99, 10.0, 42.0, 99.0, 120.0, 480.0, 999.0, 1000.0, 2500.0, -1.0]
    histogram = latency_histogram(values)
    assert [(b.label, b.count) for b in histogram.buckets] == [
        ("0–10 ms", 3), ("10–50 ms", 2), ("50–100 ms", 1), ("100–500 ms", 2), ("500–1000 ms", 1), (">1000 ms", 2)]
    assert [b.width for b in histogram.buckets] == [100.0, 66.67, 33.33, 66.67, 33.33, 66.67]
    assert histogram.total == 11
    assert (histogram.p50, histogram.p99) == (percentile(sorted(values), 50), percentile(sorted(values), 99))
    empty = latency_histogram([])
    assert (empty.total, empty.p50, empty.p99) == (0, None, None) and all(b.width == 0 for b in empty.buckets)


def test_analytics_shows_the_signal_to_fill_latency_histogram_with_the_stats_percentiles(app_client, db):
    signed_in(app_client)
    assert "No fills in this period." in app_client.get("/analytics?period=all").text
    fill_doge(app_client, db)
    page = app_client.get("/analytics?period=all").text
    overall = admin_get(app_client, "/api/v1/stats")["overall"]
    percentiles = re.search(r'data-testid="latency-percentiles">(.*?)</p>', page, re.S).group(1)
    assert f"p50 <strong>{overall['latency_ms_p50']:,.1f} ms</strong>" in percentiles
    assert f"p99 <strong>{overall['latency_ms_p99']:,.1f} ms</strong>" in percentiles and "1 fill" in percentiles
    counts = dict(re.findall(r'<li data-bucket="([^"]+)">.*?<span class="num">(\d+)</span>', page, re.S))
    assert len(counts) == 6 and sum(map(int, counts.values())) == 1


def test_the_equity_curve_follows_the_chosen_strategy(app_client, db):
    """Analytics for one strategy charts only its fills: two strategies trade, each curve ends at
    its own realised PnL (here the opening fees), and all strategies together at their sum."""
    from app.console import services
    from app.db import unit_of_work
    from tests.conftest import drain_queues

    other = app_client.post("/api/v1/strategies", headers={"Authorization": f"Bearer {TOKEN}"},
                            json={"name": "other"}).json()["token"]
    for token, symbol in ((db, "BINANCE:BTCUSDT"), (other, "BINANCE:ETHUSDT")):
        body = {"tradewire": 1, "symbol": symbol, "action": "buy", "size": "1", "size_unit": "base", "price": "100"}
        assert app_client.post(f"/webhooks/tradingview/{token}", content=json.dumps(body)).status_code == 202
    drain_queues()
    with unit_of_work() as session:
        default = services.equity_curve(session, None, None, None, "default")
        mine = services.equity_curve(session, None, None, None, "other")
        everyone = services.equity_curve(session, None, None, None)
    assert (default.fills, mine.fills, everyone.fills) == (1, 1, 2)
    assert default.equity[-1]["value"] == mine.equity[-1]["value"] == -0.1  # 0.1% fee on 100
    assert everyone.equity[-1]["value"] == -0.2


def test_the_equity_curve_can_follow_a_source_or_a_confidence_bucket(app_client, db):
    from datetime import UTC, datetime as dt
    from decimal import Decimal

    from app.console import services
    from app.db import unit_of_work
    from app.domain.marketdata import Quote
    from app.marketdata import cache
    from tests.conftest import drain_queues

    now = dt.now(UTC)
    cache.write_quote(Quote("binance", "BTC/USDT", Decimal("99.9"), Decimal(100), Decimal(100), now, now))
    key = app_client.post("/api/v1/api-keys", headers={"Authorization": f"Bearer {TOKEN}"},
                          json={"name": "m", "strategies": ["default"]}).json()["key"]
    for confidence, stamp in (("0.82", "2026-11-27T00:00:00Z"), ("0.65", "2026-11-27T04:00:00Z")):
        body = {"symbol": "BTCUSDT", "timeframe": "4h", "prediction": "BUY", "confidence": confidence, "timestamp": stamp}
        answer = app_client.post("/api/v1/predictions", content=json.dumps(body),
                                 headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
        assert answer.json()["status"] == "accepted", answer.text
    alert = {"tradewire": 1, "symbol": "BINANCE:BTCUSDT", "action": "buy", "size": "1", "size_unit": "base", "price": "100"}
    assert app_client.post(f"/webhooks/tradingview/{db}", content=json.dumps(alert)).status_code == 202
    drain_queues()
    with unit_of_work() as session:
        fills = {label: services.equity_curve(session, None, None, None, **kw).fills for label, kw in (
            ("all", {}), ("predictions", {"source": "prediction"}), ("tradingview", {"source": "tradingview"}),
            ("0.8-0.9", {"bucket": "0.8-0.9"}), ("0.6-0.7", {"bucket": "0.6-0.7"}), ("0.9-1.0", {"bucket": "0.9-1.0"}))}
    assert fills == {"all": 3, "predictions": 2, "tradingview": 1, "0.8-0.9": 1, "0.6-0.7": 1, "0.9-1.0": 0}
    signed_in(app_client)
    page = app_client.get("/analytics?period=all&source=prediction&bucket=0.8-0.9")
    assert page.status_code == 200 and 'id="a-bucket"' in page.text
    assert app_client.get("/analytics?period=all&bucket=banana").status_code == 422
