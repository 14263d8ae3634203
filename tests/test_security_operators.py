"""Operators, the audit log, rate limits and the smaller review items, through the real API app,
PostgreSQL and Redis."""

import json
import os
import stat
import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings, get_settings
from app.db import unit_of_work
from app.errors import AuthenticationFailed, ConfigError
from app.persistence.models import OperatorTokenRecord, SignalRecord
from app.security import authenticate_operator
from app.security.bounded import get_bounded
from app.security.operators import Role, check_admin_token
from tests.conftest import ADMIN_TOKEN


def make_token(client, admin, name: str, role: str) -> dict[str, str]:
    answer = client.post("/api/v1/admin-tokens", headers=admin, json={"name": name, "role": role})
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def env(**values: str):
    """Set TRADEWIRE_* variables for one test (settings re-read)."""
    class _Env:
        def __enter__(self):
            self.saved = {k: os.environ.get(k) for k in values}
            os.environ.update(values)
            get_settings.cache_clear()

        def __exit__(self, *exc):
            for k, v in self.saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
            get_settings.cache_clear()
    return _Env()


def test_a_token_is_answered_once_stored_hashed_listed_and_revoked_by_name(client, db, admin):
    created = client.post("/api/v1/admin-tokens", headers=admin, json={"name": "alice", "role": "operator"}).json()
    token = created["token"]
    assert created["role"] == "operator" and len(token) >= 32
    assert authenticate_operator(token).name == "alice" and authenticate_operator(token).role == Role.OPERATOR
    listed = client.get("/api/v1/admin-tokens", headers=admin)
    assert token not in listed.text and [t["name"] for t in listed.json()] == ["alice"]
    with unit_of_work() as session:
        assert token not in session.execute(select(OperatorTokenRecord.token_hash)).scalar_one()
    again = client.post("/api/v1/admin-tokens", headers=admin, json={"name": "alice", "role": "viewer"})
    assert again.status_code == 409
    assert client.delete("/api/v1/admin-tokens/alice", headers=admin).status_code == 200
    assert client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    with pytest.raises(AuthenticationFailed):
        authenticate_operator(token)
    assert authenticate_operator(ADMIN_TOKEN).role == Role.ADMIN  # the bootstrap token stays, as admin


def test_a_viewer_is_refused_the_kill_switch_and_the_audit_log_shows_both_attempts(client, db, admin):
    viewer = make_token(client, admin, "victor", "viewer")
    operator = make_token(client, admin, "olga", "operator")
    assert client.get("/api/v1/accounts", headers=viewer).status_code == 200  # viewers read everything
    refused = client.put("/api/v1/accounts/paper/trading-state", headers=viewer, json={"state": "HALTED"})
    assert refused.status_code == 403 and "needs operator" in refused.json()["message"]
    done = client.put("/api/v1/accounts/paper/trading-state", headers=operator, json={"state": "HALTED"})
    assert done.status_code == 200 and done.json()["trading_state"] == "HALTED"
    # an operator pulls levers but does not configure
    assert client.post("/api/v1/admin-tokens", headers=operator, json={"name": "x", "role": "admin"}).status_code == 403
    assert client.post("/api/v1/strategies", headers=operator, json={"name": "s2"}).status_code == 403

    log = client.get("/api/v1/audit", headers=viewer, params={"path": "/api/v1/accounts/paper/trading-state"}).json()
    assert [(e["actor"], e["role"], e["method"], e["status"], e["outcome"]) for e in reversed(log["items"])] == [
        ("victor", "viewer", "PUT", 403, "denied"), ("olga", "operator", "PUT", 200, "ok")]
    assert log["items"][0]["summary"] == {"body": {"state": "HALTED"}} and log["items"][0]["client"] == "testclient"
    assert all(e["method"] != "GET" for e in client.get("/api/v1/audit", headers=admin).json()["items"])


