"""Write a decided signal, its risk decision, its order intents and their events in ONE statement.

A data-modifying CTE (https://www.postgresql.org/docs/current/queries-with.html#QUERIES-WITH-MODIFYING):
the signal is inserted unless its (source, strategy, idempotency key) exists, and the
decision, intents and events (``intent.ready``, ``cancel.requested``: ``app.events``) are
inserted only from the signal row that was inserted, so a duplicate writes nothing and the
whole outcome costs one round trip to PostgreSQL.
"""

import json
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, TextClause, text
from sqlalchemy.dialects import postgresql

from app.persistence.models import OrderIntentRecord

SIGNAL_COLUMNS = (
    "id", "source", "strategy_id", "dialect", "status", "reason", "idempotency_key", "symbol", "action",
    "payload", "raw_body", "content_type", "signal_time", "received_at", "decided_at",
)
DECISION_COLUMNS = ("id", "account_id", "approved", "reason", "checks", "quantity", "created_at")
INTENT_COLUMNS = (
    "id", "decision_id", "account_id", "venue", "symbol", "side", "order_type", "quantity", "limit_price",
    "reference_price", "time_in_force", "reduce_only", "stop_loss", "take_profit", "sequence", "client_order_id",
    "status", "created_at", "attempts", "position_side", "exit_ladder",
)
EVENT_COLUMNS = ("id", "kind", "payload", "job_id", "created_at")
_JSONB = {"payload", "checks"}


def _placeholder(prefix: str, column: str) -> str:
    name = f":{prefix}{column}"
    return f"CAST({name} AS JSONB)" if column in _JSONB else name


def _typed(prefix: str, column: str) -> str:
    """A placeholder cast to its column's type: in a UNION a NULL would otherwise be text."""
    sql_type = OrderIntentRecord.__table__.c[column].type.compile(dialect=postgresql.dialect())
    return f"CAST(:{prefix}{column} AS {sql_type})"


_DECISION_TYPES = {"id": "UUID", "account_id": "UUID", "approved": "BOOLEAN", "reason": "TEXT", "checks": "JSONB",
                   "quantity": "NUMERIC(38, 18)", "created_at": "TIMESTAMPTZ"}


@lru_cache(maxsize=64)
def _statement(intent_count: int, event_count: int, decision_count: int = 1) -> TextClause:
    signal_values = ", ".join(_placeholder("s_", c) for c in SIGNAL_COLUMNS)
    decisions = " UNION ALL ".join(
        "SELECT " + ", ".join(
            "s.id" if c == "signal_id" else f"CAST(:d{n}_{c} AS {_DECISION_TYPES[c]})"
            for c in ("id", "signal_id", *DECISION_COLUMNS[1:])
        ) + " FROM s"
        for n in range(decision_count)
    )
    parts = [
        f"WITH s AS (INSERT INTO signals ({', '.join(SIGNAL_COLUMNS)}) VALUES ({signal_values}) "
        "ON CONFLICT (source, strategy_id, idempotency_key) DO NOTHING RETURNING id)",
        f", d AS (INSERT INTO risk_decisions (id, signal_id, {', '.join(DECISION_COLUMNS[1:])}) {decisions})",
    ]
    if intent_count:
        rows = " UNION ALL ".join(
            "SELECT " + ", ".join(_typed(f"i{n}_", c) for c in INTENT_COLUMNS) + ", s.id FROM s"
            for n in range(intent_count)
        )
        parts.append(f", i AS (INSERT INTO order_intents ({', '.join(INTENT_COLUMNS)}, signal_id) {rows})")
    if event_count:
        rows = " UNION ALL ".join(
            "SELECT CAST(:e{n}_id AS UUID), CAST(:e{n}_kind AS VARCHAR), CAST(:e{n}_payload AS JSONB), "
            "CAST(:e{n}_job_id AS VARCHAR), CAST(:e{n}_created_at AS TIMESTAMPTZ), s.id FROM s".format(n=n)
            for n in range(event_count)
        )
        parts.append(f", e AS (INSERT INTO events ({', '.join(EVENT_COLUMNS)}, signal_id) {rows})")
    parts.append(" SELECT id FROM s")
    return text("".join(parts))


def write(
    connection: Connection, signal: dict[str, Any], decision: dict[str, Any] | list[dict[str, Any]],
    intents: list[dict[str, Any]], events: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> bool:
    """Insert them all; True if the signal was new, False if its idempotency key existed
    (then nothing was written). ``decision``: one decision, or a list of them (a fan-out: one
    per account). Values are keyed by column name; ``payload`` and ``checks`` are JSON-ready values."""
    decisions = decision if isinstance(decision, list) else [decision]
    params: dict[str, Any] = {f"s_{c}": _value(c, signal.get(c)) for c in SIGNAL_COLUMNS}
    for n, row in enumerate(decisions):
        params.update({f"d{n}_{c}": _value(c, row.get(c)) for c in DECISION_COLUMNS})
    for n, row in enumerate(intents):
        params.update({f"i{n}_{c}": row.get(c) for c in INTENT_COLUMNS})
    for n, row in enumerate(events):
        params.update({f"e{n}_{c}": _value(c, row.get(c)) for c in EVENT_COLUMNS})
    return connection.execute(_statement(len(intents), len(events), len(decisions)), params).first() is not None


def _value(column: str, value: Any) -> Any:
    return json.dumps(value) if column in _JSONB else value


__all__ = ["write"]
