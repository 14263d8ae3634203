"""What every fake venue server shares (Binance spot, Binance USDⓈ-M, Bybit linear): the HTTP
server on a free port, its serving thread, the request log, the fault queue and a clock that a
test can shift. A venue subclasses :class:`FakeServer`, sets its ``engine`` and answers
:meth:`handle` from its ``_Handler``."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULT_KINDS = ("delay_before_store", "delay_after_store", "http_500", "rate_limit", "min_notional",
               "duplicate", "timestamp")


@dataclass
class Fault:
    """One injected fault; ``remaining`` counts down as matching requests consume it."""

    path: str
    kind: str
    method: str | None = None
    remaining: int = 1
    delay: float = 1.0
    store: bool = False  # http_500 only: run the request (e.g. store the order) before answering 500
    hits: list = field(default_factory=list)

    def matches(self, method: str, path: str) -> bool:
        return self.remaining > 0 and self.path == path and (self.method is None or self.method == method)


class FakeServer:
    """The HTTP server around a fake venue. ``requests``: every request (method, path, params
    without the signature, status, fault, known); ``server_errors``: tracebacks of exceptions
    raised inside the fake itself; ``clock_offset_ms`` shifts the server's clock (``now_ms``)."""

    thread_name = "fake-venue"
    fault_kinds: tuple[str, ...] = FAULT_KINDS

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, api_key: str, secret: str, host: str):
        self.api_key, self.secret = api_key, secret
        self.clock_offset_ms = 0
        self.requests: list[dict] = []
        self.server_errors: list[str] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer((host, 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a delay fault
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds`` unless the server stops meanwhile (a delay fault)."""
        self._stopping.wait(seconds)

    # -------------------------------------------------------- test controls
    def inject(self, path: str, kind: str, *, method: str | None = None, count: int = 1,
               delay: float = 1.0, store: bool = False) -> Fault:
        """Make the next ``count`` requests to ``path`` (and ``method``, if given) misbehave.

        kinds: ``delay_before_store`` (sleep ``delay`` s, then handle normally),
        ``delay_after_store`` (handle, e.g. store the order, then sleep ``delay`` s before replying),
        ``http_500`` (HTML 500 page; nothing stored unless ``store=True``), ``rate_limit``,
        ``min_notional``, ``duplicate``, ``timestamp`` (each venue answers its own error for
        them, without touching state)."""
        if kind not in self.fault_kinds:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {self.fault_kinds}")
        fault = Fault(path=path, kind=kind, method=method.upper() if method else None, remaining=count,
                      delay=delay, store=store)
        with self._lock:
            self._faults.append(fault)
        return fault

    @property
    def faults(self) -> list[Fault]:
        """Faults not yet used up."""
        with self._lock:
            return [f for f in self._faults if f.remaining > 0]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # ------------------------------------------------------- test inspection
    @property
    def unknown_requests(self) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if not r["known"]]

    def calls(self, method: str | None = None, path: str | None = None) -> list[dict]:
        """Recorded requests, optionally filtered by method and/or path."""
        with self._lock:
            return [r for r in self.requests if (method is None or r["method"] == method)
                    and (path is None or r["path"] == path)]

    def count_calls(self, method: str, path: str) -> int:
        """Requests to ``path`` that reached it (no injected fault), answered or refused."""
        return len(self.calls(method, path))

    def endpoints_called(self) -> set[tuple[str, str]]:
        with self._lock:
            return {(r["method"], r["path"]) for r in self.requests}

    # ------------------------------------------------------------- serving
    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.matches(method, path):
                    f.remaining -= 1
                    return f
        return None