def test_audit_log_redacts_secrets_filters_and_pages_with_a_cursor(client, db, admin):
    client.put("/api/v1/accounts/paper/credentials", headers=admin,
               json={"api_key": "AKIA-visible-key", "secret": "s3cr3t-value", "password": "pw-value"})
    for i in range(3):
        client.post("/api/v1/admin-tokens", headers=admin, json={"name": f"t{i}", "role": "viewer"})
    client.delete("/api/v1/admin-tokens/t0", headers={"Authorization": "Bearer wrong-token"})
    everything = client.get("/api/v1/audit", headers=admin)
    for secret in ("AKIA-visible-key", "s3cr3t-value", "pw-value"):
        assert secret not in everything.text
    credentials = client.get("/api/v1/audit", headers=admin, params={"path": "/api/v1/accounts/paper/credentials"})
    assert credentials.json()["items"][0]["summary"]["body"] == {"api_key": "***", "secret": "***", "password": "***"}
    unauthenticated = client.get("/api/v1/audit", headers=admin, params={"outcome": "unauthenticated"}).json()["items"]
    assert [(e["actor"], e["method"]) for e in unauthenticated] == [(None, "DELETE")]
    seen, cursor = [], None
    while True:
        page = client.get("/api/v1/audit", headers=admin,
                          params={"actor": "bootstrap", "limit": 2} | ({"cursor": cursor} if cursor else {})).json()
        seen += [e["path"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["/api/v1/admin-tokens"] * 3 + ["/api/v1/accounts/paper/credentials"]


def test_repeated_bad_admin_tokens_get_429_with_retry_after_across_processes_and_good_tokens_pass(client, db, admin):
    with env(TRADEWIRE_AUTH_FAILURE_LIMIT="3", TRADEWIRE_AUTH_FAILURE_WINDOW_SECONDS="60"):
        bad = {"Authorization": "Bearer guessed-token-000000000000000000"}
        assert [client.get("/api/v1/accounts", headers=bad).status_code for _ in range(3)] == [401] * 3
        from app.main import create_app

        with TestClient(create_app()) as other_process:  # a second API process sharing Redis
            refused = other_process.get("/api/v1/accounts", headers=bad)
        assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["code"] == "too_many_requests"
        assert client.get("/api/v1/accounts", headers=admin).status_code == 200  # successes are never slowed
        # another credential kind from the same address is not affected
        assert client.post("/webhooks/tradingview/not-a-token", content=b"{}").status_code == 401
        metrics = client.get("/metrics").text
    assert 'tradewire_auth_failures_total{kind="admin"} 4.0' in metrics
    assert 'tradewire_auth_throttled_total{kind="admin"} 1.0' in metrics
    assert 'tradewire_auth_failures_total{kind="webhook"} 1.0' in metrics


def test_a_strategy_token_and_an_api_key_are_held_to_their_signals_per_minute(client, db, admin):
    def alert(i: int) -> bytes:
        return json.dumps({"tradewire": 1, "symbol": "BINANCE:DOGEUSDT", "action": "buy", "size": "10",
                           "size_unit": "base", "price": "0.1", "signal_time": f"2026-11-20T10:{i:02d}:00Z"}).encode()

    with env(TRADEWIRE_SIGNALS_PER_MINUTE="2"):
        answers = [client.post(f"/webhooks/tradingview/{db}", content=alert(i)) for i in range(3)]
        assert [a.status_code for a in answers] == [202, 202, 429]
        assert 0 < int(answers[2].headers["Retry-After"]) <= 60
        key = client.post("/api/v1/api-keys", headers=admin, json={"name": "gen", "strategies": ["default"]}).json()
        sent = [client.post("/api/v1/signals", content=alert(10 + i), headers={"Authorization": f"Bearer {key['key']}"})
                for i in range(3)]
        assert [a.status_code for a in sent] == [202, 202, 429]
        metrics = client.get("/metrics").text
    with unit_of_work() as session:
        assert len(session.execute(select(SignalRecord.id)).all()) == 4  # the refused ones stored nothing
    assert 'tradewire_signals_throttled_total{kind="strategy",name="default"} 1.0' in metrics
    assert f'tradewire_signals_throttled_total{{kind="api_key",name="{key["id"]}"}} 1.0' in metrics
    assert 'tradewire_rate_limit{limit="signals_per_minute"} 2.0' in metrics


def test_metrics_need_the_metrics_token_when_one_is_set(client, db):
    assert client.get("/metrics").status_code == 200
    with env(TRADEWIRE_METRICS_TOKEN="m" * 40):
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 401
        scraped = client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 40})
    assert scraped.status_code == 200 and "tradewire_account_trading_state" in scraped.text


