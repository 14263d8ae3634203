"""Reading an HTTP answer without trusting its size: at most ``limit`` + 1 bytes are taken,
whatever ``Content-Length`` says (or omits), so a hostile or broken upstream costs no memory."""

from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class BoundedAnswer:
    """``status_code``; ``content`` (None when the answer was above ``limit``); ``size``: bytes
    read, or the declared length when that alone was too large."""

    status_code: int
    content: bytes | None
    size: int

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


def get_bounded(client: httpx.Client, url: str, *, limit: int, params: dict[str, str] | None = None) -> BoundedAnswer:
    """``GET url`` read as a stream and cut at ``limit`` + 1 bytes. Raises ``httpx.HTTPError``."""
    with client.stream("GET", url, params=params) as response:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return BoundedAnswer(response.status_code, None, int(declared))
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                return BoundedAnswer(response.status_code, None, len(body))
        return BoundedAnswer(response.status_code, bytes(body), len(body))
