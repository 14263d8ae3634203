"""Readers for the plain-text values TradingView renders into alert messages.

Placeholders are substituted as text, so a number may arrive bare (``67432.5``) or quoted
(``"67432.5"``), a time as ISO-8601 or epoch seconds / milliseconds, and a placeholder the
sender mistyped stays as literal ``{{...}}`` (tests/corpus/TRADINGVIEW_FACTS.md §2).
Each reader raises ``SignalParseError`` naming the field; none returns a float.

Every value is bounded here, before any arithmetic (issue 10): numbers by digits and
exponent (``app.domain.money``), sizes and prices by range, a present zero is an error and
never "absent", identifiers by their column's width, comments cut to ``MAX_COMMENT``.
"""

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from app.domain.enums import PositionSide, SizeUnit
from app.domain.money import MAX_AMOUNT, MAX_DIGITS, MAX_EXPONENT, MAX_PERCENT
from app.domain.signal import LimitOffset
from app.domain.symbols import MAX_SYMBOL_LENGTH, SymbolError, to_unified_symbol
from app.errors import SignalParseError

T = TypeVar("T")

_PLACEHOLDER = re.compile(r"\{\{.*?\}\}")
# Epoch values above this are milliseconds (year 2286 in seconds).
_EPOCH_MS_THRESHOLD = 10_000_000_000
# Longest staleness window we accept (a week); larger values are typos, and bounding them
# keeps int() away from numbers like 1e999999.
MAX_LAG_SECONDS = 7 * 24 * 3600

# Text bounds. Identifiers are refused when longer (they land in VARCHAR columns or are
# compared with them); a comment is free text that only an operator reads, so it is cut.
MAX_NAME = 64  # exchange, account, timeframe, indicator names (accounts.name is String(64))
MAX_KEY = 200  # idempotency_key (signals.idempotency_key is String(200)), other words
MAX_COMMENT = 1000
MAX_INDICATORS = 64
MAX_DEPTH = 32  # nesting of objects and lists (body.decode refuses deeper JSON first)
_MAX_NUMBER_TEXT = 64  # characters of a number as written, checked before Decimal() reads it
_MAX_TIME_TEXT = 64

# A number as JSON or TradingView writes it, ASCII digits only (Decimal() alone would also
# take "1_000", "NaN", "Infinity" and non-ASCII digits), or with strict thousands commas.
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?")
_EPOCH = re.compile(r"[0-9]+(\.[0-9]+)?")
_EPOCH_BOUNDED = re.compile(r"[0-9]{1,15}(\.[0-9]{1,9})?")


