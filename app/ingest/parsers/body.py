"""From raw bytes to a JSON object or text, whatever the Content-Type said.

TradingView sends ``application/json`` only when the message is valid JSON, and some say it
sends ``text/plain`` even then (TRADINGVIEW_FACTS.md §1), so the header is never trusted.
Also: secret fields are found here (to identify a strategy from the body) and redacted here
(before anything is stored or logged), and every stored text is made storable (no NUL, no
lone surrogate: PostgreSQL and its driver refuse both).
"""

import json
import re
from collections.abc import Iterable
from typing import Any

from app.errors import PayloadTooLarge, SignalParseError

MAX_BODY_BYTES = 64 * 1024
# Deeper JSON is refused: real alerts nest 2-3 levels, and every recursive walk (redaction,
# validation, serialisation) must stay far from Python's recursion limit.
MAX_JSON_DEPTH = 32

# Field names whose values are credentials, compared lower case without - and _.
SECRET_FIELDS = frozenset(
    {
        "passphrase", "passphase", "secret", "signaltoken", "token", "password", "apikey", "apisecret",
        "apisecretkey", "secretkey", "key", "privatekey", "seckey", "apitoken", "webhooksecret",
        "pointer",  # Tickerly's exchange-account pointer (tickerly.net/standard-alert-message-structure)
    }
)
REDACTED = "***"
# Fields whose value identifies the strategy on POST /webhooks/tradingview (no URL token).
BODY_SECRET_FIELDS = ("passphrase", "secret", "signalToken", "token")
_SURROGATE = re.compile("[\ud800-\udfff]")
# PineConnector's ``LicenseID,command,…`` (docs.pineconnector.com/syntax): the first field is
# the credential. Any text led by a word, a comma and a letters-only word loses its first field
# when stored: hiding a harmless word costs less than storing a license.
LICENSE_LEAD = re.compile(r"(?P<pre>\s*)(?P<license>[^,=\s{}\[\]\"]+)(?P<post>\s*,\s*(?P<command>[A-Za-z]+)\s*(,|$))")
# Bitcoin-vs-Altcoins' ``KEY|strategy name|action|ticker…`` (app.ingest.parsers.delimited): the first
# field is the sender's BVA key. Any text whose third pipe field is buy / sell / take / close (or an
# action placeholder) loses its first field when stored.
BVA_LEAD = re.compile(r"(?i)(?P<pre>\s*)(?P<key>[^|\n\"]+)(?P<post>\|[^|\n]*\|\s*"
                      r"(?:buy|sell|take|close|\{\{[^|\n]*action[^|\n]*\}\})\s*(\||$))")
# WunderTrading's long alert comment ``ENTER-LONG_BINANCE_BTCUSDT_BOT-NAME_5M_<bot id>``
# (app.ingest.parsers.wundertrading): whoever holds it trades the bot through WunderTrading's
# public webhook, so its last field, the bot id, is a credential wherever the comment appears.
WUNDER_CODE = re.compile(r"(?i)(?P<head>\b(?:enter|exit)-(?:long|short|all)(?:_[^_\"\\\n|]*){4,}_)"
                         r"(?P<id>[^_\"\\\s|,}]+)")


def is_secret_field(name: str) -> bool:
    return re.sub(r"[-_\s]", "", name).lower() in SECRET_FIELDS


def decode(body: bytes) -> dict[str, Any] | str:
    """The body as a JSON object when it is one, else as text (BOM, CRLF and literal ``\\n`` normalised).

    Raises ``SignalParseError`` (field ``body``, or the JSON field at fault) for an empty body,
    bytes that are not UTF-8, a NUL character (raw, or ``\\u0000`` in a JSON string), a lone
    UTF-16 surrogate escape (``\\ud800``) or JSON nested deeper than ``MAX_JSON_DEPTH``:
    none of these can be stored or is a signal.
    """
    try:
        content = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SignalParseError(f"the body is not UTF-8 text (byte {e.start}: {e.reason}); send UTF-8",
                               field="body") from None
    if "\x00" in content:
        raise SignalParseError("the body contains a NUL character (byte 0x00), which cannot be stored; "
                               "remove it and resend", field="body")
    if not content.strip():
        raise SignalParseError("the body is empty", field="body")
    try:
        data = json.loads(content, parse_float=str, parse_int=str, parse_constant=_reject_constant)
    except RecursionError:
        raise _too_deep() from None
    except (json.JSONDecodeError, ValueError):
        return content.replace("\r\n", "\n").replace("\\n", "\n").strip()
    if isinstance(data, dict):
        _check_tree(data)
        return data
    return content.strip()


