"""Queries used by more than one stage. Functions take a session and never commit."""

import hashlib
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.persistence.models import Account, PositionRecord, Strategy


def hash_token(token: str) -> str:
    """sha256 hex of a webhook token or API key; only this is stored. Tokens are 192-bit
    random, so a fast hash is enough (no password stretching needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class StrategyRef:
    """A strategy as ingest needs it: plain values, no session attached."""

    id: uuid.UUID
    name: str
    account_id: uuid.UUID
    account_name: str


def strategy_by_token(session: Session, token: str) -> StrategyRef | None:
    """The enabled strategy whose token hashes to the stored hash, else None."""
    row = session.execute(
        select(Strategy.id, Strategy.name, Account.id, Account.name)
        .join(Account, Account.id == Strategy.account_id)
        .where(Strategy.token_hash == hash_token(token), Strategy.enabled.is_(True))
    ).first()
    return StrategyRef(*row) if row else None


def lock_account(session: Session, account_id: uuid.UUID) -> Account:
    """The account row, locked until the transaction ends: risk decisions for one account
    are serialised so two alerts cannot both pass a limit."""
    return session.execute(select(Account).where(Account.id == account_id).with_for_update()).scalar_one()


def position_quantity(session: Session, account_id: uuid.UUID, symbol: str) -> Decimal:
    """Signed base quantity held (negative: short); 0 when there is no position row."""
    value = session.execute(
        select(PositionRecord.quantity).where(
            PositionRecord.account_id == account_id, PositionRecord.symbol == symbol
        )
    ).scalar_one_or_none()
    return value if value is not None else Decimal(0)
