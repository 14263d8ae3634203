"""The prediction poller: pull predictions from configured prediction APIs and ingest them.

For each ``[pollers.NAME]`` of the TOML file (``app.config_file.PollerConfig``) and each of its
markets: ``GET {base_url}{path}?{query}`` (default ``/v1/predictions?symbol=&timeframe=``) with
the key from the environment variable ``api_key_env`` as ``Authorization: Bearer``, a named
header or a query parameter (``auth``, ``auth_name``) (httpx), then the answer goes through
``entry.ingest_answer`` read by the poller's ``dialect`` (default ``prediction``; a built-in
prediction dialect or a ``[dialects]`` mapping of the same file), picking the market's symbol
and timeframe from a many-entry answer, as signals of the poller's strategy, exactly as if it
had been posted to ``/api/v1/predictions``. A market without a symbol asks for every symbol
(query parameters that render empty are left out) and records one signal per symbol of the
answer. The prediction's idempotency key is derived from its symbol, timeframe, prediction and
timestamp, so an answer already recorded is skipped without a new row and re-polling never
trades twice.

No database transaction is open during an HTTP call. One failing market (HTTP error, time-out,
missing key) is logged, never the key, and the others are still polled.

The scheduler calls ``poll_once(config, now, last_polled=state)`` on every tick with one
``state`` dict kept across ticks; ``due`` decides which pollers' intervals have come round.
"""

import logging
import os
from collections.abc import Mapping
from datetime import datetime, timedelta

import httpx
from sqlalchemy.orm import Session

from app.config_file import FileConfig, PollerConfig, PollerMarket
from app.domain.enums import SignalStatus, Source
from app.errors import AppError
from app.ingest.auth import strategy_by_name
from app.ingest.entry import Admit, Admitted, Entry, ingest_answer
from app.ingest.parsers import dialect_spec
from app.ingest.parsers.body import MAX_BODY_BYTES
from app.ingest.parsers.picking import base_of
from app.security.bounded import get_bounded
from app.ingest.received import Received
from app.ingest.service import InvalidSignal

log = logging.getLogger(__name__)


def due(poller: PollerConfig, last_polled: datetime | None, now: datetime) -> bool:
    """True when ``poller`` has never run (``last_polled`` None) or its ``interval_seconds``
    have passed since ``last_polled``. Times are UTC-aware."""
    return last_polled is None or now - last_polled >= timedelta(seconds=poller.interval_seconds)


