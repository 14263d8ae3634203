"""Accounts: venue, trading state (the kill switch) with its reason, equity, balances, open
positions and the venue's circuit breaker."""

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.admin.pagination import NO_NUL
from app.admin.schemas import AccountView, Breaker, OpenPosition, TradingStateAnswer
from app.config_file import AccountConfig
from app.deps import SessionDep
from app.domain.enums import TradingState
from app.domain.equity import equity
from app.errors import NotFound
from app.notify import notify_on_commit
from app.persistence.models import Account, BalanceRecord, PositionRecord, VenueBreakerRecord
from app.risk.state import OPERATOR_REASON, record_state_change

router = APIRouter()
Name = Annotated[str, Path(max_length=64, pattern=NO_NUL, description="Account name")]


class TradingStateBody(BaseModel):
    state: TradingState = Field(description="ACTIVE, REDUCING or HALTED (the kill switch)")

    model_config = {"json_schema_extra": {"examples": [{"state": "HALTED"}]}}


@router.get("/accounts", summary="Accounts: venue, trading state, equity, balances, open positions, breaker",
            response_model=list[AccountView])
def list_accounts(session: SessionDep) -> list[AccountView]:
    accounts = session.execute(select(Account).order_by(Account.name)).scalars().all()
    return [account_view(session, a) for a in accounts]


@router.get("/accounts/{name}", summary="One account", response_model=AccountView,
            responses={404: {"description": "No such account."}})
def get_account(name: Name, session: SessionDep) -> AccountView:
    account = session.execute(select(Account).where(Account.name == name)).scalar_one_or_none()
    if account is None:
        raise NotFound(f"no account {name!r}")
    return account_view(session, account)


@router.put("/accounts/{name}/trading-state", summary="Set an account's trading state (HALTED is the kill switch)",
            response_model=TradingStateAnswer, responses={404: {"description": "No such account."}})
def set_trading_state(name: Name, body: TradingStateBody, session: SessionDep) -> TradingStateAnswer:
    """ACTIVE trades; REDUCING lets only position-reducing orders through; HALTED denies every
    order. Takes effect for the next decision (decisions lock the account row). Subscribers
    to ``trading_state_change`` are notified."""
    with session.begin():
        account = session.execute(select(Account).where(Account.name == name).with_for_update()).scalar_one_or_none()
        if account is None:
            raise NotFound(f"no account {name!r}")
        previous = account.trading_state
        record_state_change(session, account.id, body.state, OPERATOR_REASON)
        if previous != body.state.value:
            notify_on_commit(session, "trading_state_change", {"account": name, "from": previous,
                                                               "to": body.state.value, "reason": OPERATOR_REASON})
    return TradingStateAnswer(name=name, trading_state=body.state.value, previous_state=previous)


def account_view(session: Session, account: Account) -> AccountView:
    config = AccountConfig.model_validate(account.settings or {})
    balances = {
        b.currency: b.total
        for b in session.execute(select(BalanceRecord).where(BalanceRecord.account_id == account.id)).scalars()
    }
    positions = session.execute(
        select(PositionRecord)
        .where(PositionRecord.account_id == account.id, PositionRecord.quantity != 0)
        .order_by(PositionRecord.symbol)
    ).scalars().all()
    breaker = session.get(VenueBreakerRecord, account.venue)
    return AccountView(
        name=account.name,
        venue=account.venue,
        trading_state=account.trading_state,
        state_reason=account.state_reason,
        state_changed_at=account.state_changed_at,
        quote_currency=config.quote_currency,
        equity=equity(balances.get(config.quote_currency, Decimal(0)), positions, config.quote_currency),
        balances=balances,
        open_positions=[OpenPosition(symbol=p.symbol, quantity=p.quantity, average_price=p.average_price)
                        for p in positions],
        circuit_breaker=None if breaker is None else Breaker(
            open=breaker.opened_at is not None, consecutive_failures=breaker.consecutive_failures,
            opened_at=breaker.opened_at, last_error=breaker.last_error,
        ),
    )
