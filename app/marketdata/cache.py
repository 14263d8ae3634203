"""The market-data cache in Redis: the one snapshot every process sees.

The streamer (``tradewire marketdata``) writes; the request path reads with one ``GET``
(``read_quote`` / ``usable_quote``) and never calls the network. Keys live under the queue
prefix (``TRADEWIRE_QUEUE_PREFIX``), values are JSON with Decimals as strings and times in
ISO 8601 (UTC):

* ``{prefix}:md:quote:{source}:{symbol}`` / ``…:md:book:{source}:{symbol}``: the latest
  ``Quote`` / ``OrderBook`` (kept a day, then dropped; staleness is judged by age, not TTL);
* ``{prefix}:md:wanted``: sorted set of ``source|symbol`` asked for (score: last request,
  Unix seconds), the streamer watches those asked within a day;
* ``{prefix}:md:wake``: list the streamer blocks on, pushed by ``request``;
* ``{prefix}:md:status:{source}``: the streamer's report for ``/readyz``; ``{prefix}:md:sources``.
"""

import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.config import get_settings
from app.domain.marketdata import OrderBook, Quote
from app.redis_client import get_redis

SNAPSHOT_TTL_SECONDS = 86_400
WANTED_WINDOW_SECONDS = 86_400  # a symbol asked for is watched this long after the last request
WAKE_MAX = 100  # entries kept in the wake list (the streamer only needs one)
POLL_SECONDS = 0.05  # wait_for_quote's pause between cache reads
STATUS_STALE_SECONDS = 15.0  # a streamer that has not reported for longer is taken as stopped
MODES = ("stream", "poll", "down", "idle")


def _prefix() -> str:
    return f"{get_settings().queue_prefix}:md"


def quote_key(source: str, symbol: str) -> str:
    return f"{_prefix()}:quote:{source}:{symbol}"


def book_key(source: str, symbol: str) -> str:
    return f"{_prefix()}:book:{source}:{symbol}"


def wanted_key() -> str:
    return f"{_prefix()}:wanted"


def wake_key() -> str:
    return f"{_prefix()}:wake"


def status_key(source: str) -> str:
    return f"{_prefix()}:status:{source}"


def sources_key() -> str:
    return f"{_prefix()}:sources"


# ---------------------------------------------------------------------------- encoding
def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _parse_dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def encode_quote(q: Quote) -> str:
    return json.dumps({"bid": _dec(q.bid), "ask": _dec(q.ask), "last": _dec(q.last),
                       "ts": _time(q.ts_exchange), "rx": _time(q.received_at)})


def decode_quote(source: str, symbol: str, raw: bytes | str) -> Quote:
    d = json.loads(raw)
    received = _parse_time(d["rx"])
    assert received is not None
    return Quote(source, symbol, _parse_dec(d["bid"]), _parse_dec(d["ask"]), _parse_dec(d["last"]),
                 _parse_time(d["ts"]), received)


def encode_book(b: OrderBook) -> str:
    return json.dumps({"bids": [[str(p), str(a)] for p, a in b.bids], "asks": [[str(p), str(a)] for p, a in b.asks],
                       "ts": _time(b.ts_exchange), "rx": _time(b.received_at)})


def decode_book(source: str, symbol: str, raw: bytes | str) -> OrderBook:
    d = json.loads(raw)
    received = _parse_time(d["rx"])
    assert received is not None
    return OrderBook(source, symbol, tuple((Decimal(p), Decimal(a)) for p, a in d["bids"]),
                     tuple((Decimal(p), Decimal(a)) for p, a in d["asks"]), _parse_time(d["ts"]), received)


# ---------------------------------------------------------------------------- snapshots
def write_quote(q: Quote) -> None:
    get_redis().set(quote_key(q.source, q.symbol), encode_quote(q), ex=SNAPSHOT_TTL_SECONDS)


def write_book(b: OrderBook) -> None:
    get_redis().set(book_key(b.source, b.symbol), encode_book(b), ex=SNAPSHOT_TTL_SECONDS)


def read_quote(source: str, symbol: str) -> Quote | None:
    """The cached quote of ``symbol`` on ``source``, however old; None if there is none. One Redis GET."""
    raw = get_redis().get(quote_key(source, symbol))
    return None if raw is None else decode_quote(source, symbol, raw)  # type: ignore[arg-type]


