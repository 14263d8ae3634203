"""The security counts in ``/metrics`` (read from Redis at scrape time, like every other number):

- ``tradewire_auth_failures_total{kind}``: failed authentications (``admin``, ``api_key``,
  ``webhook``, ``metrics``), all addresses
- ``tradewire_auth_throttled_total{kind}``: of those, answered 429 (over the failure limit)
- ``tradewire_signals_throttled_total{kind,name}``: signals refused by the per-minute ceiling,
  per strategy (``kind="strategy"``, its name) and per API key (``kind="api_key"``, its id)
- ``tradewire_rate_limit{limit}``: the configured limits (``auth_failures``,
  ``auth_failure_window_seconds``, ``signals_per_minute``)
"""

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.security.ratelimit import KINDS, counters
from app.security.settings import get_security_settings

log = logging.getLogger(__name__)


class SecurityCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        settings = get_security_settings()
        limits = GaugeMetricFamily("tradewire_rate_limit", "Configured rate limits", labels=["limit"])
        limits.add_metric(["auth_failures"], settings.auth_failure_limit)
        limits.add_metric(["auth_failure_window_seconds"], settings.auth_failure_window_seconds)
        limits.add_metric(["signals_per_minute"], settings.signals_per_minute)
        yield limits
        try:
            counts = counters()
        except Exception as e:  # Redis down: tradewire_up{store="redis"} says so
            log.warning("metrics: security counters unavailable", extra={"error": type(e).__name__})
            return
        failures = CounterMetricFamily("tradewire_auth_failures", "Failed authentications", labels=["kind"])
        throttled = CounterMetricFamily("tradewire_auth_throttled", "Failed authentications answered 429",
                                        labels=["kind"])
        for kind in KINDS:
            failures.add_metric([kind], counts.get(f"auth_failures:{kind}", 0))
            throttled.add_metric([kind], counts.get(f"auth_refused:{kind}", 0))
        signals = CounterMetricFamily("tradewire_signals_throttled", "Signals refused by the per-minute ceiling",
                                      labels=["kind", "name"])
        for field, count in sorted(counts.items()):
            if field.startswith("throttled:"):
                _, kind, name = field.split(":", 2)
                signals.add_metric([kind, name], count)
        yield failures
        yield throttled
        yield signals

    def describe(self) -> list[Metric]:
        return []
