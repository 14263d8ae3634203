"""Ingest under attack (issue 10): bodies read as a bounded stream after authentication,
replayed signed requests, strategy changes seen at once by every API process, the
authenticated secret never stored, and RQ jobs that are never unpickled.

Through the real API app (some cases call it as a raw ASGI app, to control how the body
arrives), PostgreSQL and Redis; the cross-process cases start a real ``tradewire api``.
"""

import json
import logging
import os
import time
import zlib

import anyio
import httpx
import pytest
from sqlalchemy import func, select, update

from app.db import unit_of_work
from app.ingest.auth import sign
from app.persistence.models import OrderIntentRecord, SignalRecord, Strategy
from tests.conftest import ADMIN_TOKEN, corpus01_with_token
from tests.processes import free_port, ready, spawn, stop, wait_for

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def count(model=SignalRecord) -> int:
    with unit_of_work() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def rows() -> list[SignalRecord]:
    with unit_of_work() as session:
        found = list(session.execute(select(SignalRecord).order_by(SignalRecord.received_at)).scalars())
        session.expunge_all()
        return found


def api_key(client, require_signature: bool = False) -> str:
    answer = client.post("/api/v1/api-keys", headers=ADMIN,
                         json={"name": "sec", "strategies": ["default"], "require_signature": require_signature})
    assert answer.status_code == 201, answer.text
    return answer.json()["key"]


class Sender:
    """An ASGI ``receive`` that hands the body over in ``chunks``, optionally sleeping first
    or ending in a disconnect, and counts what the app took."""

    def __init__(self, chunks: list[bytes], delay: float = 0.0, disconnect: bool = False) -> None:
        self.chunks, self.delay, self.disconnect, self.taken = list(chunks), delay, disconnect, 0

    async def receive(self) -> dict:
        if self.delay:
            await anyio.sleep(self.delay)
        if not self.chunks:
            if self.disconnect:
                return {"type": "http.disconnect"}
            await anyio.sleep(3600)
        self.taken += 1
        chunk = self.chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks) or self.disconnect}


def call_asgi(path: str, sender: Sender, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """POST ``path`` to a fresh app as raw ASGI; returns the status and the JSON answer."""
    from app.main import create_app

    app = create_app()
    sent: list[dict] = []
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    path, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"test"), *raw_headers], "client": ("127.0.0.1", 5000), "server": ("test", 80)}

    async def send(message: dict) -> None:
        sent.append(message)

    anyio.run(app, scope, sender.receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body)


# --- A: authentication before the body, a bounded streamed read -----------------------------


@pytest.mark.parametrize("path, headers", [
    ("/webhooks/tradingview/bogus-token", {}),
    ("/api/v1/signals", {"Authorization": "Bearer twk_unknown"}),
    ("/api/v1/predictions", {"Authorization": "Bearer twk_unknown"}),
    ("/api/v1/signals/dry-run", {"Authorization": "Bearer twk_unknown"}),
])
def test_unknown_credentials_are_refused_before_any_body_is_read(db, path, headers):
    sender = Sender([b"x" * 65536] * 100)
    status, answer = call_asgi(path, sender, headers)
    assert (status, answer["code"]) == (401, "unauthenticated")
    assert sender.taken == 0 and count() == 0


def test_a_streamed_body_is_read_no_further_than_64_kib_plus_one(db):
    sender = Sender([b"x" * 16384] * 1000)  # 16 MB without a Content-Length
    status, answer = call_asgi(f"/webhooks/tradingview/{db}", sender)
    assert (status, answer["code"], answer["field"]) == (413, "payload_too_large", "body")
    assert sender.taken == 5 and count() == 0  # 5 x 16 KiB is the first read past 64 KiB


def test_a_declared_length_above_the_limit_is_413_without_reading(db):
    sender = Sender([b"x" * 16384] * 10)
    status, _ = call_asgi(f"/webhooks/tradingview/{db}", sender, {"Content-Length": "200000000"})
    assert status == 413 and sender.taken == 0


def test_a_client_that_goes_away_mid_body_leaves_one_info_line_and_no_traceback(db, caplog):
    caplog.set_level(logging.INFO)
    sender = Sender([b'{"ticker": "BTC'], disconnect=True)
    status, answer = call_asgi(f"/webhooks/tradingview/{db}", sender)
    assert answer["code"] == "client_disconnected" and count() == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert [r.levelno for r in caplog.records if "went away" in r.getMessage()] == [logging.INFO]


