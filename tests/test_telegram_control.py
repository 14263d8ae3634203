"""Remote control from Telegram against a local stand-in of the Bot API: commands from allowed
chats are answered, destructive ones act only on their one-time confirm button, each is in the
audit log, and a restart does not run a command again."""

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app.config_file import FileConfig
from app.domain.marketdata import Quote
from app.marketdata import cache
from app.notify.channels import DeliveryFailed
from app.notify.config import reset_notifications_config
from app.notify.telegram import poll_once
from tests.conftest import corpus01_with_token, drain_queues

BOT_TOKEN = "123456:test-bot-token"
ALLOWED, OTHER_ALLOWED, STRANGER = 42, 43, 99


class BotApi:
    """The Bot API as the remote control uses it. ``getUpdates`` answers the updates from
    ``offset`` on and forgets those below it, as Telegram does (an update is confirmed by
    asking for a higher offset); ``sendMessage``, ``answerCallbackQuery`` and
    ``editMessageReplyMarkup`` are recorded. A wrong token gets 401; ``failing`` methods 502."""

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failing: set[str] = set()
        self._next_update, self._next_message = 1000, 1
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                prefix, _, method = self.path.rpartition("/")
                if prefix != f"/telegram/bot{BOT_TOKEN}":
                    return self._answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                api.calls.append((method, body))
                if method in api.failing:
                    return self._answer(502, {"ok": False, "description": "Bad Gateway"})
                self._answer(200, {"ok": True, "result": api.result(method, body)})

            def _answer(self, status: int, data: dict[str, Any]) -> None:
                content = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/telegram"

    def result(self, method: str, body: dict[str, Any]) -> Any:
        if method == "getUpdates":
            if "offset" in body:
                self.pending = [u for u in self.pending if u["update_id"] >= body["offset"]]
            return list(self.pending)
        if method == "sendMessage":
            self._next_message += 1
            return {"message_id": self._next_message, "chat": {"id": body["chat_id"]}, "text": body["text"]}
        return True

    def _update(self, **content: Any) -> None:
        self._next_update += 1
        self.pending.append({"update_id": self._next_update, **content})

    def message(self, chat_id: int, text: str) -> None:
        self._update(message={"message_id": 1, "chat": {"id": chat_id, "type": "private"}, "text": text,
                              "from": {"id": chat_id, "is_bot": False, "first_name": "Op"}})

    def press(self, chat_id: int, data: str, message_id: int = 1) -> None:
        self._update(callback_query={"id": f"cb{self._next_update}", "from": {"id": chat_id}, "data": data,
                                     "message": {"message_id": message_id, "chat": {"id": chat_id}}})

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        return [body for m, body in self.calls if m == method]

    def last_text(self) -> str:
        return self.sent()[-1]["text"]

    def button(self, answer: dict[str, Any], label: str = "Confirm") -> str:
        [row] = answer["reply_markup"]["inline_keyboard"]
        return next(b["callback_data"] for b in row if b["text"].startswith(label))


def write_config(path, url: str, confirm_seconds: int = 60) -> None:
    path.write_text(f"""
[notifications.channels.ops]
type = "telegram"
base_url = "{url}"
token_env = "TW_TEST_TELEGRAM_TOKEN"
chat_id = "{ALLOWED}"
events = ["trading_state_change"]
command_chat_ids = [{ALLOWED}, {OTHER_ALLOWED}]
confirm_seconds = {confirm_seconds}
poll_timeout_seconds = 0
""")


@pytest.fixture
def bot(db, tmp_path, monkeypatch) -> Iterator[BotApi]:
    from app.config import get_settings

    stub = BotApi()
    write_config(tmp_path / "tradewire.toml", stub.url)
    monkeypatch.setenv("TRADEWIRE_CONFIG", str(tmp_path / "tradewire.toml"))
    monkeypatch.setenv("TW_TEST_TELEGRAM_TOKEN", BOT_TOKEN)
    get_settings.cache_clear()
    reset_notifications_config()
    yield stub
    stub.server.shutdown()
    monkeypatch.undo()
    get_settings.cache_clear()
    reset_notifications_config()


def poll() -> int:
    from app.config import get_settings

    return poll_once("ops", get_settings().notifications.channels["ops"])


def state(client, admin) -> str:
    return client.get("/api/v1/accounts/paper", headers=admin).json()["trading_state"]


def audit_rows(client, admin, chat_id: int = ALLOWED) -> list[tuple[str, str, str]]:
    items = client.get("/api/v1/audit", params={"actor": f"telegram:{chat_id}"}, headers=admin).json()["items"]
    return [(row["path"], row["summary"]["step"], row["outcome"]) for row in reversed(items)]


def fill_doge(client, token: str) -> str:
    """Corpus 01 (buy 10000 DOGE/USDT at 0.0027486) filled on the paper account; its signal id."""
    answer = client.post(f"/webhooks/tradingview/{token}", content=corpus01_with_token(token))
    assert answer.status_code == 202
    drain_queues()
    return answer.json()["signal_id"]


