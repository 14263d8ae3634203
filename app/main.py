"""``create_app()``: routers, error handlers, health checks."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import DataError, InterfaceError, OperationalError

from app import __version__
from app.admin.api_keys import router as api_keys_router
from app.admin.drifts import router as drifts_router
from app.admin.orders import router as execution_admin_router
from app.admin.routes import router as admin_router
from app.config import get_settings
from app.console import STATIC_DIR as CONSOLE_STATIC_DIR, STATIC_URL as CONSOLE_STATIC_URL
from app.console import router as console_router
from app.db import get_engine
from app.errors import AppError, ClientDisconnected, PayloadTooLarge, RequestTimeout, ServiceUnavailable
from app.ingest.api_routes import router as signal_api_router
from app.ingest.routes import router as webhook_router
from app.jobs import relay
from app.jobs.queue import get_redis
from app.metrics import router as metrics_router
from app.portfolio.routes import router as rebalances_router
from app.replay.routes import router as replay_router
from app.docs_static import router as docs_router
from app.security.middleware import SecurityMiddleware, too_many_requests
from app.security.ratelimit import TooManyRequests
from starlette.requests import ClientDisconnect

log = logging.getLogger(__name__)
health = APIRouter(tags=["health"])


@health.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _market_data() -> dict[str, object]:
    """Each source's state (app.marketdata.cache.status); never a reason to be unready."""
    from app.marketdata.cache import all_status, reported_sources
    from app.marketdata.sources import configured_sources

    try:
        names: set[str] = set(configured_sources())
    except Exception as e:  # a bad file fails the processes that load it, not this check
        log.warning("readyz: market data sources not read: %s", e)
        names = set()
    try:
        return dict(all_status(names | reported_sources()))
    except Exception as e:
        return {"error": f"market data state unavailable: {type(e).__name__}"}


@health.get("/readyz", summary="PostgreSQL and Redis answer; market data and venue markets state (never block readiness)")
def readyz() -> JSONResponse:
    """Ready when PostgreSQL and Redis answer. Also says, without failing readiness, each
    venue's markets as stored by the workers (``{"markets": N, "loaded_at": ..., "state":
    "loaded" | "not loaded"}``; a signal for a venue "not loaded" waits for them a few seconds)."""
    from app.execution.markets import market_states

    checks: dict[str, str] = {}
    try:
        with get_engine().connect() as connection:
            connection.execute(text("select 1"))
        checks["postgresql"] = "ok"
    except Exception as e:
        checks["postgresql"] = f"down: {type(e).__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as e:
        checks["redis"] = f"down: {type(e).__name__}"
    ready = all(v == "ok" for v in checks.values())
    market_data = _market_data() if checks["redis"] == "ok" else {"error": "redis is down"}
    markets: dict[str, object] = {"error": "postgresql is down"}
    if checks["postgresql"] == "ok":
        try:
            markets = dict(market_states())
        except Exception as e:
            markets = {"error": f"markets state unavailable: {type(e).__name__}"}
    body = {"status": "ready" if ready else "not ready", "checks": checks, "market_data": market_data,
            "markets": markets}
    return JSONResponse(body, status_code=200 if ready else 503)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    # A refused POST may leave its body unread: closing the connection stops the client
    # sending it (uvicorn would otherwise read and discard the rest).
    unread = isinstance(exc, PayloadTooLarge | RequestTimeout | ClientDisconnected) or (
        request.method == "POST" and exc.status_code in (401, 403))
    return JSONResponse({"code": exc.code, "message": exc.message, "field": exc.field}, status_code=exc.status_code,
                        headers={"Connection": "close"} if unread else None)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    field = ".".join(str(p) for p in first["loc"] if p not in ("body", "query", "path"))
    return JSONResponse(
        {"code": "invalid_request", "message": f"{field or 'request'}: {first['msg']}", "field": field or None},
        status_code=422,
    )


async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
    # PostgreSQL rejects some values outright (a NUL character in text or JSON, a string
    # longer than its column): the client's input, not our fault, and nothing was stored (the
    # transaction rolled back). The signal endpoints record such requests as invalid
    # themselves (app.ingest.service.record_unstorable); this is the last resort elsewhere.
    return JSONResponse(
        {"code": "invalid_request", "message": "the request holds a value PostgreSQL cannot store "
         "(for example a NUL character)", "field": None},
        status_code=422,
    )


async def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    # The client went away mid-body: nobody hears the answer; one INFO line, no traceback.
    log.info("client %s disconnected before its %s %s body was complete; nothing done",
             request.client.host if request.client else "?", request.method, request.url.path)
    return JSONResponse({"code": ClientDisconnected.code, "message": "client disconnected", "field": "body"},
                        status_code=ClientDisconnected.status_code, headers={"Connection": "close"})


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable: %s", type(exc).__name__)
    return await _app_error(request, ServiceUnavailable("the database is unavailable; retry shortly"))


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Few threads beat many under load: sync handlers share one GIL and one DB pool, and 40
    # (anyio's default) threads fighting for them collapse throughput when requests pile up.
    anyio.to_thread.current_default_thread_limiter().total_tokens = get_settings().api_threads
    yield


def create_app() -> FastAPI:
    relay.install()  # events committed by this process are dispatched right after commit
    app = FastAPI(
        docs_url=None,  # served offline by app.docs_static (no CDN)
        redoc_url=None,
        lifespan=_lifespan,
        title="Tradewire",
        version=__version__,
        description="Trading signals in, exchange orders out. Every signal, decision, order, fill and position is "
        "recorded; admin endpoints need `Authorization: Bearer <admin token>`.",
    )
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(TooManyRequests, too_many_requests)  # 429 with Retry-After
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_middleware(SecurityMiddleware)  # audit log; 429 after repeated failed authentication
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(InterfaceError, _database_down)
    app.include_router(webhook_router)
    app.include_router(admin_router)
    app.include_router(execution_admin_router)
    app.include_router(drifts_router)
    app.include_router(signal_api_router)
    app.include_router(api_keys_router)
    app.include_router(replay_router)
    app.include_router(rebalances_router)
    app.include_router(health)
    app.include_router(metrics_router)
    app.include_router(docs_router)
    app.include_router(console_router)  # the operator console at /, out of the OpenAPI docs
    app.mount(CONSOLE_STATIC_URL, StaticFiles(directory=CONSOLE_STATIC_DIR), name="console-static")
    return app
