"""Signing in and out of the console."""

import asyncio

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from app.console.auth import COOKIE, SESSION_SECONDS, SIGNIN_DELAY_SECONDS, check_token, close_session, load_session, open_session
from app.console.web import Acting, Form, render

router = APIRouter()
WRONG_TOKEN = "That token does not sign in. Check it and try again."


def _local(path: str | None) -> str:
    """A path on this site to go to after sign-in, never another site's."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: str | None = None) -> HTMLResponse:
    if load_session(request.cookies.get(COOKIE)) is not None:
        return RedirectResponse(_local(next), status_code=303)  # type: ignore[return-value]
    return render(request, "signin.html", None, next=_local(next), error=None)


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request, form: Form) -> HTMLResponse:
    """A right token opens a session (cookie); a wrong one answers the same page with an
    error after a delay, saying nothing about the token."""
    operator = check_token(form.get("token", ""))
    target = _local(form.get("next"))
    if operator is None:
        await asyncio.sleep(SIGNIN_DELAY_SECONDS)
        return render(request, "signin.html", None, status_code=401, next=target, error=WRONG_TOKEN)
    session = await run_in_threadpool(open_session, operator)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, session.id, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return response  # type: ignore[return-value]


@router.post("/signout")
def signout(request: Request, session: Acting) -> RedirectResponse:
    close_session(session.id)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response
