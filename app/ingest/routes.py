"""Webhook endpoints. Thin: authenticate, hand the raw bytes to ``service.ingest``, answer.

The body is read as bytes whatever the Content-Type says (TradingView sends ``text/plain``
for anything that is not valid JSON). The answer never waits for a venue.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.db import get_sessionmaker
from app.domain.enums import SignalStatus, Source
from app.errors import AuthenticationFailed, SignalParseError
from app.ingest import service
from app.ingest.auth import Credentials, deny, require_tradingview_sender
from app.ingest.parsers.body import check_size, decode, find_secret
from app.ingest.service import IngestResult, InvalidSignal
from app.persistence.repositories import StrategyRef, strategy_by_token

# The allowlist (off by default) refuses other senders before the body is read.
router = APIRouter(tags=["webhooks"], dependencies=[Depends(require_tradingview_sender)])


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


def check_body(body: bytes) -> None:
    """Raise ``PayloadTooLarge`` (413) above 64 KiB, or ``SignalParseError`` (422, nothing
    stored) for a NUL character, raw or as the JSON escape ``\\u0000``: PostgreSQL text and
    JSONB cannot hold it, so such a body could not be recorded as sent."""
    check_size(body)
    if b"\x00" in body or b"\\u0000" in body:
        raise SignalParseError("the body contains a NUL character (0x00 or \\u0000), which cannot be stored; "
                               "remove it and resend", field="body")


DialectQuery = Annotated[str | None, Query(description="Force a dialect instead of detecting it.")]


@router.post(
    "/webhooks/tradingview/{token}",
    summary="TradingView alert, strategy token in the URL",
    response_model=SignalAnswer,
    status_code=202,
    responses={
        401: {"description": "Unknown token; nothing stored."},
        403: {"description": "Sender address not allowed (allowlist on); nothing stored."},
        422: {"description": "Unparseable; recorded as invalid."},
    },
)
async def tradingview_webhook(token: str, request: Request, dialect: DialectQuery = None) -> JSONResponse:
    body = await request.body()
    check_body(body)
    return await run_in_threadpool(_handle, body, request.headers.get("content-type"), dialect, token, _client(request))


@router.post(
    "/webhooks/tradingview",
    summary="TradingView alert, strategy secret in the body (passphrase / secret / signalToken)",
    response_model=SignalAnswer,
    status_code=202,
    responses={
        401: {"description": "No or unknown body secret; nothing stored."},
        403: {"description": "Sender address not allowed (allowlist on); nothing stored."},
    },
)
async def tradingview_webhook_body_secret(request: Request, dialect: DialectQuery = None) -> JSONResponse:
    body = await request.body()
    check_body(body)
    try:
        secret = find_secret(decode(body))
    except Exception:
        secret = None
    if not secret:
        deny(AuthenticationFailed, "no strategy secret: put the token in the URL or in a 'passphrase' field",
             Credentials(None, client=_client(request)))
    return await run_in_threadpool(
        _handle, body, request.headers.get("content-type"), dialect, secret, _client(request)
    )


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _handle(body: bytes, content_type: str | None, dialect: str | None, token: str, client: str | None) -> JSONResponse:
    session = get_sessionmaker()()
    try:
        with session.begin():
            strategy = _authenticate(session, token, client)
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
    return respond(invalid if invalid is not None else result)


def respond(outcome: IngestResult | InvalidSignal) -> JSONResponse:
    """After commit: 422 with the recorded invalid signal's id, else enqueue and answer 202."""
    if isinstance(outcome, InvalidSignal):
        return JSONResponse(
            status_code=422,
            content={"code": outcome.code, "message": outcome.message, "field": outcome.field, "signal_id": str(outcome.signal_id)},
        )
    service.enqueue(outcome)
    return JSONResponse(status_code=202, content=_answer(outcome))


def _authenticate(session: Session, token: str, client: str | None) -> StrategyRef:
    strategy = strategy_by_token(session, token)
    if strategy is None:
        deny(AuthenticationFailed, "unknown strategy token", Credentials(None, client=client))
    return strategy


def _answer(result: IngestResult) -> dict[str, object]:
    return SignalAnswer(
        signal_id=result.signal_id, status=result.status, reason=result.reason, intents=len(result.intents)
    ).model_dump(mode="json")
