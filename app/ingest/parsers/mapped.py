"""Dialects defined in the configuration file, without code: ``[dialects.NAME]``
(``app.config_file.DialectMapping``).

A mapping says how to recognise a sender's format (``detect``), where each canonical field of
``app.domain.signal.Signal`` is in it (``fields``) and where its secret is (``secret``):

- ``format = "json"``: places are JSON pointers (RFC 6901, https://www.rfc-editor.org/rfc/rfc6901):
  ``/order/side``, ``/legs/0/qty``; inside a name ``~1`` stands for ``/`` and ``~0`` for ``~``.
- ``format = "text"`` with a ``separator`` (``","``, ``"|"``, ``";"``, ``"\\n"``): places are
  positions counted from 0 (``symbol = 0``) or, with ``key_value = "="``, keys in any case
  (``symbol = "TICKER"``). Every part keeps its position, so ``ID,buy,BTCUSDT,risk=1`` can be
  read by both.

A field is a place (a string or an integer), or a table: ``from`` (the place), ``map`` (the
sender's words to ours, compared in any case: ``{"1" = "buy", "-1" = "sell", "0" = "hold"}``)
and ``default`` (used when the place is absent or empty; a field with only a default is a
constant). ``symbol`` and ``action`` are required. Values then go through the readers every
built-in dialect uses (``values``): numbers quoted or bare, times ISO-8601 or epoch s / ms, a
literal ``{{placeholder}}`` anywhere in the body refused naming the field.

``detect`` (required): ``present`` (places that must be there), ``equals`` (place → text it
must hold exactly), and for text ``prefix`` (the body starts with it) and ``regex`` (Python
``re.search``); every condition must hold. A rule with more conditions is more specific and is
tried first (``compile_all``); where mappings sit among the built-in dialects is
``app.ingest.parsers.detect``'s business.

``compile_mapping`` checks a mapping when the file is loaded and raises ``MappingError``
naming the key inside it (``fields.action.map``); ``app.config_file`` reports it as
``dialects.NAME.fields.action.map``.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.domain.enums import Action, SizeUnit
from app.domain.signal import Signal, Size
from app.errors import SignalParseError
from app.ingest.parsers import values
from app.ingest.parsers.tradewire import (  # the canonical words, as the tradewire dialect reads them
    ACTIONS, ALL_SYMBOLS, MARGIN_MODES, ORDER_TYPES, TIME_IN_FORCE, UNITS,
)

if TYPE_CHECKING:  # types only: app.config_file imports this module to check the file
    from app.config_file import DialectMapping

Body = dict[str, Any] | str
Reader = Callable[[Any, str], Any]



def _text(max_length: int) -> Reader:
    return lambda value, field: values.text(value, field, max_length=max_length)


def _choice(words: Mapping[str, Any]) -> Reader:
    return lambda value, field: values.choice(value, field, words)


# The canonical fields a mapping may fill, in the order they are read (size_unit before size),
# each with the reader the built-in dialects use for it. ``symbol`` and ``size`` are read apart.
FIELDS: dict[str, Reader] = {
    "symbol": values.symbol,
    "exchange": _text(values.MAX_NAME),
    "account": _text(values.MAX_NAME),
    "action": _choice(ACTIONS),
    "target_position": values.position,
    "prev_position": values.position,
    "position_side": values.position,
    "size_unit": _choice(UNITS),
    "size": values.positive,
    "target_size": values.decimal,
    "target_percent": values.decimal,
    "order_type": _choice(ORDER_TYPES),
    "limit_price": values.positive,
    "limit_offset": values.limit_offset,
    "time_in_force": _choice(TIME_IN_FORCE),
    "stop_loss": values.positive,
    "take_profit": values.positive,
    "price": values.positive,
    "leverage": values.leverage,
    "margin_mode": _choice(MARGIN_MODES),
    "confidence": values.confidence,
    "timeframe": _text(values.MAX_NAME),
    "indicators": values.indicators,
    "signal_time": values.timestamp,
    "max_lag": values.seconds,
    "comment": values.note,
    "idempotency_key": _text(values.MAX_KEY),
}
REQUIRED = ("symbol", "action")


class MappingError(ValueError):
    """A ``[dialects.NAME]`` mapping that cannot work; ``key`` is where, inside the mapping
    (``fields.action.map``). Fix the configuration file."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


_POINTER = re.compile(r"(/([^~/]|~[01])*)+")
_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")


def pointer_tokens(pointer: str) -> tuple[str, ...]:
    """The reference tokens of a JSON pointer (RFC 6901 §3–4): ``/a~1b/0`` → (``a/b``, ``0``).
    Raises ``ValueError`` for text that is not one (the whole document, ``""``, is refused too:
    it is never a field)."""
    if not _POINTER.fullmatch(pointer):
        raise ValueError("a JSON pointer starts with / and writes ~ as ~0 and / inside a name as ~1, e.g. /order/side")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:])


