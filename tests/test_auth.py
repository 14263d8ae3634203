"""Who may send: API keys (scope, revocation, HMAC signing, replay window), the admin token's
limits, and the TradingView sender allowlist with and without trusted proxies.

Through the real API app, PostgreSQL and Redis. Every refusal must leave no row behind.
"""

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from app.db import unit_of_work
from app.ingest.auth import client_ip, sign
from app.persistence.models import ApiKey, SignalRecord
from tests.conftest import ADMIN_TOKEN, corpus01_with_token

TV_IP = "52.89.214.238"
PROXY = "10.1.2.3"


def count(model) -> int:
    with unit_of_work() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def signal(**fields) -> bytes:
    body = {"symbol": "BTCUSDT", "action": "buy", "size": "0.001", "price": "60000",
            "idempotency_key": f"k-{time.time_ns()}"} | fields
    return json.dumps(body).encode()


def new_key(client, admin, strategies=("default",), require_signature=False) -> dict:
    answer = client.post("/api/v1/api-keys", headers=admin,
                         json={"name": "gen", "strategies": list(strategies), "require_signature": require_signature})
    assert answer.status_code == 201, answer.text
    return answer.json()


def post_signal(client, key: str | None, body: bytes, path="/api/v1/signals", **headers):
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return client.post(path, content=body, headers=headers)


@contextmanager
def settings_env(**values: str) -> Iterator[None]:
    """Run with TRADEWIRE_* variables set (settings re-read), then restore them."""
    from app.config import get_settings

    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()


# --- API keys: creation, listing, scope, revocation --------------------------------------


def test_key_is_shown_once_stored_hashed_and_listed_without_it(client, db, admin):
    created = new_key(client, admin)
    assert created["key"].startswith("twk_") and created["strategies"] == ["default"]
    listed = client.get("/api/v1/api-keys", headers=admin)
    assert created["key"] not in listed.text
    assert [k["id"] for k in listed.json()] == [created["id"]]
    with unit_of_work() as session:
        stored = session.execute(select(ApiKey.key_hash)).scalar_one()
    assert created["key"] not in stored and len(stored) == 64


def test_key_for_unknown_strategy_is_refused_naming_the_field(client, db, admin):
    answer = client.post("/api/v1/api-keys", headers=admin, json={"name": "x", "strategies": ["nope"]})
    assert answer.status_code == 400
    assert answer.json()["field"] == "strategies" and "nope" in answer.json()["message"]


def test_api_key_endpoints_need_the_admin_token(client, db, admin):
    key = new_key(client, admin)["key"]
    assert client.get("/api/v1/api-keys").status_code == 401
    assert client.post("/api/v1/api-keys", headers={"Authorization": f"Bearer {key}"},
                       json={"name": "x", "strategies": ["default"]}).status_code == 401


