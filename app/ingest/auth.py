"""Who may send: API keys (scoped, revocable, optionally signed) and TradingView's sender addresses.

API keys authenticate ``/api/v1/signals``, ``/api/v1/predictions`` and the dry run with
``Authorization: Bearer <key>``. Only ``sha256(key)`` (hex) is stored; it is also the HMAC key
of the optional request signature, so the server can verify without the plaintext:

    X-Tradewire-Timestamp: <epoch seconds>
    X-Tradewire-Signature: hex(HMAC-SHA256(key=sha256_hex(api_key), msg=timestamp + "." + raw body))

A signature present is always verified; a key with ``require_signature`` rejects unsigned
requests; a timestamp outside ``signature_window_seconds`` of now is refused, and each
accepted (key, timestamp, signature) is remembered in Redis for the window (``claim_signature``),
so a replay inside it is recorded as a ``duplicate`` and places nothing.

The key is looked up before the body is read (``identify``); the signature, which covers the
body, is checked after (``authenticate``).

Every refusal raises before anything is stored and logs one line with the reason and the
client address, never the key, the token or the signature.
"""

import hashlib
import hmac
import ipaddress
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from fastapi import Request
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import unit_of_work
from app.errors import AuthenticationFailed, IngestError, SignalParseError
from app.ingest.parsers.body import decode
from app.jobs.queue import get_redis
from app.persistence.models import Account, ApiKey, Strategy
from app.persistence.repositories import StrategyRef, hash_token

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Tradewire-Timestamp"
SIGNATURE_HEADER = "X-Tradewire-Signature"
# last_used_at is written at most once a minute per key, so busy keys do not queue on one row.
LAST_USED_RESOLUTION = timedelta(seconds=60)
# Epoch seconds: up to 12 ASCII digits (year 33658). Longer is refused before int() sees it.
_EPOCH_SECONDS = re.compile(r"[0-9]{1,12}")
_SIGNATURE_HEX = re.compile(r"[0-9a-fA-F]{64}")


class Forbidden(IngestError):
    """Valid credentials that do not grant this: a key outside its strategy scope, the admin
    token on a signal endpoint, or a sender address outside the allowlist. Use the right
    credentials (or widen the key's scope); nothing was stored."""

    status_code = 403
    code = "forbidden"


@dataclass(frozen=True)
class Credentials:
    """What the client sent: the ``Authorization`` header and the two signing headers, as given."""

    authorization: str | None
    timestamp: str | None = None
    signature: str | None = None
    client: str | None = None


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: an API key (``key_id``, its strategy ids) or the admin token."""

    key_id: uuid.UUID | None
    strategy_ids: frozenset[str]
    is_admin: bool = False


def sign(api_key: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Tradewire-Signature`` a client sends: hex HMAC-SHA256 keyed with the sha256
    hex of ``api_key`` over ``f"{timestamp}."`` + ``body`` (``timestamp`` in epoch seconds)."""
    return _signature(hash_token(api_key), str(timestamp), body)


