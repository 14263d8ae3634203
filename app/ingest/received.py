"""A request as ingest received it: the raw bytes, where they came from, and the body decoded
once. Every reader of the body (the body secret, the strategy named in it, the parser, the
redaction of what is stored) works from this one decoding."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.domain.enums import Source
from app.errors import SignalParseError
from app.ingest import parsers
from app.ingest.parsers import Parsed
from app.ingest.parsers.body import find_secret


@dataclass(frozen=True)
class Received:
    """``body`` (at most 64 KiB, already read), its ``source`` (set by the endpoint), the
    client's Content-Type, a forced ``dialect``, ``received_at`` (UTC) and the decoded body:
    ``data`` (a JSON object or text), or ``problem`` when ``decode`` refused it (the request
    may still be authenticated and is then recorded as invalid with this reason)."""

    body: bytes
    source: Source
    received_at: datetime
    content_type: str | None = None
    dialect: str | None = None
    data: dict[str, Any] | str | None = None
    problem: SignalParseError | None = None

    @classmethod
    def read(
        cls, body: bytes, *, source: Source, content_type: str | None = None, dialect: str | None = None
    ) -> "Received":
        """Decode ``body`` (the only decoding of a request); never raises for a bad body."""
        try:
            data, problem = parsers.decode_body(body), None
        except SignalParseError as e:
            data, problem = None, e
        return cls(body, source, datetime.now(UTC), content_type, dialect, data, problem)

    def secret(self) -> str | None:
        """The body secret (``passphrase``, ``secret``, ``signalToken``, ``token``), also in a
        body ``decode`` refused (read then as lenient text), so such a request can be
        authenticated and recorded."""
        if self.data is not None:
            return find_secret(self.data)
        return find_secret(self.body.decode("utf-8", errors="replace").replace("\x00", ""))

    def parse(self) -> Parsed:
        """The canonical signal (source and strategy not yet set). Raises ``SignalParseError``:
        the decoding's ``problem``, or the parser's."""
        if self.data is None:
            raise self.problem or SignalParseError("the body is empty", field="body")
        return parsers.parse_decoded(self.data, self.received_at, dialect=self.dialect)
