"""Notifications reach a local HTTP receiver standing in for Telegram, Discord, Slack and a
generic webhook, through the notify queue and a real RQ worker (burst)."""

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rq import SimpleWorker
from sqlalchemy import select

from app.db import unit_of_work
from app.jobs.queue import get_redis
from app.notify import notify, notify_on_commit
from app.notify.config import reset_notifications_config
from app.notify.jobs import get_notify_queue, promote_due_retries
from app.persistence.models import Account
from tests.processes import wait_for

BOT_TOKEN = "123456:test-bot-token"
SIGNING_SECRET = "webhook-signing-secret"


class Receiver:
    """An HTTP server in a thread that records every POST and answers the next status queued
    for its path (200 when none is)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: dict[str, list[int]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                queued = receiver.statuses.get(self.path)
                status = queued.pop(0) if queued else 200
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                          "status": status})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def to(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path and r["status"] == 200]


@pytest.fixture
def receiver(db, tmp_path, monkeypatch) -> Iterator[Receiver]:
    """A receiver and a config file whose four channels point at it."""
    from app.config import get_settings

    stub = Receiver()
    config = tmp_path / "tradewire.toml"
    config.write_text(f"""
[notifications]
retry_intervals_seconds = [0]

[notifications.channels.ops-telegram]
type = "telegram"
base_url = "{stub.url}/telegram"
token_env = "TW_TEST_TELEGRAM_TOKEN"
chat_id = "42"
events = ["trading_state_change", "daily_loss_limit"]

[notifications.channels.team-discord]
type = "discord"
url_env = "TW_TEST_DISCORD_URL"

[notifications.channels.desk-slack]
type = "slack"
url_env = "TW_TEST_SLACK_URL"
events = ["fill"]

