"""The scheduler process, composing the stages' periodic work (it sits above them all, as the
API's ``main`` does): the relay's sweep every ``sweeper_interval_seconds``; the reconciler at
start and every ``reconcile_interval_seconds``, then the native exit ladders' check for
positions closed by hand (``native_ladder.check_positions``); probes of venues whose circuit
breaker is open; and, in a thread of its own (its HTTP calls must not delay the sweep), the prediction
pollers of the configuration file at their intervals; and, in a thread each, the Telegram
remote control's long poll of every channel with ``command_chat_ids``; the portfolios'
rebalance triggers (``every``, ``on_drift``) and the rebalances under way each pass."""

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from app.config import Settings
from app.followups import native_ladder
from app.ingest.poller import poll_once
from app.jobs.reconciler import probe_open_breakers, reconcile
from app.jobs import relay
from app.jobs.relay import sweep
from app.notify.jobs import promote_due_retries
from app.notify.telegram import control_forever, controlled_channels
from app.portfolio.schedule import tick as rebalance_tick

log = logging.getLogger(__name__)


def run_scheduler(settings: Settings) -> int:
    running = True

    def stop(signum: int, frame: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    relay.install()
    if settings.pollers:
        threading.Thread(target=_poll_forever, args=(settings, lambda: running), daemon=True, name="pollers").start()
    for name, channel in controlled_channels(settings.notifications).items():  # long polls: a thread each
        threading.Thread(target=control_forever, args=(name, channel, lambda: running), daemon=True,
                         name=f"telegram-{name}").start()
    next_reconcile = time.monotonic()  # at start
    while running:
        _guarded("sweeper", lambda: sweep(settings.sweeper_grace_seconds))
        _guarded("breaker probe", probe_open_breakers)
        _guarded("notification retries", promote_due_retries)
        _guarded("rebalances", lambda: rebalance_tick(datetime.now(UTC)))  # schedule, drift, under way (app.portfolio)
        if time.monotonic() >= next_reconcile:
            _guarded("reconciler", reconcile)
            _guarded("native exit ladders", native_ladder.check_positions)  # positions closed by hand
            next_reconcile = time.monotonic() + settings.reconcile_interval_seconds
        deadline = time.monotonic() + settings.sweeper_interval_seconds
        while running and time.monotonic() < deadline:
            time.sleep(0.2)
    return 0


def _guarded(name: str, task: Callable[[], object]) -> None:
    try:
        task()
    except Exception:
        log.exception("%s pass failed; retrying next interval", name)


def _poll_forever(config: object, running: Callable[[], bool]) -> None:
    """Run due pollers about once a second until the scheduler stops."""
    last_polled: dict[str, datetime] = {}
    while running():
        _guarded("prediction poller", lambda: poll_once(config, datetime.now(UTC), last_polled=last_polled))  # type: ignore[arg-type]
        time.sleep(1.0)
