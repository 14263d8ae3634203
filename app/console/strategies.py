"""Page 4: strategies (create, enable/disable, rotate the token; the webhook URL and a
paste-ready TradingView message per dialect) and API keys (create shows the key once;
revoke). Tokens and keys are shown in the answer to the POST that made them, never again."""

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.admin import strategies as admin
from app.admin.accounts import list_accounts
from app.admin.api_keys import ApiKeyCreate
from app.admin.schemas import StrategyCreated
from app.console import services
from app.console.messages import alert_messages, shown_url
from app.console.web import Acting, Form, Signed, back, field_errors, render
from app.deps import SessionDep
from app.errors import AppError

router = APIRouter()


def _page(request: Request, session: SessionDep, console: Any, status_code: int = 200, **extra: Any) -> HTMLResponse:
    shown: StrategyCreated | None = extra.get("shown")
    context = {
        "strategies": admin.list_strategies(session), "keys": services.api_key_list(session),
        "accounts": [a.name for a in list_accounts(session)], "errors": {}, "form": {}, "shown": None, "new_key": None,
        "messages": alert_messages(shown.token if shown else None), "url": shown_url(shown.token if shown else None),
    }
    return render(request, "strategies.html", console, status_code=status_code, **context | extra)


@router.get("/strategies", response_class=HTMLResponse)
def strategies_page(request: Request, session: SessionDep, console: Signed) -> HTMLResponse:
    return _page(request, session, console)


@router.post("/strategies", response_class=HTMLResponse)
def create_strategy(request: Request, form: Form, session: SessionDep, console: Acting) -> HTMLResponse:
    values = {"name": form.get("name", "").strip(), "account": form.get("account", "paper")}
    try:
        created = admin.post_strategy(admin.StrategyCreate.model_validate(values), session)
    except ValidationError as e:
        return _page(request, session, console, 422, errors=field_errors(e), form=values)
    except AppError as e:
        session.rollback()
        return _page(request, session, console, e.status_code, errors={e.field or "name": e.message}, form=values)
    return _page(request, session, console, 201, shown=created)


@router.post("/strategies/{name}/{action}", response_class=HTMLResponse)
def strategy_action(name: str, action: str, request: Request, session: SessionDep, console: Acting) -> Response:
    """``enable``, ``disable`` or ``rotate`` (a new token, shown on the answer only)."""
    try:
        if action == "rotate":
            return _page(request, session, console, shown=admin.rotate_token(name, session))
        if action not in ("enable", "disable"):
            return back(console, "/strategies", f"Unknown action {action!r}")
        view = admin.enable_strategy(name, session) if action == "enable" else admin.disable_strategy(name, session)
    except AppError as e:
        return back(console, "/strategies", e.message)
    return back(console, "/strategies", f"Strategy {view.name} {'enabled' if view.enabled else 'disabled'}")


@router.post("/api-keys", response_class=HTMLResponse)
def create_api_key(request: Request, form: Form, session: SessionDep, console: Acting) -> HTMLResponse:
    values = {"name": form.get("key_name", "").strip(), "strategies": form.getlist("key_strategies"),
              "require_signature": form.get("require_signature") == "on"}
    try:
        created = services.api_key_create(session, ApiKeyCreate.model_validate(values))
    except ValidationError as e:
        errors = {f"key_{k}": v for k, v in field_errors(e).items()}
        return _page(request, session, console, 422, errors=errors, form={"key_name": values["name"]})
    except AppError as e:
        session.rollback()
        errors = {f"key_{e.field or 'name'}": e.message}
        return _page(request, session, console, e.status_code, errors=errors, form={"key_name": values["name"]})
    return _page(request, session, console, 201, new_key=created)


@router.post("/api-keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_api_key(key_id: str, session: SessionDep, console: Acting) -> Response:
    try:
        revoked = services.api_key_revoke(session, uuid.UUID(key_id))
    except (ValueError, AppError) as e:
        return back(console, "/strategies", e.message if isinstance(e, AppError) else f"no API key {key_id}")
    return back(console, "/strategies", f"API key {revoked['name']} revoked")
