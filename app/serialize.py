"""Plain JSON values for answers built by hand: money stays exact text, never a float."""

import uuid
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from app.domain.money import fmt


def jsonable(value: Any) -> Any:
    """Decimal → exact string, datetime → ISO-8601, UUID → string, recursively."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, Enum)):
        return str(value.value if isinstance(value, Enum) else value)
    return value
