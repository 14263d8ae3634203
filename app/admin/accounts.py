"""Accounts: venue, trading state (the kill switch) with its reason, equity, balances, open
positions, the venue's circuit breaker, and which credentials are in use (never the
credentials: ``PUT /accounts/{name}/credentials`` stores them encrypted, ``app.admin.credentials``)."""

import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.admin.credentials import CredentialsBody, CredentialsView, credentials_view, delete_credentials, store_credentials
from app.admin.pagination import NO_NUL
from app.admin.schemas import AccountView, Breaker, OpenPosition, TradingStateAnswer
from app.config_file import AccountConfig
from app.deps import OperatorDep, SessionDep
from app.domain.enums import Action, TradingState
from app.ingest.service import operator_action
from app.domain.equity import equity
from app.marketdata.marks import Marked, mark_account
from app.errors import NotFound
from app.notify import notify_on_commit
from app.persistence.models import Account, BalanceRecord, PositionRecord, VenueBreakerRecord
from app.risk.state import OPERATOR_REASON, record_state_change

router = APIRouter()
Name = Annotated[str, Path(max_length=64, pattern=NO_NUL, description="Account name")]


class AccountDetail(AccountView):
    credentials: CredentialsView = Field(description="Which credentials the account uses (vault wins over env)")


class TradingStateBody(BaseModel):
    state: TradingState = Field(description="ACTIVE, REDUCING or HALTED (the kill switch)")

    model_config = {"json_schema_extra": {"examples": [{"state": "HALTED"}]}}


@router.get("/accounts", summary="Accounts: venue, trading state, equity, balances, open positions, breaker",
            response_model=list[AccountDetail])
def list_accounts(session: SessionDep) -> list[AccountDetail]:
    accounts = session.execute(select(Account).order_by(Account.name)).scalars().all()
    return [account_view(session, a) for a in accounts]


@router.get("/accounts/{name}", summary="One account", response_model=AccountDetail,
            responses={404: {"description": "No such account."}})
def get_account(name: Name, session: SessionDep) -> AccountDetail:
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


@router.put("/accounts/{name}/credentials", summary="Store exchange credentials, encrypted (tested first; never returned)",
            response_model=CredentialsView,
            responses={404: {"description": "No such account."}, 409: {"description": "A paper account."},
                       422: {"description": "The venue refused them, or the key can withdraw; nothing stored."},
                       502: {"description": "The venue could not be reached to test them; nothing stored."}})
def put_credentials(name: Name, body: CredentialsBody, operator: OperatorDep) -> CredentialsView:
    """A read-only call (``fetch_balance``) proves the credentials work before they are saved;
    where the venue tells (Binance's API key restrictions) a key that can withdraw is refused
    unless ``allow_withdrawal_permission`` is true. Replaces stored ones atomically: the next
    order of every worker uses the new key. They win over the account's environment variables."""
    return store_credentials(name, body, operator.name)


@router.get("/accounts/{name}/credentials", summary="Which credentials an account uses (never the credentials)",
            response_model=CredentialsView, responses={404: {"description": "No such account."}})
def get_credentials(name: Name, session: SessionDep) -> CredentialsView:
    account = session.execute(select(Account).where(Account.name == name)).scalar_one_or_none()
    if account is None:
        raise NotFound(f"no account {name!r}")
    return credentials_view(session, account)


@router.delete("/accounts/{name}/credentials", summary="Delete stored credentials (named environment variables apply again)",
               status_code=204, responses={404: {"description": "No such account, or none stored."}})
def remove_credentials(name: Name) -> None:
    delete_credentials(name)


class BulkAnswer(BaseModel):
    """The signal recording the operator's close-all / cancel-all (its trace: ``GET /api/v1/signals/{id}``)."""

    signal_id: uuid.UUID
    status: str = Field(description="accepted or rejected (risk refused every exit)")
    reason: str | None
    client_order_ids: list[str] = Field(description="close-all: one reduce-only exit per open position")


Symbol = Annotated[str | None, Query(max_length=64, pattern=NO_NUL, description="only this symbol (e.g. BTC/USDT); "
                                     "absent: every symbol of the account")]


def _bulk(session: Session, name: str, action: Action, symbol: str | None, operator: str | None) -> BulkAnswer:
    with session.begin():  # a bad symbol raises InvalidSignal (422); nothing is kept then
        result = operator_action(session, name, action, symbol, operator)
    return BulkAnswer(signal_id=result.signal_id, status=result.status.value, reason=result.reason,
                      client_order_ids=[q.client_order_id for q in result.intents])


@router.post("/accounts/{name}/close-all", summary="Close every open position of an account (or of one symbol)",
             response_model=BulkAnswer, responses={404: {"description": "No such account."},
                                                  422: {"description": "The symbol cannot be read."}})
def close_all(name: Name, session: SessionDep, operator: OperatorDep, symbol: Symbol = None) -> BulkAnswer:
    """One reduce-only market exit per open position (and per position still opening), each
    decided by the risk engine as an exit under its symbol's lock (orders in flight counted),
    recorded as a signal of the strategy ``operator:<account>`` with its trace."""
    return _bulk(session, name, Action.CLOSE_ALL, symbol, getattr(operator, "name", None))


@router.post("/accounts/{name}/cancel-all", summary="Cancel every open order of an account (or of one symbol)",
             response_model=BulkAnswer, responses={404: {"description": "No such account."},
                                                  422: {"description": "The symbol cannot be read."}})
def cancel_all(name: Name, session: SessionDep, operator: OperatorDep, symbol: Symbol = None) -> BulkAnswer:
    """The ``cancel.requested`` event without a symbol (or with it): its handler cancels the
    account's open orders on the venue; recorded as a signal of ``operator:<account>``."""
    return _bulk(session, name, Action.CANCEL_ALL, symbol, getattr(operator, "name", None))


def _open_position(p: PositionRecord, marked: Marked | None) -> OpenPosition:
    return OpenPosition(symbol=p.symbol, quantity=p.quantity, average_price=p.average_price, position_side=p.position_side,
                        mark_price=marked.mark if marked else None, notional=marked.notional if marked else None,
                        unrealized_pnl=marked.unrealized if marked else None)


def account_view(session: Session, account: Account) -> AccountDetail:
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
    cash = balances.get(config.quote_currency, Decimal(0))
    marks = mark_account(config, cash, list(positions))
    return AccountDetail(
        name=account.name,
        venue=account.venue,
        trading_state=account.trading_state,
        state_reason=account.state_reason,
        state_changed_at=account.state_changed_at,
        quote_currency=config.quote_currency,
        equity=equity(cash, positions, config.quote_currency),
        equity_at_market=marks.equity, unrealized_pnl=marks.unrealized, exposure=marks.exposure,
        balances=balances,
        open_positions=[_open_position(p, marks.positions.get((p.symbol, p.position_side))) for p in positions],
        circuit_breaker=None if breaker is None else Breaker(
            open=breaker.opened_at is not None, consecutive_failures=breaker.consecutive_failures,
            opened_at=breaker.opened_at, last_error=breaker.last_error,
        ),
        credentials=credentials_view(session, account),
    )
