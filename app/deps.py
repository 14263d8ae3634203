"""FastAPI dependencies: sessions and the admin guard."""

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import get_sessionmaker
from app.errors import AuthenticationFailed


def get_session() -> Iterator[Session]:
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def require_admin(authorization: Annotated[str | None, Header()] = None) -> None:
    """``Authorization: Bearer <admin token>``, compared in constant time. API keys and
    strategy tokens never pass."""
    expected = get_settings().resolved_admin_token()
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise AuthenticationFailed("admin token missing or wrong: send 'Authorization: Bearer <admin token>'")


AdminDep = Depends(require_admin)
