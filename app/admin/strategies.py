"""Strategies: list, create, enable/disable, rotate the webhook token.

A token is shown once (on creation or rotation) and stored as its sha256 only. A disabled
strategy's webhooks answer 401 and store nothing, as for an unknown token; its history stays.
Disabling and rotating take effect at once in every API process (``strategies_changed``).
"""

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.admin.pagination import NO_NUL
from app.admin.schemas import StrategyCreated, StrategyView
from app.bootstrap import DEFAULT_STRATEGY, create_strategy, new_token
from app.config import get_settings
from app.deps import SessionDep
from app.errors import IngestError, NotFound
from app.persistence.models import Account, Strategy
from app.persistence.repositories import hash_token, strategies_changed

router = APIRouter()
Name = Annotated[str, Path(max_length=64, pattern=NO_NUL, description="Strategy name")]


def webhook_url(token: str) -> str:
    """The TradingView webhook URL of a strategy token, on ``TRADEWIRE_PUBLIC_URL`` when set."""
    return f"{get_settings().base_url}/webhooks/tradingview/{token}"


class StrategyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    account: str = "paper"

    model_config = {"json_schema_extra": {"examples": [{"name": "ma-cross", "account": "paper"}]}}


class StrategyPatch(BaseModel):
    enabled: bool = Field(description="false: its webhooks answer 401 until enabled again")

    model_config = {"json_schema_extra": {"examples": [{"enabled": False}]}}


@router.get("/strategies", summary="Strategies (tokens are never shown after creation)",
            response_model=list[StrategyView])
def list_strategies(session: SessionDep) -> list[StrategyView]:
    rows = session.execute(
        select(Strategy, Account.name).join(Account, Account.id == Strategy.account_id).order_by(Strategy.name)
    ).all()
    return [_view(s, a) for s, a in rows]


@router.post("/strategies", summary="Create a strategy; the answer holds its token and webhook URL, shown once",
             status_code=201, response_model=StrategyCreated,
             responses={400: {"description": "Unknown account or a name in use (`field` says which)."}})
def post_strategy(body: StrategyCreate, session: SessionDep) -> StrategyCreated:
    with session.begin():
        account = session.execute(select(Account).where(Account.name == body.account)).scalar_one_or_none()
        if account is None:
            raise IngestError(f"no account {body.account!r}", field="account")
        if session.execute(select(Strategy.id).where(Strategy.name == body.name)).first():
            raise IngestError(f"a strategy named {body.name!r} exists", field="name")
        created = create_strategy(session, body.name, account)
    return StrategyCreated(id=created.id, name=created.name, account=created.account, token=created.token,
                           webhook_url=webhook_url(created.token))


@router.patch("/strategies/{name}", summary="Enable or disable a strategy", response_model=StrategyView,
              responses={404: {"description": "No such strategy."}})
def patch_strategy(name: Name, body: StrategyPatch, session: SessionDep) -> StrategyView:
    return _set_enabled(session, name, body.enabled)


@router.post("/strategies/{name}/disable", summary="Disable a strategy: its webhooks answer 401, history stays",
             response_model=StrategyView, responses={404: {"description": "No such strategy."}})
def disable_strategy(name: Name, session: SessionDep) -> StrategyView:
    return _set_enabled(session, name, False)


@router.post("/strategies/{name}/enable", summary="Enable a disabled strategy", response_model=StrategyView,
             responses={404: {"description": "No such strategy."}})
def enable_strategy(name: Name, session: SessionDep) -> StrategyView:
    return _set_enabled(session, name, True)


@router.post("/strategies/{name}/rotate-token",
             summary="Replace a strategy's token: the old webhook URL stops working; the new one is shown once",
             response_model=StrategyCreated, responses={404: {"description": "No such strategy."}})
def rotate_token(name: Name, session: SessionDep) -> StrategyCreated:
    """The ``default`` strategy's token is also written to the data folder, so that
    ``tradewire up`` keeps printing a working webhook URL."""
    token = new_token()
    with session.begin():
        strategy, account = _load(session, name)
        strategy.token_hash = hash_token(token)
    strategies_changed()  # the old token stops working in every API process now
    if name == DEFAULT_STRATEGY:
        _save_default_token(token)
    return StrategyCreated(id=strategy.id, name=name, account=account, token=token, webhook_url=webhook_url(token))


def _set_enabled(session: Session, name: str, enabled: bool) -> StrategyView:
    with session.begin():
        strategy, account = _load(session, name)
        strategy.enabled = enabled
    strategies_changed()  # every API process stops (or starts) accepting its token now
    return _view(strategy, account)


def _load(session: Session, name: str) -> tuple[Strategy, str]:
    row = session.execute(
        select(Strategy, Account.name).join(Account, Account.id == Strategy.account_id)
        .where(Strategy.name == name).with_for_update(of=Strategy)
    ).first()
    if row is None:
        raise NotFound(f"no strategy {name!r}")
    return row[0], row[1]


def _view(strategy: Strategy, account: str) -> StrategyView:
    return StrategyView(id=strategy.id, name=strategy.name, account=account, enabled=strategy.enabled,
                        created_at=strategy.created_at)


def _save_default_token(token: str) -> None:
    path = get_settings().data_dir / "default_strategy_token"
    if path.exists():
        path.write_text(token + "\n")
        path.chmod(0o600)
