"""FastAPI dependencies: sessions and the operator guard of the admin API."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from app.db import get_sessionmaker
from app.security.middleware import audit_as
from app.security.operators import Forbidden, Operator, Role, authenticate_operator
from app.security.policy import required_role


def get_session() -> Iterator[Session]:
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def bearer_token(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (scheme in any case), else None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def require_operator(request: Request, authorization: Annotated[str | None, Header()] = None) -> Operator:
    """``Authorization: Bearer <token>``: the bootstrap admin token or a named operator token
    whose role allows this route (``app.security.policy``). API keys and strategy tokens never
    pass. 401 for a missing or wrong token, 403 for a role too low; both are audited for writes."""
    audit_as(request, None)
    operator = authenticate_operator(bearer_token(authorization))
    audit_as(request, operator)
    route = request.scope.get("route")
    needed = required_role(request.method, getattr(route, "path", request.url.path))
    if not operator.may(needed):
        raise Forbidden(f"{operator.name!r} has role {operator.role.value}; {request.method} {request.url.path} "
                        f"needs {needed.value}")
    return operator


def require_role(needed: Role):  # type: ignore[no-untyped-def]
    """A guard demanding at least ``needed`` whatever the method (for routes the table cannot tell)."""

    def guard(operator: Annotated[Operator, Depends(require_operator)]) -> Operator:
        if not operator.may(needed):
            raise Forbidden(f"{operator.name!r} has role {operator.role.value}; this needs {needed.value}")
        return operator

    return guard


require_admin = require_operator  # the name older modules import
AdminDep = Depends(require_operator)
OperatorDep = Annotated[Operator, Depends(require_operator)]
