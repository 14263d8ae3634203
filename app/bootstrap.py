"""First-run defaults: the ``paper`` account (10,000 USDT) and the ``default`` strategy bound to it.

The default strategy's token is kept in the data folder (like the admin token) so that
``tradewire up`` can print a ready webhook URL on every start; the database keeps its hash only.
"""

import secrets
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.persistence.models import Account, BalanceRecord, Strategy
from app.persistence.repositories import hash_token

DEFAULT_ACCOUNT = "paper"
DEFAULT_STRATEGY = "default"


def new_token() -> str:
    """A 192-bit URL-safe random token."""
    return secrets.token_urlsafe(24)


def ensure_paper_account(session: Session, settings: Settings, name: str = DEFAULT_ACCOUNT) -> Account:
    """The paper account ``name``, created with the starting balance if missing."""
    account = session.execute(select(Account).where(Account.name == name)).scalar_one_or_none()
    if account is None:
        account = Account(id=uuid.uuid4(), name=name, venue="paper", trading_state="ACTIVE", settings={})
        session.add(account)
        session.flush()
        session.add(
            BalanceRecord(
                account_id=account.id,
                currency=settings.paper_quote_currency,
                total=Decimal(settings.paper_starting_balance),
            )
        )
    return account


@dataclass(frozen=True)
class CreatedStrategy:
    id: uuid.UUID
    name: str
    account: str
    token: str


def create_strategy(session: Session, name: str, account: Account, token: str | None = None) -> CreatedStrategy:
    """Insert a strategy; returns its plaintext token (shown once, stored hashed)."""
    token = token or new_token()
    strategy = Strategy(id=uuid.uuid4(), name=name, account_id=account.id, token_hash=hash_token(token))
    session.add(strategy)
    session.flush()
    return CreatedStrategy(strategy.id, name, account.name, token)


def ensure_defaults(session: Session, settings: Settings) -> str:
    """Create the paper account and the default strategy if missing; return the default
    strategy's token (from the data folder; a new one if the file was lost)."""
    account = ensure_paper_account(session, settings)
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