def poll_once(
    config: FileConfig,
    now: datetime,
    *,
    last_polled: dict[str, datetime] | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Poll every due poller of ``config`` once; returns how many new signals were recorded
    (accepted, rejected or invalid; answers already recorded are not counted).

    ``last_polled`` (poller name → last poll time) is read by ``due`` and updated in place;
    None polls every poller. ``env`` defaults to ``os.environ`` (where the keys live).
    Never raises for a failing poller: it is logged and retried at its next interval.
    """
    environment = os.environ if env is None else env
    recorded = 0
    for name, poller in config.pollers.items():
        if last_polled is not None and not due(poller, last_polled.get(name), now):
            continue
        if last_polled is not None:
            last_polled[name] = now
        try:
            recorded += _poll(name, poller, environment, config)
        except Exception:
            log.exception("poller %s failed; retrying in %s s", name, poller.interval_seconds)
    return recorded


def _poll(name: str, poller: PollerConfig, environment: Mapping[str, str], config: FileConfig) -> int:
    key = environment.get(poller.api_key_env)
    if not key:
        log.error("poller %s: environment variable %s is not set; skipped", name, poller.api_key_env)
        return 0
    recorded = 0
    headers = {"Authorization": f"Bearer {key}"} if poller.auth == "bearer" else {}
    if poller.auth == "header" and poller.auth_name:
        headers[poller.auth_name] = key
    with httpx.Client(timeout=poller.timeout_seconds, headers=headers) as client:
        for market in poller.markets:
            body = _fetch(name, poller, market, client, key)
            if body is not None:
                recorded += _ingest(name, poller, market, body, config)
    return recorded


def _query(poller: PollerConfig, market: PollerMarket, key: str) -> dict[str, str]:
    """The query of ``poller.query`` for ``market`` ({symbol}, {timeframe}, {base}; a parameter
    that renders empty, as {symbol} of a market without one, is left out), plus the key when it
    travels as a query parameter."""
    symbol = market.symbol or ""
    fields = {"symbol": symbol, "timeframe": market.timeframe, "base": base_of(symbol) if symbol else ""}
    params = {name: text for name, template in poller.query.items() if (text := template.format(**fields))}
    if poller.auth == "query" and poller.auth_name:
        params[poller.auth_name] = key
    return params


def _fetch(name: str, poller: PollerConfig, market: PollerMarket, client: httpx.Client, key: str) -> bytes | None:
    """The answer's raw bytes, or None (logged) for a transport error, a non-2xx answer or a
    body above 64 KiB. Nothing logged carries the key (a query-parameter key is in the URL)."""
    url = poller.base_url.rstrip("/") + poller.path
    try:  # read as a stream, cut at the limit: never the whole answer before the size check
        response = get_bounded(client, url, limit=MAX_BODY_BYTES, params=_query(poller, market, key))
    except httpx.HTTPError as e:
        log.warning("poller %s: %s %s: %s", name, market.symbol or "*", market.timeframe, type(e).__name__)
        return None
    if not response.is_success:
        log.warning("poller %s: %s %s: HTTP %s", name, market.symbol or "*", market.timeframe, response.status_code)
        return None
    if response.content is None:
        log.warning("poller %s: %s %s: answer of %s bytes is above the 64 KiB limit",
                    name, market.symbol or "*", market.timeframe, response.size)
        return None
    return response.content


def _ingest(name: str, poller: PollerConfig, market: PollerMarket, body: bytes, config: FileConfig) -> int:
    """Ingest one answer (one signal per symbol when the market names none); returns how many
    new signal rows were written. A signal whose idempotency key is already recorded is skipped
    without a new row, so re-polling an unchanged prediction never trades twice. (A prediction
    without a timestamp gets a key from the time it was received, so each poll records it anew.)"""
    dialect = dialect_spec(poller.dialect, symbol=market.symbol, timeframe=market.timeframe)
    received = Received.read(body, source=Source.PREDICTION, content_type="application/json", dialect=dialect,
                             dialects=config.dialects)
    try:
        entries = ingest_answer(received, _by_name(name, poller), skip_recorded=True)
    except AppError as e:
        log.warning("poller %s: %s %s: %s", name, market.symbol or "*", market.timeframe, e.message)
        return 0
    return sum(_new(name, market, entry) for entry in entries or ())


def _new(name: str, market: PollerMarket, entry: Entry) -> bool:
    """True when ``entry`` wrote a new signal row (an invalid one is logged)."""
    outcome = entry.outcome
    if outcome is None:
        return False
    if isinstance(outcome, InvalidSignal):
        log.warning("poller %s: %s %s: invalid prediction (signal %s): %s", name,
                    entry.symbol or market.symbol or "*", market.timeframe, outcome.signal_id, outcome.message)
        return True
    return outcome.status != SignalStatus.DUPLICATE


def _by_name(name: str, poller: PollerConfig) -> Admit:
    """Admit the answer as a signal of the poller's strategy (dropped, logged, when it is gone)."""
    def admit(session: Session, received: Received) -> Admitted | None:
        strategy = strategy_by_name(session, poller.strategy)
        if strategy is None:
            log.error("poller %s: no enabled strategy %r; create it or fix pollers.%s.strategy",
                      name, poller.strategy, name)
            return None
        return Admitted(strategy)

    return admit