def test_status_from_an_allowed_chat_is_answered_with_numbers(client, admin, bot, db):
    fill_doge(client, db)
    bot.message(ALLOWED, "/status")
    assert poll() == 1
    [answer] = bot.sent()
    assert answer["chat_id"] == ALLOWED and "reply_markup" not in answer
    text = answer["text"]
    assert "paper (paper): ACTIVE" in text
    assert "equity 9999.972514 USDT; realised PnL today -0.027486 USDT; 1 open position(s)" in text
    assert "DOGE/USDT 10000 @ 0.0027486" in text
    bot.message(ALLOWED, "/positions")
    poll()
    assert bot.last_text() == "paper: DOGE/USDT 10000 @ 0.0027486 (realised -0.027486)"
    assert audit_rows(client, admin) == [("/status", "answered", "ok"), ("/positions", "answered", "ok")]


def test_a_chat_not_in_the_allowlist_is_ignored_and_logged(client, admin, bot, caplog):
    caplog.set_level(logging.WARNING, logger="app.notify.telegram")
    bot.message(STRANGER, "/halt")
    bot.press(STRANGER, "confirm:guessed-nonce")
    assert poll() == 2
    assert bot.calls == [("getUpdates", bot.calls[0][1])]  # not one word back
    ignored = [r for r in caplog.records if r.getMessage().startswith("telegram command from a chat not in")]
    assert [r.chat_id for r in ignored] == [STRANGER, STRANGER]
    assert state(client, admin) == "ACTIVE" and audit_rows(client, admin, STRANGER) == []


def test_halt_asks_to_confirm_and_only_its_button_halts_once(client, admin, bot):
    bot.message(ALLOWED, "/halt paper")
    poll()
    [question] = bot.sent()
    assert question["text"] == "Set paper to HALTED: every order is denied. Confirm?"
    confirm, cancel = bot.button(question), bot.button(question, "Cancel")
    assert confirm.startswith("confirm:") and cancel == "cancel:" + confirm.split(":", 1)[1]
    assert state(client, admin) == "ACTIVE"  # asking changes nothing

    bot.press(ALLOWED, confirm, message_id=7)
    poll()
    assert state(client, admin) == "HALTED"
    assert bot.last_text() == "paper: ACTIVE -> HALTED"
    assert bot.sent("answerCallbackQuery")[-1]["text"] == "paper: ACTIVE -> HALTED"
    assert bot.sent("editMessageReplyMarkup")[-1] == {"chat_id": ALLOWED, "message_id": 7,
                                                      "reply_markup": {"inline_keyboard": []}}

    client.put("/api/v1/accounts/paper/trading-state", json={"state": "ACTIVE"}, headers=admin)
    bot.press(ALLOWED, confirm)  # the same button again: a replay
    poll()
    assert state(client, admin) == "ACTIVE"
    assert bot.last_text().startswith("This confirmation has expired or was already used")
    assert audit_rows(client, admin) == [("/halt paper", "asked", "ok"), ("/halt paper", "confirmed", "ok"),
                                         ("/confirm", "expired", "refused")]


def test_an_expired_or_foreign_confirmation_does_nothing(client, admin, bot, tmp_path):
    from app.config import get_settings

    write_config(tmp_path / "tradewire.toml", bot.url, confirm_seconds=1)
    get_settings.cache_clear()
    bot.message(ALLOWED, "/reduce")
    poll()
    assert bot.last_text() == "Set every account (paper) to REDUCING: only orders that reduce a position pass. Confirm?"
    expired = bot.button(bot.sent()[-1])
    time.sleep(1.3)
    bot.press(ALLOWED, expired)
    bot.message(ALLOWED, "/halt")
    poll()
    foreign = bot.button(bot.sent()[-1])
    bot.press(OTHER_ALLOWED, foreign)  # an allowed chat, but not the one asked
    bot.press(ALLOWED, foreign)  # spent by the foreign press
    poll()
    assert state(client, admin) == "ACTIVE"
    assert [a["text"][:40] for a in bot.sent("answerCallbackQuery")] == [
        "This confirmation has expired or was alr"] * 3
    assert ("/confirm", "expired", "refused") in audit_rows(client, admin, OTHER_ALLOWED)


def test_resume_with_cancel_changes_nothing_and_unknown_account_is_refused(client, admin, bot):
    client.put("/api/v1/accounts/paper/trading-state", json={"state": "HALTED"}, headers=admin)
    bot.message(ALLOWED, "/resume paper")
    bot.message(ALLOWED, "/halt nowhere")
    poll()
    question, refused = bot.sent()
    assert refused["text"] == "No account 'nowhere'. Accounts: paper." and "reply_markup" not in refused
    bot.press(ALLOWED, bot.button(question, "Cancel"))
    poll()
    assert bot.last_text() == "/resume paper: canceled; nothing was done." and state(client, admin) == "HALTED"
    assert audit_rows(client, admin)[1:] == [("/halt nowhere", "answered", "refused"),
                                             ("/resume paper", "canceled", "ok")]