def show(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for error messages that quote a value."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…"


def walk(data: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Yield (dotted path, value) for every leaf of nested dicts and lists.

    Raises ``SignalParseError`` naming the path when nesting goes deeper than ``MAX_DEPTH``.
    """
    if depth > MAX_DEPTH:
        raise SignalParseError(f"field {prefix[:80]!r} is nested more than {MAX_DEPTH} levels deep",
                               field=prefix[:200] or "body")
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from walk(value, f"{prefix}.{key}" if prefix else str(key), depth + 1)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from walk(value, f"{prefix}[{index}]", depth + 1)
    else:
        yield prefix, data


def reject_placeholders(data: Any) -> None:
    """Raise ``SignalParseError`` naming the first field still holding a ``{{...}}`` placeholder,
    or holding text PostgreSQL cannot store (a NUL character, a lone UTF-16 surrogate).

    Field names are checked too: they end up in the stored signal.
    """
    for path, value in walk(data):
        _storable(path, "body")
        if isinstance(value, str) and _PLACEHOLDER.search(value):
            raise SignalParseError(
                f"field {path!r} still holds the placeholder {show(value)}: TradingView did not fill it in; "
                "check the placeholder's spelling in the alert message",
                field=path,
            )
        if isinstance(value, str):
            _storable(value, path)


def _storable(value: str, field: str) -> None:
    """Raise ``SignalParseError`` for text PostgreSQL refuses: NUL, or not encodable as UTF-8."""
    if "\x00" in value:
        raise SignalParseError(f"field {show(field, 200)} contains a NUL character", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise SignalParseError(f"field {show(field, 200)} is not valid Unicode text (a lone surrogate)",
                               field=field) from None


def text(value: Any, field: str, *, max_length: int = MAX_KEY) -> str | None:
    """A non-empty stripped string, or None for absent / empty values. Numbers become text.

    Raises ``SignalParseError`` for an object or list, text longer than ``max_length``
    characters, or text PostgreSQL cannot store (NUL, lone surrogates).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (dict, list)):
        raise SignalParseError(f"field {field!r} must be text, got {type(value).__name__}", field=field)
    result = str(value).strip()
    if not result:
        return None
    _storable(result, field)
    if len(result) > max_length:
        raise SignalParseError(
            f"field {field!r} is {len(result)} characters long; at most {max_length} are allowed", field=field
        )
    return result


def note(value: Any, field: str) -> str | None:
    """Free text (a comment, an order id shown to the operator): like ``text`` but cut to
    ``MAX_COMMENT`` characters (the last one an ellipsis) instead of refused when longer."""
    result = text(value, field, max_length=10**9)
    if result is None or len(result) <= MAX_COMMENT:
        return result
    return result[: MAX_COMMENT - 1] + "…"


def decimal(value: Any, field: str) -> Decimal | None:
    """An exact Decimal from a JSON number or numeric string; None for absent / empty text.

    Bounded before anything computes with it: at most ``MAX_DIGITS`` significant digits and
    a magnitude between 1e-``MAX_EXPONENT`` and 1e``MAX_EXPONENT`` (zero is always fine, and
    ``-0`` reads as 0). Thousands commas are read only in strict groups (``1,234.5``); a
    decimal comma (``0,5``) is refused rather than misread. Raises ``SignalParseError`` for
    booleans, objects, NaN, infinity, non-numeric text and numbers outside those bounds.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (bool, dict, list)):
        raise SignalParseError(f"field {field!r} must be a number, got {show(value)}", field=field)
    raw = str(value).strip()
    if len(raw) > _MAX_NUMBER_TEXT:
        raise SignalParseError(f"field {field!r} must be a number of at most {MAX_DIGITS} digits, "
                               f"got {len(raw)} characters", field=field)
    if _GROUPED.fullmatch(raw):
        raw = raw.replace(",", "")
    elif not _NUMBER.fullmatch(raw):
        raise SignalParseError(f"field {field!r} must be a finite decimal number like 0.015, got {show(value)}",
                               field=field)
    return _bounded(Decimal(raw), field, value)


def _bounded(number: Decimal, field: str, value: Any) -> Decimal:
    if number.is_zero():
        return Decimal(0)
    significant = "".join(map(str, number.as_tuple().digits)).rstrip("0")
    if len(significant) > MAX_DIGITS or not -MAX_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        raise SignalParseError(
            f"field {field!r} is out of range: {show(value)} (numbers need at most {MAX_DIGITS} significant "
            f"digits and a magnitude between 1e-{MAX_EXPONENT} and 1e{MAX_EXPONENT})",
            field=field,
        )
    return number


def positive(value: Any, field: str, *, maximum: Decimal = MAX_AMOUNT) -> Decimal | None:
    """A number in (0, ``maximum``]; None only when absent or empty.

    A present zero or negative number is an error, never "absent": a sender who wrote
    ``0`` must not get the account's default size. Raises ``SignalParseError`` naming the field.
    """
    number = decimal(value, field)
    if number is None:
        return None
    if number <= 0:
        raise SignalParseError(f"field {field!r} must be greater than 0, got {show(value)}", field=field)
    if number > maximum:
        raise SignalParseError(f"field {field!r} must be at most {maximum:f}, got {show(value)}", field=field)
    return number


MAX_LEVERAGE = Decimal(1000)  # app.domain.signal.Signal.leverage's bound


def leverage(value: Any, field: str) -> Decimal | None:
    """A leverage in (0, ``MAX_LEVERAGE``]; None when absent. Raises ``SignalParseError``."""
    return positive(value, field, maximum=MAX_LEVERAGE)


_PERCENT_UNITS = frozenset({SizeUnit.PERCENT_EQUITY, SizeUnit.PERCENT_POSITION})


def amount(value: Any, field: str, unit: SizeUnit) -> Decimal | None:
    """An order size in ``unit``: percent units in (0, 100], base / quote / contracts in
    (0, ``MAX_AMOUNT``]. None only when absent or empty; raises ``SignalParseError`` otherwise."""
    number = positive(value, field)
    if number is not None and unit in _PERCENT_UNITS and number > MAX_PERCENT:
        raise SignalParseError(f"field {field!r} is a percentage ({unit}) and must be at most 100, "
                               f"got {show(value)}", field=field)
    return number


def confidence(value: Any, field: str) -> Decimal | None:
    """A confidence between 0 and 1 inclusive; None when absent. Raises ``SignalParseError``."""
    number = decimal(value, field)
    if number is not None and not Decimal(0) <= number <= Decimal(1):
        raise SignalParseError(f"field {field!r} must be between 0 and 1, got {show(value)}", field=field)
    return number


def indicators(raw: Any, field: str = "indicators") -> dict[str, Decimal]:
    """An object of at most ``MAX_INDICATORS`` named numbers (names up to ``MAX_NAME``
    characters); {} when absent. Empty values are skipped. Raises ``SignalParseError``."""
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise SignalParseError(f"field {field!r} must be an object of numbers", field=field)
    if len(raw) > MAX_INDICATORS:
        raise SignalParseError(f"field {field!r} has {len(raw)} entries; at most {MAX_INDICATORS}", field=field)
    found: dict[str, Decimal] = {}
    for name, value in raw.items():
        key = text(name, f"{field} name", max_length=MAX_NAME)
        number = decimal(value, f"{field}.{key}")
        if key is not None and number is not None:
            found[key] = number
    return found


def timestamp(value: Any, field: str) -> datetime | None:
    """A UTC datetime from ISO-8601 text or epoch seconds / milliseconds (number or text);
    None when absent or empty.

    Raises ``SignalParseError`` for anything else, including epochs of more than 15 digits,
    text over 64 characters and times outside what ``datetime`` holds (years 1–9999).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (bool, dict, list)):
        raise SignalParseError(f"field {field!r} must be a time, got {show(value)}", field=field)
    raw = str(value).strip()
    if len(raw) > _MAX_TIME_TEXT:
        raise SignalParseError(f"field {field!r} is too long to be a time ({len(raw)} characters)", field=field)
    if _EPOCH.fullmatch(raw):
        return _from_epoch(raw, field)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise SignalParseError(
            f"field {field!r} must be ISO-8601 or epoch seconds/milliseconds, got {show(value)}", field=field
        ) from None


