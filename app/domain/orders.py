"""Order states and the transitions between them (nautilus_trader's order state model).

``INITIALIZED → SUBMITTED → ACCEPTED → PARTIALLY_FILLED → FILLED``, with ``DENIED`` (refused
before sending), ``REJECTED`` (refused by the venue), ``CANCELED`` and ``EXPIRED``. A venue
may report a market order already filled in its first answer, so SUBMITTED may jump to a
fill state. https://nautilustrader.io/docs/latest/concepts/orders#order-status-flow
"""

from enum import StrEnum

from app.errors import InvalidTransition


class OrderStatus(StrEnum):
    INITIALIZED = "INITIALIZED"
    DENIED = "DENIED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.INITIALIZED: frozenset({S.DENIED, S.SUBMITTED}),
    S.SUBMITTED: frozenset({S.ACCEPTED, S.REJECTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.ACCEPTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
}
TERMINAL: frozenset[OrderStatus] = frozenset({S.DENIED, S.REJECTED, S.FILLED, S.CANCELED, S.EXPIRED})


def check_transition(current: OrderStatus, new: OrderStatus) -> None:
    """Raise ``InvalidTransition`` unless the table allows ``current → new``."""
    if new not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(f"order cannot go from {current} to {new}")


def path_to(current: OrderStatus, target: OrderStatus) -> list[OrderStatus]:
    """The states to pass through from ``current`` to ``target`` (excluding ``current``).

    A venue answer may skip states (a market order reported FILLED right after SUBMITTED);
    the event log records the path the table allows. Raises ``InvalidTransition``.
    """
    if current == target and target != S.PARTIALLY_FILLED:
        return []
    if target in TRANSITIONS.get(current, frozenset()):
        return [target]
    if current == S.INITIALIZED:
        return [S.SUBMITTED, *path_to(S.SUBMITTED, target)]
    raise InvalidTransition(f"order cannot go from {current} to {target}")
