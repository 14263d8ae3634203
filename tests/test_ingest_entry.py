"""One ingest entry point: every source (the two webhooks, /api/v1/signals, /api/v1/predictions,
the poller) and the dry run decode a request's body exactly once, whatever it takes to
authenticate it (a body secret, a strategy named in the body, a signature, a replay check,
the poller's "already recorded" skip), and whatever becomes of it (accepted, invalid,
duplicate)."""

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.db import unit_of_work
from app.ingest.auth import sign
from app.ingest.poller import poll_once
from app.persistence.models import SignalRecord
from tests.conftest import ADMIN_TOKEN, corpus, corpus01_with_token
from tests.test_poller import ENV, PredictionApi, config, prediction, prediction_api  # noqa: F401 (fixture)

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SIGNAL = {"symbol": "BTCUSDT", "action": "buy", "size": "0.001", "price": "60000"}


@pytest.fixture
def decodes(monkeypatch) -> Callable[[Callable[[], Any]], tuple[int, Any]]:
    """``decodes(call)`` → (how many times ``app.ingest.parsers.body.decode`` ran during
    ``call``, what ``call`` returned). Every module holding its own name for ``decode`` is
    patched too, so a second decoding cannot hide behind a ``from ... import decode``."""
    import app.ingest.parsers.body as body

    real, calls = body.decode, []

    def counting(raw: bytes) -> Any:
        calls.append(raw)
        return real(raw)

    for module in [m for name, m in sys.modules.items() if name.startswith("app.") and m is not None]:
        if getattr(module, "decode", None) is real:
            monkeypatch.setattr(module, "decode", counting)

    def measure(call: Callable[[], Any]) -> tuple[int, Any]:
        calls.clear()
        result = call()
        return len(calls), result

    return measure


def api_key(client, *, require_signature: bool = False) -> str:
    answer = client.post("/api/v1/api-keys", headers=ADMIN,
                         json={"name": "entry", "strategies": ["default"], "require_signature": require_signature})
    assert answer.status_code == 201, answer.text
    return answer.json()["key"]


def statuses() -> list[str]:
    with unit_of_work() as session:
        return list(session.execute(select(SignalRecord.status).order_by(SignalRecord.received_at)).scalars())


def test_a_webhook_with_the_token_in_the_url_is_decoded_once(client, db, decodes):
    count, answer = decodes(lambda: client.post(f"/webhooks/tradingview/{db}", content=corpus01_with_token(db)))
    assert (answer.status_code, answer.json()["status"], count) == (202, "accepted", 1)


def test_a_webhook_with_the_secret_in_the_body_is_decoded_once(client, db, decodes):
    count, answer = decodes(lambda: client.post("/webhooks/tradingview", content=corpus01_with_token(db)))
    assert (answer.status_code, answer.json()["status"], count) == (202, "accepted", 1)
    count, answer = decodes(lambda: client.post("/webhooks/tradingview", content=corpus01_with_token(db)))
    assert (answer.status_code, answer.json()["status"], count) == (202, "duplicate", 1)
    assert statuses() == ["accepted", "duplicate"]
    with unit_of_work() as session:
        assert db not in "".join(session.execute(select(SignalRecord.raw_body)).scalars())  # the secret, redacted


def test_an_undecodable_body_with_its_secret_is_recorded_invalid_after_one_decode(client, db, decodes):
    body = b'{"passphrase": "' + db.encode() + b'", "ticker": "BTC\xffUSDT", "action": "buy"}'
    count, answer = decodes(lambda: client.post("/webhooks/tradingview", content=body))
    assert (answer.status_code, answer.json()["field"], count) == (422, "body", 1)
    count, answer = decodes(lambda: client.post("/webhooks/tradingview", content=b'{"ticker": "BTCUSDT"}'))
    assert (answer.status_code, count) == (401, 1)  # no secret: refused, nothing stored
    assert statuses() == ["invalid"]


def test_a_canonical_signal_naming_its_strategy_in_the_body_is_decoded_once(client, db, decodes):
    key = api_key(client)
    body = json.dumps(SIGNAL | {"strategy": "default"})
    count, answer = decodes(lambda: client.post("/api/v1/signals", content=body, headers={"Authorization": f"Bearer {key}"}))
    assert (answer.status_code, answer.json()["status"], count) == (202, "accepted", 1)


def test_a_signed_signal_and_its_replay_are_each_decoded_once(client, db, decodes):
    key = api_key(client, require_signature=True)
    body = json.dumps(SIGNAL).encode()
    stamp = str(int(time.time()))
    headers = {"Authorization": f"Bearer {key}", "X-Tradewire-Timestamp": stamp,
               "X-Tradewire-Signature": sign(key, stamp, body)}
    count, first = decodes(lambda: client.post("/api/v1/signals", content=body, headers=headers))
    assert (first.status_code, first.json()["status"], count) == (202, "accepted", 1)
    count, replay = decodes(lambda: client.post("/api/v1/signals", content=body, headers=headers))
    assert (replay.status_code, replay.json()["status"], count) == (202, "duplicate", 1)
    assert replay.json()["signal_id"] == first.json()["signal_id"]


def test_a_prediction_is_decoded_once(client, db, decodes):
    key = api_key(client)
    fresh = corpus("30")["rendered"] | {"timestamp": datetime.now(UTC).isoformat()}
    count, answer = decodes(lambda: client.post("/api/v1/predictions", json=fresh,
                                                headers={"Authorization": f"Bearer {key}"}))
    # Decided either way (a prediction carries no price: paper may lack a quote to size it).
    assert (answer.status_code, count) == (202, 1) and answer.json()["status"] in ("accepted", "rejected")


def test_the_dry_run_is_decoded_once(client, db, decodes):
    key = api_key(client)
    count, answer = decodes(lambda: client.post("/api/v1/signals/dry-run", content=corpus01_with_token("x"),
                                                headers={"Authorization": f"Bearer {key}"}))
    assert (answer.status_code, answer.json()["approved"], count) == (200, True, 1)
    count, answer = decodes(lambda: client.post("/api/v1/signals/dry-run", content=b"\xff\xfe",
                                                headers={"Authorization": f"Bearer {key}"}))
    assert (answer.status_code, count) == (422, 1)
    assert statuses() == []


def test_the_poller_decodes_each_answer_once_and_skips_what_is_recorded(db, prediction_api, decodes):  # noqa: F811
    now = datetime.now(UTC)
    PredictionApi.answers = {("ETHUSDT", "1h"): prediction("ETHUSDT", "1h", timestamp=now.isoformat())}
    cfg = config(prediction_api, [{"symbol": "ETHUSDT", "timeframe": "1h"}])
    assert decodes(lambda: poll_once(cfg, now, env=ENV)) == (1, 1)
    assert decodes(lambda: poll_once(cfg, now + timedelta(minutes=5), env=ENV)) == (1, 0)  # already recorded
    assert len(statuses()) == 1