def read_book(source: str, symbol: str) -> OrderBook | None:
    """The cached book (top 20 levels a side), however old; None if there is none. One Redis GET."""
    raw = get_redis().get(book_key(source, symbol))
    return None if raw is None else decode_book(source, symbol, raw)  # type: ignore[arg-type]


def _seconds(value: float) -> str:
    return f"{value:g}"


def freshness(source: str, symbol: str, snapshot: Quote | OrderBook | None, max_age_seconds: float,
              now: datetime | None = None, what: str = "quote") -> str | None:
    """None if ``snapshot`` is usable at ``now``, else the reason (no snapshot yet / too old)."""
    if snapshot is None:
        return f"no {what} for {symbol} on {source} yet"
    age = snapshot.age(now or datetime.now(UTC))
    if age > max_age_seconds:
        return f"no fresh {what} for {symbol} on {source}: last {age:.1f} s old, max {_seconds(max_age_seconds)} s"
    return None


def usable_quote(source: str, symbol: str, max_age_seconds: float,
                 now: datetime | None = None) -> tuple[Quote | None, str | None]:
    """(the quote, None) when the cached quote is at most ``max_age_seconds`` old at ``now``
    (``Quote.age``); else (None, the reason), e.g. "no fresh quote for BTC/USDT on binance: last
    12.3 s old, max 5 s" or "no quote for BTC/USDT on binance yet". One Redis GET; Redis
    errors propagate (``redis.RedisError``)."""
    q = read_quote(source, symbol)
    reason = freshness(source, symbol, q, max_age_seconds, now)
    return (q, None) if reason is None else (None, reason)


def usable_quote_or_status(source: str, symbol: str, max_age_seconds: float,
                           now: datetime | None = None) -> tuple[Quote | None, str | None, dict[str, Any] | None]:
    """``usable_quote`` and, when there is no usable quote, the source's ``status`` (why there
    may be none): (quote, None, None) or (None, reason, status). One Redis MGET."""
    raw_quote, raw_status = get_redis().mget(quote_key(source, symbol), status_key(source))
    q = None if raw_quote is None else decode_quote(source, symbol, raw_quote)  # type: ignore[arg-type]
    reason = freshness(source, symbol, q, max_age_seconds, now)
    return (q, None, None) if reason is None else (None, reason, _status(raw_status, now))


def usable_book(source: str, symbol: str, max_age_seconds: float,
                now: datetime | None = None) -> tuple[OrderBook | None, str | None]:
    """``usable_quote`` for the cached book ("no fresh book for …")."""
    b = read_book(source, symbol)
    reason = freshness(source, symbol, b, max_age_seconds, now, what="book")
    return (b, None) if reason is None else (None, reason)


# ---------------------------------------------------------------------------- subscriptions
def request(source: str, symbol: str) -> None:
    """Ask the streamer to watch ``symbol`` on ``source`` (from now for a day after the last
    request) and wake it so a new symbol is subscribed at once. Two Redis commands, one round trip."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.zadd(wanted_key(), {f"{source}|{symbol}": time.time()})
    pipe.lpush(wake_key(), f"{source}|{symbol}")
    pipe.ltrim(wake_key(), 0, WAKE_MAX - 1)
    pipe.execute()


def candles_wanted_key() -> str:
    return f"{_prefix()}:candles_wanted"


def request_candles(source: str, symbol: str, timeframe: str) -> None:
    """Ask the streamer to keep ``timeframe`` candles of ``symbol`` on ``source`` synced (for a
    day after the last request), besides watching its quotes: ATR sizing of a signal whose
    timeframe has no stored candles yet asks for them."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.zadd(candles_wanted_key(), {f"{source}|{symbol}|{timeframe}": time.time()})
    pipe.zadd(wanted_key(), {f"{source}|{symbol}": time.time()})
    pipe.lpush(wake_key(), f"{source}|{symbol}")
    pipe.ltrim(wake_key(), 0, WAKE_MAX - 1)
    pipe.execute()