def test_a_body_slower_than_the_limit_is_408(db, monkeypatch):
    from app.ingest import routes

    monkeypatch.setattr(routes, "BODY_READ_SECONDS", 0.3)
    sender = Sender([b'{"ticker": ', b'"BTCUSDT"}'], delay=0.2)
    status, answer = call_asgi(f"/webhooks/tradingview/{db}", sender)
    assert (status, answer["code"]) == (408, "request_timeout") and count() == 0


def test_an_absurd_signature_timestamp_is_401(client, db):
    key = api_key(client)
    body = json.dumps({"symbol": "BTCUSDT", "action": "buy", "size": "0.001", "price": "60000"}).encode()
    for timestamp in ("9" * 5000, "²³".encode("latin-1"), "-5", " "):
        answer = client.post("/api/v1/signals", content=body, headers={
            "Authorization": f"Bearer {key}", "X-Tradewire-Timestamp": timestamp, "X-Tradewire-Signature": "ab" * 32})
        assert answer.status_code == 401 and answer.json()["code"] == "unauthenticated", timestamp
    assert count() == 0


# --- C: a replayed signed request places nothing --------------------------------------------


def test_a_replayed_signed_request_without_idempotency_key_is_a_duplicate(client, db):
    key = api_key(client, require_signature=True)
    body = json.dumps({"symbol": "BINANCE:DOGEUSDT", "action": "buy", "size": "100", "price": "0.1"}).encode()
    ts = int(time.time())
    headers = {"Authorization": f"Bearer {key}", "X-Tradewire-Timestamp": str(ts),
               "X-Tradewire-Signature": sign(key, ts, body)}
    first = client.post("/api/v1/signals", content=body, headers=headers).json()
    assert first["status"] == "accepted" and first["intents"] == 1
    again = client.post("/api/v1/signals", content=body, headers=headers)
    assert again.status_code == 202
    assert (again.json()["status"], again.json()["signal_id"], again.json()["intents"]) == (
        "duplicate", first["signal_id"], 0)
    assert [r.status for r in rows()] == ["accepted", "duplicate"] and count(OrderIntentRecord) == 1
    assert key not in rows()[1].raw_body
    # The same body signed again (a new timestamp) is a new request, not a replay.
    time.sleep(1.01)
    ts2 = int(time.time())
    fresh = client.post("/api/v1/signals", content=body, headers=headers | {
        "X-Tradewire-Timestamp": str(ts2), "X-Tradewire-Signature": sign(key, ts2, body)}).json()
    assert fresh["status"] != "duplicate" or "signed request" not in (fresh.get("reason") or "")


# --- D: disabling and rotating take effect at once, in every process -------------------------


def test_disable_and_rotate_take_effect_at_once(client, db):
    assert client.post(f"/webhooks/tradingview/{db}", content=corpus01_with_token(db)).status_code == 202
    assert client.post("/api/v1/strategies/default/disable", headers=ADMIN).status_code == 200
    assert client.post(f"/webhooks/tradingview/{db}", content=corpus01_with_token(db)).status_code == 401
    assert client.post("/api/v1/strategies/default/enable", headers=ADMIN).status_code == 200
    assert client.post(f"/webhooks/tradingview/{db}", content=corpus01_with_token(db)).status_code != 401
    new = client.post("/api/v1/strategies/default/rotate-token", headers=ADMIN).json()["token"]
    assert client.post(f"/webhooks/tradingview/{db}", content=corpus01_with_token(db)).status_code == 401
    assert client.post(f"/webhooks/tradingview/{new}", content=corpus01_with_token(new)).status_code != 401


def test_a_change_made_by_another_process_is_seen_at_once(client, db):
    from app.jobs.queue import get_redis
    from app.persistence.repositories import generation_key

    assert client.post(f"/webhooks/tradingview/{db}", content=corpus01_with_token(db)).status_code == 202  # cached
    with unit_of_work() as session:  # what another process's admin endpoint does: commit, then INCR
        session.execute(update(Strategy).where(Strategy.name == "default").values(enabled=False))
    get_redis().incr(generation_key())
    assert client.post(f"/webhooks/tradingview/{db}", content=corpus01_with_token(db)).status_code == 401


