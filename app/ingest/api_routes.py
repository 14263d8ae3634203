"""Signal endpoints for programs: canonical signals, ML predictions and the dry run.

``Authorization: Bearer <api key>`` (``POST /api/v1/api-keys`` makes one), optionally signed
(``app.ingest.auth``). Thin: authenticate, pick the strategy, hand the body to
``entry.ingest_request`` (a prediction answer to ``entry.ingest_answer``, the dry run to
``entry.dry_run_request``), which decodes it once; answer. The admin token never sends signals
here, and an API key never passes the admin guard.

Answers: 202 ``SignalAnswer`` (``PredictionAnswer``: plus every signal of the answer); 401
missing/unknown/revoked key or bad signature; 403 a strategy outside the key's scope or the admin token; 400 no strategy named by a key with
several; 408 a body slower than 10 s; 413 above 64 KiB; 422 unparseable (recorded as
``invalid``). 4xx auth answers store nothing. The key is checked before the body is read
(the signature, which covers the body, after); a replayed signed request is recorded as
``duplicate`` and places nothing.
"""

import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from app.bootstrap import DEFAULT_STRATEGY
from app.config import get_settings
from app.db import get_sessionmaker
from app.domain.enums import SignalStatus, Source
from app.ingest.auth import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Credentials,
    authenticate,
    bearer,
    claim_signature,
    identify,
    replay_key,
    resolve_strategy,
    strategy_in,
)
from app.ingest.entry import Admit, Admitted, Entry, dry_run_request, ingest_answer, ingest_request
from app.errors import SignalParseError
from app.ingest.parsers import PREDICTION_DIALECTS, dialect_spec
from app.ingest.received import Received
from app.ingest.routes import DialectQuery, SignalAnswer, read_body, respond
from app.ingest.service import IngestResult, InvalidSignal
from app.serialize import jsonable

router = APIRouter(prefix="/api/v1", tags=["signals"])

StrategyQuery = Annotated[
    str | None, Query(description="Strategy name; may be omitted when the key is scoped to exactly one.")
]
AuthorizationHeader = Annotated[str | None, Header(description="`Bearer <api key>`")]
TimestampHeader = Annotated[
    str | None, Header(alias=TIMESTAMP_HEADER, description="Epoch seconds; with the signature.")
]
SignatureHeader = Annotated[
    str | None,
    Header(alias=SIGNATURE_HEADER, description="hex HMAC-SHA256(sha256_hex(api key), timestamp + '.' + body)"),
]

_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "A key scoped to several strategies named none; nothing stored."},
    401: {"description": "Missing, unknown or revoked API key, or a bad signature; nothing stored."},
    403: {"description": "Strategy outside the key's scope, or the admin token; nothing stored."},
    408: {"description": "The body took longer than 10 s; nothing stored."},
    413: {"description": "Body above 64 KiB; nothing stored."},
    422: {"description": "Unparseable; recorded as an invalid signal."},
}


class CanonicalSignal(BaseModel):
    """The body of ``POST /api/v1/signals`` (Tradewire's own message; the ``tradewire`` marker
    is optional here). Numbers may be JSON numbers or numeric strings; times ISO-8601 or epoch
    seconds / milliseconds."""

    strategy: str | None = Field(default=None, description="Strategy name (or ?strategy=); optional for a one-strategy key.")
    symbol: str = Field(description="`BTCUSDT`, `BINANCE:BTCUSDT`, `BTCUSDT.P`, `BTC-USDT-SWAP`, `BTC/USDT`, …")
    action: Literal["buy", "sell", "exit", "cancel", "hold"]
    size: Decimal | None = Field(default=None, gt=0)
    size_unit: Literal["base", "quote", "percent_equity", "contracts", "percent_position"] | None = None
    target_position: Literal["long", "short", "flat"] | None = None
    prev_position: Literal["long", "short", "flat"] | None = None
    order_type: Literal["market", "limit"] | None = None
    limit_price: Decimal | None = Field(default=None, gt=0)
    time_in_force: Literal["GTC", "IOC", "FOK", "PO"] | None = None
    stop_loss: Decimal | None = Field(default=None, gt=0)
    take_profit: Decimal | None = Field(default=None, gt=0)
    price: Decimal | None = Field(default=None, gt=0, description="Reference price, quote per base.")
    signal_time: str | None = Field(default=None, description="ISO-8601 or epoch s / ms (UTC).")
    max_lag: int | None = Field(default=None, gt=0, description="Seconds.")
    idempotency_key: str | None = Field(default=None, max_length=200)
    confidence: Decimal | None = Field(default=None, ge=0, le=1)
    timeframe: str | None = None
    comment: str | None = None

    model_config = {"json_schema_extra": {"examples": [
        {"strategy": "default", "symbol": "BTCUSDT", "action": "buy", "size": "50", "size_unit": "quote",
         "price": "67432.5", "signal_time": "2026-02-10T14:00:00Z", "idempotency_key": "gen-42"}
    ]}}


