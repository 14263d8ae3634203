"""The processes a user runs: ``tradewire api`` + ``tradewire worker`` as separate processes on
the configured servers, and ``tradewire up`` with the embedded PostgreSQL and Redis."""

import os
import re
import time
from pathlib import Path

import httpx

from tests.conftest import ADMIN_TOKEN, corpus01_with_token
from tests.processes import free_port, ready, spawn, stop, wait_for


def fill_trace(base: str, admin_token: str, webhook_token: str) -> tuple[dict, float]:
    """POST corpus 01, wait for its order to be FILLED; return the trace and seconds to FILLED."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    started = time.monotonic()
    answer = httpx.post(f"{base}/webhooks/tradingview/{webhook_token}", content=corpus01_with_token(webhook_token))
    assert answer.status_code == 202, answer.text
    signal_id = answer.json()["signal_id"]

    def filled():
        trace = httpx.get(f"{base}/api/v1/signals/{signal_id}", headers=headers).json()
        order = (trace.get("intents") or [{}])[0].get("order") or {}
        return trace if order.get("status") == "FILLED" else None

    trace = wait_for(filled, 15, "the order to be FILLED")
    return trace, time.monotonic() - started


def test_api_and_worker_as_separate_processes_fill_corpus01(db, services, tmp_path):
    port = free_port()
    env = {**os.environ, "TRADEWIRE_PORT": str(port)}
    api = spawn(["api"], env, tmp_path / "api.log")
    worker = spawn(["worker"], env, tmp_path / "worker.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: ready(base), 20, "the API to be ready")
        trace, _ = fill_trace(base, ADMIN_TOKEN, db)
    finally:
        stop(api)
        stop(worker)
    fill = trace["intents"][0]["order"]["fills"][0]
    assert (fill["symbol"], fill["side"], fill["quantity"]) == ("DOGE/USDT", "buy", "10000")
    steps = [s["step"] for s in trace["timeline"]]
    assert steps[0] == "received" and steps[-1] == "filled"


def _positions(base: str, token: str) -> list[dict]:
    return httpx.get(f"{base}/api/v1/positions", headers={"Authorization": f"Bearer {token}"}).json()


def test_up_with_embedded_services_prints_urls_and_fills_corpus01(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIRE_")}
    env |= {"TRADEWIRE_PORT": str(port), "TRADEWIRE_DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / "up.log"
    up = spawn(["up"], env, log)
    try:
        printed = wait_for(lambda: _printed_urls(log), 90, "tradewire up to print its URLs")
        assert printed["docs"] == f"http://127.0.0.1:{port}/docs"
        assert httpx.get(printed["docs"]).status_code == 200
        base = f"http://127.0.0.1:{port}"
        trace, _ = fill_trace(base, printed["admin"], printed["webhook"].rsplit("/", 1)[1])
        positions = _positions(base, printed["admin"])
    finally:
        stop(up)
    assert [(p["symbol"], p["quantity"]) for p in positions] == [("DOGE/USDT", "10000")]
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()


def _printed_urls(log: Path) -> dict[str, str] | None:
    text = log.read_text(errors="replace")
    docs = re.search(r"API docs:\s+(\S+)", text)
    admin = re.search(r"admin token:\s+(\S+)", text)
    webhook = re.search(r"webhook URL:\s+(\S+)", text)
    if docs and admin and webhook:
        return {"docs": docs.group(1), "admin": admin.group(1), "webhook": webhook.group(1)}
    return None
