"""Readers for the plain-text values TradingView renders into alert messages.

Placeholders are substituted as text, so a number may arrive bare (``67432.5``) or quoted
(``"67432.5"``), a time as ISO-8601 or epoch seconds / milliseconds, and a placeholder the
sender mistyped stays as literal ``{{...}}`` (../shared/corpus/TRADINGVIEW_FACTS.md §2).
Each reader raises ``SignalParseError`` naming the field; none returns a float.
"""

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from app.domain.enums import PositionSide
from app.domain.symbols import SymbolError, to_unified_symbol
from app.errors import SignalParseError

T = TypeVar("T")

_PLACEHOLDER = re.compile(r"\{\{.*?\}\}")
# Epoch values above this are milliseconds (year 2286 in seconds).
_EPOCH_MS_THRESHOLD = 10_000_000_000
# Longest staleness window we accept (a week); larger values are typos, and bounding them
# keeps int() away from numbers like 1e999999.
MAX_LAG_SECONDS = 7 * 24 * 3600


def walk(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (dotted path, value) for every leaf of nested dicts and lists."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from walk(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from walk(value, f"{prefix}[{index}]")
    else:
        yield prefix, data


def reject_placeholders(data: Any) -> None:
    """Raise ``SignalParseError`` naming the first field still holding a ``{{...}}`` placeholder."""
    for path, value in walk(data):
        if isinstance(value, str) and _PLACEHOLDER.search(value):
            raise SignalParseError(
                f"field {path!r} still holds the placeholder {value!r}: TradingView did not fill it in; "
                "check the placeholder's spelling in the alert message",
                field=path,
            )


def text(value: Any, field: str) -> str | None:
    """A non-empty stripped string, or None for absent / empty values. Numbers become text."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (dict, list)):
        raise SignalParseError(f"field {field!r} must be text, got {type(value).__name__}", field=field)
    result = str(value).strip()
    return result or None


def decimal(value: Any, field: str) -> Decimal | None:
    """An exact Decimal from a JSON number or numeric string; None for absent / empty.

    Raises ``SignalParseError`` for booleans, NaN, infinity and non-numeric text.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool) or isinstance(value, (dict, list)):
        raise SignalParseError(f"field {field!r} must be a number, got {value!r}", field=field)
    raw = str(value).strip().replace(",", "") if isinstance(value, str) else str(value)
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise SignalParseError(f"field {field!r} must be a number, got {value!r}", field=field) from None
    if not number.is_finite():
        raise SignalParseError(f"field {field!r} must be a finite number, got {value!r}", field=field)
    return number


def positive(value: Any, field: str) -> Decimal | None:
    """Like ``decimal`` but zero means absent and a negative number is an error."""
    number = decimal(value, field)
    if number is None or number == 0:
        return None
    if number < 0:
        raise SignalParseError(f"field {field!r} must be positive, got {value!r}", field=field)
    return number


def timestamp(value: Any, field: str) -> datetime | None:
    """A UTC datetime from ISO-8601 text or epoch seconds / milliseconds (number or text)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise SignalParseError(f"field {field!r} must be a time, got {value!r}", field=field)
    raw = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        seconds = Decimal(raw)
        if seconds > _EPOCH_MS_THRESHOLD:
            seconds /= 1000
        try:
            return datetime.fromtimestamp(float(seconds), tz=UTC)
        except (OverflowError, ValueError, OSError):
            raise SignalParseError(f"field {field!r} is not a valid epoch time: {value!r}", field=field) from None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise SignalParseError(
            f"field {field!r} must be ISO-8601 or epoch seconds/milliseconds, got {value!r}", field=field
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_POSITION_WORDS = {
    "long": PositionSide.LONG,
    "bullish": PositionSide.LONG,
    "short": PositionSide.SHORT,
    "bearish": PositionSide.SHORT,
    "flat": PositionSide.FLAT,
    "none": PositionSide.FLAT,
}


def position(value: Any, field: str) -> PositionSide | None:
    """``long``/``bullish``, ``short``/``bearish``, ``flat`` in any case; None when absent."""
    word = text(value, field)
    if word is None:
        return None
    try:
        return _POSITION_WORDS[word.lower()]
    except KeyError:
        raise SignalParseError(
            f"field {field!r} must be long, short or flat, got {word!r}", field=field
        ) from None


def derive_key(*parts: Any) -> str:
    """A stable idempotency key: sha256 of the JSON of ``parts`` (Decimals and times as text)."""
    blob = json.dumps(parts, default=str, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def fold_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    """The object with lower-cased keys, so ``quantityType`` and ``quantitytype`` read alike.

    The first spelling wins when two keys differ only in case.
    """
    folded: dict[str, Any] = {}
    for key, value in data.items():
        folded.setdefault(str(key).lower(), value)
    return folded


def choice(value: Any, field: str, words: Mapping[str, T]) -> T | None:
    """Look a word up in ``words`` (keys lower case) in any case; None when absent.

    Raises ``SignalParseError`` naming the field and listing the accepted words.
    """
    word = text(value, field)
    if word is None:
        return None
    try:
        return words[word.lower()]
    except KeyError:
        raise SignalParseError(
            f"field {field!r} must be one of {', '.join(words)}, got {word!r}", field=field
        ) from None


def symbol(value: Any, field: str) -> tuple[str, str, str | None]:
    """(unified symbol, ticker as written, exchange prefix lower case or None) of a ticker.

    ``BINANCE:BTCUSDT`` → (``BTC/USDT``, ``BINANCE:BTCUSDT``, ``binance``). Raises
    ``SignalParseError`` naming the field when the ticker is missing or cannot be mapped.
    """
    raw = text(value, field)
    if raw is None:
        raise SignalParseError(f"field {field!r} (the ticker) is missing", field=field)
    try:
        unified = to_unified_symbol(raw)
    except SymbolError as e:
        raise SignalParseError(f"field {field!r}: {e}", field=field) from None
    prefix = raw.split(":", 1)[0].strip().lower() if ":" in raw and "/" not in raw else None
    return unified, raw, prefix or None


def seconds(value: Any, field: str) -> int | None:
    """A whole number of seconds between 1 and a week (``max_lag``); None when absent or zero."""
    number = positive(value, field)
    if number is None:
        return None
    if number != number.to_integral_value() or number > MAX_LAG_SECONDS:
        raise SignalParseError(
            f"field {field!r} must be whole seconds between 1 and {MAX_LAG_SECONDS}, got {value!r}", field=field
        )
    return int(number)
