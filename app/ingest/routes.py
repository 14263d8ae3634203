"""Webhook endpoints. Thin: authenticate, hand the raw bytes to ``service.ingest``, answer.

The body is read as bytes whatever the Content-Type says (TradingView sends ``text/plain``
for anything that is not valid JSON). The answer never waits for a venue.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.db import get_sessionmaker
from app.domain.enums import SignalStatus, Source
from app.errors import AuthenticationFailed
from app.ingest import service
from app.ingest.parsers.body import check_size, decode, find_secret
from app.ingest.service import IngestResult, InvalidSignal
from app.persistence.repositories import StrategyRef, strategy_by_token

router = APIRouter(tags=["webhooks"])


class SignalAnswer(BaseModel):
    """The answer to a webhook: the signal's id (the original's for a duplicate) and status."""

    signal_id: uuid.UUID
    status: SignalStatus
    reason: str | None = None
    intents: int = 0

    model_config = {
        "json_schema_extra": {
            "examples": [{"signal_id": "0b7c5a0e-8d7e-4a53-9a38-1c6c8e7f2a11", "status": "accepted", "intents": 1}]
        }
    }


DialectQuery = Annotated[str | None, Query(description="Force a dialect instead of detecting it.")]


@router.post(
    "/webhooks/tradingview/{token}",
    summary="TradingView alert, strategy token in the URL",
    response_model=SignalAnswer,
    status_code=202,
    responses={401: {"description": "Unknown token; nothing stored."}, 422: {"description": "Unparseable; recorded as invalid."}},
)
async def tradingview_webhook(token: str, request: Request, dialect: DialectQuery = None) -> JSONResponse:
    body = await request.body()
    check_size(body)
    return await run_in_threadpool(_handle, body, request.headers.get("content-type"), dialect, token)


@router.post(
    "/webhooks/tradingview",
    summary="TradingView alert, strategy secret in the body (passphrase / secret / signalToken)",
    response_model=SignalAnswer,
    status_code=202,
    responses={401: {"description": "No or unknown body secret; nothing stored."}},
)
async def tradingview_webhook_body_secret(request: Request, dialect: DialectQuery = None) -> JSONResponse:
    body = await request.body()
    check_size(body)
    try:
        secret = find_secret(decode(body))
    except Exception:
        secret = None
    if not secret:
        raise AuthenticationFailed("no strategy secret: put the token in the URL or in a 'passphrase' field")
    return await run_in_threadpool(_handle, body, request.headers.get("content-type"), dialect, secret)


def _handle(body: bytes, content_type: str | None, dialect: str | None, token: str) -> JSONResponse:
    session = get_sessionmaker()()
    try:
        with session.begin():
            strategy = _authenticate(session, token)
            try:
                result = service.ingest(
                    session, strategy, body, source=Source.TRADINGVIEW, content_type=content_type, dialect=dialect
                )
            except InvalidSignal as e:
                invalid = e
            else:
                invalid = None
    finally:
        session.close()
    if invalid is not None:
        return JSONResponse(
            status_code=422,
            content={"code": invalid.code, "message": invalid.message, "field": invalid.field, "signal_id": str(invalid.signal_id)},
        )
    service.enqueue(result)
    return JSONResponse(status_code=202, content=_answer(result))


def _authenticate(session, token: str) -> StrategyRef:
    strategy = strategy_by_token(session, token)
    if strategy is None:
        raise AuthenticationFailed("unknown strategy token")
    return strategy


def _answer(result: IngestResult) -> dict[str, object]:
    return SignalAnswer(
        signal_id=result.signal_id, status=result.status, reason=result.reason, intents=len(result.intents)
    ).model_dump(mode="json")