class Prediction(BaseModel):
    """The body of ``POST /api/v1/predictions`` (the APIndicators schema, corpus 30)."""

    symbol: str = Field(description="e.g. `BTCUSDT`")
    timeframe: str | None = Field(default=None, description="e.g. `4h`")
    prediction: Literal["BUY", "SELL", "HOLD"] = Field(description="Any case; HOLD is recorded and places nothing.")
    confidence: Decimal | None = Field(default=None, ge=0, le=1)
    indicators: dict[str, Decimal] | None = Field(default=None, description="`atr_14` (quote) feeds ATR sizing.")
    timestamp: str | None = Field(default=None, description="ISO-8601 or epoch s / ms (UTC).")

    model_config = {"json_schema_extra": {"examples": [
        {"symbol": "BTCUSDT", "timeframe": "4h", "prediction": "BUY", "confidence": 0.82,
         "indicators": {"rsi_14": 42.3, "atr_14": 850.5}, "timestamp": "2026-02-10T14:00:00Z"}
    ]}}


class ListedSignal(SignalAnswer):
    """One signal of a prediction answer: ``symbol`` is its entry as the answer spells it
    (Token Metrics' ``BTC``), absent for an answer of one signal; an ``invalid`` one has the
    reason."""

    symbol: str | None = None


class PredictionAnswer(SignalAnswer):
    """The answer to ``POST /api/v1/predictions``: the fields of its first signal that parsed
    (else of its first) as for any signal, so an answer of one signal reads as before; and
    ``signals``, every signal recorded, in the answer's order: one per symbol of a many-symbol
    answer."""

    signals: list[ListedSignal] = []

    model_config = {"json_schema_extra": {"examples": [{
        "signal_id": "0b7c5a0e-8d7e-4a53-9a38-1c6c8e7f2a11", "status": "accepted", "intents": 1, "signals": [
            {"signal_id": "0b7c5a0e-8d7e-4a53-9a38-1c6c8e7f2a11", "status": "accepted", "intents": 1, "symbol": "BTC"},
            {"signal_id": "5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", "status": "accepted", "intents": 0, "symbol": "ETH"},
        ]}]}}


def _body_doc(model: type[BaseModel] | None) -> dict[str, Any]:
    schema = model.model_json_schema() if model else {"type": "object", "description": "Any dialect's payload."}
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if model is None:
        content["text/plain"] = {"schema": {"type": "string"}}
    return {"requestBody": {"required": True, "content": content}}


def _credentials(
    request: Request,
    authorization: AuthorizationHeader = None,
    x_tradewire_timestamp: TimestampHeader = None,
    x_tradewire_signature: SignatureHeader = None,
) -> Credentials:
    """The API-key and signing headers of a request, read once for every endpoint here."""
    return Credentials(
        authorization, x_tradewire_timestamp, x_tradewire_signature, request.client.host if request.client else None
    )


CredentialsDep = Annotated[Credentials, Depends(_credentials)]


