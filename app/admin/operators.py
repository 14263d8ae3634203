"""Named operator tokens (``/api/v1/admin-tokens``) and the audit log (``/api/v1/audit``).

A token is answered once, at creation; only its sha256 is stored. Roles: ``viewer`` reads,
``operator`` adds the trading levers, ``admin`` adds configuration, keys and tokens
(``app.security.operators``). Creating and revoking tokens needs ``admin`` (policy table).
"""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from app.admin.pagination import NO_NUL, Cursor, Limit, Since, Until, described, page, time_range
from app.admin.schemas import Page
from app.deps import OperatorDep, SessionDep
from app.persistence.models import AuditRecord
from app.security import audit
from app.security.operators import Role, issue_token, list_tokens, revoke_token

router = APIRouter()
TokenName = Annotated[str, Path(max_length=64, pattern=NO_NUL, description="Token name")]


class TokenBody(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$",
                      description="Who holds it (shown in the audit log)")
    role: Role = Field(description="viewer, operator or admin")

    model_config = {"json_schema_extra": {"examples": [{"name": "alice", "role": "operator"}]}}


class TokenView(BaseModel):
    name: str
    role: Role
    created_at: datetime
    created_by: str | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class IssuedTokenView(BaseModel):
    name: str
    role: Role
    created_at: datetime
    token: str = Field(description="Shown once: keep it now; only its hash is stored")


class AuditView(BaseModel):
    id: uuid.UUID
    at: datetime
    actor: str | None = Field(description="Token name; null when authentication failed")
    role: str | None
    method: str
    path: str
    summary: dict | None = Field(description="The body with secrets redacted (or its size)")
    client: str | None
    status: int
    outcome: str = Field(description="ok, unauthenticated, denied, refused or error")


@router.post("/admin-tokens", summary="Create a named operator token (answered once)", status_code=201,
             response_model=IssuedTokenView, responses={409: {"description": "An active token has this name."}})
def create_token(body: TokenBody, session: SessionDep, operator: OperatorDep) -> IssuedTokenView:
    with session.begin():
        issued = issue_token(session, body.name, body.role, operator.name)
    return IssuedTokenView(name=issued.name, role=issued.role, created_at=issued.created_at, token=issued.token)


@router.get("/admin-tokens", summary="Operator tokens (never the tokens themselves)", response_model=list[TokenView])
def get_tokens(session: SessionDep, revoked: Annotated[bool, Query(description="Include revoked tokens")] = False
               ) -> list[TokenView]:
    return [TokenView.model_validate(row, from_attributes=True) for row in list_tokens(session, include_revoked=revoked)]


@router.delete("/admin-tokens/{name}", summary="Revoke a token by name (it stops working at once)",
               response_model=TokenView, responses={404: {"description": "No active token by that name."}})
def delete_token(name: TokenName, session: SessionDep) -> TokenView:
    with session.begin():
        row = revoke_token(session, name)
    return TokenView.model_validate(row, from_attributes=True)


@router.get("/audit", summary="Audit log of state-changing admin requests, newest first", response_model=Page[AuditView])
def get_audit(
    session: SessionDep,
    actor: Annotated[str | None, described("Token name (bootstrap: the configured admin token)")] = None,
    method: Annotated[str | None, described("POST, PUT, PATCH or DELETE")] = None,
    path: Annotated[str | None, described("Path prefix, e.g. /api/v1/accounts")] = None,
    outcome: Annotated[str | None, described("ok, unauthenticated, denied, refused or error")] = None,
    since: Since = None, until: Until = None, limit: Limit = 50, cursor: Cursor = None,
) -> Page[AuditView]:
    query = time_range(audit.query(actor, method, path, outcome), AuditRecord.at, since, until)
    rows, next_cursor = page(session, query, AuditRecord.at, AuditRecord.id, limit, cursor)
    return Page[AuditView](items=[AuditView.model_validate(r[0], from_attributes=True) for r in rows], limit=limit,
                           next_cursor=next_cursor)
