"""The remote control's loop: long-poll ``getUpdates`` for one Telegram channel, obey the
chats of ``command_chat_ids`` only, and record every command with its outcome in the audit log
(actor ``telegram:<chat id>``, method ``TELEGRAM``, path the command as typed).

- Offset: after each update is handled, ``update_id + 1`` is stored in Redis
  (``{prefix}-telegram-{channel}-offset``) and sent as ``offset`` next time, which also tells
  Telegram the update is done (https://core.telegram.org/bots/api#getupdates): a restarted
  scheduler does not run a command again.
- Confirmation: a destructive command only answers with an inline keyboard
  (https://core.telegram.org/bots/api#inlinekeyboardmarkup) whose ``callback_data`` is
  ``confirm:<nonce>`` / ``cancel:<nonce>``; the nonce names a Redis key holding the pending
  action for ``confirm_seconds``, taken with GETDEL, so a button works once, for its own chat,
  before it expires.
- The bot token is only ever in the URL, which is never logged (``app.notify.channels``).
"""

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from app.config import get_settings
from app.config_file import ChannelConfig, NotificationsConfig
from app.jobs.queue import get_redis
from app.notify.channels import ChannelMisconfigured, DeliveryFailed, telegram_call
from app.notify.telegram import commands
from app.notify.telegram.commands import Answer, Pending
from app.security import audit

log = logging.getLogger(__name__)
MAX_TEXT = 4096  # https://core.telegram.org/bots/api#sendmessage
DESTRUCTIVE = ("halt", "reduce", "resume", "closeall")
EXPIRED = "This confirmation has expired or was already used; nothing was done."
_MAX_BACKOFF_SECONDS = 60.0


def controlled_channels(config: NotificationsConfig) -> dict[str, ChannelConfig]:
    """The telegram channels that take commands (a non-empty ``command_chat_ids``)."""
    return {name: c for name, c in config.channels.items() if c.type == "telegram" and c.command_chat_ids}


def control_forever(name: str, channel: ChannelConfig, running: Callable[[], bool]) -> None:
    """Poll until ``running()`` is false; a failing poll is logged (never the URL) and retried
    after a wait that doubles up to a minute."""
    failures = 0
    while running():
        try:
            poll_once(name, channel)
            failures = 0
        except (DeliveryFailed, ChannelMisconfigured) as e:
            failures += 1
            log.warning("telegram getUpdates failed; retrying", extra={"channel": name, "error": str(e)})
        except Exception:
            failures += 1
            log.exception("telegram remote control pass failed; retrying", extra={"channel": name})
        if failures:
            _sleep(min(_MAX_BACKOFF_SECONDS, 2.0 ** failures), running)


