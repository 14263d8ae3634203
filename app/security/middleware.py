"""``SecurityMiddleware`` (pure ASGI, added in ``create_app``): the audit log and the limit on
failed authentication, in one place for every route.

- A request whose route authenticated (or tried to authenticate) an operator and whose method
  changes state is written to the audit log — with the operator set by ``audit_as`` (None if
  authentication failed), the redacted body summary, the client address and the status —
  before its answer is sent. Answers of 429 are counted in ``/metrics``, not logged row by row.
- Any 401 answer counts as a failed authentication of the path's credential kind from the
  client's address (``app.security.ratelimit``); past the limit it is answered 429 with
  ``Retry-After`` instead. Other answers pass through untouched.
"""

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse

from app.config import get_settings
from app.ingest.auth import client_ip
from app.security import audit
from app.security.operators import Operator
from app.security.ratelimit import TooManyRequests, record_auth_failure

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

AUDIT_KEY = "tradewire.audit"
AUDIT_BODY_LIMIT = 64 * 1024
READS = frozenset({"GET", "HEAD", "OPTIONS"})


def audit_as(request: Request, operator: Operator | None) -> None:
    """Mark ``request`` as an admin request of ``operator`` (None: authentication failed).
    Every admin surface calls it when it authenticates (``app.deps`` does; the console should)."""
    request.scope[AUDIT_KEY] = operator


def credential_kind(path: str) -> str:
    """Which credential a path takes: ``webhook``, ``api_key``, ``metrics`` or ``admin``."""
    if path.startswith("/webhooks/"):
        return "webhook"
    if path.startswith(("/api/v1/signals", "/api/v1/predictions")):
        return "api_key"
    if path.startswith("/metrics"):
        return "metrics"
    return "admin"


def scope_client(scope: Scope) -> str | None:
    peer = scope.get("client")[0] if scope.get("client") else None
    forwarded = [v.decode("latin-1") for k, v in scope.get("headers") or [] if k == b"x-forwarded-for"]
    return client_ip(peer, forwarded, get_settings().trusted_proxies)


def throttled_response(message: str, retry_after: int) -> JSONResponse:
    return JSONResponse({"code": TooManyRequests.code, "message": message, "field": None}, status_code=429,
                        headers={"Retry-After": str(retry_after)})


async def too_many_requests(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler of ``TooManyRequests``: 429 with ``Retry-After``."""
    assert isinstance(exc, TooManyRequests)
    return throttled_response(exc.message, exc.retry_after)


class SecurityMiddleware:
    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await _Exchange(scope, receive, send).run(self.app)


class _Exchange:
    """One request passing through the middleware."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope, self._receive, self._send = scope, receive, send
        self.writes = scope["method"] not in READS
        self.body = bytearray()
        self.truncated = False
        self.replacement: bytes | None = None

    async def run(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        await app(self.scope, self.receive if self.writes else self._receive, self.send)

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and not self.truncated:
            chunk = message.get("body", b"")
            if len(self.body) + len(chunk) > AUDIT_BODY_LIMIT:
                self.truncated = True
            else:
                self.body += chunk
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            await self._start(message)
        elif message["type"] == "http.response.body" and self.replacement is not None:
            if not message.get("more_body"):
                await self._send({"type": "http.response.body", "body": self.replacement})
        else:
            await self._send(message)

    async def _start(self, message: Message) -> None:
        status = message["status"]
        client = scope_client(self.scope)
        if status == 401:
            verdict = await anyio.to_thread.run_sync(record_auth_failure, credential_kind(self.scope["path"]), client)
            if verdict.limited:
                status = 429
                message = self._throttled(message, verdict.retry_after)
        if self.writes and AUDIT_KEY in self.scope and status != 429:
            operator: Operator | None = self.scope[AUDIT_KEY]
            entry = audit.Entry(operator.name if operator else None, operator.role.value if operator else None,
                                self.scope["method"], self.scope["path"], audit.summarise(bytes(self.body), self.truncated),
                                client, status)
            await anyio.to_thread.run_sync(audit.record, entry)
        await self._send(message)

    def _throttled(self, original: Message, retry_after: int) -> Message:
        self.replacement = json.dumps({
            "code": TooManyRequests.code, "field": None,
            "message": f"too many failed authentications from this address; retry after {retry_after} s",
        }).encode()
        headers = [(k, v) for k, v in original.get("headers", []) if k.lower() == b"connection"]
        headers += [(b"content-type", b"application/json"), (b"retry-after", str(retry_after).encode()),
                    (b"content-length", str(len(self.replacement)).encode())]
        return {"type": "http.response.start", "status": 429, "headers": headers}
