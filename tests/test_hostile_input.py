"""Hostile input against every ingest endpoint: never a 5xx, never a traceback, every
authenticated request recorded (the dry run records nothing), unauthenticated ones store
nothing; and the same payloads against a real uvicorn process while /healthz stays answered.

``pytest -s`` prints the counts: ``hostile: N payloads x M endpoints, 5xx=0, tracebacks=0``.
"""

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import anyio
import httpx
import pytest
from sqlalchemy import func, select

from app.db import unit_of_work
from app.persistence.models import SignalRecord
from tests.conftest import ADMIN_TOKEN
from tests.processes import free_port, ready, spawn, stop, wait_for
from tests.test_ingest_security import Sender, call_asgi

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LIMIT = 64 * 1024
# Statuses after which nothing is stored although the caller authenticated: the body never
# arrived whole (413 too large, 408 too slow, 400 client gone).
NOT_RECORDED = {408, 413}


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    base: dict
    records: bool = True
    body_secret: bool = False
    api_key: bool = False


ENDPOINTS = [
    Endpoint("webhook-url-token", "/webhooks/tradingview/{token}",
             {"tradewire": 1, "symbol": "BINANCE:DOGEUSDT", "action": "buy", "size": "100", "price": "0.1"}),
    Endpoint("webhook-body-secret", "/webhooks/tradingview",
             {"passphrase": "{token}", "tradewire": 1, "symbol": "BINANCE:DOGEUSDT", "action": "buy", "size": "100",
              "price": "0.1"}, body_secret=True),
    Endpoint("api-signals", "/api/v1/signals",
             {"symbol": "BINANCE:DOGEUSDT", "action": "buy", "size": "100", "price": "0.1"}, api_key=True),
    Endpoint("api-predictions", "/api/v1/predictions",
             {"symbol": "BTCUSDT", "timeframe": "4h", "prediction": "BUY", "confidence": 0.8}, api_key=True),
    # The dialect forced as on /api/v1/signals, so the two must agree on what is a 422.
    Endpoint("api-dry-run", "/api/v1/signals/dry-run?dialect=tradewire",
             {"symbol": "BINANCE:DOGEUSDT", "action": "buy", "size": "100", "price": "0.1"}, records=False,
             api_key=True),
]


def splice(base: dict, raw: str | bytes) -> bytes:
    """``base`` as JSON with ``raw`` (already JSON text, possibly broken on purpose) added last."""
    head = json.dumps(base)[:-1].encode()
    tail = raw if isinstance(raw, bytes) else raw.encode()
    return head + b", " + tail + b"}"


def with_fields(**fields) -> Callable[[dict], bytes]:
    return lambda base: json.dumps(base | fields).encode()