def _signature(key_hash: str, timestamp: str, body: bytes) -> str:
    return hmac.new(key_hash.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def deny(error: type[IngestError], message: str, credentials: Credentials, key_id: uuid.UUID | None = None) -> NoReturn:
    """Log the refusal (reason, client, key id; never a secret) and raise ``error``."""
    log.warning("refused %s request from %s%s: %s", error.code, credentials.client or "?",
                f" (api key {key_id})" if key_id else "", message)
    raise error(message)


def bearer(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (scheme in any case), else None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def identify(session: Session, credentials: Credentials, *, allow_admin: bool = False) -> ApiKey | Caller:
    """The active API key behind ``credentials`` (signature not yet checked), or with
    ``allow_admin`` the admin ``Caller``. Needs no body: called before the body is read.

    Raises ``AuthenticationFailed`` (401) for a missing, unknown or revoked key; ``Forbidden``
    (403) for the admin token where it is not allowed.
    """
    token = bearer(credentials.authorization)
    if token is None:
        deny(AuthenticationFailed, "missing credentials: send 'Authorization: Bearer <api key>'", credentials)
    if _is_admin_token(token):
        if allow_admin:
            return Caller(None, frozenset(), is_admin=True)
        deny(Forbidden, "the admin token does not send signals: create an API key (POST /api/v1/api-keys)", credentials)
    key = session.execute(select(ApiKey).where(ApiKey.key_hash == hash_token(token))).scalar_one_or_none()
    if key is None:
        deny(AuthenticationFailed, "unknown API key", credentials)
    if key.revoked_at is not None:
        deny(AuthenticationFailed, f"API key {key.name!r} was revoked at {key.revoked_at.isoformat()}", credentials, key.id)
    return key


def authenticate(
    session: Session, credentials: Credentials, body: bytes, now: datetime, *, allow_admin: bool = False
) -> Caller:
    """The caller behind ``credentials``: an active API key (signature checked), or with
    ``allow_admin`` the admin token.

    Raises ``AuthenticationFailed`` (401) for a missing, unknown or revoked key or a bad,
    missing or stale signature; ``Forbidden`` (403) for the admin token where it is not allowed.
    """
    key = identify(session, credentials, allow_admin=allow_admin)
    if isinstance(key, Caller):
        return key
    verify_signature(key, credentials, body, now)
    return Caller(key.id, frozenset(key.strategy_ids or ()))


def _is_admin_token(token: str) -> bool:
    return hmac.compare_digest(token.encode(), get_settings().resolved_admin_token().encode())


def verify_signature(key: ApiKey, credentials: Credentials, body: bytes, now: datetime) -> None:
    """Check ``X-Tradewire-Signature`` when present or required by the key.

    Raises ``AuthenticationFailed`` for a missing signature (on a ``require_signature`` key), a
    missing timestamp or one that is not 1-12 ASCII digits (epoch seconds), a timestamp more
    than ``signature_window_seconds`` from ``now``, or a signature that is not 64 hex digits or
    does not match (compared in constant time).
    """
    signature, timestamp = (credentials.signature or "").strip(), (credentials.timestamp or "").strip()
    if not signature:
        if key.require_signature:
            deny(AuthenticationFailed, f"this API key requires signed requests: send {TIMESTAMP_HEADER} and "
                 f"{SIGNATURE_HEADER}", credentials, key.id)
        return
    if not _EPOCH_SECONDS.fullmatch(timestamp):
        deny(AuthenticationFailed, f"{TIMESTAMP_HEADER} must be epoch seconds (up to 12 digits), got "
             f"{timestamp[:20]!r}{'…' if len(timestamp) > 20 else ''}", credentials, key.id)
    window = get_settings().signature_window_seconds
    skew = abs(now.timestamp() - int(timestamp))
    if skew > window:
        deny(AuthenticationFailed, f"{TIMESTAMP_HEADER} {timestamp} is {skew:.0f} s from the server time "
             f"{int(now.timestamp())}; the window is {window} s", credentials, key.id)
    expected = _signature(key.key_hash, timestamp, body)
    if not _SIGNATURE_HEX.fullmatch(signature) or not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        deny(AuthenticationFailed, f"{SIGNATURE_HEADER} does not match: sign timestamp + '.' + the raw body with "
             "HMAC-SHA256 keyed by the sha256 hex of the API key", credentials, key.id)


PENDING = "pending"


def replay_key(key_id: uuid.UUID, credentials: Credentials) -> str | None:
    """The Redis key remembering a signed request, or None for an unsigned one."""
    signature, timestamp = (credentials.signature or "").strip().lower(), (credentials.timestamp or "").strip()
    if not signature or not timestamp:
        return None
    return f"{get_settings().queue_prefix}:signed:{key_id}:{timestamp}:{signature}"


def claim_signature(key: str) -> str | None:
    """Remember a signed request for twice the signature window (its timestamp may lie a
    window ahead of now), with ``SET NX`` so it holds across API processes.

    Returns None when this request is the first, else what the first stored: the original
    signal's id, or ``PENDING`` while it is still being ingested. With Redis unreachable the
    request is let through (logged): replays are then bounded by the window and by
    idempotency keys only.
    """
    ttl = 2 * get_settings().signature_window_seconds + 1
    try:
        redis = get_redis()
        if redis.set(key, PENDING, nx=True, ex=ttl):
            return None
        seen = redis.get(key)
    except Exception as e:  # redis-py raises several unrelated classes for a down server
        log.warning("replay check skipped, Redis unreachable: %s", type(e).__name__)
        return None
    return seen.decode() if seen else PENDING


def settle_signature(key: str, signal_id: uuid.UUID | None) -> None:
    """After the claimed request was recorded: store its signal id (answered to replays), or
    with ``signal_id`` None (nothing was recorded) release the claim so a retry can pass."""
    try:
        if signal_id is None:
            get_redis().delete(key)
        else:
            get_redis().set(key, str(signal_id), xx=True, keepttl=True)
    except Exception as e:
        log.warning("could not record the signed request in Redis: %s", type(e).__name__)


def strategy_by_name(session: Session, name: str) -> StrategyRef | None:
    """The enabled strategy called ``name``, else None."""
    row = session.execute(
        select(Strategy.id, Strategy.name, Account.id, Account.name)
        .join(Account, Account.id == Strategy.account_id)
        .where(Strategy.name == name, Strategy.enabled.is_(True))
    ).first()
    return StrategyRef(*row) if row else None


def resolve_strategy(
    session: Session, caller: Caller, named: str | None, credentials: Credentials, default: str | None = None
) -> StrategyRef:
    """The strategy a request is for: ``named``, else the key's only strategy, else ``default``.

    Raises ``IngestError`` (400, field ``strategy``) when a multi-strategy key names none;
    ``Forbidden`` (403) when the strategy is unknown, disabled or outside the key's scope (the
    same answer for all three, so a key cannot probe for names).
    """
    if named is None and not caller.is_admin and len(caller.strategy_ids) == 1:
        strategy = _strategy_by_id(session, next(iter(caller.strategy_ids)))
    elif named is None and default is None:
        raise IngestError(
            f"name the strategy with ?strategy= or a 'strategy' field: this key has {len(caller.strategy_ids)} strategies",
            field="strategy",
        )
    else:
        strategy = strategy_by_name(session, named or default or "")
    if strategy is None or not (caller.is_admin or str(strategy.id) in caller.strategy_ids):
        deny(Forbidden, f"this API key may not send signals for strategy {named or default!r}", credentials, caller.key_id)
    return strategy


def _strategy_by_id(session: Session, strategy_id: str) -> StrategyRef | None:
    try:
        wanted = uuid.UUID(strategy_id)
    except ValueError:
        return None
    row = session.execute(
        select(Strategy.id, Strategy.name, Account.id, Account.name)
        .join(Account, Account.id == Strategy.account_id)
        .where(Strategy.id == wanted, Strategy.enabled.is_(True))
    ).first()
    return StrategyRef(*row) if row else None


def strategy_named(query: str | None, body: bytes) -> str | None:
    """``strategy_in`` of a raw body (decoded here; ingest passes its decoded body instead)."""
    try:
        data: Any = decode(body)
    except SignalParseError:
        data = None
    return strategy_in(query, data)


def strategy_in(query: str | None, data: dict[str, Any] | str | None) -> str | None:
    """The strategy named by ``?strategy=`` or by a string ``strategy`` field of a decoded JSON
    body (``data``; None when the body could not be decoded).

    Raises ``IngestError`` (field ``strategy``) when both name one and they differ.
    """
    field = data.get("strategy") if isinstance(data, dict) else None
    in_body = field.strip() if isinstance(field, str) and field.strip() else None
    query = query.strip() if query and query.strip() else None
    if query and in_body and query != in_body:
        raise IngestError(f"?strategy={query!r} and the body's strategy {in_body!r} differ", field="strategy")
    return query or in_body


def touch_last_used(key_id: uuid.UUID | None, now: datetime) -> None:
    """Record that the key was used (at most once per minute), in its own short transaction."""
    if key_id is None:
        return
    with unit_of_work() as session:
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION))
            .values(last_used_at=now)
        )


