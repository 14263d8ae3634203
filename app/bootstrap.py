"""First-run defaults: the ``paper`` account (10,000 USDT) and the ``default`` strategy bound to it.

The default strategy's token is kept in the data folder (like the admin token) so that
``tradewire up`` can print a ready webhook URL on every start; the database keeps its hash only.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.config_file import AccountConfig, FileConfig, StrategyConfig
from app.persistence.models import Account, BalanceRecord, Strategy
from app.persistence.repositories import hash_token

DEFAULT_ACCOUNT = "paper"
DEFAULT_STRATEGY = "default"


def new_token() -> str:
    """A 192-bit URL-safe random token."""
    return secrets.token_urlsafe(24)


def ensure_account(session: Session, name: str, config: AccountConfig) -> Account:
    """The account ``name`` with ``config`` stored as its settings; a new paper account gets
    its starting balance in its quote currency."""
    account = session.execute(select(Account).where(Account.name == name)).scalar_one_or_none()
    settings_json = config.model_dump(mode="json")
    if account is not None:
        account.venue, account.settings = config.venue, settings_json
        return account
    account = Account(id=uuid.uuid4(), name=name, venue=config.venue, trading_state="ACTIVE", settings=settings_json)
    session.add(account)
    session.flush()
    if config.venue == "paper":
        session.add(BalanceRecord(account_id=account.id, currency=config.quote_currency, total=config.starting_balance))
    return account


def apply_config(session: Session, config: FileConfig) -> list[CreatedStrategy]:
    """Write the file's accounts and strategies to the database; returns the strategies
    created now (their tokens are shown once)."""
    accounts = {name: ensure_account(session, name, cfg) for name, cfg in config.accounts.items()}
    created = []
    for name, cfg in config.strategies.items():
        strategy = session.execute(select(Strategy).where(Strategy.name == name)).scalar_one_or_none()
        if strategy is None:
            created.append(create_strategy(session, name, accounts[cfg.account], settings=cfg))
        else:
            strategy.account_id, strategy.settings = accounts[cfg.account].id, cfg.model_dump(mode="json")
    return created


@dataclass(frozen=True)
class CreatedStrategy:
    id: uuid.UUID
    name: str
    account: str
    token: str


def create_strategy(
    session: Session, name: str, account: Account, token: str | None = None, settings: StrategyConfig | None = None
) -> CreatedStrategy:
    """Insert a strategy; returns its plaintext token (shown once, stored hashed)."""
    token = token or new_token()
    strategy = Strategy(
        id=uuid.uuid4(),
        name=name,
        account_id=account.id,
        token_hash=hash_token(token),
        settings=(settings or StrategyConfig(account=account.name)).model_dump(mode="json"),
    )
    session.add(strategy)
    session.flush()
    return CreatedStrategy(strategy.id, name, account.name, token)


def ensure_defaults(session: Session, settings: Settings, config: FileConfig | None = None) -> str:
    """Apply the configuration (default: ``settings``' own tables, which hold the file's),
    create the default strategy if missing; return its token (from the data folder; a new one
    if the file was lost)."""
    apply_config(session, settings if config is None else config)
    account = session.execute(select(Account).where(Account.name == DEFAULT_ACCOUNT)).scalar_one()
    token_file = settings.data_dir / "default_strategy_token"
    token = token_file.read_text().strip() if token_file.exists() else None
    strategy = session.execute(select(Strategy).where(Strategy.name == DEFAULT_STRATEGY)).scalar_one_or_none()
    if strategy is None:
        token = create_strategy(session, DEFAULT_STRATEGY, account, token).token
    elif token is None or strategy.token_hash != hash_token(token):
        token = new_token()
        strategy.token_hash = hash_token(token)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    return token