def _sleep(seconds: float, running: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while running() and time.monotonic() < deadline:
        time.sleep(0.2)


def poll_once(name: str, channel: ChannelConfig) -> int:
    """One ``getUpdates`` (waiting up to ``poll_timeout_seconds`` for an update) and each
    update handled in order; returns how many updates came. Raises ``DeliveryFailed`` when
    Telegram cannot be reached (nothing is handled, the offset is unchanged)."""
    body: dict[str, Any] = {"timeout": channel.poll_timeout_seconds, "allowed_updates": ["message", "callback_query"]}
    offset = get_redis().get(_offset_key(name))
    if offset is not None:
        body["offset"] = int(offset)
    updates = telegram_call(channel, "getUpdates", body,
                            timeout=channel.poll_timeout_seconds + channel.timeout_seconds) or []
    for update in updates:
        try:
            handle(name, channel, update)
        except Exception:  # one bad update must not stop the others, nor be retried forever
            log.exception("telegram update not handled", extra={"channel": name, "update_id": update.get("update_id")})
        finally:
            get_redis().set(_offset_key(name), int(update["update_id"]) + 1)
    return len(updates)


def handle(name: str, channel: ChannelConfig, update: dict[str, Any]) -> None:
    """A message (a command) or a callback query (a confirm or cancel button) from an allowed
    chat; anything else is logged and ignored."""
    if "callback_query" in update:
        query = update["callback_query"]
        chat_id = _chat_id(query.get("message"))
        if _allowed(name, channel, chat_id, update):
            _on_button(name, channel, chat_id, query)  # type: ignore[arg-type]
        return
    message = update.get("message") or {}
    chat_id = _chat_id(message)
    text = message.get("text")
    if not isinstance(text, str) or not text.startswith("/"):
        return  # not a command (a photo, a reply, chatter in a group)
    if _allowed(name, channel, chat_id, update):
        _on_command(name, channel, chat_id, text.strip())  # type: ignore[arg-type]


def _chat_id(message: Any) -> int | None:
    chat = message.get("chat") if isinstance(message, dict) else None
    value = chat.get("id") if isinstance(chat, dict) else None
    return value if isinstance(value, int) else None


def _allowed(name: str, channel: ChannelConfig, chat_id: int | None, update: dict[str, Any]) -> bool:
    if chat_id is not None and chat_id in channel.command_chat_ids:
        return True
    log.warning("telegram command from a chat not in command_chat_ids; ignored",
                extra={"channel": name, "chat_id": chat_id, "update_id": update.get("update_id")})
    return False


def _on_command(name: str, channel: ChannelConfig, chat_id: int, text: str) -> None:
    word, _, argument = text.partition(" ")
    command = word[1:].split("@", 1)[0].lower()  # "/status@TradewireBot" in a group
    answer = _answer(command, argument.strip() or None)
    markup = None
    if answer.confirm is not None:
        nonce = _remember(name, channel, chat_id, answer.confirm)
        markup = {"inline_keyboard": [[
            {"text": f"Confirm {answer.confirm.label()}", "callback_data": f"confirm:{nonce}"},
            {"text": "Cancel", "callback_data": f"cancel:{nonce}"},
        ]]}
    _reply(name, channel, chat_id, answer.text, markup)
    _audit(chat_id, text, answer, step="asked" if answer.confirm else "answered", channel_name=name)


def _answer(command: str, argument: str | None) -> Answer:
    try:
        if command == "status":
            return commands.status()
        if command == "positions":
            return commands.positions()
        if command == "signal":
            return commands.signal(argument)
        if command in DESTRUCTIVE:
            return commands.ask(command, argument)
    except Exception as e:
        log.exception("telegram command failed", extra={"command": command})
        return Answer(f"/{command} failed: {type(e).__name__}; see the scheduler's log.", 500)
    return Answer(commands.HELP, 200 if command in ("help", "start") else 400)


def _on_button(name: str, channel: ChannelConfig, chat_id: int, query: dict[str, Any]) -> None:
    kind, _, nonce = str(query.get("data") or "").partition(":")
    pending = _take(name, chat_id, nonce) if kind in ("confirm", "cancel") and nonce else None
    if pending is None:
        answer, label, step = Answer(EXPIRED, 410), "/confirm", "expired"
    elif kind == "cancel":
        answer, label, step = Answer(f"{pending.label()}: canceled; nothing was done."), pending.label(), "canceled"
    else:
        answer, label, step = _perform(pending, nonce, f"telegram:{chat_id}"), pending.label(), "confirmed"
    _call(name, channel, "answerCallbackQuery", {"callback_query_id": query.get("id"), "text": answer.text[:200]})
    message = query.get("message") or {}
    if "message_id" in message:  # the buttons go: they have done their one job
        _call(name, channel, "editMessageReplyMarkup", {"chat_id": chat_id, "message_id": message["message_id"],
                                                        "reply_markup": {"inline_keyboard": []}})
    _reply(name, channel, chat_id, answer.text, None)
    _audit(chat_id, label, answer, step=step, channel_name=name)


def _perform(pending: Pending, nonce: str, actor: str) -> Answer:
    try:
        return commands.perform(pending, nonce, actor)
    except Exception as e:
        log.exception("telegram command failed", extra={"command": pending.command})
        return Answer(f"{pending.label()} failed: {type(e).__name__}; see the scheduler's log.", 500)


def _remember(name: str, channel: ChannelConfig, chat_id: int, pending: Pending) -> str:
    nonce = secrets.token_urlsafe(16)  # callback_data holds at most 64 bytes
    value = json.dumps({"channel": name, "chat_id": chat_id, **asdict(pending)})
    get_redis().set(_nonce_key(nonce), value, ex=channel.confirm_seconds)
    return nonce


def _take(name: str, chat_id: int, nonce: str) -> Pending | None:
    """The pending action of ``nonce``, once: None when it expired, was used, or belongs to
    another chat or channel (then it is spent too: a button seen elsewhere is not trusted)."""
    raw = get_redis().getdel(_nonce_key(nonce[:64]))
    if raw is None:
        return None
    stored = json.loads(raw)
    if stored.get("channel") != name or stored.get("chat_id") != chat_id:
        return None
    return Pending(stored["command"], stored.get("account"))


def _reply(name: str, channel: ChannelConfig, chat_id: int, text: str, markup: dict[str, Any] | None) -> None:
    body: dict[str, Any] = {"chat_id": chat_id, "text": text[:MAX_TEXT], "disable_web_page_preview": True}
    if markup is not None:
        body["reply_markup"] = markup
    _call(name, channel, "sendMessage", body)


def _call(name: str, channel: ChannelConfig, method: str, body: dict[str, Any]) -> None:
    """A reply that cannot be sent is logged: what the command did is done and audited."""
    try:
        telegram_call(channel, method, body)
    except (DeliveryFailed, ChannelMisconfigured) as e:
        log.warning("telegram answer not sent", extra={"channel": name, "method": method, "error": str(e)})


def _audit(chat_id: int, command: str, answer: Answer, *, step: str, channel_name: str) -> None:
    audit.record(audit.Entry(actor=f"telegram:{chat_id}", role=None, method="TELEGRAM", path=command[:200],
                             summary=audit.redact({"channel": channel_name, "step": step, "answer": answer.text}),
                             client=None, status=answer.status))


def _offset_key(name: str) -> str:
    return f"{get_settings().queue_prefix}-telegram-{name}-offset"


def _nonce_key(nonce: str) -> str:
    return f"{get_settings().queue_prefix}-telegram-confirm-{nonce}"
