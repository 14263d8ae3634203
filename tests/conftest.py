"""Test services: the PostgreSQL and Redis named by TRADEWIRE_DATABASE_URL / TRADEWIRE_REDIS_URL,
else the embedded ones started in a temporary folder.

The session gets its own database (created, migrated, dropped at the end) and its own queue
prefix, so a developer's data is never touched; each test starts from empty tables and
empty queues.
"""

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

# Real payloads with their provenance, kept in the repository (tests/corpus/README.md);
# TRADEWIRE_CORPUS_DIR points the tests at another copy.
CORPUS_DIR = Path(os.environ.get("TRADEWIRE_CORPUS_DIR") or Path(__file__).resolve().parent / "corpus")
# Modules that read the variable themselves (tests/test_parsers.py) see the same folder.
os.environ["TRADEWIRE_CORPUS_DIR"] = str(CORPUS_DIR)
ADMIN_TOKEN = "test-admin-token-0123456789abcdefghij"


def pytest_configure(config: pytest.Config) -> None:
    """No corpus, no run: a test whose data is missing fails, it is never skipped."""
    if not any(CORPUS_DIR.glob("*.json")):
        raise pytest.UsageError(
            f"no corpus files (*.json) in {CORPUS_DIR}: the tests' payloads are missing. They live in "
            "tests/corpus in the repository; TRADEWIRE_CORPUS_DIR, when set, must name a folder holding them."
        )


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as libpq understands it (no +driver)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def services() -> Iterator[dict[str, str]]:
    """URLs of the session's database and Redis; sets the TRADEWIRE_* environment to them."""
    base_db, redis_url = os.environ.get("TRADEWIRE_DATABASE_URL"), os.environ.get("TRADEWIRE_REDIS_URL")
    tmp = Path(tempfile.mkdtemp(prefix="tradewire-test-"))
    embedded = None
    if not base_db or not redis_url:
        from app.embedded import start_embedded

        embedded = start_embedded(tmp / "services", database="postgres")
        base_db, redis_url = base_db or embedded.database_url, redis_url or embedded.redis_url
    name = f"tw_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq_url(base_db), autocommit=True) as connection:
        connection.execute(f'create database "{name}"')
    db_url = libpq_url(make_url(libpq_url(base_db)).set(database=name).render_as_string(hide_password=False))
    env = {
        "TRADEWIRE_DATABASE_URL": db_url,
        "TRADEWIRE_REDIS_URL": redis_url,
        "TRADEWIRE_QUEUE_PREFIX": f"twtest-{uuid.uuid4().hex[:8]}",
        "TRADEWIRE_DATA_DIR": str(tmp / "data"),
        "TRADEWIRE_ADMIN_TOKEN": ADMIN_TOKEN,
        "TRADEWIRE_SWEEPER_GRACE_SECONDS": "0.5",
        "TRADEWIRE_SWEEPER_INTERVAL_SECONDS": "0.5",
        # The hostile-input suites send hundreds of bad credentials from one address and expect
        # 401 each time; the rate-limit tests set their own low limit.
        "TRADEWIRE_AUTH_FAILURE_LIMIT": "1000000",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    _reset_app_state()
    from app.migrate import upgrade

    upgrade(db_url)
    try:
        yield env
    finally:
        from app.db import reset_engine

        reset_engine()
        with psycopg.connect(libpq_url(base_db), autocommit=True) as connection:
            connection.execute(f'drop database if exists "{name}" with (force)')
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _reset_app_state() -> None:
    from app.config import get_settings
    from app.db import reset_engine
    from app.execution.venues.registry import venue_for
    from app.jobs import relay
    from app.risk.market import forget_sources
    from app.jobs.queue import reset_redis
    from app.persistence.repositories import forget_strategies

    forget_strategies()
    get_settings.cache_clear()
    reset_engine()
    reset_redis()
    venue_for.cache_clear()
    relay.install()  # as every process does at start: committed events are dispatched at once
    forget_sources()


@pytest.fixture
def db(services: dict[str, str]) -> Iterator[str]:
    """Empty tables and queues, then the defaults (paper account, default strategy).
    Yields the default strategy's webhook token."""
    from app.bootstrap import ensure_defaults
    from app.config import get_settings
    from app.db import get_engine, unit_of_work
    from app.jobs.queue import get_redis
    from app.persistence.models import Base

    _reset_app_state()
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with get_engine().begin() as connection:
        connection.execute(text(f"truncate {tables} restart identity cascade"))
    redis = get_redis()
    for key in redis.scan_iter(f"*{services['TRADEWIRE_QUEUE_PREFIX']}*"):
        redis.delete(key)
    with unit_of_work() as session:
        token = ensure_defaults(session, get_settings())
    yield token


@pytest.fixture
def client(db: str):
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def corpus(name: str) -> dict[str, Any]:
    """One corpus file by its number or name prefix, e.g. ``corpus("01")``."""
    matches = sorted(CORPUS_DIR.glob(f"{name}*.json"))
    assert matches, f"no corpus file {name}* in {CORPUS_DIR}"
    return json.loads(matches[0].read_text())


def rendered_bytes(entry: dict[str, Any]) -> bytes:
    rendered = entry["rendered"]
    return (rendered if isinstance(rendered, str) else json.dumps(rendered)).encode()


def corpus01_with_token(token: str) -> bytes:
    """Corpus 01 with its ``passphrase`` set to ``token``, nothing else changed."""
    payload = json.loads(corpus("01")["rendered"])
    payload["passphrase"] = token
    return json.dumps(payload, indent=2).encode()


def drain_queues() -> int:
    """Run a real RQ SimpleWorker in burst mode on every venue queue; returns jobs run."""
    from rq import SimpleWorker

    from app.jobs.queue import get_queue, get_redis
    from app.jobs.worker import configured_venues

    queues = [get_queue(v) for v in configured_venues()]
    before = sum(q.count for q in queues)
    worker = SimpleWorker(queues, connection=get_redis(), serializer=queues[0].serializer)  # as the app enqueues
    worker.work(burst=True, with_scheduler=False, logging_level="ERROR")
    return before


@pytest.fixture
def fake():
    """The fake Binance spot REST server (tests/venues); afterwards it must have seen no
    unknown endpoint and raised no error of its own."""
    from tests.venues import start_fake_binance

    server = start_fake_binance()
    yield server
    server.stop()
    assert server.unknown_requests == [] and server.server_errors == []


@pytest.fixture
def account(fake, db, monkeypatch):
    """A Binance account pointed at ``fake``, with the quick venue settings of tests/venues/tradewire.py."""
    from tests.venues.tradewire import apply_settings, binance_account

    apply_settings(monkeypatch)
    return binance_account(fake, monkeypatch)


@pytest.fixture
def fake_bybit():
    """The fake Bybit linear-perpetual server (tests/venues); afterwards it must have seen no
    unknown endpoint, called only its routes and raised no error of its own."""
    from tests.venues import start_fake_bybit
    from tests.venues.bybit_linear import ROUTES

    yield from _checked_fake(start_fake_bybit(), ROUTES)


@pytest.fixture
def fake_binance_futures():
    """The fake Binance USDⓈ-M futures server (tests/venues); afterwards it must have seen no
    unknown endpoint, called only its routes and raised no error of its own."""
    from tests.venues import start_fake_binance_futures
    from tests.venues.binance_futures import ROUTES

    yield from _checked_fake(start_fake_binance_futures(), ROUTES)


def _checked_fake(server, routes) -> Iterator:
    """Yield a started fake venue; after the test stop it and check it saw no unknown endpoint,
    called only ``routes`` and raised no error of its own."""
    yield server
    server.stop()
    assert server.unknown_requests == [], server.unknown_requests
    assert server.server_errors == [], server.server_errors[-1:]
    assert server.endpoints_called() <= set(routes)
