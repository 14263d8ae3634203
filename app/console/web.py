"""What every console page shares: the templates, reading a posted form, the sign-in guard
and the CSRF check, and rendering a page with its session's context."""

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from app.console.auth import COOKIE, ConsoleSession, csrf_ok, flash, load_session, take_flash
from app.domain.money import fmt
from app.security.middleware import audit_as
from app.security.operators import Operator as SecurityOperator
from app.security.operators import Role
from app.security.policy import required_role

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
STATIC_URL = "/console/static"
MAX_FORM_BYTES = 256 * 1024  # a dry-run payload is at most 64 KiB; the rest of a form is small

templates = Jinja2Templates(directory=HERE / "templates")


def _money(value: Any) -> str:
    if value is None:
        return "—"
    return fmt(value) if isinstance(value, Decimal) else str(value)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


templates.env.filters["money"] = _money
templates.env.filters["ms"] = _ms
templates.env.filters["pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True, default=str)
templates.env.globals["static"] = STATIC_URL


class FormFields(dict[str, str]):
    """A posted form: one value per name (the last), and ``getlist`` for repeated names."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]


async def posted_form(request: Request) -> FormFields:
    """The fields of a posted ``application/x-www-form-urlencoded`` form."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "form too large")
    return FormFields(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


Form = Annotated[FormFields, Depends(posted_form)]


def _to_signin(request: Request) -> HTTPException:
    """Back to sign-in: a page load is redirected, an htmx request told to load the page."""
    target = "/signin"
    # Where to come back to: the page itself, or for an action or a partial the page it was
    # on (the path only: an action is never repeated by signing in again).
    page_load = request.method == "GET" and not request.headers.get("HX-Request")
    here = request.url.path if page_load else urlsplit(request.headers.get("referer", "")).path
    if here and here.startswith("/") and not here.startswith("//") and here != "/":
        target += "?next=" + quote(here)
    if request.headers.get("HX-Request"):
        return HTTPException(401, "sign in again", headers={"HX-Redirect": target})
    return HTTPException(303, "sign in", headers={"Location": target})


def signed_in(request: Request) -> ConsoleSession:
    """The request's console session; without one, back to sign-in (nothing is done)."""
    session = load_session(request.cookies.get(COOKIE))
    if session is None:
        raise _to_signin(request)
    return session


Signed = Annotated[ConsoleSession, Depends(signed_in)]


def acting(request: Request, form: Form) -> ConsoleSession:
    """The session of a POSTed action whose form carries the session's CSRF token."""
    session = signed_in(request)
    if not csrf_ok(session, form.get("csrf")):
        raise HTTPException(403, "the form's CSRF token is missing or stale: reload the page and try again")
    operator = SecurityOperator(session.operator.name, Role(session.operator.role))
    audit_as(request, operator)  # console actions are in the audit log, as the admin API's are
    needed = required_role("POST", request.url.path)
    if not operator.may(needed):
        raise HTTPException(403, f"{operator.name} ({operator.role.value}) may not do this: it needs the "
                                 f"{needed.value} role; ask an admin")
    return session


Acting = Annotated[ConsoleSession, Depends(acting)]


def render(request: Request, template: str, session: ConsoleSession | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """A page (or a partial) with the session's operator and CSRF token in its context."""
    base = {"operator": session.operator if session else None, "csrf": session.csrf if session else None,
            "path": request.url.path, "notice": take_flash(session) if session else None}
    response = templates.TemplateResponse(request, template, base | context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def back(session: ConsoleSession, path: str, notice: str | None = None) -> RedirectResponse:
    """After an action, load ``path`` (POST-redirect-GET); ``notice`` shows on that page once."""
    if notice:
        flash(session, notice)
    return RedirectResponse(path, status_code=303)


def field_errors(error: ValidationError) -> dict[str, str]:
    """Field name → message of a pydantic error, as shown next to each form field."""
    errors: dict[str, str] = {}
    for e in error.errors():
        name = str(e["loc"][0]) if e["loc"] else "form"
        errors.setdefault(name, e["msg"])
    return errors
