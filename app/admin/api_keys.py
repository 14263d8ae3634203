"""API keys for the signal endpoints (admin token required).

``POST /api/v1/api-keys`` answers the plaintext ``key`` once; only its sha256 is stored, so a
lost key is revoked and replaced, never shown again. A key is scoped to strategies by name
(stored as ids); it never grants admin.
"""

import secrets
import uuid
from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.serialize import jsonable
from app.deps import AdminDep, SessionDep
from app.errors import IngestError, NotFound
from app.persistence.models import ApiKey, Strategy
from app.persistence.repositories import hash_token

router = APIRouter(prefix="/api/v1", tags=["admin"], dependencies=[AdminDep])

KEY_PREFIX = "twk_"


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="A label for people, e.g. `ml-generator`.")
    strategies: list[str] = Field(min_length=1, max_length=100, description="Strategy names the key may send for.")
    require_signature: bool = Field(default=False, description="Reject requests without a valid HMAC signature.")


def new_api_key() -> str:
    """``twk_`` + 256 random bits, URL-safe; the prefix makes a leaked key easy to spot."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _strategy_names(session: Session) -> dict[str, str]:
    """Strategy id (string) → name."""
    return {str(i): n for i, n in session.execute(select(Strategy.id, Strategy.name))}


def _key_json(key: ApiKey, names: dict[str, str]) -> dict[str, object]:
    return {
        "id": key.id,
        "name": key.name,
        "strategies": sorted(names.get(i, i) for i in key.strategy_ids or ()),
        "require_signature": key.require_signature,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


@router.post(
    "/api-keys",
    summary="Create an API key for /api/v1/signals and /api/v1/predictions; the answer holds the key, shown once",
    status_code=201,
)
def post_api_key(body: ApiKeyCreate, session: SessionDep) -> JSONResponse:
    """Answer: the key's fields plus ``key`` (plaintext, only here). Raises 400 naming
    ``strategies`` for an unknown strategy name."""
    with session.begin():
        by_name = {n: i for i, n in _strategy_names(session).items()}
        unknown = [n for n in body.strategies if n not in by_name]
        if unknown:
            raise IngestError(f"no strategy {', '.join(repr(n) for n in unknown)}", field="strategies")
        plaintext = new_api_key()
        key = ApiKey(
            id=uuid.uuid4(),
            name=body.name,
            key_hash=hash_token(plaintext),
            strategy_ids=sorted({by_name[n] for n in body.strategies}),
            require_signature=body.require_signature,
            created_at=datetime.now(UTC),
        )
        session.add(key)
        session.flush()
        answer = _key_json(key, {v: k for k, v in by_name.items()}) | {"key": plaintext}
    return JSONResponse(jsonable(answer), status_code=201)


@router.get("/api-keys", summary="API keys (the keys themselves are never shown after creation)")
def list_api_keys(session: SessionDep) -> JSONResponse:
    names = _strategy_names(session)
    keys = session.execute(select(ApiKey).order_by(ApiKey.created_at)).scalars().all()
    return JSONResponse(jsonable([_key_json(k, names) for k in keys]))


@router.delete("/api-keys/{key_id}", summary="Revoke an API key (it stops working at once; revoking twice is harmless)")
def revoke_api_key(key_id: uuid.UUID, session: SessionDep) -> JSONResponse:
    """Sets ``revoked_at`` (kept on a second call). Raises 404 for an unknown id."""
    with session.begin():
        key = session.get(ApiKey, key_id, with_for_update=True)
        if key is None:
            raise NotFound(f"no API key {key_id}")
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)
        answer = _key_json(key, _strategy_names(session))
    return JSONResponse(jsonable(answer))
