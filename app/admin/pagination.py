"""Keyset (cursor) pagination for the admin lists, newest first.

A page is ordered by (time column desc, id desc); the cursor is the last row's pair, encoded
as URL-safe base64 of a small JSON object. It is opaque to clients: they pass back the
``next_cursor`` they were given. Keyset pages stay correct while rows are being added
(an offset would skip or repeat rows) and cost the same on page 1 and page 1,000.
"""

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.errors import IngestError

# PostgreSQL text cannot hold NUL; refuse it at the edge (422) rather than fail in the driver.
NO_NUL = r"^[^\x00]*$"
Filter = Annotated[str | None, Query(max_length=200, pattern=NO_NUL)]


def described(description: str) -> Any:
    """A text filter's ``Query`` with its description (same limits as ``Filter``)."""
    return Query(max_length=200, pattern=NO_NUL, description=description)


Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1–500).")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page.")]
Since = Annotated[datetime | None, Query(alias="from", description="Inclusive lower bound (ISO-8601).")]
Until = Annotated[datetime | None, Query(alias="to", description="Exclusive upper bound (ISO-8601).")]


def encode_cursor(at: datetime, row_id: uuid.UUID | int) -> str:
    raw = json.dumps({"t": at.isoformat(), "i": str(row_id)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, key_type: type) -> tuple[datetime, Any]:
    """The (time, id) pair of a cursor, the id as ``key_type`` (UUID or int).

    Raises ``IngestError`` (400, field ``cursor``) for anything this API did not give out.
    """
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(data["t"]), key_type(data["i"])
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        raise IngestError("cursor is not one this API gave out; start again without it", field="cursor") from None


def page(
    session: Session,
    query: Select[Any],
    at: InstrumentedAttribute[datetime],
    key: InstrumentedAttribute[Any],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Any], str | None]:
    """Rows of ``query`` after ``cursor`` ordered by (``at`` desc, ``key`` desc), at most
    ``limit``, and the cursor of the next page (None at the end). ``at`` and ``key`` must be
    the first two columns' sources: the first selected entity provides them."""
    if cursor is not None:
        after_at, after_key = decode_cursor(cursor, key.type.python_type)
        query = query.where(or_(at < after_at, and_(at == after_at, key < after_key)))
    rows = session.execute(query.order_by(at.desc(), key.desc()).limit(limit + 1)).all()
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    entity = last[0]
    return rows[:limit], encode_cursor(getattr(entity, at.key), getattr(entity, key.key))


def time_range(query: Select[Any], column: InstrumentedAttribute[datetime], since: datetime | None,
               until: datetime | None) -> Select[Any]:
    """``since <= column < until``, each bound optional; a bound without a zone is UTC."""
    if since is not None:
        query = query.where(column >= as_utc(since))
    if until is not None:
        query = query.where(column < as_utc(until))
    return query


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
