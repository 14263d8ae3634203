"""The console in a real browser (Playwright driving Debian's Chromium) against a real
``tradewire api`` + ``tradewire worker`` stack: what the operator sees, page by page.

Screenshots of every page land in tests/artifacts/console/ (git-ignored). Without Chromium
the tests are skipped with the command that installs it; with ``CI`` set they fail instead.
"""

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import corpus01_with_token
from tests.processes import free_port, ready, spawn, stop, wait_for

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "console"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WAIT_MS = 30_000  # how long to wait for the page to show something (never asserted as a timing)
PHONE = {"width": 390, "height": 844}
# The stack's own admin token (the sign-in token), long enough for any configured minimum.
ADMIN_TOKEN = "console-test-admin-token-0123456789abcdef"
# Elements sticking out of a phone's screen (wide tables scroll inside their own box instead).
WIDER = """[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)
  .slice(0, 5).map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').trim().slice(0, 40))"""


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set: the browser tests must run)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        _unavailable("no Chromium on this machine: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is missing: .venv/bin/pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@dataclass(frozen=True)
class Stack:
    base: str
    webhook_token: str

    def post_alert(self, body: bytes, token: str | None = None) -> str:
        answer = httpx.post(f"{self.base}/webhooks/tradingview/{token or self.webhook_token}", content=body)
        assert answer.status_code == 202, answer.text
        return answer.json()["signal_id"]

    def admin(self, path: str) -> object:
        return httpx.get(f"{self.base}{path}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()


@pytest.fixture
def stack(db: str, services: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    port = free_port()
    env = {**os.environ, "TRADEWIRE_PORT": str(port), "TRADEWIRE_ADMIN_TOKEN": ADMIN_TOKEN}
    api = spawn(["api"], env, tmp_path / "api.log")
    worker = spawn(["worker"], env, tmp_path / "worker.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: ready(base), 30, "the API to be ready")
        yield Stack(base, db)
    finally:
        stop(api)
        stop(worker)


@pytest.fixture
def context(browser, stack: Stack):
    context = browser.new_context(base_url=stack.base, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.base)
    context.set_default_timeout(WAIT_MS)
    yield context
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, token: str = ADMIN_TOKEN) -> None:
    page.goto("/signin")
    page.fill("#token", token)
    page.click("button:has-text('Sign in')")


def second_alert(token: str) -> bytes:
    """Corpus 01 at a later bar: a new signal, not a duplicate of the first."""
    payload = json.loads(corpus01_with_token(token))
    payload["time"] = "2020-09-06T01:45:17Z"
    payload["bar"]["time"] = "2020-09-06T01:44:00Z"
    payload["strategy"]["order_id"] = "second"
    return json.dumps(payload).encode()


def set_state(page, state: str):
    """Flip the paper account's trading state through the confirmation."""
    page.goto("/accounts")
    card = page.locator("#account-paper")
    label = "Halt (kill switch)" if state == "HALTED" else f"Set {state}"
    card.locator(f"button:has-text('{label}')").click()
    card.locator(".confirm").wait_for()
    return card


def test_operator_follows_an_alert_from_post_to_fill_and_uses_every_page(context, stack: Stack):
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(f"{stack.base}/signin")
    shot(page, "01-signin")
    sign_in(page)
    expect(page.locator("h1")).to_have_text("Live feed")

    # An alert arrives: the feed shows it without a reload and follows its order to FILLED.
    signal_id = stack.post_alert(corpus01_with_token(stack.webhook_token))
    row = page.locator(f'tr[data-signal="{signal_id}"]')
    expect(row.locator(".order-status")).to_have_text("FILLED")
    expect(row).to_contain_text("DOGE/USDT")
    expect(row).to_contain_text("tradingview")
    expect(row.locator(".signal-status")).to_have_text("accepted")
    shot(page, "02-live-feed")

    # Its trace: the check list, the order's transitions, the fill and the waterfall.
    row.locator("a").click()
    expect(page).to_have_url(f"{stack.base}/signals/{signal_id}")
    expect(page.locator("table.checks tr.ok").first).to_be_visible()
    expect(page.locator("table.fills")).to_contain_text("10000")
    expect(page.locator(".waterfall .step").last).to_have_text("filled")
    expect(page.locator("table.transitions")).to_contain_text("FILLED")
    expect(page.locator("pre.json").nth(1)).to_contain_text('"passphrase": "***"')
    assert stack.webhook_token not in page.content()
    shot(page, "03-signal-trace")

    # The kill switch, with its confirmation; the next alert is rejected with the reason.
    card = set_state(page, "HALTED")
    shot(page, "04-kill-switch-confirm")
    card.locator("button:has-text('Yes, set HALTED')").click()
    expect(card.locator("[data-testid=trading-state]")).to_have_text("HALTED")
    expect(page.locator(".notice")).to_contain_text("ACTIVE → HALTED")
    expect(page.locator("text=DOGE/USDT").first).to_be_visible()  # the position the fill opened
    shot(page, "05-accounts")
    # Close position asks first (the exit itself is tested in tests/test_console_pages.py).
    position = page.locator('tr[data-position="paper:DOGE/USDT"]')
    expect(position.locator("td.mark")).to_have_text("—")  # no market data on this stack
    position.locator("button:has-text('Close position')").click()
    expect(page.locator("#close-confirm")).to_contain_text("HALTED: the exit would be denied too")
    shot(page, "05b-close-position-confirm")
    page.locator("#close-confirm a:has-text('Keep it open')").click()
    expect(page.locator("#close-confirm")).to_have_count(0)
    rejected_id = stack.post_alert(second_alert(stack.webhook_token))
    page.goto("/")
    rejected = page.locator(f'tr[data-signal="{rejected_id}"]')
    expect(rejected.locator(".signal-status")).to_have_text("rejected")
    expect(rejected.locator(".reason")).to_contain_text("HALTED")

    # A new strategy: its webhook URL is shown once and the copy button copies it.
    page.goto("/strategies")
    page.fill("#s-name", "console-made")
    page.click("button:has-text('Create strategy')")
    url = page.locator("#webhook-url").inner_text()
    assert url.startswith(f"{stack.base}/webhooks/tradingview/")
    page.locator("#shown button.copy").click()
    expect(page.locator("#shown button.copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == url
    expect(page.locator("#strategies")).to_contain_text("console-made")
    shot(page, "06-strategies")
    body = json.loads(second_alert(""))
    del body["passphrase"]
    answer = httpx.post(url, content=json.dumps(body).encode())
    assert answer.status_code == 202, answer.text  # the copied URL is the strategy's live webhook

    # Back to ACTIVE, then a dry run: the decision, every check and the exact order; nothing recorded.
    card = set_state(page, "ACTIVE")
    card.locator("button:has-text('Yes, set ACTIVE')").click()
    expect(card.locator("[data-testid=trading-state]")).to_have_text("ACTIVE")
    signals_before = len(stack.admin("/api/v1/signals?limit=500")["items"])
    page.goto("/dry-run")
    page.fill("#d-payload", json.dumps({"tradewire": 1, "symbol": "BINANCE:DOGEUSDT", "action": "buy",
                                        "size": "5000", "price": "0.0027486"}))
    page.select_option("#d-strategy", "default")
    page.click("button:has-text('Run')")
    result = page.locator("#dry-run-result")
    expect(result.locator("h2")).to_contain_text("approved")
    expect(result.locator("table.orders")).to_contain_text("5000")
    expect(result.locator("table.checks tr").nth(1)).to_be_visible()
    shot(page, "07-dry-run")
    assert len(stack.admin("/api/v1/signals?limit=500")["items"]) == signals_before

    # Analytics: the fill is counted and the equity chart is drawn.
    page.goto("/analytics?period=all")
    expect(page.locator("table.stats").first).to_contain_text("default")
    expect(page.locator("#equity-chart canvas").first).to_be_attached()
    expect(page.locator("[data-testid=latency-percentiles]")).to_contain_text("p99")
    expect(page.locator("ol.histogram li")).to_have_count(6)
    shot(page, "08-analytics")

    # The same pages on a phone-sized screen.
    phone = context.browser.new_context(base_url=stack.base, viewport=PHONE, storage_state=context.storage_state(),
                                        device_scale_factor=2, is_mobile=True)
    small = phone.new_page()
    for path, name in (("/", "09-phone-live-feed"), ("/accounts", "10-phone-accounts"),
                       (f"/signals/{signal_id}", "11-phone-signal-trace")):
        small.goto(path)
        shot(small, name)
        assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1, small.evaluate(WIDER)
    phone.close()

    # Signing out closes every page.
    page.click("button:has-text('Sign out')")
    expect(page).to_have_url(f"{stack.base}/signin")
    for path in ("/", "/accounts", "/strategies", f"/signals/{signal_id}", "/analytics", "/dry-run"):
        page.goto(path)
        expect(page.locator("h1")).to_have_text("Sign in")


def test_wrong_token_shows_the_error_and_opens_nothing(context, stack: Stack):
    from playwright.sync_api import expect

    page = context.new_page()
    sign_in(page, "not-the-token")
    expect(page.locator("#token-error")).to_have_text("That token does not sign in. Check it and try again.")
    expect(page.locator("h1")).to_have_text("Sign in")
    assert "not-the-token" not in page.content() and ADMIN_TOKEN not in page.content()
    assert context.cookies() == []
    shot(page, "12-wrong-token")
    page.goto("/accounts")
    expect(page.locator("h1")).to_have_text("Sign in")


def _expire_sessions(services: dict[str, str]) -> None:
    """What Redis does when a session's time is up: its key is gone."""
    from app.jobs.queue import get_redis

    redis = get_redis()
    for key in redis.scan_iter(f"{services['TRADEWIRE_QUEUE_PREFIX']}:console:session:*"):
        redis.delete(key)


def test_expired_session_returns_to_signin_without_acting(context, stack: Stack, services):
    from playwright.sync_api import expect

    page = context.new_page()
    sign_in(page)
    card = set_state(page, "HALTED")
    _expire_sessions(services)
    card.locator("button:has-text('Yes, set HALTED')").click()
    expect(page.locator("h1")).to_have_text("Sign in")
    assert stack.admin("/api/v1/accounts/paper")["trading_state"] == "ACTIVE"
    shot(page, "13-expired-session")
    page.fill("#token", ADMIN_TOKEN)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(f"{stack.base}/accounts")
    expect(page.locator("#account-paper [data-testid=trading-state]")).to_have_text("ACTIVE")

    # The live feed's polling finds the session gone and goes back to sign-in too.
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Live feed")
    _expire_sessions(services)
    expect(page.locator("h1")).to_have_text("Sign in")