[notifications.channels.audit]
type = "webhook"
url = "{stub.url}/hook"
secret_env = "TW_TEST_HOOK_SECRET"
events = ["trading_state_change", "rejection"]
""")
    monkeypatch.setenv("TRADEWIRE_CONFIG", str(config))
    monkeypatch.setenv("TW_TEST_TELEGRAM_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("TW_TEST_DISCORD_URL", f"{stub.url}/discord")
    monkeypatch.setenv("TW_TEST_SLACK_URL", f"{stub.url}/slack")
    monkeypatch.setenv("TW_TEST_HOOK_SECRET", SIGNING_SECRET)
    get_settings.cache_clear()
    reset_notifications_config()
    yield stub
    stub.server.shutdown()
    monkeypatch.undo()
    get_settings.cache_clear()
    reset_notifications_config()


def run_notify_worker() -> None:
    queue = get_notify_queue()
    SimpleWorker([queue], connection=get_redis(), serializer=queue.serializer).work(
        burst=True, with_scheduler=False, logging_level="ERROR")


def test_kill_switch_reaches_telegram_discord_and_the_signed_webhook(client, admin, receiver):
    client.put("/api/v1/accounts/paper/trading-state", json={"state": "HALTED"}, headers=admin)
    assert receiver.requests == []  # nothing is sent on the request path
    run_notify_worker()
    telegram = receiver.to(f"/telegram/bot{BOT_TOKEN}/sendMessage")
    assert len(telegram) == 1
    sent = json.loads(telegram[0]["body"])
    assert sent["chat_id"] == "42" and "Account paper: trading state ACTIVE -> HALTED (operator)" in sent["text"]
    discord = receiver.to("/discord")
    assert len(discord) == 1 and "ACTIVE -> HALTED" in json.loads(discord[0]["body"])["content"]
    hook = receiver.to("/hook")[0]
    event = json.loads(hook["body"])
    assert (event["kind"], event["payload"]["account"], event["payload"]["to"]) == ("trading_state_change", "paper",
                                                                                   "HALTED")
    expected = hmac.new(SIGNING_SECRET.encode(), hook["body"], hashlib.sha256).hexdigest()
    assert hook["headers"]["X-Tradewire-Signature"] == f"sha256={expected}"
    assert receiver.to("/slack") == []  # slack subscribes to fills only


def test_a_fill_goes_to_its_subscribers_with_money_as_exact_text(receiver):
    from decimal import Decimal

    with unit_of_work() as session:  # the ledger knows the account by id only
        account_id = session.execute(select(Account.id).where(Account.name == "paper")).scalar_one()
    notify("fill", {"account_id": account_id, "venue": "paper", "symbol": "DOGE/USDT", "side": "buy",
                    "quantity": Decimal("10000.000"), "price": Decimal("0.0027486"), "fee": Decimal("0.027486"),
                    "fee_currency": "USDT", "realized_pnl": Decimal("-0.027486"), "client_order_id": "tw123"})
    run_notify_worker()
    slack = json.loads(receiver.to("/slack")[0]["body"])["text"]
    assert slack.startswith("Tradewire: Fill: BUY 10000 DOGE/USDT @ 0.0027486 on paper (account paper)")
    assert len(receiver.to("/discord")) == 1 and receiver.to("/hook") == []


def test_a_failed_delivery_is_retried_until_it_arrives(receiver):
    receiver.statuses["/discord"] = [503, 200]
    notify("venue_error", {"venue": "binance", "error": "venue_unavailable", "message": "binance: RequestTimeout"})
    run_notify_worker()
    attempts = [r["status"] for r in receiver.requests if r["path"] == "/discord"]
    assert attempts == [503, 200]


def test_a_retry_with_a_wait_is_promoted_when_due(receiver, tmp_path):
    from app.config import get_settings

    config = get_settings().config
    config.write_text(config.read_text().replace("retry_intervals_seconds = [0]", "retry_intervals_seconds = [1]"))
    reset_notifications_config()
    receiver.statuses["/discord"] = [503, 200]
    notify("venue_error", {"venue": "binance", "error": "venue_unavailable", "message": "timeout"})
    run_notify_worker()
    assert get_notify_queue().count == 0  # waiting in RQ's scheduled registry
    wait_for(lambda: promote_due_retries() == 1, 10, "the retry to come due")
    run_notify_worker()
    assert [r["status"] for r in receiver.requests if r["path"] == "/discord"] == [503, 200]


def test_notify_on_commit_sends_only_what_was_committed(receiver):
    with pytest.raises(RuntimeError):
        with unit_of_work() as session:
            notify_on_commit(session, "rejection", {"account": "paper", "reason": "rolled back"})
            raise RuntimeError("the transaction fails")
    with unit_of_work() as session:
        notify_on_commit(session, "rejection", {"account": "paper", "reason": "insufficient funds", "venue": "paper"})
    run_notify_worker()
    reasons = [json.loads(r["body"])["payload"]["reason"] for r in receiver.to("/hook")]
    assert reasons == ["insufficient funds"]


def test_notify_never_raises_and_says_in_the_log_what_was_not_sent(receiver, monkeypatch, caplog):
    from app.config import get_settings
    from app.jobs.queue import reset_redis

    caplog.set_level(logging.WARNING, logger="app.notify")
    assert notify("no-such-kind", {}) is None
    assert [r.getMessage() for r in caplog.records] == ["unknown notification kind 'no-such-kind'; not sent"]
    assert get_notify_queue().count == 0
    caplog.clear()

    with monkeypatch.context() as patch:  # only this variable: the receiver's channels stay configured
        patch.setenv("TRADEWIRE_REDIS_URL", "redis://127.0.0.1:1/0")
        get_settings.cache_clear()
        reset_redis()
        try:
            assert notify("fill", {"symbol": "DOGE/USDT"}) is None  # Redis unreachable: logged, not raised
        finally:
            patch.undo()
            get_settings.cache_clear()
            reset_redis()
    [record] = caplog.records
    assert (record.levelname, record.getMessage(), record.kind) == ("WARNING", "notification not queued", "fill")
    assert record.error.startswith("ConnectionError")

    run_notify_worker()  # Redis is back: nothing of the lost notification was queued or sent
    assert get_notify_queue().count == 0 and receiver.requests == []
    notify("venue_error", {"venue": "binance", "error": "venue_unavailable", "message": "timeout"})
    run_notify_worker()
    assert len(receiver.to("/discord")) == 1  # and the next one is delivered


def test_an_alert_filled_by_the_worker_and_a_venue_rejection_reach_their_channels(client, receiver):
    """Through the real pipeline: webhook → risk → worker fill (Slack, Discord) and a paper
    rejection for insufficient funds (the signed webhook)."""
    from tests.conftest import corpus01_with_token, drain_queues

    from app.bootstrap import ensure_defaults
    from app.config import get_settings

    with unit_of_work() as session:
        token = ensure_defaults(session, get_settings())
    assert client.post(f"/webhooks/tradingview/{token}", content=corpus01_with_token(token)).status_code == 202
    big = {"tradewire": 1, "symbol": "BINANCE:BTCUSDT", "action": "buy", "size": "1", "price": "60000"}
    assert client.post(f"/webhooks/tradingview/{token}", content=json.dumps(big)).status_code == 202
    drain_queues()  # the venue jobs; their notifications go to the notify queue
    run_notify_worker()
    fill = json.loads(receiver.to("/slack")[0]["body"])["text"]
    assert "BUY 10000 DOGE/USDT @ 0.0027486" in fill
    rejection = json.loads(receiver.to("/hook")[0]["body"])
    assert rejection["kind"] == "rejection" and "insufficient funds" in rejection["payload"]["reason"]
