"""Page 5, analytics (``GET /api/v1/stats``'s service, for a chosen period), and page 6, the
dry run (the code of ``POST /api/v1/signals/dry-run``; records nothing)."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, ValidationError

from app.admin.accounts import list_accounts
from app.admin.stats import compute_stats
from app.admin.strategies import list_strategies
from app.console import services
from app.console.web import Acting, Form, Signed, field_errors, render
from app.deps import SessionDep
from app.errors import AppError
from app.ingest.parsers import DIALECTS

router = APIRouter()
PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30), "all": None}
MAX_PAYLOAD_BYTES = 64 * 1024  # as the signal endpoints


class Period(BaseModel):
    period: str = Field(default="30d", pattern="^(24h|7d|30d|all|custom)$")
    since: datetime | None = Field(default=None, alias="from")
    until: datetime | None = Field(default=None, alias="to")
    strategy: str | None = Field(default=None, max_length=64)
    account: str | None = Field(default=None, max_length=64)
    source: str | None = Field(default=None, pattern="^(tradingview|prediction|rest)$")
    bucket: str | None = Field(default=None, pattern=r"^(none|0\.0-0\.5|0\.[5-9]-(0\.[6-9]|1\.0))$")

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        if self.period == "custom":
            return self.since, self.until
        span = PERIODS[self.period]
        return (datetime.now(UTC) - span if span else None), None


@router.get("/analytics", response_class=HTMLResponse)
def analytics_page(request: Request, session: SessionDep, console: Signed) -> HTMLResponse:
    raw = {k: v for k, v in request.query_params.items() if v.strip()}
    context: dict[str, Any] = {"form": raw, "errors": {}, "stats": None, "curve": None, "periods": [*PERIODS, "custom"],
                               "strategies": [s.name for s in list_strategies(session)],
                               "accounts": [a.name for a in list_accounts(session)],
                               "sources": ["tradingview", "prediction", "rest"],
                               "buckets": ["0.0-0.5", "0.5-0.6", "0.6-0.7", "0.7-0.8", "0.8-0.9", "0.9-1.0", "none"]}
    try:
        chosen = Period.model_validate(raw)
    except ValidationError as e:
        errors = {("from" if k == "since" else "to" if k == "until" else k): v for k, v in field_errors(e).items()}
        return render(request, "analytics.html", console, status_code=422, **context | {"errors": errors})
    since, until = chosen.bounds()
    curve = services.equity_curve(session, since, until, chosen.account, chosen.strategy, chosen.source, chosen.bucket)
    context |= {"form": {"period": chosen.period, **raw}, "since": since, "until": until,
                "stats": compute_stats(session, since=since, until=until, strategy=chosen.strategy),
                "curve": curve, "curve_json": json.dumps({"equity": curve.equity, "drawdown": curve.drawdown}),
                "latency": services.latency_histogram(
                    services.fill_latencies(session, since, until, chosen.strategy))}
    return render(request, "analytics.html", console, **context)


def _dry_run_context(session: SessionDep) -> dict[str, Any]:
    return {"strategies": [s.name for s in list_strategies(session) if s.enabled], "dialects": list(DIALECTS),
            "form": {}, "errors": {}, "result": None}


@router.get("/dry-run", response_class=HTMLResponse)
def dry_run_page(request: Request, session: SessionDep, console: Signed) -> HTMLResponse:
    return render(request, "dry_run.html", console, **_dry_run_context(session))


@router.post("/dry-run", response_class=HTMLResponse)
def dry_run(request: Request, form: Form, session: SessionDep, console: Acting) -> HTMLResponse:
    context = _dry_run_context(session)
    payload, strategy, dialect = form.get("payload", ""), form.get("strategy") or None, form.get("dialect") or None
    context["form"] = {"payload": payload, "strategy": strategy, "dialect": dialect}
    body = payload.encode()
    if not body.strip():
        context["errors"] = {"payload": "paste the alert's body"}
    elif len(body) > MAX_PAYLOAD_BYTES:
        context["errors"] = {"payload": f"the body is {len(body):,} bytes; the limit is {MAX_PAYLOAD_BYTES:,}"}
    else:
        try:
            context["result"] = services.dry_run_payload(session, body, strategy, dialect)
        except AppError as e:
            field = e.field if e.field in ("strategy", "dialect") else "payload"
            context["errors"] = {field: f"{e.field + ': ' if e.field and field == 'payload' else ''}{e.message}"}
    return render(request, "dry_run.html", console, status_code=422 if context["errors"] else 200, **context)
