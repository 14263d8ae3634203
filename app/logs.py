"""Structured logs: one JSON object per line, secrets redacted.

Each line holds ``ts`` (ISO-8601 UTC, milliseconds), ``level``, ``logger``, ``message`` and
every ``extra`` field the call passed (``signal_id``, ``intent_id``, ``client_order_id``,
``venue``, ``error``…), plus ``exc`` with the traceback when there is one::

    log.warning("order in doubt", extra={"intent_id": str(intent_id), "client_order_id": coid})
    {"ts": "2026-11-21T10:00:00.123Z", "level": "WARNING", "logger": "app.execution.service",
     "message": "order in doubt", "intent_id": "…", "client_order_id": "tw…"}

``RedactFilter`` runs before formatting: a field whose name looks like a credential
(token, secret, password, passphrase, api key, authorization, signature) is replaced by
``***``, and so is anything in a text that looks like one (bearer tokens, webhook tokens in
URLs, Telegram bot tokens, Slack/Discord webhook paths, passwords in URLs, ``key=value`` pairs).
"""

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

REDACTED = "***"
_SECRET_NAME = re.compile(r"(?i)(token|secret|passw|passphrase|api[-_]?key|authorization|signature|credential)")
_SECRET_TEXT = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + REDACTED),
    (re.compile(r"(/webhooks/tradingview/)[^/?\s\"']+"), r"\1" + REDACTED),
    (re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+"), r"\1" + REDACTED),
    (re.compile(r"(hooks\.slack\.com/services/)[^\s\"']+"), r"\1" + REDACTED),
    (re.compile(r"(/api/webhooks/\d+/)[^\s\"'/?]+"), r"\1" + REDACTED),
    (re.compile(r"(://[^:/@\s]+:)[^@\s/]+(@)"), r"\1" + REDACTED + r"\2"),
    (re.compile(r"(?i)\b((?:pass(?:word|phrase)?|secret|token|api[-_]?key|signature)[\"']?\s*[:=]\s*[\"']?)"
                r"[^\s\"',;&}]+"), r"\1" + REDACTED),
)
# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def redact_text(text: str) -> str:
    """``text`` with every secret-looking part replaced by ``***``."""
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact_value(name: str, value: Any) -> Any:
    """``***`` for a credential-named field, else the value with secret-looking text redacted."""
    if _SECRET_NAME.search(name) and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(name, v) for v in value]
    return value


class RedactFilter(logging.Filter):
    """Redacts the message (rendered with its arguments) and the extra fields in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact_text(record.getMessage()), None
        for key in [k for k in vars(record) if k not in _STANDARD]:
            setattr(record, key, redact_value(key, getattr(record, key)))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, the extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Install one stderr handler on the root logger: JSON lines (``fmt="json"``) or the
    classic text format (``"text"``), both behind ``RedactFilter``. Replaces earlier handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