def test_docs_load_their_assets_from_the_package_not_a_cdn(client, db):
    page = client.get("/docs")
    assert page.status_code == 200 and "cdn." not in page.text and "https://" not in page.text
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/docs/assets/favicon-32x32.png"):
        assert asset in page.text and client.get(asset).status_code == 200
    assert client.get("/docs/assets/..%2Fconfig.py").status_code == 404
    assert client.get("/openapi.json").status_code == 200


def test_a_short_admin_token_refuses_to_start_with_the_reason(tmp_path):
    with pytest.raises(ConfigError, match="at least 32"):
        check_admin_token(Settings(admin_token="short-token", data_dir=tmp_path))
    check_admin_token(Settings(admin_token="x" * 32, data_dir=tmp_path))
    check_admin_token(Settings(admin_token=None, data_dir=tmp_path))  # none set: a generated one, in a 0600 file
    token_file = tmp_path / "admin_token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600 and len(token_file.read_text().strip()) >= 32
    started = subprocess.run([sys.executable, "-m", "app.cli", "api"], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "TRADEWIRE_ADMIN_TOKEN": "short-token"})
    assert started.returncode == 2 and "TRADEWIRE_ADMIN_TOKEN has 11 characters" in started.stderr
    assert "short-token" not in started.stderr


def test_the_poller_reads_at_most_the_limit_of_an_oversized_answer():
    taken = []

    def endless():
        while True:
            taken.append(4096)
            yield b"x" * 4096

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=endless()))
    with httpx.Client(transport=transport) as http:
        answer = get_bounded(http, "http://upstream/v1/predictions", limit=64 * 1024)
    assert answer.content is None and answer.status_code == 200
    assert sum(taken) <= 64 * 1024 + 4096
    declared = httpx.MockTransport(lambda r: httpx.Response(200, headers={"content-length": "999999999"},
                                                          content=iter([b"{}"])))
    with httpx.Client(transport=declared) as http:
        assert get_bounded(http, "http://upstream/", limit=10).size == 999999999


def test_a_client_leaving_mid_body_logs_one_info_line_without_traceback(client, db, caplog):
    import logging

    import anyio

    caplog.set_level(logging.INFO)

    from app.main import create_app

    app = create_app()
    messages = [{"type": "http.request", "body": b'{"state": "HAL', "more_body": True}, {"type": "http.disconnect"}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    for path, method, auth in (("/api/v1/accounts/paper/trading-state", "PUT", f"Bearer {ADMIN_TOKEN}"),
                               (f"/webhooks/tradingview/{db}", "POST", "")):
        messages[:] = [{"type": "http.request", "body": b'{"state": "HAL', "more_body": True},
                       {"type": "http.disconnect"}]
        scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": [(b"authorization", auth.encode()), (b"content-type", b"application/json"),
                             (b"content-length", b"200")],
                 "client": ("10.0.0.9", 5555), "server": ("testserver", 80), "scheme": "http", "http_version": "1.1",
                 "root_path": ""}
        anyio.run(app, scope, receive, send)
        assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") or r.exc_info]
    assert any("went away" in r.getMessage() and r.levelname == "INFO" for r in caplog.records)
