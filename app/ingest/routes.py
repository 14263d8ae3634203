"""Webhook endpoints. Thin: authenticate, read the body, hand it to ``entry.ingest_request``
(which decodes it once), answer.

A URL token is checked before the body is read; the body is read as a stream and never
beyond 64 KiB + 1 byte (413) or ``BODY_READ_SECONDS`` (408), so an unknown or hostile
sender costs no memory. The body is read as bytes whatever the Content-Type says
(TradingView sends ``text/plain`` for anything that is not valid JSON). The answer never
waits for a venue.
"""

import logging
import re
import uuid
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.requests import ClientDisconnect

from app.db import get_sessionmaker
from app.domain.enums import SignalStatus, Source
from app.errors import AuthenticationFailed, ClientDisconnected, PayloadTooLarge, RequestTimeout
from app.ingest.auth import Credentials, deny, require_tradingview_sender
from app.ingest.entry import Admit, Admitted, Outcome, ingest_request, strategy_dialect
from app.ingest.parsers.body import MAX_BODY_BYTES
from app.ingest.received import Received
from app.ingest.service import IngestResult, InvalidSignal
from app.persistence.repositories import StrategyRef, strategy_by_token

log = logging.getLogger(__name__)
# The whole body must arrive within this many seconds of the handler asking for it.
BODY_READ_SECONDS = 10.0
_LENGTH = re.compile(r"[0-9]{1,18}")

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


async def read_body(request: Request) -> bytes:
    """The request body, read as a stream: at most ``MAX_BODY_BYTES`` + 1 bytes are taken.

    Raises ``PayloadTooLarge`` (413) for a declared or actual body above 64 KiB,
    ``RequestTimeout`` (408) when it takes longer than ``BODY_READ_SECONDS``, and
    ``ClientDisconnected`` (logged at INFO, no traceback) when the client goes away first.
    Nothing is stored in any of these cases.
    """
    declared = (request.headers.get("content-length") or "").strip()
    if declared and (not _LENGTH.fullmatch(declared) or int(declared) > MAX_BODY_BYTES):
        raise PayloadTooLarge(f"the body is {declared[:24]} bytes; the limit is {MAX_BODY_BYTES}", field="body")
    body = bytearray()
    try:
        with anyio.fail_after(BODY_READ_SECONDS):
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise PayloadTooLarge(f"the body is over {MAX_BODY_BYTES} bytes (the limit); "
                                          "shorten the message", field="body")
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {BODY_READ_SECONDS:g} s ({len(body)} bytes "
                             "received); send it at once", field="body") from None
    except ClientDisconnect:
        log.info("client %s went away after %d bytes of the body; nothing stored", _client(request) or "?", len(body))
        raise ClientDisconnected("the client disconnected before the body was complete", field="body") from None
    return bytes(body)


DialectQuery = Annotated[str | None, Query(description="Force a dialect instead of detecting it.")]


@router.post(
    "/webhooks/tradingview/{token}",
    summary="TradingView alert, strategy token in the URL",
    response_model=SignalAnswer,
    status_code=202,
    responses={
        401: {"description": "Unknown token (checked before the body is read); nothing stored."},
        403: {"description": "Sender address not allowed (allowlist on); nothing stored."},
        408: {"description": "The body took longer than 10 s; nothing stored."},
        413: {"description": "Body above 64 KiB; nothing stored."},
        422: {"description": "Unparseable; recorded as invalid."},
    },
)
async def tradingview_webhook(token: str, request: Request, dialect: DialectQuery = None) -> JSONResponse:
    known = await run_in_threadpool(_known_token, token, _client(request))  # 401 before any byte of the body is read
    body = await read_body(request)
    return await run_in_threadpool(_handle, body, request.headers.get("content-type"), dialect, token, _client(request),
                                   known)


@router.post(
    "/webhooks/tradingview",
    summary="TradingView alert, strategy secret in the body (passphrase / secret / signalToken)",
    response_model=SignalAnswer,
    status_code=202,
    responses={
        401: {"description": "No or unknown body secret; nothing stored."},
        403: {"description": "Sender address not allowed (allowlist on); nothing stored."},
        408: {"description": "The body took longer than 10 s; nothing stored."},
        413: {"description": "Body above 64 KiB; nothing stored."},
        422: {"description": "Unparseable; recorded as invalid."},
    },
)
async def tradingview_webhook_body_secret(request: Request, dialect: DialectQuery = None) -> JSONResponse:
    body = await read_body(request)
    return await run_in_threadpool(_handle, body, request.headers.get("content-type"), dialect, None, _client(request))


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _known_token(token: str, client: str | None) -> StrategyRef:
    session = get_sessionmaker()()
    try:
        return _authenticate(session, token, client)
    finally:
        session.close()


def _handle(body: bytes, content_type: str | None, dialect: str | None, token: str | None,
            client: str | None, known: StrategyRef | None = None) -> JSONResponse:
    """Ingest a webhook whose strategy is named by ``token`` (from the URL; ``known``: the
    strategy it named when the request arrived), or with ``token`` None by the secret in its
    body (401 when it has none)."""
    received = Received.read(body, source=Source.TRADINGVIEW, content_type=content_type, dialect=dialect)
    secret = token if token is not None else received.secret()
    if not secret:
        deny(AuthenticationFailed, "no strategy secret: put the token in the URL or in a 'passphrase' field",
             Credentials(None, client=client))
    outcome = ingest_request(received, _by_token(secret, client, known))
    assert outcome is not None, "a webhook's admit refuses by raising"
    return respond(outcome)


def _by_token(token: str, client: str | None, known: StrategyRef | None = None) -> Admit:
    """Admit the request of the strategy whose token (URL or body secret) is ``token`` — the
    ``known`` one when the URL's token was checked as the request arrived (not looked up
    again); it is read with the strategy's own dialect (``[strategies.X] dialect``) unless
    ``?dialect=`` forces one."""
    def admit(session: Session, received: Received) -> Admitted:
        strategy = known or _authenticate(session, token, client)
        return Admitted(strategy, secrets=(token,), dialect=strategy_dialect(strategy.name))

    return admit


def respond(outcome: Outcome) -> JSONResponse:
    """After commit (which dispatched the signal's events): 422 with the recorded invalid
    signal's id, else 202."""
    if isinstance(outcome, InvalidSignal):
        return JSONResponse(
            status_code=422,
            content={"code": outcome.code, "message": outcome.message, "field": outcome.field, "signal_id": str(outcome.signal_id)},
        )
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
