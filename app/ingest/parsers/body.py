"""From raw bytes to a JSON object or text, whatever the Content-Type said.

TradingView sends ``application/json`` only when the message is valid JSON, and some say it
sends ``text/plain`` even then (TRADINGVIEW_FACTS.md §1), so the header is never trusted.
Also: secret fields are found here (to identify a strategy from the body) and redacted here
(before anything is stored or logged).
"""

import json
import re
from typing import Any

from app.errors import SignalParseError

MAX_BODY_BYTES = 64 * 1024

# Field names whose values are credentials, compared lower case without - and _.
SECRET_FIELDS = frozenset(
    {
        "passphrase", "passphase", "secret", "signaltoken", "token", "password", "apikey", "apisecret",
        "apisecretkey", "secretkey", "key", "privatekey", "seckey", "apitoken", "webhooksecret",
    }
)
REDACTED = "***"
# Fields whose value identifies the strategy on POST /webhooks/tradingview (no URL token).
BODY_SECRET_FIELDS = ("passphrase", "secret", "signalToken", "token")


def is_secret_field(name: str) -> bool:
    return re.sub(r"[-_\s]", "", name).lower() in SECRET_FIELDS


def decode(body: bytes) -> dict[str, Any] | str:
    """The body as a JSON object when it is one, else as text (BOM, CRLF and literal ``\\n`` normalised).

    Raises ``SignalParseError`` for an empty body or bytes that are not UTF-8.
    """
    try:
        content = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SignalParseError("the body is not UTF-8 text", field="body") from None
    if not content.strip():
        raise SignalParseError("the body is empty", field="body")
    try:
        data = json.loads(content, parse_float=str, parse_int=str, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError):
        return content.replace("\r\n", "\n").replace("\\n", "\n").strip()
    if isinstance(data, dict):
        return data
    return content.strip()


def json_error(content: str) -> str:
    """Where and why ``content`` fails to parse as JSON, e.g. ``Expecting ',' delimiter: line 3 column 15``."""
    try:
        json.loads(content)
    except json.JSONDecodeError as e:
        return str(e)
    except ValueError as e:
        return str(e)
    return "not a JSON object"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def find_secret(data: dict[str, Any] | str) -> str | None:
    """The body secret (``passphrase``, ``secret``, ``signalToken``, ``token``) if the body has one."""
    if isinstance(data, dict):
        for name in BODY_SECRET_FIELDS:
            value = data.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None
    # Pairs may be separated by newlines or ';' (OctoBot), so a value stops at either.
    match = re.search(r"(?im)(?:^|;)\s*(passphrase|secret|signaltoken|token)\s*=\s*([^;\s]+)", data)
    return match.group(2) if match else None


def redact(body: bytes) -> str:
    """The body as text with every secret field's value replaced by ``***``.

    Works on JSON (any depth), on KEY=VALUE text and on broken JSON (by pattern), so an
    ``invalid`` signal is stored without its secrets too.
    """
    content = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(content, parse_float=str, parse_int=str)
    except (json.JSONDecodeError, ValueError):
        return _redact_text(content)
    return json.dumps(_redact_value(data), ensure_ascii=False)


def redact_decoded(data: dict[str, Any] | str, body: bytes) -> str:
    """``redact(body)`` for a body ``decode`` has already read: a JSON object is redacted
    without parsing it again; text goes through ``redact``."""
    if isinstance(data, dict):
        return json.dumps(_redact_value(data), ensure_ascii=False)
    return redact(body)


def _redact_value(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: (REDACTED if is_secret_field(str(k)) and v not in (None, "") else _redact_value(v))
                for k, v in data.items()}
    if isinstance(data, list):
        return [_redact_value(v) for v in data]
    return data


_JSONISH_PAIR = re.compile(r'("(?P<key>[^"\\]{1,64})"\s*:\s*)"(?:[^"\\]|\\.)*"')
_KV_PAIR = re.compile(r"(?im)(^|[;&\s])(?P<key>[A-Za-z_][\w-]{0,63})(\s*=\s*)([^;&\s]+)")


def _redact_text(content: str) -> str:
    def json_sub(m: re.Match[str]) -> str:
        return f'{m.group(1)}"{REDACTED}"' if is_secret_field(m.group("key")) else m.group(0)

    def kv_sub(m: re.Match[str]) -> str:
        return f"{m.group(1)}{m.group('key')}{m.group(3)}{REDACTED}" if is_secret_field(m.group("key")) else m.group(0)

    return _KV_PAIR.sub(kv_sub, _JSONISH_PAIR.sub(json_sub, content))


def check_size(body: bytes) -> None:
    """Raise ``PayloadTooLarge`` above 64 KiB (our own limit; TradingView documents none)."""
    from app.errors import PayloadTooLarge

    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}", field="body")
