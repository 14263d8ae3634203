"""Structured logs: one JSON object per line with the ids a trace needs, never a secret."""

import io
import json
import logging
import os
import subprocess
import sys

from app.logs import JsonFormatter, RedactFilter


def logged(message: str, *args: object, **extra: object) -> dict:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.logs")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning(message, *args, extra=extra)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_a_log_line_is_json_with_the_trace_ids():
    entry = logged("order in doubt after %s", "a timeout", signal_id="s-1", intent_id="i-2", client_order_id="tw3")
    assert entry["level"] == "WARNING" and entry["logger"] == "tests.logs"
    assert entry["message"] == "order in doubt after a timeout"
    assert (entry["signal_id"], entry["intent_id"], entry["client_order_id"]) == ("s-1", "i-2", "tw3")
    assert entry["ts"].endswith("Z")


def test_secrets_are_redacted_from_messages_and_fields():
    entry = logged(
        "POST /webhooks/tradingview/%s with Authorization: Bearer %s to https://api.telegram.org/bot%s/sendMessage "
        "and postgresql://tw:%s@db/tw, api_key=%s",
        "tok3nTOK3N", "admin-secret", "123:AAbbCC", "dbpass", "twk_abc",
        token="raw-token", error="hooks.slack.com/services/T000/B000/XXXX failed", venue="binance",
    )
    text = json.dumps(entry)
    for secret in ("tok3nTOK3N", "admin-secret", "AAbbCC", "dbpass", "twk_abc", "raw-token", "B000/XXXX"):
        assert secret not in text
    assert entry["token"] == "***" and entry["venue"] == "binance"
    assert "/webhooks/tradingview/***" in entry["message"]


def test_the_cli_processes_log_json_lines(db, services):
    env = {**os.environ, "TRADEWIRE_LOG_LEVEL": "INFO"}
    done = subprocess.run([sys.executable, "-m", "app.cli", "worker", "--burst"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines
    for line in lines:
        entry = json.loads(line)
        assert {"ts", "level", "logger", "message"} <= set(entry)