def test_api_key_never_grants_admin(client, db, admin):
    key = new_key(client, admin)["key"]
    for path in ("/api/v1/signals", "/api/v1/orders", "/api/v1/accounts", "/api/v1/strategies"):
        assert client.get(path, headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_admin_token_does_not_send_signals_and_stores_nothing(client, db):
    for path in ("/api/v1/signals", "/api/v1/predictions"):
        answer = post_signal(client, ADMIN_TOKEN, signal(), path=path)
        assert answer.status_code == 403
        assert "admin token" in answer.json()["message"]
    assert count(SignalRecord) == 0


def test_missing_or_unknown_key_is_401_stores_nothing_and_logs_no_secret(client, db, caplog):
    caplog.set_level(logging.WARNING, logger="app.ingest.auth")
    assert post_signal(client, None, signal()).status_code == 401
    wrong = post_signal(client, "twk_not-a-real-key-123", signal())
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthenticated"
    assert post_signal(client, None, signal(), Authorization="Basic dXNlcjpwdw==").status_code == 401
    assert count(SignalRecord) == 0
    assert "unknown API key" in caplog.text and "twk_not-a-real-key-123" not in caplog.text


def test_key_outside_its_scope_is_403_and_stores_nothing(client, db, admin):
    client.post("/api/v1/strategies", json={"name": "other"}, headers=admin)
    key = new_key(client, admin, strategies=("default",))["key"]
    for named in ({"strategy": "other"}, {"strategy": "does-not-exist"}):
        answer = post_signal(client, key, signal(**named))
        assert answer.status_code == 403 and answer.json()["code"] == "forbidden"
    assert post_signal(client, key, signal(), path="/api/v1/signals?strategy=other").status_code == 403
    assert count(SignalRecord) == 0


def test_one_strategy_key_may_omit_the_strategy_a_multi_strategy_key_must_name_it(client, db, admin):
    client.post("/api/v1/strategies", json={"name": "other"}, headers=admin)
    single = new_key(client, admin, strategies=("other",))["key"]
    assert post_signal(client, single, signal()).json()["status"] == "accepted"
    multi = new_key(client, admin, strategies=("default", "other"))["key"]
    unnamed = post_signal(client, multi, signal())
    assert unnamed.status_code == 400 and unnamed.json()["field"] == "strategy"
    assert post_signal(client, multi, signal(strategy="other")).status_code == 202
    assert post_signal(client, multi, signal(), path="/api/v1/signals?strategy=default").status_code == 202
    clash = post_signal(client, multi, signal(strategy="other"), path="/api/v1/signals?strategy=default")
    assert clash.status_code == 400 and clash.json()["field"] == "strategy"
    with unit_of_work() as session:
        names = session.execute(select(SignalRecord.source).distinct()).scalars().all()
    assert names == ["rest"]
    assert count(SignalRecord) == 3


def test_revoked_key_stops_working_at_once(client, db, admin):
    created = new_key(client, admin)
    assert post_signal(client, created["key"], signal()).status_code == 202
    revoked = client.delete(f"/api/v1/api-keys/{created['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    again = client.delete(f"/api/v1/api-keys/{created['id']}", headers=admin).json()
    assert again["revoked_at"] == revoked.json()["revoked_at"]
    answer = post_signal(client, created["key"], signal())
    assert answer.status_code == 401 and "revoked" in answer.json()["message"]
    assert count(SignalRecord) == 1
    assert client.delete("/api/v1/api-keys/00000000-0000-0000-0000-000000000000", headers=admin).status_code == 404


def test_use_is_recorded_as_last_used_at(client, db, admin):
    created = new_key(client, admin)
    assert client.get("/api/v1/api-keys", headers=admin).json()[0]["last_used_at"] is None
    post_signal(client, created["key"], signal())
    assert client.get("/api/v1/api-keys", headers=admin).json()[0]["last_used_at"] is not None


# --- HMAC signing and the replay window ---------------------------------------------------


def signed(key: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {"X-Tradewire-Timestamp": str(ts), "X-Tradewire-Signature": sign(key, ts, body)}


def test_signed_request_is_accepted_and_the_scheme_is_the_documented_one(client, db, admin):
    import hashlib
    import hmac

    key = new_key(client, admin, require_signature=True)["key"]
    body = signal()
    ts = int(time.time())
    by_hand = hmac.new(hashlib.sha256(key.encode()).hexdigest().encode(), f"{ts}.".encode() + body,
                       hashlib.sha256).hexdigest()
    assert sign(key, ts, body) == by_hand
    answer = post_signal(client, key, body, **{"X-Tradewire-Timestamp": str(ts), "X-Tradewire-Signature": by_hand})
    assert answer.status_code == 202 and answer.json()["status"] == "accepted"


def test_key_that_requires_a_signature_rejects_unsigned_requests(client, db, admin):
    key = new_key(client, admin, require_signature=True)["key"]
    answer = post_signal(client, key, signal())
    assert answer.status_code == 401 and "requires signed requests" in answer.json()["message"]
    assert count(SignalRecord) == 0


def test_signature_present_is_always_verified(client, db, admin):
    key = new_key(client, admin, require_signature=False)["key"]
    body = signal()
    headers = signed(key, body)
    tampered = body.replace(b"0.001", b"0.002")
    assert post_signal(client, key, tampered, **headers).status_code == 401
    other = signed("twk_some-other-key", body)
    assert post_signal(client, key, body, **other).status_code == 401
    no_timestamp = {"X-Tradewire-Signature": headers["X-Tradewire-Signature"]}
    assert post_signal(client, key, body, **no_timestamp).status_code == 401
    assert count(SignalRecord) == 0
    assert post_signal(client, key, body, **headers).status_code == 202


def test_timestamp_outside_the_replay_window_is_401(client, db, admin):
    key = new_key(client, admin, require_signature=True)["key"]
    body = signal()
    for offset in (-301, 301, -3600):
        answer = post_signal(client, key, body, **signed(key, body, int(time.time()) + offset))
        assert answer.status_code == 401 and "window is 300 s" in answer.json()["message"]
    assert count(SignalRecord) == 0
    with settings_env(TRADEWIRE_SIGNATURE_WINDOW_SECONDS="7200"):
        assert post_signal(client, key, body, **signed(key, body, int(time.time()) - 3600)).status_code == 202


def test_replayed_signed_request_inside_the_window_is_a_duplicate(client, db, admin):
    key = new_key(client, admin, require_signature=True)["key"]
    body = signal()
    headers = signed(key, body)
    first = post_signal(client, key, body, **headers).json()
    again = post_signal(client, key, body, **headers).json()
    assert again["status"] == "duplicate" and again["signal_id"] == first["signal_id"]


def test_signing_applies_to_predictions_and_dry_run_too(client, db, admin):
    key = new_key(client, admin, require_signature=True)["key"]
    prediction = json.dumps({"symbol": "BTCUSDT", "timeframe": "4h", "prediction": "HOLD", "confidence": 0.5,
                             "timestamp": "2026-02-10T14:00:00Z"}).encode()
    assert post_signal(client, key, prediction, path="/api/v1/predictions").status_code == 401
    assert post_signal(client, key, prediction, path="/api/v1/predictions", **signed(key, prediction)).status_code == 202
    assert post_signal(client, key, signal(), path="/api/v1/signals/dry-run").status_code == 401


# --- TradingView sender allowlist ---------------------------------------------------------


def tv_client(address: str):
    from fastapi.testclient import TestClient

    from app.main import create_app

    return TestClient(create_app(), client=(address, 40000))


def test_allowlist_is_off_by_default(db):
    with tv_client("203.0.113.9") as c:
        assert c.post(f"/webhooks/tradingview/{db}", content=corpus01_with_token(db)).status_code == 202


def test_allowlist_accepts_tradingview_and_refuses_others_storing_nothing(db):
    with settings_env(TRADEWIRE_TRADINGVIEW_ALLOWLIST="true"):
        with tv_client("203.0.113.9") as c:
            refused = c.post(f"/webhooks/tradingview/{db}", content=corpus01_with_token(db))
            assert refused.status_code == 403 and "203.0.113.9" in refused.json()["message"]
            assert c.post("/webhooks/tradingview", content=corpus01_with_token(db)).status_code == 403
            spoofed = c.post(f"/webhooks/tradingview/{db}", content=corpus01_with_token(db),
                             headers={"X-Forwarded-For": TV_IP})
            assert spoofed.status_code == 403  # no trusted proxies: the header is not believed
        assert count(SignalRecord) == 0
        with tv_client(TV_IP) as c:
            assert c.post(f"/webhooks/tradingview/{db}", content=corpus01_with_token(db)).status_code == 202
        with tv_client(f"::ffff:{TV_IP}") as c:
            assert c.post("/webhooks/tradingview", content=corpus01_with_token(db)).json()["status"] == "duplicate"


def test_allowlist_behind_a_trusted_proxy_reads_the_right_most_untrusted_hop(db):
    env = {"TRADEWIRE_TRADINGVIEW_ALLOWLIST": "true", "TRADEWIRE_TRUSTED_PROXIES": json.dumps(["10.0.0.0/8"])}
    with settings_env(**env), tv_client(PROXY) as c:
        url = f"/webhooks/tradingview/{db}"
        assert c.post(url, content=corpus01_with_token(db)).status_code == 403  # the proxy itself
        forged = c.post(url, content=corpus01_with_token(db), headers={"X-Forwarded-For": f"{TV_IP}, 198.51.100.7"})
        assert forged.status_code == 403 and "198.51.100.7" in forged.json()["message"]
        assert count(SignalRecord) == 0
        good = c.post(url, content=corpus01_with_token(db), headers={"X-Forwarded-For": f"198.51.100.7, {TV_IP}, 10.9.9.9"})
        assert good.status_code == 202
    with settings_env(**env), tv_client("198.51.100.7") as c:  # an untrusted peer's header is ignored
        assert c.post(url, content=corpus01_with_token(db), headers={"X-Forwarded-For": TV_IP}).status_code == 403


def test_allowlist_does_not_guard_the_api_endpoints(client, db, admin):
    key = new_key(client, admin)["key"]
    with settings_env(TRADEWIRE_TRADINGVIEW_ALLOWLIST="true"):
        assert post_signal(client, key, signal()).status_code == 202


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("1.2.3.4", ["5.6.7.8"], [], "1.2.3.4"),
        ("10.0.0.1", ["5.6.7.8"], ["10.0.0.0/8"], "5.6.7.8"),
        ("10.0.0.1", ["9.9.9.9, 5.6.7.8", "10.0.0.2"], ["10.0.0.0/8"], "5.6.7.8"),
        ("10.0.0.1", ["10.0.0.3, 10.0.0.2"], ["10.0.0.0/8"], "10.0.0.3"),
        ("10.0.0.1", [], ["10.0.0.0/8"], "10.0.0.1"),
        ("10.0.0.1", ["garbage, 10.0.0.2"], ["10.0.0.0/8"], "garbage"),
        ("::ffff:10.0.0.1", ["5.6.7.8"], ["10.0.0.0/8"], "5.6.7.8"),
    ],
)
def test_client_ip_takes_the_right_most_hop_not_in_the_trusted_list(peer, forwarded, trusted, expected):
    assert client_ip(peer, forwarded, trusted) == expected


def test_bad_trusted_proxy_setting_names_the_variable():
    from pydantic import ValidationError

    from app.config import Settings

    with pytest.raises(ValidationError, match="TRADEWIRE_TRUSTED_PROXIES"):
        Settings(trusted_proxies=["10.0.0.0/33"])
