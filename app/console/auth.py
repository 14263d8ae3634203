"""Who may use the console, and its sessions.

``check_token`` is the one place that decides whether a token signs someone in (today the
admin token; the named operator tokens with roles replace its body). A session is a random
id in an HttpOnly, SameSite=Strict cookie; Redis holds only the id's sha256 as the key, so
whoever reads Redis cannot take a session over. Each session has its own CSRF token, which
every action form carries. Sessions expire after ``SESSION_SECONDS`` without a request.
"""

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass

from app.config import get_settings
from app.errors import AuthenticationFailed
from app.redis_client import get_redis
from app.security import authenticate_operator

COOKIE = "tradewire_console"
SESSION_SECONDS = 8 * 3600
SIGNIN_DELAY_SECONDS = 1.0  # a wrong token waits this long: guessing stays slow


@dataclass(frozen=True)
class Operator:
    """Who is signed in: ``name`` as shown on pages, ``role`` for what they may do."""

    name: str
    role: str


@dataclass(frozen=True)
class ConsoleSession:
    id: str
    operator: Operator
    csrf: str


def check_token(given: str) -> Operator | None:
    """The operator a sign-in token belongs to (the bootstrap admin token or a named operator
    token, ``app.security.authenticate_operator``, as the admin API checks them), else None."""
    try:
        operator = authenticate_operator(given)
    except AuthenticationFailed:
        return None
    return Operator(name=operator.name, role=operator.role.value)


def _key(session_id: str) -> str:
    digest = hashlib.sha256(session_id.encode()).hexdigest()
    return f"{get_settings().queue_prefix}:console:session:{digest}"


def open_session(operator: Operator) -> ConsoleSession:
    """A new session for ``operator``, stored in Redis with its expiry."""
    session = ConsoleSession(id=secrets.token_urlsafe(32), operator=operator, csrf=secrets.token_urlsafe(32))
    record = {"operator": asdict(operator), "csrf": session.csrf}
    get_redis().set(_key(session.id), json.dumps(record), ex=SESSION_SECONDS)
    return session


def load_session(session_id: str | None) -> ConsoleSession | None:
    """The live session of a cookie value (its expiry pushed back), else None."""
    if not session_id or len(session_id) > 128:
        return None
    key = _key(session_id)
    redis = get_redis()
    raw = redis.get(key)
    if raw is None:
        return None
    redis.expire(key, SESSION_SECONDS)
    record = json.loads(raw)
    return ConsoleSession(id=session_id, operator=Operator(**record["operator"]), csrf=record["csrf"])


def close_session(session_id: str) -> None:
    get_redis().delete(_key(session_id), _key(session_id) + ":flash")


def csrf_ok(session: ConsoleSession, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), session.csrf.encode())


def flash(session: ConsoleSession, notice: str) -> None:
    """A notice for the session's next page (after an action's redirect)."""
    get_redis().set(_key(session.id) + ":flash", notice[:500], ex=60)


def take_flash(session: ConsoleSession) -> str | None:
    key = _key(session.id) + ":flash"
    raw, _ = get_redis().pipeline().get(key).delete(key).execute()  # GETDEL needs Redis 6.2
    return raw.decode() if raw is not None else None
