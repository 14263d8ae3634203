"""The audit log: every state-changing admin request — who (token name), what (method, path,
a summary of the body without secrets), when, from where, and the outcome.

``summarise`` keeps a body's shape, not its secrets: every value under a key that names a
secret (``secret``, ``password``, ``token``, ``api_key``, ``passphrase``, ``private_key``, …) is
replaced by ``"***"``, long strings are cut, and a body that is not JSON is summarised by its
size. ``record`` writes one row; ``AuditMiddleware`` (``app.security.middleware``) calls it
before the answer leaves, so a client that got its answer finds its request in the log.
"""

import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.db import unit_of_work
from app.persistence.models import AuditRecord

log = logging.getLogger(__name__)
REDACTED = "***"
SECRET_KEY = re.compile(r"secret|passw|token|api_?key|apikey|passphrase|private|signature|credential|auth",
                        re.IGNORECASE)
MAX_STRING = 200
MAX_ITEMS = 50
MAX_DEPTH = 6


def outcome_of(status: int) -> str:
    """``ok`` (2xx/3xx), ``unauthenticated`` (401), ``denied`` (403), ``throttled`` (429),
    ``refused`` (other 4xx), ``error`` (5xx)."""
    if status < 400:
        return "ok"
    return {401: "unauthenticated", 403: "denied", 429: "throttled"}.get(status, "error" if status >= 500 else "refused")


def redact(value: Any, depth: int = 0) -> Any:
    """``value`` with secret-named keys' values replaced and sizes bounded."""
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["…"] = f"{len(value) - MAX_ITEMS} more keys"
                break
            key = str(k)[:MAX_STRING]
            out[key] = REDACTED if SECRET_KEY.search(key) and v not in (None, "") else redact(v, depth + 1)
        return out
    if isinstance(value, list):
        items = [redact(v, depth + 1) for v in value[:MAX_ITEMS]]
        return items + ([f"… {len(value) - MAX_ITEMS} more"] if len(value) > MAX_ITEMS else [])
    if isinstance(value, str):
        return value if len(value) <= MAX_STRING else value[:MAX_STRING] + "…"
    return value


def summarise(body: bytes, truncated: bool = False) -> dict[str, Any] | None:
    """The audit summary of a request body: redacted JSON, or its size when it is not JSON."""
    if not body:
        return None
    if not truncated:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            data = None
        else:
            return {"body": redact(data)}
    return {"bytes": len(body), "note": "not JSON" if not truncated else "larger than the audit keeps"}


@dataclass(frozen=True)
class Entry:
    actor: str | None
    role: str | None
    method: str
    path: str
    summary: dict[str, Any] | None
    client: str | None
    status: int


def record(entry: Entry) -> None:
    """Write one audit row in its own transaction. A failure is logged, never raised: the
    request itself already happened."""
    try:
        with unit_of_work() as session:
            session.add(AuditRecord(id=uuid.uuid4(), at=datetime.now(UTC), actor=entry.actor, role=entry.role,
                                    method=entry.method, path=entry.path[:2000], summary=_storable(entry.summary),
                                    client=(entry.client or "")[:64] or None, status=entry.status,
                                    outcome=outcome_of(entry.status)))
    except Exception:
        log.exception("audit row not written for %s %s by %s", entry.method, entry.path, entry.actor or "?")


def _storable(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    # PostgreSQL JSON refuses NUL characters; the audit keeps the rest.
    if summary is None:
        return None
    return json.loads(json.dumps(summary).replace("\\u0000", "\\ufffd"))


def query(actor: str | None = None, method: str | None = None, path: str | None = None,
          outcome: str | None = None) -> Select[Any]:
    """Audit rows filtered by actor, method, path prefix and outcome (for ``page``)."""
    statement = select(AuditRecord)
    if actor is not None:
        statement = statement.where(AuditRecord.actor == actor)
    if method is not None:
        statement = statement.where(AuditRecord.method == method.upper())
    if path is not None:
        statement = statement.where(AuditRecord.path.startswith(path, autoescape=True))
    if outcome is not None:
        statement = statement.where(AuditRecord.outcome == outcome)
    return statement


def latest(session: Session, limit: int = 50) -> list[AuditRecord]:
    """The newest rows (the console's list)."""
    return list(session.execute(select(AuditRecord).order_by(AuditRecord.at.desc()).limit(limit)).scalars())
