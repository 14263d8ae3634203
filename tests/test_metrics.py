"""GET /metrics after API activity (webhooks) and worker activity (a real RQ worker, burst)."""

from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families
from rq.job import Job

from app.jobs.queue import get_queue, get_redis
from tests.test_admin import alert, send
from tests.conftest import drain_queues


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_metrics_count_signals_decisions_queue_fills_errors_and_latency(client, db, admin, services):
    send(client, db, alert("DOGE", minute=1))
    send(client, db, alert("XRP", minute=2))
    send(client, db, alert("ADA", size="500000", minute=3))  # 50,000 USDT: the paper venue refuses it
    client.post(f"/webhooks/tradingview/{db}", content=b"not a signal at all {{close}}")
    queue = f"{services['TRADEWIRE_QUEUE_PREFIX']}-paper"
    paper = get_queue("paper")
    waiting = [Job.fetch(job_id, connection=get_redis(), serializer=paper.serializer) for job_id in paper.get_job_ids()]
    oldest = min(utc(job.enqueued_at) for job in waiting)
    scrape_from = datetime.now(UTC)
    before = scrape(client)
    scrape_to = datetime.now(UTC)
    assert value(before, "tradewire_queue_depth", queue=queue) == 3
    # the first alert's job, measured at the scrape: between its age when the scrape began and ended
    age = value(before, "tradewire_queue_oldest_job_age_seconds", queue=queue)
    assert (scrape_from - oldest).total_seconds() <= age <= (scrape_to - oldest).total_seconds()
    assert value(before, "tradewire_signals_total", source="tradingview", dialect="tradewire", status="accepted") == 3

    drain_queues()
    client.put("/api/v1/accounts/paper/trading-state", json={"state": "HALTED"}, headers=admin)
    send(client, db, alert("SOL", minute=4))
    after = scrape(client)
    assert value(after, "tradewire_queue_depth", queue=queue) == 0
    assert value(after, "tradewire_queue_oldest_job_age_seconds", queue=queue) == 0
    assert value(after, "tradewire_signals_total", source="tradingview", dialect="", status="invalid") == 1
    assert value(after, "tradewire_signals_total", source="tradingview", dialect="tradewire", status="rejected") == 1
    assert value(after, "tradewire_risk_decisions_total", outcome="approved", failed_check="none") == 3
    assert value(after, "tradewire_risk_decisions_total", outcome="denied", failed_check="trading_state") == 1
    assert value(after, "tradewire_fills_total", venue="paper") == 2
    assert value(after, "tradewire_orders", venue="paper", status="FILLED") == 2
    assert value(after, "tradewire_venue_errors_total", venue="paper", **{"class": "insufficient_funds"}) == 1
    assert value(after, "tradewire_order_latency_seconds_count", venue="paper", span="signal_to_filled") == 2
    assert value(after, "tradewire_order_latency_seconds_count", venue="paper", span="signal_to_submitted") == 3
    filled_bucket = value(after, "tradewire_order_latency_seconds_bucket", venue="paper", span="signal_to_filled",
                          le="+Inf")
    assert filled_bucket == 2
    assert value(after, "tradewire_account_trading_state", account="paper", state="HALTED") == 1
    assert value(after, "tradewire_up", store="postgresql") == 1 and value(after, "tradewire_up", store="redis") == 1


def test_metrics_need_no_token_and_name_everything_tradewire(client):
    answer = client.get("/metrics")
    names = {family.name for family in text_string_to_metric_families(answer.text)}
    assert names and all(name.startswith("tradewire_") for name in names)