@dataclass(frozen=True)
class _Parts:
    """A text body split at the separator: every part by position, the KEY=VALUE parts by key
    (upper case), and every part by the name errors give it (its key, else ``position N``)."""

    parts: tuple[str, ...]
    pairs: dict[str, str]
    named: dict[str, str]


@dataclass(frozen=True)
class Place:
    """Where a value is: a JSON pointer's tokens, a text key (upper case) or a text position.
    ``label`` is how errors name it (``order.side``, ``SIDE``, ``position 2``)."""

    label: str
    pointer: tuple[str, ...] | None = None
    key: str | None = None
    position: int | None = None

    def get(self, body: dict[str, Any] | _Parts) -> Any:
        """The value there (text, or for JSON also an object or a list), None when absent."""
        if isinstance(body, _Parts):
            if self.key is not None:
                return body.pairs.get(self.key)
            position = self.position or 0
            return body.parts[position] if position < len(body.parts) else None
        node: Any = body
        for token in self.pointer or ():
            if isinstance(node, dict):
                node = node.get(token)
            elif isinstance(node, list) and _INDEX.fullmatch(token) and int(token) < len(node):
                node = node[int(token)]
            else:
                return None
        return node


@dataclass(frozen=True)
class FieldRule:
    """One canonical field: its place (None: a constant), its value map (keys folded to lower
    case) and its default (text)."""

    name: str
    place: Place | None
    words: dict[str, str]
    default: str | None

    @property
    def label(self) -> str:
        return self.place.label if self.place is not None else self.name

    def value(self, body: dict[str, Any] | _Parts) -> Any:
        """The value to read: the mapped word, else what is at the place, else the default."""
        raw = self.place.get(body) if self.place is not None else None
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return self.default
        if self.words and not isinstance(raw, (dict, list)):
            return self.words.get((_scalar_text(raw) or "").lower(), raw)
        return raw

    def read(self, value: Any) -> Any:
        """``value`` through the field's reader. Raises ``SignalParseError`` naming the place;
        for a mapped field the message lists the mapped words too."""
        try:
            return FIELDS[self.name](value, self.label)
        except SignalParseError as e:
            if not self.words:
                raise
            raise SignalParseError(f"{e.message} (mapped words: {', '.join(self.words)})", field=e.field) from None


@dataclass(frozen=True)
class Detect:
    """How a body is recognised: every condition holds. ``specificity`` counts them."""

    present: tuple[Place, ...] = ()
    equals: tuple[tuple[Place, str], ...] = ()
    prefix: str | None = None
    regex: re.Pattern[str] | None = None

    @property
    def specificity(self) -> int:
        return len(self.present) + len(self.equals) + (self.prefix is not None) + (self.regex is not None)

    def matches(self, text: str | None, body: dict[str, Any] | _Parts) -> bool:
        if self.prefix is not None and not (text or "").startswith(self.prefix):
            return False
        if self.regex is not None and self.regex.search(text or "") is None:
            return False
        if any(place.get(body) in (None, "") for place in self.present):
            return False
        return all(_scalar_text(place.get(body)) == wanted for place, wanted in self.equals)