def test_signal_shows_its_trace_summary(client, admin, bot, db):
    signal_id = fill_doge(client, db)
    bot.message(ALLOWED, f"/signal {signal_id}")
    bot.message(ALLOWED, "/signal not-an-id")
    bot.message(ALLOWED, "/signal 00000000-0000-4000-8000-000000000000")
    poll()
    trace, usage, missing = (m["text"] for m in bot.sent())
    lines = trace.splitlines()
    assert lines[0] == f"Signal {signal_id}: accepted"
    assert lines[1] == "tradingview/tradingview: buy DOGE/USDT; strategy default, account paper"
    assert lines[2] == "Decision: approved, quantity 10000"
    assert lines[3].startswith("Order tw") and ": BUY 10000 DOGE/USDT market: FILLED 10000 @ 0.0027486 (" in lines[3]
    assert lines[4].startswith("Last step: filled after ")
    assert usage.startswith("Usage: /signal ID") and missing == "No signal 00000000-0000-4000-8000-000000000000."
    assert [o for _, _, o in audit_rows(client, admin)] == ["ok", "refused", "refused"]


def test_closeall_sends_an_exit_per_position_and_the_worker_flattens_it(client, admin, bot, db):
    fill_doge(client, db)
    # The exit carries no price: the paper venue sells at the market, here a fresh quote as
    # the market-data streamer writes it.
    now = datetime.now(UTC)
    cache.write_quote(Quote("binance", "DOGE/USDT", Decimal("0.0028"), Decimal("0.0028002"), Decimal("0.0028001"),
                            now, now))
    bot.message(ALLOWED, "/closeall paper")
    poll()
    question = bot.sent()[-1]
    assert question["text"] == ("Close every open position of paper (DOGE/USDT 10000) with an exit signal each, "
                                "at market? Confirm?")
    bot.press(ALLOWED, bot.button(question))
    poll()
    answer = bot.last_text()
    assert answer.startswith("/closeall paper through strategy default:\nDOGE/USDT: exit accepted, signal ")
    drain_queues()
    assert client.get("/api/v1/positions", params={"open": "true"}, headers=admin).json() == []
    exit_id = answer.rsplit(" ", 1)[1]
    exit_signal = client.get(f"/api/v1/signals/{exit_id}", headers=admin).json()
    assert exit_signal["intents"][0]["order"]["status"] == "FILLED"
    assert (exit_signal["source"], exit_signal["action"], exit_signal["signal"]["comment"]) == (
        "rest", "exit", f"/closeall by telegram:{ALLOWED}")
    bot.message(ALLOWED, "/closeall paper")
    poll()
    assert bot.last_text() == "paper has no open positions."
    assert audit_rows(client, admin) == [("/closeall paper", "asked", "ok"), ("/closeall paper", "confirmed", "ok"),
                                         ("/closeall paper", "answered", "refused")]


def test_a_restart_does_not_run_commands_again(client, admin, bot):
    bot.message(ALLOWED, "/status")
    bot.message(ALLOWED, "/halt paper")
    poll()
    bot.press(ALLOWED, bot.button(bot.sent()[-1]))
    poll()
    assert state(client, admin) == "HALTED" and len(bot.sent()) == 3
    client.put("/api/v1/accounts/paper/trading-state", json={"state": "ACTIVE"}, headers=admin)
    # The scheduler stops before its next getUpdates told Telegram the press was handled;
    # a new one starts with nothing in memory and the offset in Redis.
    assert poll() == 0
    assert bot.sent("getUpdates")[-1]["offset"] == bot.sent("getUpdates")[-2]["offset"] + 1
    assert len(bot.sent()) == 3 and state(client, admin) == "ACTIVE"
    assert len(audit_rows(client, admin)) == 3


def test_the_bot_token_never_reaches_the_logs(client, admin, bot, caplog):
    from app.logs import JsonFormatter, RedactFilter

    caplog.set_level(logging.DEBUG)
    bot.failing = {"getUpdates"}
    with pytest.raises(DeliveryFailed) as failed:
        poll()
    assert BOT_TOKEN not in str(failed.value)
    bot.failing = {"sendMessage"}
    bot.message(ALLOWED, "/status")
    assert poll() == 1  # the answer could not be sent: logged, the command still audited
    assert [p for p, _, _ in audit_rows(client, admin)] == ["/status"]
    lines = [JsonFormatter().format(r) for r in caplog.records if RedactFilter().filter(r)]
    assert any("telegram answer not sent" in line for line in lines)
    assert not [line for line in lines if BOT_TOKEN in line or "test-bot-token" in line]


def test_only_a_telegram_channel_takes_commands():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="only a telegram channel takes commands"):
        FileConfig.model_validate({"notifications": {"channels": {"d": {
            "type": "discord", "url_env": "X", "command_chat_ids": [1]}}}})