# Each payload: name -> (body from the endpoint's base dict, extra headers).
PAYLOADS: dict[str, tuple[Callable[[dict], bytes], dict[str, str]]] = {
    "deep-array-10000": (lambda b: splice(b, '"x": ' + "[" * 10_000 + "]" * 10_000), {}),
    "deep-object-10000": (lambda b: splice(b, '"x": ' + '{"a": ' * 10_000 + "1" + "}" * 10_000), {}),
    "size-1e999999": (lambda b: splice(b, '"size": 1e999999'), {}),
    "size-1e-999999": (lambda b: splice(b, '"size": 1e-999999'), {}),
    "size-5000-digits": (lambda b: splice(b, '"size": ' + "9" * 5000), {}),
    "price-5000-digits-string": (with_fields(price="9" * 5000), {}),
    "confidence-5000-digits": (lambda b: splice(b, '"confidence": 0.' + "9" * 5000), {}),
    "size-NaN": (lambda b: splice(b, '"size": NaN'), {}),
    "size-Infinity": (lambda b: splice(b, '"size": Infinity'), {}),
    "size-minus-Infinity-string": (with_fields(size="-Infinity"), {}),
    "size-nan-string": (with_fields(size="nan"), {}),
    "lone-surrogate-value": (lambda b: splice(b, '"comment": "\\ud800"'), {}),
    "lone-surrogate-symbol": (lambda b: splice(b, '"symbol": "\\udfffUSDT"'), {}),
    "lone-surrogate-key": (lambda b: splice(b, '"\\ud800": 1'), {}),
    "invalid-utf8": (lambda b: splice(b, b'"comment": "\xff\xfe\xc3"'), {}),
    "truncated-utf8": (lambda b: splice(b, b'"comment": "\xe2\x82"'), {}),
    "nul-raw": (lambda b: splice(b, b'"comment": "a\x00b"'), {}),
    "nul-escape": (lambda b: splice(b, '"comment": "a\\u0000b"'), {}),
    "nul-escape-symbol": (lambda b: splice(b, '"symbol": "BTC\\u0000USDT"'), {}),
    "nul-trailing": (lambda b: json.dumps(b).encode() + b"\x00", {}),
    "symbol-100-chars": (with_fields(symbol="X" * 96 + "USDT"), {}),
    "idempotency-key-500": (with_fields(idempotency_key="k" * 500), {}),
    "content-type-300": (lambda b: json.dumps(b).encode(), {"Content-Type": "application/json; x=" + "a" * 281}),
    "size-object": (with_fields(size={"a": 1}), {}),
    "size-list": (with_fields(size=[1, 2]), {}),
    "size-bool": (with_fields(size=True), {}),
    "action-object": (with_fields(action={"buy": 1}), {}),
    "symbol-number": (with_fields(symbol=12345), {}),
    "duplicate-keys": (lambda b: splice(b, '"action": "sell", "action": "buy", "size": "1", "size": "2"'), {}),
    "far-future-iso": (with_fields(signal_time="9999-12-31T23:59:59Z", timestamp="9999-12-31T23:59:59Z"), {}),
    "far-future-epoch": (with_fields(signal_time=str(10**20), timestamp=str(10**20)), {}),
    "far-past-iso": (with_fields(signal_time="0001-01-01T00:00:00Z", timestamp="0001-01-01T00:00:00Z"), {}),
    "far-past-epoch": (with_fields(signal_time="-99999999999999999", timestamp="-99999999999999999"), {}),
    "max-lag-huge": (with_fields(max_lag=10**30), {}),
    "top-level-array": (lambda b: json.dumps([b]).encode(), {}),
    "empty": (lambda b: b"", {}),
    "whitespace": (lambda b: b" \r\n\t ", {}),
    "many-keys": (lambda b: json.dumps(b | {f"k{i}": i for i in range(5000)}).encode(), {}),
    "body-64KiB-plus-1": (lambda b: splice(b, '"c": "' + "x" * LIMIT + '"')[: LIMIT + 1], {}),
}


@dataclass
class Tally:
    requests: int = 0
    server_errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


WRONG_SECRET = "not-a-real-token-0000000000000"
# Bodies that cannot carry a body secret: on POST /webhooks/tradingview they are unauthenticated.
NO_ROOM_FOR_A_SECRET = {"empty", "whitespace"}


def render(endpoint: Endpoint, name: str, token: str, authentic: bool = True) -> tuple[bytes, dict[str, str]]:
    make, headers = PAYLOADS[name]
    secret = token if authentic or not endpoint.body_secret else WRONG_SECRET
    base = json.loads(json.dumps(endpoint.base).replace("{token}", secret))
    base = base | ({"idempotency_key": f"hostile-{name}-{time.time_ns()}"} if endpoint.path == "/api/v1/signals" else {})
    return make(base), dict(headers)


def url_and_headers(endpoint: Endpoint, token: str, key: str, authentic: bool) -> tuple[str, dict[str, str]]:
    secret = token if authentic else WRONG_SECRET
    path = endpoint.path.replace("{token}", secret)
    headers = {"Authorization": f"Bearer {key if authentic else 'twk_not-a-real-key'}"} if endpoint.api_key else {}
    return path, headers


def signals() -> int:
    with unit_of_work() as session:
        return session.execute(select(func.count()).select_from(SignalRecord)).scalar_one()


def latest() -> SignalRecord:
    with unit_of_work() as session:
        row = session.execute(select(SignalRecord).order_by(SignalRecord.received_at.desc()).limit(1)).scalar_one()
        session.expunge(row)
        return row