def test_disable_in_one_api_process_stops_another_at_once(client, db, tmp_path):
    port = free_port()
    api = spawn(["api"], {**os.environ, "TRADEWIRE_PORT": str(port)}, tmp_path / "api.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: ready(base), 20, "the API to be ready")
        url = f"{base}/webhooks/tradingview/{db}"
        assert httpx.post(url, content=corpus01_with_token(db)).status_code == 202  # now cached there
        assert client.post("/api/v1/strategies/default/disable", headers=ADMIN).status_code == 200  # this process
        assert httpx.post(url, content=corpus01_with_token(db)).status_code == 401
        new = client.post("/api/v1/strategies/default/rotate-token", headers=ADMIN).json()["token"]
        client.post("/api/v1/strategies/default/enable", headers=ADMIN)
        assert httpx.post(url, content=corpus01_with_token(db)).status_code == 401
        assert httpx.post(f"{base}/webhooks/tradingview/{new}", content=corpus01_with_token(new)).status_code != 401
    finally:
        stop(api)


# --- E: the authenticated secret is never stored -----------------------------------------------


def leak_bodies(token: str) -> list[bytes]:
    escaped = "".join(f"\\u{ord(c):04x}" for c in token)
    return [
        f"{{'passphrase': '{token}', 'ticker': 'BTCUSDT'}}".encode(),                   # single-quoted JSON
        f"passphrase: {token}\nticker: BTCUSDT\naction: buy".encode(),                  # YAML-ish text
        ('{"pass\\u0070hrase": "' + token + '", "ticker": "BTCUSDT"').encode(),       # escaped key, broken JSON
        json.dumps({"ticker": "BTCUSDT", "comment": f"see https://x.io/webhooks/tradingview/{token} now"}).encode(),
        json.dumps({"ticker": "BTCUSDT", "comment": f"passphrase={token}"}).encode(),  # inside a comment
        ('{"ticker": "BTCUSDT", "note": "' + escaped + '"}').encode(),                 # fully escaped
        ('{"ticker": "BTCUSDT", "note": "' + escaped + '"').encode(),                  # escaped, broken JSON
        json.dumps({"tradewire": 1, "symbol": f"{token}USDT", "action": "buy"}).encode(),  # in a reason
    ]


def test_the_url_token_is_redacted_from_everything_stored(client, db):
    for body in leak_bodies(db):
        assert client.post(f"/webhooks/tradingview/{db}", content=body).status_code < 500
    stored = rows()
    assert len(stored) == len(leak_bodies(db))
    for row in stored:
        text = f"{row.raw_body} {json.dumps(row.payload)} {row.reason}"
        assert db not in text, text


def test_the_api_key_is_redacted_from_everything_stored(client, db):
    key = api_key(client)
    bodies = [json.dumps({"symbol": "BTCUSDT", "action": "buy", "comment": f"key {key}"}).encode(),
              json.dumps({"symbol": "BTCUSDT", "action": "buy", "size": key}).encode()]
    for body in bodies:
        assert client.post("/api/v1/signals", content=body, headers={"Authorization": f"Bearer {key}"}).status_code < 500
    for row in rows():
        assert key not in f"{row.raw_body} {json.dumps(row.payload)} {row.reason}"


def test_redact_by_field_name_covers_other_syntaxes():
    from app.ingest.parsers.body import redact

    assert "hunter2" not in redact(b"{'passphrase': 'hunter2', 'x': 1}")
    assert "hunter2" not in redact(b"passphrase: hunter2\nticker: BTCUSDT")
    assert "hunter2" not in redact(b'{"pass\\u0070hrase": "hunter2", "x": ')
    assert "hunter2" not in redact(json.dumps({"comment": "passphrase=hunter2 please"}).encode())
    assert "BTCUSDT" in redact(b"passphrase: hunter2\nticker: BTCUSDT")


# --- F: RQ jobs are JSON, a pickled job never runs ----------------------------------------------

MARK = "/tmp/tradewire-pickle-ran-{}"


def mark(path: str) -> None:
    open(path, "w").close()


def test_jobs_are_json_and_a_pickled_job_is_never_run(client, db, tmp_path):
    from rq import Queue

    from app.jobs.queue import get_queue, get_redis
    from app.jobs.worker import run_worker

    assert client.post(f"/webhooks/tradingview/{db}", content=corpus01_with_token(db)).status_code == 202
    queue = get_queue("paper")
    job_id = queue.job_ids[0]
    data = zlib.decompress(get_redis().hget(f"rq:job:{job_id}", "data"))
    assert json.loads(data)[0] == "app.jobs.tasks.execute_intent"  # JSON, not a pickle
    queue.empty()
    path = str(tmp_path / "ran")
    Queue(queue.name, connection=get_redis()).enqueue("tests.test_ingest_security.mark", path)  # pickled, planted
    run_worker(["paper"], burst=True)
    assert not os.path.exists(path)
