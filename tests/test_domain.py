"""Pure domain rules: the order state table and position arithmetic."""

from decimal import Decimal

import pytest

from app.domain.enums import OrderSide
from app.domain.orders import OrderStatus as S
from app.domain.orders import check_transition, path_to
from app.domain.positions import PositionState, apply_fill
from app.errors import InvalidTransition


@pytest.mark.parametrize(
    "current,new",
    [(S.INITIALIZED, S.SUBMITTED), (S.SUBMITTED, S.ACCEPTED), (S.ACCEPTED, S.PARTIALLY_FILLED),
     (S.PARTIALLY_FILLED, S.FILLED), (S.SUBMITTED, S.REJECTED), (S.ACCEPTED, S.CANCELED), (S.INITIALIZED, S.DENIED)],
)
def test_allowed_transitions(current, new):
    check_transition(current, new)


@pytest.mark.parametrize(
    "current,new",
    [(S.FILLED, S.CANCELED), (S.REJECTED, S.ACCEPTED), (S.INITIALIZED, S.FILLED), (S.CANCELED, S.FILLED),
     (S.ACCEPTED, S.SUBMITTED)],
)
def test_forbidden_transitions(current, new):
    with pytest.raises(InvalidTransition):
        check_transition(current, new)


def test_initialized_order_reported_filled_passes_through_submitted():
    assert path_to(S.INITIALIZED, S.FILLED) == [S.SUBMITTED, S.FILLED]


def test_terminal_order_has_no_path_anywhere():
    with pytest.raises(InvalidTransition):
        path_to(S.FILLED, S.PARTIALLY_FILLED)


def test_long_then_partial_close_then_flip_short():
    # buy 10 @ 100, buy 10 @ 110 -> 20 @ 105
    p, _ = apply_fill(PositionState(), OrderSide.BUY, Decimal(10), Decimal(100))
    p, _ = apply_fill(p, OrderSide.BUY, Decimal(10), Decimal(110))
    assert (p.quantity, p.average_price) == (Decimal(20), Decimal(105))
    # sell 5 @ 120 with a 0.6 fee: realises 5 * 15 - 0.6 = 74.4
    p, realized = apply_fill(p, OrderSide.SELL, Decimal(5), Decimal(120), Decimal("0.6"))
    assert realized == Decimal("74.4") and p.quantity == Decimal(15) and p.average_price == Decimal(105)
    # sell 20 @ 100: closes 15 (-75), opens 5 short at 100
    p, realized = apply_fill(p, OrderSide.SELL, Decimal(20), Decimal(100))
    assert realized == Decimal(-75)
    assert (p.quantity, p.average_price, p.realized_pnl) == (Decimal(-5), Decimal(100), Decimal("-0.6"))


def test_short_closed_at_a_lower_price_is_a_profit():
    p, _ = apply_fill(PositionState(), OrderSide.SELL, Decimal(2), Decimal(50))
    p, realized = apply_fill(p, OrderSide.BUY, Decimal(2), Decimal(40))
    assert realized == Decimal(20) and p.quantity == 0 and p.average_price is None


def test_intent_table_claims_once_and_finishes_once():
    from app.domain.enums import IntentStatus as I
    from app.domain.orders import check_intent_transition, intent_predecessors

    assert intent_predecessors(I.SUBMITTING) == ("pending",)
    assert intent_predecessors(I.DONE) == ("submitting",)
    assert intent_predecessors(I.FAILED) == ("pending", "submitting")
    for current, new in [(I.DONE, I.FAILED), (I.FAILED, I.DONE), (I.SUBMITTING, I.PENDING), (I.PENDING, I.DONE)]:
        with pytest.raises(InvalidTransition):
            check_intent_transition(current, new, "i-1")


def test_ledger_refuses_an_illegal_order_transition_and_logs_the_order(db, caplog):
    import uuid

    from app.db import unit_of_work
    from app.execution.ledger import transition
    from app.persistence.models import OrderRecord

    order = OrderRecord(id=uuid.uuid4(), status=S.FILLED.value, client_order_id="tw-illegal")
    with unit_of_work() as session, pytest.raises(InvalidTransition, match=f"order {order.id} cannot go from FILLED to CANCELED"):
        transition(session, order, S.CANCELED)
    assert order.status == "FILLED"
    assert f"illegal order transition FILLED -> CANCELED for order {order.id} (tw-illegal)" in caplog.text