def candles_wanted(window_seconds: float = WANTED_WINDOW_SECONDS) -> set[tuple[str, str, str]]:
    """(source, symbol, timeframe) asked for within ``window_seconds``, newest requests first served."""
    redis = get_redis()
    cutoff = time.time() - window_seconds
    redis.zremrangebyscore(candles_wanted_key(), "-inf", cutoff)
    found = set()
    for member in redis.zrangebyscore(candles_wanted_key(), cutoff, "+inf"):
        parts = (member.decode() if isinstance(member, bytes) else member).split("|")
        if len(parts) == 3 and all(parts):
            found.add((parts[0], parts[1], parts[2]))
    return found


def wanted(window_seconds: float = WANTED_WINDOW_SECONDS) -> set[tuple[str, str]]:
    """(source, symbol) pairs requested within ``window_seconds``; older ones are dropped from Redis."""
    redis = get_redis()
    cutoff = time.time() - window_seconds
    redis.zremrangebyscore(wanted_key(), "-inf", cutoff)
    members = redis.zrangebyscore(wanted_key(), cutoff, "+inf")
    pairs = set()
    for member in members:
        source, _, symbol = (member.decode() if isinstance(member, bytes) else member).partition("|")
        if source and symbol:
            pairs.add((source, symbol))
    return pairs


def wait_for_quote(source: str, symbol: str, max_age_seconds: float,
                   timeout_seconds: float = 2.0) -> tuple[Quote | None, str | None]:
    """``usable_quote``, after ``request``ing the symbol and waiting up to ``timeout_seconds``
    (cache reads every 50 ms) for the streamer to deliver a usable quote. Returns the last
    ``usable_quote`` answer: (quote, None) or (None, reason)."""
    found, reason = usable_quote(source, symbol, max_age_seconds)
    if found is not None:
        return found, None
    request(source, symbol)
    deadline = time.monotonic() + timeout_seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, reason
        time.sleep(min(POLL_SECONDS, remaining))
        found, reason = usable_quote(source, symbol, max_age_seconds)
        if found is not None:
            return found, None


# ---------------------------------------------------------------------------- status
def write_status(source: str, report: dict[str, Any]) -> None:
    """The streamer's report on ``source``: ``mode``, ``updated_at``, ``last_error``, ``symbols``;
    stamped with ``reported_at`` (now)."""
    redis = get_redis()
    pipe = redis.pipeline(transaction=False)
    pipe.set(status_key(source), json.dumps({**report, "reported_at": datetime.now(UTC).isoformat()}),
             ex=SNAPSHOT_TTL_SECONDS)
    pipe.sadd(sources_key(), source)
    pipe.execute()


def status(source: str, now: datetime | None = None) -> dict[str, Any]:
    """What ``/readyz`` says about ``source``: ``mode`` ("stream": WebSocket feeding; "poll":
    REST polling fallback; "down": neither works, or no market-data process reports; "idle":
    nothing to watch), ``updated_at`` (last snapshot written, ISO 8601), ``last_error``,
    ``symbols`` (watched), ``reported_at``."""
    return _status(get_redis().get(status_key(source)), now)


def _status(raw: Any, now: datetime | None = None) -> dict[str, Any]:
    if raw is None:
        return {"mode": "down", "updated_at": None, "symbols": [], "reported_at": None,
                "last_error": "no market-data process (tradewire marketdata) has reported"}
    report: dict[str, Any] = json.loads(raw)  # type: ignore[arg-type]
    reported = _parse_time(report.get("reported_at"))
    silent = ((now or datetime.now(UTC)) - reported).total_seconds() if reported else float("inf")
    if silent > STATUS_STALE_SECONDS:
        report["last_error"] = f"the market-data process has not reported for {silent:.0f} s"
        report["mode"] = "down"
    return report


def reported_sources() -> set[str]:
    """Every source a streamer has reported on."""
    members = get_redis().smembers(sources_key())
    return {m.decode() if isinstance(m, bytes) else m for m in members}  # type: ignore[union-attr]


def all_status(sources: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """``status`` of each of ``sources`` (default: every source a streamer has reported on), by name."""
    names = reported_sources() if sources is None else set(sources)
    return {source: status(source) for source in sorted(names)}