def _scalar_text(value: Any) -> str | None:
    """A JSON scalar as its text (``true``, not ``True``); None for absent, objects and lists."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


class MappedDialect:
    """A compiled ``[dialects.NAME]`` mapping. It is a dialect like the built-in modules
    (``NAME``, ``detect``, ``parse``), and also tells where its secret is (``secret_in``) and
    what it read (``explain``, for the dry run)."""

    def __init__(self, name: str, *, separator: str | None, key_value: str | None, detect: Detect,
                 secret: Place | None, rules: tuple[FieldRule, ...]) -> None:
        self.NAME = name
        self.separator, self.key_value = separator, key_value
        self.rule, self.secret, self.rules = detect, secret, rules

    @property
    def specificity(self) -> int:
        return self.rule.specificity

    def detect(self, data: Body) -> bool:
        body = self._body(data)
        return body is not None and self.rule.matches(data if isinstance(data, str) else None, body)

    def secret_in(self, data: Body) -> str | None:
        """The value at the mapping's ``secret`` place, if the body has one."""
        body = self._body(data)
        if self.secret is None or body is None:
            return None
        return _scalar_text(self.secret.get(body)) or None

    def explain(self, data: Body) -> dict[str, dict[str, Any]]:
        """Per mapped field: its place (``from``, None for a constant), what is there
        (``found``) and what was read after the map and the default (``used``)."""
        body = self._body(data)
        if body is None:
            return {}
        return {rule.name: {"from": rule.place.label if rule.place else None,
                            "found": rule.place.get(body) if rule.place else None, "used": rule.value(body)}
                for rule in self.rules}

    def parse(self, data: Body, received_at: datetime) -> Signal:
        """The canonical signal. Raises ``SignalParseError`` naming the place: a body of the
        other format, a placeholder, a missing symbol or action, a value its reader refuses."""
        body = self._body(data, strict=True)
        values.reject_placeholders(body.named if isinstance(body, _Parts) else data)
        read = self._read(body)
        action = read.pop("action", None)
        if action is None:
            raise SignalParseError(f"field {self._label('action')!r} (the action) is missing", field=self._label("action"))
        if "symbol" in read:
            symbol, raw_symbol, prefix = read.pop("symbol")
        elif action in (Action.CLOSE_ALL, Action.CANCEL_ALL):
            symbol, raw_symbol, prefix = ALL_SYMBOLS, ALL_SYMBOLS, None
        else:
            raise SignalParseError(f"field {self._label('symbol')!r} (the ticker) is missing", field=self._label("symbol"))
        read.pop("size_unit", None)
        exchange = read.pop("exchange", None) or prefix
        key = read.pop("idempotency_key", None) or values.derive_key(
            self.NAME, symbol, action, {k: str(v) for k, v in read.items()}, read.get("signal_time") or received_at)
        return Signal(dialect=self.NAME, idempotency_key=key, symbol=symbol, raw_symbol=raw_symbol,
                      exchange=exchange.lower() if exchange else None, action=action, **read)

    def _read(self, body: dict[str, Any] | _Parts) -> dict[str, Any]:
        read: dict[str, Any] = {}
        for rule in self.rules:
            value = rule.value(body)
            if value is None:
                continue
            if rule.name == "size":
                unit = read.get("size_unit") or SizeUnit.BASE
                amount = values.amount(value, rule.label, unit)
                result: Any = Size(amount=amount, unit=unit) if amount is not None else None
            else:
                result = rule.read(value)
            if result is not None and result != {}:
                read[rule.name] = result
        return read

    def _label(self, name: str) -> str:
        return next((r.label for r in self.rules if r.name == name), name)

    def _body(self, data: Body, *, strict: bool = False) -> Any:
        """The body as this mapping reads it; None (or, ``strict``, a ``SignalParseError``)
        when it is of the other format."""
        if self.separator is None:
            if isinstance(data, dict):
                return data
            if strict:
                raise SignalParseError(f"the {self.NAME} dialect reads a JSON object", field="body")
            return None
        if isinstance(data, str):
            return _split(data, self.separator, self.key_value, strict=strict)
        if strict:
            raise SignalParseError(f"the {self.NAME} dialect reads text separated by {self.separator!r}, "
                                   "not a JSON object", field="body")
        return None


def _split(text: str, separator: str, key_value: str | None, *, strict: bool) -> _Parts:
    """``text`` cut at ``separator``, parts stripped; with ``key_value``, the parts holding it
    are also pairs (keys upper case). ``strict``: a key given twice with two values is a
    ``SignalParseError``; else the first one counts."""
    parts = tuple(part.strip() for part in text.split(separator))
    pairs: dict[str, str] = {}
    named: dict[str, str] = {}
    for n, part in enumerate(parts):
        key, sign, value = part.partition(key_value) if key_value else ("", "", "")
        key, value = key.strip().upper(), value.strip()
        if not sign or not key:
            named[f"position {n}"] = part
            continue
        if strict and pairs.get(key, value) != value:
            raise SignalParseError(f"{values.show(key)} is given twice with different values", field=key)
        pairs.setdefault(key, value)
        named.setdefault(key, value)
    return _Parts(parts, pairs, named)


# --- Compiling a mapping from the configuration file ----------------------------------------

def compile_mapping(name: str, mapping: "DialectMapping") -> MappedDialect:
    """The dialect ``mapping`` (``[dialects.NAME]``, already validated as a table) defines.

    Raises ``MappingError`` naming the key inside the mapping: a text dialect without its
    separator (or a JSON one with one), an unknown canonical field, a place that is not a JSON
    pointer / key / position, a field with neither place nor default, a value map or a default
    the field's reader refuses (an action map to a word that is not an action), a missing
    ``symbol`` or ``action``, an empty or unusable ``detect`` rule.
    """
    text = mapping.format == "text"
    if text and not mapping.separator:
        raise MappingError("separator", 'a text dialect needs its separator, e.g. "," or "|" (or "\\n" for lines)')
    for key in ("separator", "key_value"):
        if not text and getattr(mapping, key) is not None:
            raise MappingError(key, 'only a text dialect has one (format = "text")')
    rules = []
    for field, spec in mapping.fields.items():
        if field not in FIELDS:
            raise MappingError(f"fields.{field}", f"not a signal field; use one of {', '.join(FIELDS)}")
        rules.append(_rule(field, spec, mapping))
    for field in REQUIRED:
        if field not in mapping.fields:
            raise MappingError(f"fields.{field}", "missing: every signal needs its symbol and action (a place or a default)")
    order = list(FIELDS)
    rules.sort(key=lambda r: order.index(r.name))
    secret = _place(mapping.secret, mapping, "secret") if mapping.secret is not None else None
    separator = mapping.separator if text else None
    return MappedDialect(name, separator=separator, key_value=mapping.key_value, detect=_detect(mapping),
                         secret=secret, rules=tuple(rules))


