"""A worker SIGKILLed while its order request is in flight: the job (or the reconciler)
finds the order by its client order id instead of placing a second one.

The worker is the real ``tradewire worker`` process (``python -m app.cli worker``) on the test
database and Redis; the fake Binance holds the request so the kill lands mid-job.
"""

import os
import signal
from decimal import Decimal

import pytest

from app.jobs.queue import enqueue_intent
from app.jobs.reconciler import reconcile
from tests.processes import spawn, stop, wait_for
from tests.venues.tradewire import eventually, intent_status, make_intent, order_of

ORDER = "/api/v3/order"


def start_worker(tmp_path, name: str, *args: str):
    # The killed worker waits up to 10 s for the venue; this process resolves with quick settings.
    env = {**os.environ, "TRADEWIRE_VENUE_TIMEOUT_MS": "10000"}
    return spawn(["worker", *args], env, tmp_path / f"{name}.log")


def kill_when_in_flight(worker, fake, tmp_path) -> None:
    """SIGKILL the worker once its POST reached the fake (and before the fake answers)."""
    wait_for(lambda: fake.calls("POST", ORDER), 30, f"the worker's order request ({(tmp_path / 'first.log').read_text()[-2000:]})")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


def assert_one_filled_order(fake, intent) -> None:
    order = order_of(intent)
    assert fake.count_orders(intent.client_order_id) == 1
    assert order.status == "FILLED" and order.filled_quantity == Decimal("0.001")
    assert intent_status(intent) == "done"


@pytest.mark.faults
def test_worker_killed_after_the_venue_stored_the_order_rerun_finds_it(fake, account, tmp_path):
    fake.inject(ORDER, "delay_after_store", method="POST", delay=8)
    intent = make_intent(account)
    worker = start_worker(tmp_path, "first")
    enqueue_intent(intent.id, intent.client_order_id, "binance")
    kill_when_in_flight(worker, fake, tmp_path)
    assert fake.count_orders(intent.client_order_id) == 1 and order_of(intent).status == "SUBMITTED"

    enqueue_intent(intent.id, intent.client_order_id, "binance")  # the job runs again (RQ, sweeper, operator)
    second = start_worker(tmp_path, "second", "--burst")
    try:
        second.wait(timeout=60)
    finally:
        stop(second)
    assert_one_filled_order(fake, intent)
    assert fake.calls("GET", ORDER)  # found by its client order id ...
    assert len(fake.calls("POST", ORDER)) == 1  # ... and never sent again


@pytest.mark.faults
def test_worker_killed_before_the_venue_stored_the_order_reconciler_finds_it_later(fake, account, tmp_path):
    fake.inject(ORDER, "delay_before_store", method="POST", delay=1.5)
    intent = make_intent(account)
    worker = start_worker(tmp_path, "first")
    enqueue_intent(intent.id, intent.client_order_id, "binance")
    kill_when_in_flight(worker, fake, tmp_path)
    assert fake.count_orders(intent.client_order_id) == 0  # the venue has not stored it yet

    assert eventually(lambda: order_of(intent).status == "FILLED", step=reconcile)
    assert_one_filled_order(fake, intent)
    assert len(fake.calls("POST", ORDER)) == 1
