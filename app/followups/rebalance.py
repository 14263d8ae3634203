"""Rebalances under way (``app.portfolio.store``): an order of the account ended, so the
rebalance may move — its buys written once every sell has ended, its outcome recorded once
every buy has. Idempotent: ``advance`` locks the rebalance row and acts only on the step the
orders allow, so a redelivered or repeated event changes nothing the second time.

The relay dispatches an ``order.terminal`` here only while a rebalance of the order's account
is under way (read with the next in line, ``app.jobs.relay``); the scheduler sweeps the rest
(``advance_running``).
"""

import uuid
from typing import Any

from app.portfolio import store


def on_order_terminal(payload: dict[str, Any]) -> str:
    """``order.terminal`` {order_id, account_id, symbol, venue}: advance the account's rebalance."""
    return store.advance_account(uuid.UUID(payload["account_id"]))


def describe(payload: dict[str, Any]) -> str:
    """``rebalance.step``: written with the move itself; the handler only marks it."""
    return store.describe(payload)