def _rule(field: str, spec: Any, mapping: "DialectMapping") -> FieldRule:
    key = f"fields.{field}"
    place = _place(spec.source, mapping, key) if spec.source is not None else None
    if place is None and spec.default is None:
        raise MappingError(key, "needs a place (from) or a default")
    words: dict[str, str] = {}
    for word, target in spec.map.items():
        folded = word.strip().lower()
        if folded in words and words[folded] != target:
            raise MappingError(f"{key}.map", f"{word!r} is mapped twice (the words are compared in any case)")
        _check_value(field, target, f"{key}.map", f"{word!r} → ")
        words[folded] = target
    if spec.default is not None:
        _check_value(field, spec.default, f"{key}.default", "")
    return FieldRule(field, place, words, spec.default)


def _check_value(field: str, value: str, key: str, lead: str) -> None:
    """``value`` as the field's reader takes it, or ``MappingError`` at ``key``."""
    if field == "indicators":
        raise MappingError(key, "indicators come from an object in the body; they have no map or default")
    if field == "action":
        if value.strip().lower() not in ACTIONS:
            raise MappingError(key, f"{lead}{value!r} is not an action; use one of {', '.join(ACTIONS)}")
        return
    try:
        FIELDS[field](value, field)
    except SignalParseError as e:
        raise MappingError(key, f"{lead}{value!r} is not a {field}: {e.message}") from None


def _place(source: str | int, mapping: "DialectMapping", key: str) -> Place:
    """A JSON pointer (json), a key (text with ``key_value``) or a position (text)."""
    if mapping.format != "text":
        if not isinstance(source, str):
            raise MappingError(key, f'{source!r}: a JSON dialect reads by JSON pointer, e.g. "/order/side"')
        try:
            tokens = pointer_tokens(source)
        except ValueError as e:
            raise MappingError(key, f"{source!r} is not a JSON pointer (RFC 6901): {e}") from None
        return Place(".".join(tokens) or source, pointer=tokens)
    if isinstance(source, int) or (not mapping.key_value and source.strip().isascii() and source.strip().isdigit()):
        position = int(source)
        if position < 0 or position > 1000:
            raise MappingError(key, f"{source!r}: a position counts from 0 (at most 1000)")
        return Place(f"position {position}", position=position)
    if not mapping.key_value:
        raise MappingError(key, f"{source!r}: this text dialect has no key_value, so it reads by position (0, 1, …)")
    name = source.strip()
    if not name or mapping.key_value in name or (mapping.separator or "") in name:
        raise MappingError(key, f"{source!r} is not a key")
    return Place(name, key=name.upper())


def _detect(mapping: "DialectMapping") -> Detect:
    rule, text = mapping.detect, mapping.format == "text"
    for key in ("prefix", "regex"):
        if not text and getattr(rule, key) is not None:
            raise MappingError(f"detect.{key}", "only a text dialect is recognised by its text; use present or equals")
    try:
        regex = re.compile(rule.regex) if rule.regex is not None else None
    except re.error as e:
        raise MappingError("detect.regex", f"{rule.regex!r} is not a regular expression: {e}") from None
    detect = Detect(
        present=tuple(_place(p, mapping, "detect.present") for p in rule.present),
        equals=tuple((_place(k, mapping, "detect.equals"), v.strip()) for k, v in rule.equals.items()),
        prefix=rule.prefix, regex=regex,
    )
    if detect.specificity == 0:
        raise MappingError("detect", "needs at least one condition: present, equals" + (", prefix or regex" if text else ""))
    return detect


_compiled: tuple[object, dict[str, MappedDialect]] | None = None


def compile_all(mappings: Mapping[str, "DialectMapping"]) -> dict[str, MappedDialect]:
    """Every mapping of a ``[dialects]`` table compiled, the most specific detect rule first
    (file order between equals). Compiled once per table: the process's settings hold one,
    so the request path only looks it up. Raises ``MappingError`` as ``compile_mapping``."""
    global _compiled
    if not mappings:
        return {}
    cached = _compiled
    if cached is not None and cached[0] is mappings:
        return cached[1]
    dialects = sorted((compile_mapping(name, m) for name, m in mappings.items()), key=lambda d: -d.specificity)
    compiled = {d.NAME: d for d in dialects}
    _compiled = (mappings, compiled)
    return compiled