async def _ingest_request(
    request: Request, credentials: Credentials, strategy: str | None, source: Source, dialect: str
) -> JSONResponse:
    await run_in_threadpool(_identify, credentials, False)  # 401 before any byte of the body is read
    body = await read_body(request)
    return await run_in_threadpool(
        _ingest, body, credentials, strategy, source, dialect, request.headers.get("content-type")
    )


def _forced(name: str, allowed: tuple[str, ...], endpoint: str) -> str:
    """``name`` when it is one of ``allowed`` or a ``[dialects]`` mapping of this process's
    file; else ``SignalParseError`` (422, field ``dialect``) listing them."""
    mapped = tuple(get_settings().dialects)
    if name not in allowed and name not in mapped:
        raise SignalParseError(f"{endpoint} reads {', '.join(allowed + mapped)}, not {name!r} "
                               "(POST /webhooks/tradingview reads every dialect)", field="dialect")
    return name


def _identify(credentials: Credentials, allow_admin: bool) -> None:
    session = get_sessionmaker()()
    try:
        identify(session, credentials, allow_admin=allow_admin)
    finally:
        session.close()


@router.post(
    "/signals",
    summary="Canonical signal from a custom generator (API key)",
    response_model=SignalAnswer,
    status_code=202,
    responses=_AUTH_RESPONSES,
    openapi_extra=_body_doc(CanonicalSignal),
)
async def post_signal(request: Request, credentials: CredentialsDep, strategy: StrategyQuery = None,
                      dialect: Annotated[str | None, Query(description="`tradewire` (default) or a [dialects] "
                                                                   "mapping of the configuration file.")] = None,
                      ) -> JSONResponse:
    """Tradewire's canonical message (the ``tradewire`` dialect, forced; ``?dialect=`` may
    name a ``[dialects]`` mapping instead), recorded with source ``rest``."""
    name = _forced(dialect or "tradewire", ("tradewire",), "POST /api/v1/signals")
    return await _ingest_request(request, credentials, strategy, Source.REST, name)


@router.post(
    "/predictions",
    summary="ML prediction: APIndicators schema, or ?dialect= tokenmetrics / signals_mtf / forecast / trade_levels (API key)",
    response_model=PredictionAnswer,
    status_code=202,
    responses=_AUTH_RESPONSES,
    openapi_extra=_body_doc(Prediction),
)
async def post_prediction(
    request: Request,
    credentials: CredentialsDep,
    strategy: StrategyQuery = None,
    dialect: Annotated[str | None, Query(description=f"Prediction dialect: {', '.join(PREDICTION_DIALECTS)} "
                                                     "(default `prediction`), or a [dialects] mapping.")] = None,
    symbol: Annotated[str | None, Query(description="Pick this symbol from a many-symbol answer.")] = None,
    timeframe: Annotated[str | None, Query(description="Pick this timeframe from a many-timeframe answer.")] = None,
) -> JSONResponse:
    """A prediction (the ``prediction`` dialect unless ``?dialect=`` names another prediction
    dialect or a ``[dialects]`` mapping), recorded with source ``prediction``. BUY / SELL go
    through risk like any signal; HOLD (NEUTRAL, FLAT, 0) is recorded as accepted with no orders.

    An answer listing several symbols (Token Metrics) with no ``?symbol=`` is one signal per
    symbol, each with its own decision, intents and idempotency key, each in its own
    transaction (``app.ingest.entry``); ``signals`` lists them all. The answer is 202 when any
    of them parsed, else 422 (the first one's error). Several timeframes need ``?timeframe=``."""
    name = _forced(dialect or "prediction", PREDICTION_DIALECTS, "POST /api/v1/predictions")
    spec = dialect_spec(name, symbol=symbol, timeframe=timeframe)
    return await _ingest_request(request, credentials, strategy, Source.PREDICTION, spec)