def client_ip(peer: str | None, forwarded_for: Iterable[str], trusted: Iterable[str]) -> str | None:
    """The client's address: the peer, or when the peer is a trusted proxy, the right-most
    ``X-Forwarded-For`` hop that is not a trusted proxy (hops left of it can be forged by the
    client). ``trusted`` holds addresses or CIDRs. All hops trusted: the left-most hop."""
    networks = [ipaddress.ip_network(c, strict=False) for c in trusted]
    if peer is None or not _within(peer, networks):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _within(hop, networks):
            return hop
    return hops[0] if hops else peer


def _within(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def require_tradingview_sender(request: Request) -> None:
    """FastAPI dependency of the TradingView webhooks: with ``tradingview_allowlist`` on,
    raise ``Forbidden`` (403, nothing read or stored) unless the client address (see
    ``client_ip``) is one of ``tradingview_ips``."""
    settings = get_settings()
    if not settings.tradingview_allowlist:
        return
    peer = request.client.host if request.client else None
    address = client_ip(peer, request.headers.getlist("x-forwarded-for"), settings.trusted_proxies)
    allowed = [ipaddress.ip_network(a, strict=False) for a in settings.tradingview_ips]
    if address is None or not _within(address, allowed):
        deny(Forbidden, f"{address or 'an unknown address'} is not a TradingView webhook sender "
             "(TRADEWIRE_TRADINGVIEW_ALLOWLIST is on; behind a proxy, set TRADEWIRE_TRUSTED_PROXIES)",
             Credentials(None, client=address))
