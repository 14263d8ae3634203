"""Formatting and sending one notification to one channel.

- Telegram: ``POST {base_url}/bot<token>/sendMessage`` ``{"chat_id", "text"}``
  (https://core.telegram.org/bots/api#sendmessage); ``telegram_call`` makes the other Bot API
  calls of the remote control (``app.notify.telegram``).
- Discord: ``POST <webhook url>`` ``{"content"}``, at most 2,000 characters
  (https://discord.com/developers/docs/resources/webhook#execute-webhook)
- Slack: ``POST <incoming webhook url>`` ``{"text"}`` (https://api.slack.com/messaging/webhooks)
- webhook: ``POST <url>`` ``{"kind", "at", "text", "payload"}``; with ``secret_env``, header
  ``X-Tradewire-Signature: sha256=<hex HMAC-SHA256(secret, body)>``.
"""

import hashlib
import hmac
import json
import os
from collections.abc import Callable
from typing import Any

import httpx

from app.config_file import ChannelConfig

SIGNATURE_HEADER = "X-Tradewire-Signature"
DISCORD_LIMIT = 2000


class DeliveryFailed(Exception):
    """The channel could not be reached or answered 429/5xx: the job raises this and RQ
    retries it later. A 4xx answer (bad token, deleted webhook) is not retried: fix the config."""


def _v(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    return "?" if value is None else str(value)


_TEMPLATES: dict[str, Callable[[dict[str, Any]], str]] = {
    "fill": lambda p: (f"Fill: {_v(p, 'side').upper()} {_v(p, 'quantity')} {_v(p, 'symbol')} @ {_v(p, 'price')} "
                       f"on {_v(p, 'venue')} (account {_v(p, 'account')}); "
                       f"fee {_v(p, 'fee')} {p.get('fee_currency') or ''}; realised PnL {_v(p, 'realized_pnl')}; "
                       f"order {_v(p, 'client_order_id')}"),
    "rejection": lambda p: (f"Order rejected: {_v(p, 'side').upper()} {_v(p, 'quantity')} {_v(p, 'symbol')} on "
                            f"{_v(p, 'venue')} (account {_v(p, 'account')}): {_v(p, 'reason')}; "
                            f"order {_v(p, 'client_order_id')}"),
    "venue_error": lambda p: f"Venue error on {_v(p, 'venue')} ({_v(p, 'error')}): {_v(p, 'message')}",
    "order_in_doubt": lambda p: (f"Order in doubt on {_v(p, 'venue')}: {_v(p, 'client_order_id')} "
                                 f"({_v(p, 'symbol')}): {_v(p, 'error')}. It will be looked up by its client order "
                                 "id before anything is sent again."),
    "trading_state_change": lambda p: (f"Account {_v(p, 'account')}: trading state {_v(p, 'from')} -> "
                                       f"{_v(p, 'to')} ({_v(p, 'reason')})"),
    "daily_loss_limit": lambda p: (f"Account {_v(p, 'account')} hit its daily loss limit: realised "
                                   f"{_v(p, 'realized_pnl_today')} today, limit {_v(p, 'limit')}; now "
                                   f"{_v(p, 'state')} until 00:00 UTC or an operator's reset"),
}


def message_text(kind: str, payload: dict[str, Any]) -> str:
    """One line for people: ``Tradewire: Fill: BUY 10000 DOGE/USDT @ 0.0027486 on paper …``."""
    template = _TEMPLATES.get(kind)
    body = template(payload) if template else f"{kind}: {json.dumps(payload, sort_keys=True)}"
    return f"Tradewire: {body}"


def send(channel: ChannelConfig, kind: str, payload: dict[str, Any]) -> int:
    """Send one message; returns the HTTP status. Raises ``DeliveryFailed`` when worth a retry."""
    url, body = _request(channel, kind, payload)
    content = json.dumps(body, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    if channel.type == "webhook" and channel.secret_env:
        secret = _env(channel.secret_env).encode()
        headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(secret, content, hashlib.sha256).hexdigest()
    try:
        answer = httpx.post(url, content=content, headers=headers, timeout=channel.timeout_seconds)
    except httpx.HTTPError as e:
        raise DeliveryFailed(f"{channel.type}: {type(e).__name__}") from None  # the URL may hold a secret
    if answer.status_code == 429 or answer.status_code >= 500:
        raise DeliveryFailed(f"{channel.type}: HTTP {answer.status_code}")
    return answer.status_code


def _request(channel: ChannelConfig, kind: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    text = message_text(kind, payload)
    if channel.type == "telegram":
        return telegram_url(channel, "sendMessage"), {"chat_id": channel.chat_id, "text": text,
                                                      "disable_web_page_preview": True}
    url = _env(channel.url_env) if channel.url_env else str(channel.url)
    if channel.type == "discord":
        return url, {"content": text[:DISCORD_LIMIT]}
    if channel.type == "slack":
        return url, {"text": text}
    return url, {"kind": kind, "at": payload.get("at"), "text": text, "payload": payload}


def telegram_url(channel: ChannelConfig, method: str) -> str:
    """``{base_url}/bot<token>/<method>``: it holds the bot token, so it is never logged."""
    return f"{channel.base_url.rstrip('/')}/bot{_env(channel.token_env or '')}/{method}"


def telegram_call(channel: ChannelConfig, method: str, body: dict[str, Any], *, timeout: float | None = None) -> Any:
    """Call a Bot API method (https://core.telegram.org/bots/api#making-requests) and return
    its ``result``. Raises ``DeliveryFailed`` for a network error, a non-JSON answer or
    ``"ok": false`` (with Telegram's ``description``, never the URL), ``ChannelMisconfigured``
    when the token's variable is not set. ``timeout`` (seconds) defaults to the channel's."""
    try:
        answer = httpx.post(telegram_url(channel, method), json=body, timeout=timeout or channel.timeout_seconds)
        data = answer.json()
    except httpx.HTTPError as e:
        raise DeliveryFailed(f"telegram {method}: {type(e).__name__}") from None  # the URL holds the token
    except ValueError:
        raise DeliveryFailed(f"telegram {method}: HTTP {answer.status_code}, not JSON") from None
    if not isinstance(data, dict) or data.get("ok") is not True:
        description = data.get("description") if isinstance(data, dict) else None
        raise DeliveryFailed(f"telegram {method}: HTTP {answer.status_code}: {description or 'not ok'}")
    return data.get("result")


class ChannelMisconfigured(Exception):
    """The channel's environment variable is missing: not retried; set it and restart the workers."""


def _env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ChannelMisconfigured(f"environment variable {name} is not set")
    return value