def _too_deep() -> SignalParseError:
    return SignalParseError(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels", field="body")


def _check_tree(data: Any) -> None:
    """Walk decoded JSON without recursion: depth, NUL characters and lone surrogates."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in items:
                name = f"{path}.{key}" if path else str(key)
                if isinstance(key, str):
                    _check_string(key, name)
                stack.append((child, depth + 1, name))
        elif isinstance(value, str):
            _check_string(value, path)


def _check_string(value: str, field: str) -> None:
    safe = _SURROGATE.sub("?", field)[:64].replace("\x00", "?")
    if "\x00" in value:
        raise SignalParseError(f"field {safe!r} contains a NUL character (\\u0000), which cannot be stored; "
                               "remove it and resend", field=safe or "body")
    if _SURROGATE.search(value):
        raise SignalParseError(f"field {safe!r} contains a lone UTF-16 surrogate escape (such as \\ud800), "
                               "which is not a character; send valid Unicode", field=safe or "body")


def json_error(content: str) -> str:
    """Where and why ``content`` fails to parse as JSON, e.g. ``Expecting ',' delimiter: line 3 column 15``."""
    try:
        json.loads(content, parse_float=str, parse_int=str, parse_constant=_reject_constant)
    except RecursionError:
        return f"nested deeper than {MAX_JSON_DEPTH} levels"
    except ValueError as e:  # JSONDecodeError is a ValueError
        return str(e)
    return "not a JSON object"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


_BODY_SECRET = re.compile(r'(?i)"(passphrase|secret|signaltoken|token)"\s*:\s*"([^"\\\s]+)"')


def find_secret(data: dict[str, Any] | str) -> str | None:
    """The body secret (``passphrase``, ``secret``, ``signalToken``, ``token``) if the body has one."""
    if isinstance(data, dict):
        for name in BODY_SECRET_FIELDS:
            value = data.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None
    # Pairs may be separated by newlines, ';' (OctoBot), '|' or '&' (the delimited dialect), so a value stops at any.
    match = re.search(r"(?im)(?:^|[;|&])\s*(passphrase|secret|signaltoken|token)\s*=\s*([^;|&\s]+)", data)
    if match:
        return match.group(2)
    match = _BODY_SECRET.search(data)  # broken JSON
    return match.group(2) if match else None


def storable(text: str) -> str:
    """``text`` as PostgreSQL can store it: NUL written as the six characters ``\\u0000``,
    a lone surrogate as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text.replace("\x00", "\\u0000"))


def redact(body: bytes, secrets: Iterable[str] = ()) -> str:
    """The body as storable text with every secret field's value replaced by ``***``, and
    every occurrence of each of ``secrets`` (the credentials the request authenticated
    with) replaced by ``***`` whatever the syntax around it.

    Works on JSON (any depth), on KEY=VALUE / KEY: VALUE text and on broken JSON (by
    pattern), so an ``invalid`` signal is stored without its secrets too.
    """
    content = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(content, parse_float=str, parse_int=str)
        _check_tree(data)
    except (RecursionError, ValueError, SignalParseError):  # broken, too deep, or NUL / surrogate inside
        return _scrub(_redact_plain(content), secrets)
    if isinstance(data, str):  # a JSON string: the text alert quoted ("KEY|name|buy|BTCUSDT|")
        return _scrub(json.dumps(_redact_plain(data), ensure_ascii=False), secrets)
    return _redact_json(data, secrets)