def check(tally: Tally, label: str, endpoint: Endpoint, authentic: bool, status: int, answer: dict,
          before: int) -> None:
    tally.requests += 1
    if status >= 500:
        tally.server_errors.append(f"{label}: {status} {answer}")
        return
    if not isinstance(answer, dict) or ("code" not in answer and "status" not in answer and "approved" not in answer):
        tally.problems.append(f"{label}: answer is not the documented JSON: {answer!r:.200}")
    added = signals() - before
    if not authentic:
        # The body secret is inside the body: a body too large to read is 413 before anyone is known.
        expected = {401, 413} if endpoint.body_secret else {401}
        if status not in expected or added:
            tally.problems.append(f"{label}: unauthenticated got {status}, stored {added}")
        return
    if not endpoint.records or status in NOT_RECORDED:
        if added:
            tally.problems.append(f"{label}: {status} but stored {added} rows")
        return
    if added != 1:
        tally.problems.append(f"{label}: {status} {answer} stored {added} rows, expected 1")
        return
    row = latest()
    if row.status not in {"invalid", "accepted", "rejected", "duplicate"} or (row.status == "invalid" and not row.reason):
        tally.problems.append(f"{label}: recorded as {row.status!r} with reason {row.reason!r}")
    if (status == 422) != (row.status == "invalid"):
        tally.problems.append(f"{label}: answered {status} but recorded {row.status!r}")


