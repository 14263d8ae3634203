"""The scheduler process: runs the sweeper every ``sweeper_interval_seconds``."""

import logging
import signal
import time

from app.config import Settings
from app.jobs.sweeper import sweep

log = logging.getLogger(__name__)


def run_scheduler(settings: Settings) -> int:
    running = True

    def stop(signum: int, frame: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while running:
        try:
            sweep(settings.sweeper_grace_seconds)
        except Exception:
            log.exception("sweeper pass failed; retrying next interval")
        deadline = time.monotonic() + settings.sweeper_interval_seconds
        while running and time.monotonic() < deadline:
            time.sleep(0.2)
    return 0
