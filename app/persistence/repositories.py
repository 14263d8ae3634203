"""Queries used by more than one stage. Functions take a session and never commit."""

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.persistence.models import Account, Strategy


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