def tracebacks(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.fixture
def hostile_client(client, db):
    from fastapi.testclient import TestClient

    from app.main import create_app

    key = client.post("/api/v1/api-keys", headers=ADMIN, json={"name": "hostile", "strategies": ["default"]}).json()["key"]
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c, db, key


def test_hostile_payloads_against_every_ingest_endpoint(hostile_client, caplog):
    client, token, key = hostile_client
    caplog.set_level(logging.INFO)
    tally = Tally()
    parity: dict[str, dict[str, int]] = {}
    for endpoint in ENDPOINTS:
        for name in PAYLOADS:
            for authentic in (True, False):
                body, headers = render(endpoint, name, token, authentic)
                path, auth = url_and_headers(endpoint, token, key, authentic)
                before = signals()
                answer = client.post(path, content=body, headers=headers | auth)
                known = authentic and not (endpoint.body_secret and name in NO_ROOM_FOR_A_SECRET)
                check(tally, f"{endpoint.name}/{name}/{'auth' if authentic else 'anon'}", endpoint, known,
                      answer.status_code, _json(answer), before)
                if authentic and endpoint.name in ("api-signals", "api-dry-run"):
                    parity.setdefault(name, {})[endpoint.name] = answer.status_code
        # A chunked body (a generator: no Content-Length) and a streamed one, in many small pieces.
        body, headers = render(endpoint, "size-bool", token)
        path, auth = url_and_headers(endpoint, token, key, True)
        before = signals()
        answer = client.post(path, content=iter([body[i:i + 7] for i in range(0, len(body), 7)]), headers=auth)
        check(tally, f"{endpoint.name}/chunked", endpoint, True, answer.status_code, _json(answer), before)
    mismatched = {n: p for n, p in parity.items() if (p.get("api-signals") == 422) != (p.get("api-dry-run") == 422)}
    found = tracebacks(caplog)
    print(f"\nhostile: {len(PAYLOADS) + 1} payloads x {len(ENDPOINTS)} endpoints (authenticated and not, "
          f"{tally.requests} requests), 5xx={len(tally.server_errors)}, tracebacks={len(found)}")
    assert tally.server_errors == []
    assert found == [], [r.getMessage() for r in found]
    assert tally.problems == [], "\n".join(tally.problems)
    assert mismatched == {}, f"dry run and ingest disagree on 422: {mismatched}"


def _json(answer: httpx.Response) -> dict:
    try:
        return answer.json()
    except ValueError:
        return {"not-json": answer.text[:200]}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_slow_and_streamed_bodies_against_every_endpoint(hostile_client, endpoint, monkeypatch, caplog):
    from app.ingest import routes

    client, token, key = hostile_client
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(routes, "BODY_READ_SECONDS", 0.3)
    path, auth = url_and_headers(endpoint, token, key, True)
    body, _ = render(endpoint, "size-bool", token)
    status, answer = call_asgi(path, Sender([body[:5], body[5:]], delay=0.2), auth)
    assert (status, answer["code"]) == (408, "request_timeout") and signals() == 0
    status, answer = call_asgi(path, Sender([body[i:i + 3] for i in range(0, len(body), 3)]), auth)
    assert status < 500 and signals() == (1 if endpoint.records else 0)
    sender = Sender([b"x" * 4096] * 10_000)
    status, answer = call_asgi(path, sender, auth)
    assert status == 413 and sender.taken == 17 and signals() == (1 if endpoint.records else 0)
    assert tracebacks(caplog) == []


# --- a real uvicorn process, /healthz probed throughout -------------------------------------------


def _probe(base: str, stop_flag: threading.Event, latencies: list[float], failures: list[str]) -> None:
    with httpx.Client(timeout=2.0) as http:
        while not stop_flag.is_set():
            started = time.monotonic()
            try:
                status = http.get(f"{base}/healthz").status_code
                if status != 200:
                    failures.append(f"/healthz {status}")
            except httpx.HTTPError as e:
                failures.append(f"/healthz {type(e).__name__}")
            latencies.append(time.monotonic() - started)
            time.sleep(0.02)


def _raw_chunked_post(port: int, path: str, total: int) -> tuple[int | None, int]:
    """POST ``total`` bytes chunked through a raw socket, stopping when the server stops
    reading or answers; returns (HTTP status or None, bytes sent)."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        chunk, sent = b"10000\r\n" + b"x" * 0x10000 + b"\r\n", 0
        try:
            while sent < total:
                s.sendall(chunk)
                sent += 0x10000
        except OSError:  # the server answered and closed, or stopped reading (timeout)
            pass
        try:
            head = s.recv(200)
        except OSError:
            return None, sent
        return (int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else None), sent


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def _slow_body(total_seconds: float) -> Iterator[bytes]:
    deadline = time.monotonic() + total_seconds
    yield b'{"symbol": '
    while time.monotonic() < deadline:
        time.sleep(0.5)
        yield b" "


def test_hostile_payloads_against_a_real_server_keep_healthz_answering(db, services, tmp_path):
    port = free_port()
    api = spawn(["api"], {**os.environ, "TRADEWIRE_PORT": str(port)}, tmp_path / "api.log")
    base = f"http://127.0.0.1:{port}"
    stop_flag, latencies, failures = threading.Event(), [], []
    tally = Tally()
    try:
        wait_for(lambda: ready(base), 20, "the API to be ready")
        key = httpx.post(f"{base}/api/v1/api-keys", headers=ADMIN,
                         json={"name": "hostile", "strategies": ["default"]}).json()["key"]
        prober = threading.Thread(target=_probe, args=(base, stop_flag, latencies, failures), daemon=True)
        prober.start()
        rss_before = _rss_kib(api.pid)
        slow = threading.Thread(target=lambda: tally.problems.extend(
            [] if httpx.post(f"{base}/webhooks/tradingview/{db}", content=_slow_body(13), timeout=30).status_code == 408
            else ["slow body was not 408"]), daemon=True)
        slow.start()
        with httpx.Client(timeout=30) as http:
            for endpoint in ENDPOINTS:
                for name in PAYLOADS:
                    for authentic in (True, False):
                        body, headers = render(endpoint, name, db, authentic)
                        path, auth = url_and_headers(endpoint, db, key, authentic)
                        answer = http.post(base + path, content=body, headers=headers | auth)
                        tally.requests += 1
                        if answer.status_code >= 500:
                            tally.server_errors.append(f"{endpoint.name}/{name}: {answer.status_code}")
        for path in ("/webhooks/tradingview/bogus", f"/webhooks/tradingview/{db}"):
            status, sent = _raw_chunked_post(port, path, 200 * 1024 * 1024)
            print(f"\n200 MB chunked POST {path.replace(db, '<token>')}: answer {status} after {sent >> 20} MB sent")
            assert status in (401, 413)
        slow.join(timeout=30)
        rss_after = _rss_kib(api.pid)
    finally:
        stop_flag.set()
        stop(api)
    log = (tmp_path / "api.log").read_text(errors="replace")
    found = log.count("Traceback")
    print(f"hostile (uvicorn): {len(PAYLOADS)} payloads x {len(ENDPOINTS)} endpoints, {tally.requests} requests, "
          f"5xx={len(tally.server_errors)}, tracebacks={found}; /healthz probes={len(latencies)}, "
          f"max latency={max(latencies, default=0):.3f} s; RSS {rss_before >> 10} -> {rss_after >> 10} MiB")
    assert tally.server_errors == [] and tally.problems == []
    assert found == 0, log[-3000:]
    assert failures == [] and latencies
    assert rss_after - rss_before < 100 * 1024  # a 200 MB body is never buffered
