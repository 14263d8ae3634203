"""A request as ingest received it: the raw bytes, where they came from, and the body decoded
once. Every reader of the body (the body secret, the strategy named in it, the parser, the
redaction of what is stored, the entries of a many-symbol answer) works from this one decoding.

The ``[dialects]`` mappings of the configuration file come from ``get_settings()`` (the file is
read once per process; here they are only looked up), or from the table a caller passes (the
poller passes its own configuration's).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.config import get_settings
from app.domain.enums import Source
from app.errors import SignalParseError
from app.ingest import parsers
from app.ingest.parsers import Parsed
from app.ingest.parsers.body import find_secret
from app.ingest.parsers.mapped import MappedDialect, compile_all

if TYPE_CHECKING:
    from app.config_file import DialectMapping


@dataclass(frozen=True)
class Received:
    """``body`` (at most 64 KiB, already read), its ``source`` (set by the endpoint), the
    client's Content-Type, a forced ``dialect``, ``received_at`` (UTC) and the decoded body:
    ``data`` (a JSON object or text), or ``problem`` when ``decode`` refused it (the request
    may still be authenticated and is then recorded as invalid with this reason).
    ``dialects``: the configured mappings it may be read with (``mapped.compile_all``)."""

    body: bytes
    source: Source
    received_at: datetime
    content_type: str | None = None
    dialect: str | None = None
    data: dict[str, Any] | str | None = None
    problem: SignalParseError | None = None
    dialects: Mapping[str, MappedDialect] = field(default_factory=dict)

    @classmethod
    def read(
        cls, body: bytes, *, source: Source, content_type: str | None = None, dialect: str | None = None,
        dialects: "Mapping[str, DialectMapping] | None" = None,
    ) -> "Received":
        """Decode ``body`` (the only decoding of a request); never raises for a bad body.
        ``dialects``: the ``[dialects]`` table to read with; default the process's."""
        try:
            data, problem = parsers.decode_body(body), None
        except SignalParseError as e:
            data, problem = None, e
        mapped = compile_all(get_settings().dialects if dialects is None else dialects)
        return cls(body, source, datetime.now(UTC), content_type, dialect, data, problem, mapped)

    def secret(self) -> str | None:
        """The body secret (``passphrase``, ``secret``, ``signalToken``, ``token``, or the
        ``secret`` place of the mapping that reads it), also in a body ``decode`` refused (read
        then as lenient text), so such a request can be authenticated and recorded."""
        if self.data is None:
            return find_secret(self.body.decode("utf-8", errors="replace").replace("\x00", ""))
        return find_secret(self.data) or next(iter(self.mapped_secrets()), None)

    def mapped_secrets(self) -> tuple[str, ...]:
        """The value at the ``secret`` place of the configured mapping that reads this body
        (forced or detected), to be redacted wherever it appears; () when there is none."""
        reader = self.mapped_reader()
        found = reader.secret_in(self.data) if reader is not None and self.data is not None else None
        return (found,) if found else ()

    def mapped_reader(self) -> MappedDialect | None:
        """The configured mapping that reads this body, forced by ``dialect`` or detected
        (``parsers.choose``); None when a built-in dialect (or nothing) reads it."""
        if self.data is None or not self.dialects:
            return None
        try:
            found, _ = parsers.choose(self.data, self.dialect, self.dialects)
        except SignalParseError:  # an unknown forced name, or a body nothing reads
            return None
        return found if isinstance(found, MappedDialect) else None

    def with_dialect(self, dialect: str | None) -> "Received":
        """This request read with ``dialect`` (a strategy's own) unless it forced one already."""
        return replace(self, dialect=dialect) if self.dialect is None and dialect else self

    def entries(self) -> list[tuple[str | None, "Received"]]:
        """The signals this request carries: for a many-symbol prediction answer with no symbol
        picked, (symbol as the answer spells it, the request picking it) per symbol
        (``parsers.fan_out``); else [(None, self)]. Nothing is decoded again."""
        if self.data is None:
            return [(None, self)]
        picks = parsers.fan_out(self.data, self.received_at, dialect=self.dialect, mapped=self.dialects)
        return [(symbol, replace(self, dialect=spec)) for symbol, spec in picks] or [(None, self)]

    def parse(self) -> Parsed:
        """The canonical signal (source and strategy not yet set). Raises ``SignalParseError``:
        the decoding's ``problem``, or the parser's."""
        if self.data is None:
            raise self.problem or SignalParseError("the body is empty", field="body")
        return parsers.parse_decoded(self.data, self.received_at, dialect=self.dialect, mapped=self.dialects)