def _ingest(
    body: bytes, credentials: Credentials, strategy_query: str | None, source: Source, dialect: str, content_type: str | None
) -> JSONResponse:
    received = Received.read(body, source=source, content_type=content_type, dialect=dialect)
    if source != Source.PREDICTION:
        outcome = ingest_request(received, _by_api_key(credentials, strategy_query))
        assert outcome is not None, "an API key's admit refuses by raising"
        return respond(outcome)
    entries = ingest_answer(received, _by_api_key(credentials, strategy_query))
    assert entries, "an API key's admit refuses by raising"
    return _respond_answer(entries)


def _respond_answer(entries: list[Entry]) -> JSONResponse:
    """The first signal's answer (``respond``: 202, or 422 when it is invalid) with every
    signal listed; 202 as soon as any of them parsed."""
    outcomes = [e.outcome for e in entries if e.outcome is not None]
    shown = next((o for o in outcomes if not isinstance(o, InvalidSignal)), outcomes[0])
    first = respond(shown)
    listed = [_listed(e.symbol, e.outcome).model_dump(mode="json") for e in entries if e.outcome is not None]
    return JSONResponse(status_code=first.status_code, content={**json.loads(first.body), "signals": listed})


def _listed(symbol: str | None, outcome: IngestResult | InvalidSignal) -> ListedSignal:
    if isinstance(outcome, InvalidSignal):
        return ListedSignal(signal_id=outcome.signal_id, status=SignalStatus.INVALID, reason=outcome.message,
                            symbol=symbol)
    return ListedSignal(signal_id=outcome.signal_id, status=outcome.status, reason=outcome.reason,
                        intents=len(outcome.intents), symbol=symbol)


def _by_api_key(credentials: Credentials, strategy_query: str | None) -> Admit:
    """Admit a request by its API key (signature checked) for the strategy it names; a
    signed request claims its signature, and one seen before is admitted as a replay."""
    def admit(session: Session, received: Received) -> Admitted:
        caller = authenticate(session, credentials, received.body, received.received_at)
        strategy = resolve_strategy(session, caller, strategy_in(strategy_query, received.data), credentials)
        secrets = tuple(t for t in (bearer(credentials.authorization),) if t)
        claim = replay_key(caller.key_id, credentials) if caller.key_id else None
        seen = claim_signature(claim) if claim else None
        if seen is not None:
            return Admitted(strategy, secrets, caller.key_id, replay_of=seen)
        return Admitted(strategy, secrets, caller.key_id, claim=claim)

    return admit


@router.post(
    "/signals/dry-run",
    summary="What a payload would order, without ordering or recording anything (API key or admin token)",
    status_code=200,
    responses={**_AUTH_RESPONSES, 422: {"description": "Unparseable; nothing recorded."}},
    openapi_extra=_body_doc(None),
)
async def post_dry_run(
    request: Request, credentials: CredentialsDep, strategy: StrategyQuery = None, dialect: DialectQuery = None
) -> JSONResponse:
    """Parse any dialect (detected, or ``?dialect=``), run the risk engine on the strategy's
    account and return the decision, every check and the exact orders (quantities in base
    units after the venue's precision, notionals in quote), as decimal strings.

    Accepts an API key (its scope and signing rules apply) or the admin token (any strategy;
    none named: ``default``). Persists nothing: no signal, decision or order row. Answers 422
    wherever ingest would record the payload as ``invalid``.
    """
    await run_in_threadpool(_identify, credentials, True)  # 401 before any byte of the body is read
    body = await read_body(request)
    result = await run_in_threadpool(_dry_run, body, credentials, strategy, dialect)
    return JSONResponse(jsonable(result))


def _dry_run(body: bytes, credentials: Credentials, strategy_query: str | None, dialect: str | None) -> dict[str, Any]:
    received = Received.read(body, source=Source.REST, dialect=dialect)

    def admit(session: Session, received: Received) -> Admitted:
        caller = authenticate(session, credentials, received.body, received.received_at, allow_admin=True)
        named = strategy_in(strategy_query, received.data)
        default = DEFAULT_STRATEGY if caller.is_admin else None
        return Admitted(resolve_strategy(session, caller, named, credentials, default=default))

    return dry_run_request(received, admit)
