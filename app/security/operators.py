"""Operators: who holds an admin-side token, and what that token's role lets them do.

Roles, each including the ones before it:

- ``viewer`` reads everything (every GET of the admin API and the console);
- ``operator`` adds the trading levers: kill switch, cancel, close, re-drive;
- ``admin`` adds configuration, keys and tokens.

Tokens: the bootstrap admin token (``TRADEWIRE_ADMIN_TOKEN`` or the data folder's
``admin_token`` file) is the operator ``bootstrap`` with role ``admin``; named tokens are made
with ``POST /api/v1/admin-tokens``, shown once, stored as sha256 only, revoked by name.
``authenticate_operator`` is the one function that turns a token into an ``Operator``; the
admin API (``app.deps``) and the web console both call it.
"""

import enum
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.config import Settings, get_settings
from app.db import unit_of_work
from app.errors import AppError, AuthenticationFailed, Conflict, ConfigError, NotFound
from app.persistence.models import OperatorTokenRecord
from app.persistence.repositories import hash_token
from app.security.files import read_or_create_secret
from app.security.settings import MIN_ADMIN_TOKEN_LENGTH

log = logging.getLogger(__name__)
BOOTSTRAP = "bootstrap"
TOKEN_PREFIX = "two_"
LAST_USED_RESOLUTION = timedelta(seconds=60)


class Role(enum.StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: "Role") -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True)
class Operator:
    """An authenticated holder of an admin-side token: its name (``bootstrap`` for the
    configured admin token) and role."""

    name: str
    role: Role

    def may(self, needed: Role) -> bool:
        return self.role.allows(needed)


class Forbidden(AppError):
    """The token is valid but its role does not allow this. Ask an admin for a token with the
    role named in the message; nothing was changed."""

    status_code = 403
    code = "forbidden"


_BOOTSTRAP = Operator(BOOTSTRAP, Role.ADMIN)


def authenticate_operator(token: str | None) -> Operator:
    """The operator holding ``token`` (the bootstrap admin token, or an unrevoked named token).

    Raises ``AuthenticationFailed`` (401) for a missing, unknown or revoked token; the message
    never contains the token. Compared in constant time (the bootstrap token) or by sha256 (named).
    """
    given = (token or "").strip()
    if not given:
        raise AuthenticationFailed("admin token missing: send 'Authorization: Bearer <token>'")
    if hmac.compare_digest(given.encode(), get_settings().resolved_admin_token().encode()):
        return _BOOTSTRAP
    if not given.startswith(TOKEN_PREFIX):
        raise AuthenticationFailed("admin token wrong: send 'Authorization: Bearer <token>'")
    digest = hash_token(given)
    with unit_of_work() as session:
        row = session.execute(
            select(OperatorTokenRecord).where(OperatorTokenRecord.token_hash == digest)
        ).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            raise AuthenticationFailed("admin token wrong or revoked: send 'Authorization: Bearer <token>'")
        now = datetime.now(UTC)
        if row.last_used_at is None or row.last_used_at < now - LAST_USED_RESOLUTION:
            row.last_used_at = now
        return Operator(row.name, Role(row.role))


@dataclass(frozen=True)
class IssuedToken:
    name: str
    role: Role
    token: str
    created_at: datetime


def issue_token(session: Session, name: str, role: Role, created_by: str | None) -> IssuedToken:
    """A new named token (returned once; only its sha256 is kept). Raises ``Conflict`` when an
    unrevoked token already has ``name`` or the name is ``bootstrap``."""
    if name == BOOTSTRAP:
        raise Conflict(f"{BOOTSTRAP!r} is the configured admin token's name; choose another", field="name")
    if session.execute(select(OperatorTokenRecord.id).where(
            OperatorTokenRecord.name == name, OperatorTokenRecord.revoked_at.is_(None))).first():
        raise Conflict(f"a token named {name!r} exists; revoke it first (DELETE /api/v1/admin-tokens/{name})",
                       field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = OperatorTokenRecord(name=name, role=role.value, token_hash=hash_token(token), created_by=created_by,
                              created_at=datetime.now(UTC))
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # a concurrent request took the name
        raise Conflict(f"a token named {name!r} exists", field="name") from None
    return IssuedToken(name, role, token, row.created_at)


def list_tokens(session: Session, *, include_revoked: bool = False) -> list[OperatorTokenRecord]:
    query = select(OperatorTokenRecord).order_by(OperatorTokenRecord.name, OperatorTokenRecord.created_at)
    if not include_revoked:
        query = query.where(OperatorTokenRecord.revoked_at.is_(None))
    return list(session.execute(query).scalars())


def revoke_token(session: Session, name: str) -> OperatorTokenRecord:
    """Revoke the unrevoked token ``name`` (it stops working at once). Raises ``NotFound``."""
    row = session.execute(
        update(OperatorTokenRecord)
        .where(OperatorTokenRecord.name == name, OperatorTokenRecord.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
        .returning(OperatorTokenRecord)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no active token named {name!r}")
    return row


def check_admin_token(settings: Settings) -> None:
    """At process start (``tradewire api`` / ``up``): a configured admin token must have at
    least 32 characters; with none configured, the data folder's token file is created now,
    with mode 0600 from the start. Raises ``ConfigError`` with the reason."""
    if settings.admin_token is not None:
        length = len(settings.admin_token.get_secret_value().strip())
        if length < MIN_ADMIN_TOKEN_LENGTH:
            raise ConfigError(
                f"TRADEWIRE_ADMIN_TOKEN has {length} characters; at least {MIN_ADMIN_TOKEN_LENGTH} are required "
                "(generate one with: python -c \"import secrets; print(secrets.token_urlsafe(32))\", or unset it to "
                "use a generated token kept in the data folder)", field="admin_token")
        return
    read_or_create_secret(settings.data_dir / "admin_token")
