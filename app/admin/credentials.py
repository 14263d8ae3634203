"""Storing an account's exchange credentials: tested first, then sealed in the vault.

``store_credentials`` builds a throw-away adapter with the candidate credentials, proves they
work with a read-only call (``fetch_balance``), reads the key's permissions where the venue
tells (``app.security.permissions``) and refuses a key that can withdraw unless the operator
allowed it; only then is the vault's record replaced (one statement, a new revision). No
database transaction is open during the venue calls.
"""

import os
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config_file import AccountConfig
from app.db import unit_of_work
from app.errors import AppError, ConfigError, Conflict, NotFound, VenueCredentialsRejected, VenueError
from app.execution.venues.ccxt_venue import CcxtVenue, VenueAccount
from app.execution.venues.registry import venue_for
from app.persistence.models import Account
from app.security import vault
from app.security.permissions import WITHDRAW, key_permissions


class CredentialsRefused(AppError):
    """The credentials were not stored: the venue refused them, or the key may withdraw and
    ``allow_withdrawal_permission`` was not set. Create a key with trading and reading rights
    only (no withdrawals), or fix the key, and send it again."""

    status_code = 422
    code = "credentials_refused"


class CredentialsBody(BaseModel):
    """Exchange credentials as ccxt names them (``apiKey``, ``secret``, ``password``: the
    passphrase of OKX, KuCoin, …). Never returned, never logged."""

    api_key: str = Field(min_length=1, max_length=512, pattern=r"^[^\x00]*$")
    secret: str = Field(min_length=1, max_length=8192, pattern=r"^[^\x00]*$")
    password: str | None = Field(default=None, max_length=512, pattern=r"^[^\x00]*$")
    allow_withdrawal_permission: bool = Field(
        default=False, description="Store a key that can withdraw (refused otherwise, where the venue tells)")

    model_config = {"json_schema_extra": {"examples": [{"api_key": "…", "secret": "…"}]}}


class CredentialsView(BaseModel):
    """Which credentials an account uses; never the credentials themselves."""

    stored: bool = Field(description="True when the vault holds credentials for this account")
    source: Literal["vault", "env"] | None = Field(description="vault wins over env; None: no credentials")
    fingerprint: str | None = Field(default=None, description="The API key's last 4 characters")
    updated_at: datetime | None = None
    updated_by: str | None = None
    permissions: list[str] | None = Field(default=None, description="As the venue reported them at store time")


def credentials_view(session: Session, account: Account) -> CredentialsView:
    stored = vault.describe(session, account.id)
    if stored is not None:
        return CredentialsView(stored=True, source="vault", fingerprint=f"…{stored.fingerprint}",
                               updated_at=stored.updated_at, updated_by=stored.updated_by,
                               permissions=stored.permissions)
    env_name = (account.settings or {}).get("api_key_env")
    if account.venue == "paper" or not env_name:
        return CredentialsView(stored=False, source=None)
    value = os.environ.get(env_name)
    return CredentialsView(stored=False, source="env", fingerprint=f"…{value[-4:]}" if value else None)


def _account(session: Session, name: str) -> Account:
    account = session.execute(select(Account).where(Account.name == name)).scalar_one_or_none()
    if account is None:
        raise NotFound(f"no account {name!r}")
    return account


def store_credentials(name: str, body: CredentialsBody, actor: str) -> CredentialsView:
    """Test ``body``'s credentials on account ``name``'s venue, then store them.

    Raises ``NotFound``; ``Conflict`` for a paper account; ``CredentialsRefused`` (422) when
    the venue refuses them or they may withdraw without ``allow_withdrawal_permission``;
    ``VenueError`` (502) when the venue could not be reached to test them (nothing stored).
    """
    candidate = vault.Credentials(body.api_key, body.secret, body.password or None)
    with unit_of_work() as session:
        account = _account(session, name)
        ref = VenueAccount(account.id, account.name, account.venue,
                           AccountConfig.model_validate(account.settings or {}), credentials=candidate)
    if ref.venue == "paper":
        raise Conflict(f"account {name!r} trades on paper and needs no credentials")
    permissions = _test(ref, candidate)
    if permissions is not None and WITHDRAW in permissions and not body.allow_withdrawal_permission:
        raise CredentialsRefused(
            f"this key can withdraw funds ({', '.join(permissions)}); create a key without withdrawal rights, or "
            "send allow_withdrawal_permission: true to store it anyway", field="allow_withdrawal_permission")
    with unit_of_work() as session:
        account = _account(session, name)
        vault.store(session, account.id, candidate, permissions=permissions, actor=actor)
        return credentials_view(session, account)


def _test(ref: VenueAccount, candidate: vault.Credentials) -> list[str] | None:
    try:
        venue = venue_for.build(ref)
    except ConfigError as e:
        raise CredentialsRefused(_scrub(e.message, candidate)) from None
    try:
        venue.fetch_balances()
    except VenueCredentialsRejected as e:
        raise CredentialsRefused(f"{ref.venue} refused these credentials on a read-only call (fetch_balance): "
                                 f"{_scrub(e.message, candidate)}", field="api_key") from None
    except VenueError as e:
        raise type(e)(f"the credentials could not be tested, nothing was stored: {_scrub(e.message, candidate)}") from None
    return key_permissions(ref.venue, venue.exchange) if isinstance(venue, CcxtVenue) else None


def _scrub(message: str, candidate: vault.Credentials) -> str:
    for secret in candidate.secrets():
        message = message.replace(secret, "***")
    return message


def delete_credentials(name: str) -> bool:
    """Remove account ``name``'s stored credentials (the environment's, if named, apply again).
    Raises ``NotFound`` for an unknown account or one without stored credentials."""
    with unit_of_work() as session:
        account = _account(session, name)
        if not vault.remove(session, account.id):
            raise NotFound(f"account {name!r} has no stored credentials")
    return True
