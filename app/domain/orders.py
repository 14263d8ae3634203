"""Order states and the transitions between them (nautilus_trader's order state model).

``INITIALIZED → SUBMITTED → ACCEPTED → PARTIALLY_FILLED → FILLED``, with ``DENIED`` (refused
before sending), ``REJECTED`` (refused by the venue), ``CANCELED`` and ``EXPIRED``. A venue
may report a market order already filled in its first answer, so SUBMITTED may jump to a
fill state. https://nautilustrader.io/docs/latest/concepts/orders#order-status-flow
"""

from enum import StrEnum

from app.domain.enums import IntentStatus
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
# On the venue, or possibly on it (SUBMITTED includes in doubt): what a cancel or reconciler follows.
OPEN_STATES: frozenset[OrderStatus] = frozenset({S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED})
OPEN_STATE_VALUES: tuple[str, ...] = tuple(sorted(s.value for s in OPEN_STATES))  # for SQL IN (...)


def check_transition(current: OrderStatus, new: OrderStatus, order_id: object = None) -> None:
    """Raise ``InvalidTransition`` unless the table allows ``current → new``."""
    if new not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(f"order {order_id or ''} cannot go from {current} to {new}".replace("  ", " "))


def reachable(current: OrderStatus, new: OrderStatus) -> bool:
    """True when the table has a path ``current → … → new`` (a venue answer may skip states)."""
    try:
        return bool(path_to(current, new)) or (current == new == S.PARTIALLY_FILLED)
    except InvalidTransition:
        return False


# The order intent's life in our outbox (``IntentStatus``): claimed once, finished once.
I = IntentStatus
INTENT_TRANSITIONS: dict[IntentStatus, frozenset[IntentStatus]] = {
    I.PENDING: frozenset({I.SUBMITTING, I.FAILED}),
    I.SUBMITTING: frozenset({I.DONE, I.FAILED}),
}


def intent_predecessors(new: IntentStatus) -> tuple[str, ...]:
    """The intent states the table allows ``new`` to follow (values, for a conditional UPDATE)."""
    return tuple(sorted(s.value for s, nexts in INTENT_TRANSITIONS.items() if new in nexts))


def check_intent_transition(current: IntentStatus, new: IntentStatus, intent_id: object = None) -> None:
    """Raise ``InvalidTransition`` unless the intent table allows ``current → new``."""
    if new not in INTENT_TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(f"intent {intent_id or ''} cannot go from {current} to {new}".replace("  ", " "))


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
