"""Start a Tradewire stack for a benchmark: a fresh database on the configured PostgreSQL,
the configured Redis, the API with N uvicorn workers and M RQ workers, as real processes."""

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
ADMIN = "bench-admin-token-0123456789abcdefghij"


def base_urls() -> tuple[str, str]:
    return (
        os.environ.get("TRADEWIRE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        os.environ.get("TRADEWIRE_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )


@contextmanager
def fresh_database() -> Iterator[str]:
    base, _ = base_urls()
    name = f"tw_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f'create database "{name}"')
    url = base.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with psycopg.connect(base, autocommit=True) as c:
            c.execute(f'drop database if exists "{name}" with (force)')


@contextmanager
def stack(api_workers: int = 1, rq_workers: int = 1, port: int = 8123, config: str | None = None,
          extra_env: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """Yield {'base', 'token', 'database_url', 'env'} for a running stack; stops it after."""
    _, redis_url = base_urls()
    with fresh_database() as db_url, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TRADEWIRE_DATABASE_URL": db_url, "TRADEWIRE_REDIS_URL": redis_url,
               "TRADEWIRE_DATA_DIR": tmp, "TRADEWIRE_ADMIN_TOKEN": ADMIN, "TRADEWIRE_PORT": str(port),
               "TRADEWIRE_QUEUE_PREFIX": f"bench-{uuid.uuid4().hex[:6]}", "TRADEWIRE_LOG_LEVEL": "WARNING",
               **(extra_env or {})}
        if config:
            path = Path(tmp) / "config.toml"
            path.write_text(config)
            env["TRADEWIRE_CONFIG"] = str(path)
        subprocess.run([sys.executable, "-m", "app.cli", "migrate"], env=env, check=True, capture_output=True)
        token = (Path(tmp) / "default_strategy_token").read_text().strip()
        api = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--workers", str(api_workers), "--log-level", "warning", "--no-access-log"],
            env=env, cwd=ROOT,
        )
        workers = [subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env, cwd=ROOT)
                   for _ in range(rq_workers)]
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base)
            yield {"base": base, "token": token, "database_url": db_url, "env": env, "api_pid": api.pid,
                   "worker_pids": [w.pid for w in workers]}
        finally:
            for p in [api, *workers]:
                p.terminate()
            for p in [api, *workers]:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("API did not become ready")


def corpus01() -> dict:
    return json.loads(json.loads((CORPUS / "01_hackingthemarkets_binance_strategy_filled.json").read_text())["rendered"])


SYMBOLS = ["BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "DOT", "LINK", "AVAX", "LTC",
           "TRX", "ATOM", "NEAR", "APT", "ARB", "OP", "FIL", "ETC", "XLM", "UNI"]