def redact_decoded(data: dict[str, Any] | str, body: bytes, secrets: Iterable[str] = ()) -> str:
    """``redact(body, secrets)`` for a body ``decode`` has already read: a JSON object is
    redacted without parsing it again; text goes through ``redact``."""
    if isinstance(data, dict):
        return _redact_json(data, secrets)
    return redact(body, secrets)


def _redact_json(data: Any, secrets: Iterable[str]) -> str:
    """Decoded JSON (not a string) as stored: secret fields, bot ids and ``secrets`` replaced."""
    return _scrub(_redact_codes(json.dumps(_redact_value(data), ensure_ascii=False)), secrets)


def redact_secrets(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` (a str, or JSON-ready dicts and lists of them) with every occurrence of each
    secret replaced by ``***`` and made storable; for reasons and payloads."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return _scrub(value, secrets)
    if isinstance(value, dict):
        return {redact_secrets(str(k), secrets): redact_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_secrets(v, secrets) for v in value]
    return value


def _scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace each secret, its JSON-escaped forms and quoted strings that decode to it."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, REDACTED)
        if "\\" in text:  # a JSON string spelling it with escapes, e.g. "tok\u0065n"
            text = _QUOTED.sub(lambda m, s=secret: _scrub_quoted(m, s), text)
    return storable(text)


_QUOTED = re.compile(r'"(?:[^"\\]|\\.){0,4096}"')


def _scrub_quoted(match: re.Match[str], secret: str) -> str:
    try:
        decoded = json.loads(match.group(0))
    except ValueError:
        return match.group(0)
    if isinstance(decoded, str) and secret in decoded:
        return json.dumps(decoded.replace(secret, REDACTED), ensure_ascii=False)
    return match.group(0)


def _redact_value(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: (REDACTED if is_secret_field(str(k)) and v not in (None, "") else _redact_value(v))
                for k, v in data.items()}
    if isinstance(data, list):
        return [_redact_value(v) for v in data]
    if isinstance(data, str) and ("=" in data or ":" in data):
        return _redact_text(data)  # "comment": "passphrase=..."
    return data


# A key (bare, "double" or 'single' quoted, possibly with \uXXXX escapes) followed by = or :
# and a value (quoted, or up to a separator).
_PAIR = re.compile(
    r"""(?P<pre>(?<![\w\\-])(?P<q>["']?)(?P<key>(?:[A-Za-z0-9_-]|\\u[0-9a-fA-F]{4}){1,64})(?P=q)\s*[=:]\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^;&|\s,}\]"']+)"""
)


def _redact_plain(content: str) -> str:
    """Text with every credential a text dialect carries replaced: secret ``key=value`` pairs,
    PineConnector's License ID, BVA's key and WunderTrading's bot id."""
    return _redact_codes(_redact_text(_redact_bva(_redact_license(content))))


def _redact_bva(content: str) -> str:
    match = BVA_LEAD.match(content)
    return content if match is None else f"{match.group('pre')}{REDACTED}{content[match.end('key'):]}"


def _redact_codes(content: str) -> str:
    return WUNDER_CODE.sub(lambda m: f"{m.group('head')}{REDACTED}", content)


def _redact_license(content: str) -> str:
    match = LICENSE_LEAD.match(content)
    return content if match is None else f"{match.group('pre')}{REDACTED}{content[match.end('license'):]}"


def _redact_text(content: str) -> str:
    def sub(m: re.Match[str]) -> str:
        if not is_secret_field(_unescape(m.group("key"))):
            return m.group(0)
        value = m.group("value")
        quote = value[0] if value[0] in "\"'" else ""
        return f"{m.group('pre')}{quote}{REDACTED}{quote}"

    return _PAIR.sub(sub, content)


def _unescape(key: str) -> str:
    if "\\" not in key:
        return key
    try:
        return str(json.loads(f'"{key}"'))
    except ValueError:
        return key


def check_size(body: bytes) -> None:
    """Raise ``PayloadTooLarge`` above 64 KiB (our own limit; TradingView documents none)."""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}", field="body")
