"""The paper venue: fills market orders at the signal's reference price, keeps its balances.

Price: the intent's reference price (TradingView ``{{close}}``) moved against the taker by
``slippage_bps``; fee ``fee_rate`` × notional, in the quote currency (default 0.1%, Binance's
base spot taker rate). Its book is our ``balances`` table, updated in the same transaction
as the fill, so the paper venue never holds an order we do not know: an order that was not
booked was never placed, and placing it again with the same client order id is safe.
"""

from datetime import UTC, datetime
from decimal import Decimal, localcontext

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from app.domain.enums import OrderSide, OrderType
from app.domain.money import fmt
from app.domain.orders import OrderStatus
from app.domain.symbols import base_quote, is_derivative
from app.errors import OrderRejected
from app.execution.venues.base import OrderRequest, Trade, Venue, VenueOrder
from app.persistence.models import BalanceRecord

BPS = Decimal(10_000)
STORED = Decimal("1e-18")  # balances are NUMERIC(38, 18)
# NUMERIC(38, 18) holds 38 digits, and a product of two such amounts up to 76; the default
# context's 28 would round a big notional and make quantize(STORED) raise InvalidOperation
# from 10^10 up (https://docs.python.org/3/library/decimal.html#decimal.Decimal.quantize).
PRECISION = 80


class PaperVenue(Venue):
    """Simulated venue. ``fee_rate`` is a fraction of notional (0.001 = 0.1%)."""

    name = "paper"
    remote = False
    lookup_is_authoritative = True  # its book is our database: an order not booked was never placed

    def __init__(self, fee_rate: Decimal = Decimal("0.001"), slippage_bps: Decimal = Decimal(0)) -> None:
        self.fee_rate = fee_rate
        self.slippage_bps = slippage_bps

    def create_order(self, request: OrderRequest) -> VenueOrder:
        """Fill the whole quantity at once. Raises ``OrderRejected`` without a price to fill at."""
        price = self._fill_price(request)
        now = datetime.now(UTC)
        with localcontext(prec=PRECISION):
            fee = (request.quantity * price * self.fee_rate).quantize(STORED)
        trade = Trade(
            trade_id=f"{request.client_order_id}-1",
            quantity=request.quantity,
            price=price,
            fee=fee,
            fee_currency=base_quote(request.symbol)[1],
            ts_event=now,
        )
        return VenueOrder(
            client_order_id=request.client_order_id,
            venue_order_id=f"paper-{request.client_order_id}",
            status=OrderStatus.FILLED,
            filled_quantity=request.quantity,
            average_price=price,
            ts_event=now,
            trades=(trade,),
        )

    def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        # Booked paper orders are in our orders table; one that is not was never placed.
        return None

    def _fill_price(self, request: OrderRequest) -> Decimal:
        if request.order_type == OrderType.LIMIT and request.limit_price is not None:
            reference = request.limit_price
        elif request.reference_price is not None:
            reference = request.reference_price
        else:
            raise OrderRejected(
                "paper venue has no price for this market order: the signal carried no reference price "
                "(add \"price\": \"{{close}}\" to the alert)"
            )
        direction = 1 if request.side == OrderSide.BUY else -1
        with localcontext(prec=PRECISION):
            return reference * (1 + direction * self.slippage_bps / BPS)

    def settle(self, session: Session, account_id: object, request: OrderRequest, order: VenueOrder) -> None:
        """Move balances: spot buys pay quote and fees, spot sells need the base; a
        derivative pays only its fees here (realised PnL is booked with the position)."""
        with localcontext(prec=PRECISION):
            self._settle(session, account_id, request, order)

    def _settle(self, session: Session, account_id: object, request: OrderRequest, order: VenueOrder) -> None:
        base, quote = base_quote(request.symbol)
        quote_delta = -sum((t.fee for t in order.trades), Decimal(0))
        base_delta = Decimal(0)
        if not is_derivative(request.symbol):
            notional = sum((t.quantity * t.price for t in order.trades), Decimal(0))
            sign = 1 if request.side == OrderSide.BUY else -1
            quote_delta -= sign * notional
            base_delta = sign * order.filled_quantity
        deltas = ((quote, quote_delta), (base, base_delta))
        if quote_delta and base_delta:
            # Both balances move: each upsert locks its row and returns the new total; a total
            # below zero raises, and the caller's transaction rolls the writes back.
            for currency, delta in deltas:
                had = (_add(session, account_id, currency, delta) - delta).quantize(STORED)  # exact: stored at 18 places
                if had + delta < 0:
                    raise _insufficient(currency, delta, had)
            return
        balances = _locked_balances(session, account_id, (base, quote))
        for currency, delta in deltas:
            if balances.get(currency, Decimal(0)) + delta < 0:
                raise _insufficient(currency, delta, balances.get(currency, Decimal(0)))
        for currency, delta in deltas:
            if delta:
                _add(session, account_id, currency, delta)


def _insufficient(currency: str, delta: Decimal, have: Decimal) -> OrderRejected:
    return OrderRejected(
        f"insufficient funds on the paper venue: this order needs {fmt(-delta)} {currency}, "
        f"the account has {fmt(have)} {currency}"
    )


def _add(session: Session, account_id: object, currency: str, delta: Decimal) -> Decimal:
    """Add ``delta`` to the balance (created if missing); returns the new total."""
    return session.execute(
        pg_insert(BalanceRecord)
        .values(account_id=account_id, currency=currency, total=delta)
        .on_conflict_do_update(
            index_elements=["account_id", "currency"],
            set_={"total": BalanceRecord.total + delta, "updated_at": datetime.now(UTC)},
        )
        .returning(BalanceRecord.total)
    ).scalar_one()


def _locked_balances(session: Session, account_id: object, currencies: tuple[str, ...]) -> dict[str, Decimal]:
    rows = session.execute(
        select(BalanceRecord.currency, BalanceRecord.total)
        .where(BalanceRecord.account_id == account_id, BalanceRecord.currency.in_(currencies))
        .with_for_update()
    ).all()
    return {currency: total for currency, total in rows}