def _from_epoch(raw: str, field: str) -> datetime:
    if not _EPOCH_BOUNDED.fullmatch(raw):
        raise SignalParseError(f"field {field!r} is not a valid epoch time: {show(raw)}", field=field)
    seconds = Decimal(raw)
    if seconds > _EPOCH_MS_THRESHOLD:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(float(seconds), tz=UTC)
    except (OverflowError, ValueError, OSError):
        raise SignalParseError(f"field {field!r} is not a valid epoch time: {show(raw)}", field=field) from None


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
            f"field {field!r} must be long, short or flat, got {show(word)}", field=field
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
            f"field {field!r} must be one of {', '.join(words)}, got {show(word)}", field=field
        ) from None


def symbol(value: Any, field: str) -> tuple[str, str, str | None]:
    """(unified symbol, ticker as written, exchange prefix lower case or None) of a ticker.

    ``BINANCE:BTCUSDT`` → (``BTC/USDT``, ``BINANCE:BTCUSDT``, ``binance``). Raises
    ``SignalParseError`` naming the field when the ticker is missing, longer than
    ``MAX_SYMBOL_LENGTH`` (64, the symbol columns' width) or cannot be mapped.
    """
    raw = text(value, field, max_length=MAX_SYMBOL_LENGTH)
    if raw is None:
        raise SignalParseError(f"field {field!r} (the ticker) is missing", field=field)
    try:
        unified = to_unified_symbol(raw)
    except SymbolError as e:
        raise SignalParseError(f"field {field!r}: {e}", field=field) from None
    prefix = raw.split(":", 1)[0].strip().lower() if ":" in raw and "/" not in raw else None
    return unified, raw, prefix or None


def seconds(value: Any, field: str) -> int | None:
    """A whole number of seconds between 1 and a week (``max_lag``); None when absent.

    Raises ``SignalParseError`` for zero, a fraction, or more than ``MAX_LAG_SECONDS``;
    the bounds are checked on the Decimal, so ``int()`` only ever sees a small number.
    """
    number = positive(value, field, maximum=Decimal(MAX_LAG_SECONDS))
    if number is None:
        return None
    if number != number.to_integral_value():
        raise SignalParseError(
            f"field {field!r} must be whole seconds between 1 and {MAX_LAG_SECONDS}, got {show(value)}", field=field
        )
    return int(number)


_OFFSET = re.compile(r"([+-]?[0-9]+(?:\.[0-9]+)?)\s*(%|ticks?)", re.IGNORECASE)


def limit_offset(value: Any, field: str) -> LimitOffset | None:
    """``-0.1%`` or ``-5 ticks`` (``tick`` too; any case) as a ``LimitOffset``; None when absent.

    Raises ``SignalParseError`` naming the field for anything else or a value out of range
    (±50 %, ±10,000 ticks)."""
    raw = text(value, field)
    if raw is None:
        return None
    match = _OFFSET.fullmatch(raw.strip())
    if match is None:
        raise SignalParseError(f"field {field!r} must be a percent like '-0.1%' or ticks like '-5 ticks', "
                               f"got {show(raw)}", field=field)
    number, unit = match.group(1), match.group(2)
    try:
        if unit == "%":
            return LimitOffset(percent=Decimal(number))
        if "." in number:
            raise ValueError("a number of ticks is whole")
        return LimitOffset(ticks=int(number))
    except ValueError as e:
        raise SignalParseError(f"field {field!r}: {show(raw)} is out of range or not whole "
                               "(at most ±50 % or ±10000 ticks)", field=field) from e
