"""What the market says when a signal is decided: read from the market-data cache (one Redis
GET) and the stored candles, never from the network (DESIGN.md, "Market data").

``market_view`` gathers, before the decision's lock is taken:
* the quote of the signal's symbol on the account's market-data source, if fresh. A signal
  that needs a price and carries none waits at most ``FIRST_QUOTE_WAIT_SECONDS`` for a symbol
  nobody asked about yet (it is subscribed now); one that carries a price never waits;
* Wilder's ATR(14) of the signal's timeframe (default 1h) from stored candles, when ATR sizing
  needs it and the signal brings none (missing candles are requested and waited for within
  the same bound).

The engine then says which price it used and why (``reference_price``).
"""

import logging
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal, localcontext

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config_file import AccountConfig, RiskLimits, market_data_source
from app.domain.enums import OrderSide
from app.domain.indicators import wilder_atr
from app.domain.marketdata import Quote
from app.domain.money import MONEY_CONTEXT, fmt
from app.domain.signal import LimitOffset, Signal
from app.marketdata import cache
from app.marketdata.candles import recent_candles
from app.marketdata.sources import source_config
from app.persistence.models import Account
from app.risk.sizing import ATR_KEYS

log = logging.getLogger(__name__)
FIRST_QUOTE_WAIT_SECONDS = 2.0
ATR_PERIOD = 14
DEFAULT_TIMEFRAME = "1h"
_SOURCE_TTL_SECONDS = 30.0
_sources: dict[uuid.UUID, tuple[float, tuple[str | None, float, RiskLimits]]] = {}


@dataclass(frozen=True)
class MarketView:
    """The market as one decision sees it. ``quote`` None: ``quote_reason`` says why (no
    source, none yet, too old); ``atr`` (quote currency) None: ``atr_reason`` says why, or both
    None when no ATR was needed."""

    source: str | None = None
    quote: Quote | None = None
    quote_reason: str | None = "no market data"
    atr: Decimal | None = None
    atr_reason: str | None = None
    atr_timeframe: str | None = None


NO_MARKET = MarketView()


def market_view(session: Session, account_id: uuid.UUID, signal: Signal, *, wait: bool = True) -> MarketView:
    """The ``MarketView`` for ``signal`` on ``account_id`` (see the module). ``wait``: allow
    the bounded wait for a first quote or missing candles (the dry run does not wait)."""
    if "/" not in signal.symbol:  # "*": an account-wide or portfolio signal names no market to watch
        return MarketView(quote_reason=f"{signal.symbol!r} is not a market")
    source, max_age, limits = _account_source(session, account_id)
    if source is None:
        return MarketView(quote_reason="the account has no market-data source")
    deadline = time.monotonic() + (FIRST_QUOTE_WAIT_SECONDS if wait else 0)
    try:
        quote, reason, state = cache.usable_quote_or_status(source, signal.symbol, max_age)
        if quote is None:
            cache.request(source, signal.symbol)
            if state.get("mode") not in ("stream", "poll"):
                reason = f"{reason} (the {source} market data is {state.get('mode')}: {_why(state)})"
            elif wait and _needs_market_price(signal):
                quote, reason = cache.wait_for_quote(source, signal.symbol, max_age, FIRST_QUOTE_WAIT_SECONDS)
    except Exception as e:  # Redis down: decide on the signal's own price
        log.warning("market data not read: %s", e)
        return MarketView(source, quote_reason=f"market data unavailable ({type(e).__name__})")
    atr, atr_reason, timeframe = _atr(session, source, signal, limits, deadline)
    return MarketView(source, quote, reason, atr, atr_reason, timeframe)


def reference_price(signal: Signal, market: MarketView, side: OrderSide) -> tuple[Decimal | None, str]:
    """The price notionals and sizing use, and the words saying where it came from: the limit
    price, the sender's ``price``, else the fresh quote (the ask for a buy, the bid for a sell)."""
    if signal.limit_price is not None:
        return signal.limit_price, f"limit price {fmt(signal.limit_price)}"
    if signal.price is not None:
        if market.quote is None:
            return signal.price, f"the sender's price {fmt(signal.price)} ({market.quote_reason})"
        return signal.price, f"the sender's price {fmt(signal.price)}"
    quote = market.quote
    if quote is not None:
        price = quote.ask if side == OrderSide.BUY else quote.bid
        if price is not None:
            word = "ask" if side == OrderSide.BUY else "bid"
            return price, f"the {market.source} {word} {fmt(price)} (no price in the signal)"
    return None, f"no price: the signal has none and {market.quote_reason}"


def offset_limit(offset: LimitOffset, side: OrderSide, quote: Quote, tick: Decimal | None) -> Decimal | None:
    """The limit price ``offset`` from the passive side of ``quote`` (bid for a buy, ask for a
    sell); None without that side, or ticks without a known tick size."""
    base = quote.bid if side == OrderSide.BUY else quote.ask
    if base is None:
        return None
    with localcontext(MONEY_CONTEXT):
        if offset.percent is not None:
            return base * (1 + offset.percent / 100)
        return None if tick is None else base + tick * offset.ticks


def deviation_bps(price: Decimal, quote: Quote) -> tuple[Decimal, Decimal] | None:
    """(|price − mid| / mid in basis points, mid) of a sender's price against the market."""
    mid = quote.mid or quote.last
    if mid is None or mid <= 0:
        return None
    with localcontext(MONEY_CONTEXT):
        return abs(price - mid) / mid * 10_000, mid


def _why(state: dict) -> str:
    """A market-data source's status in a few words (a first quote is only waited for while the
    source streams or polls; offline, the decision goes on at once and says so)."""
    return state.get("note") or state.get("last_error") or "no market-data process reports it"


def _needs_market_price(signal: Signal) -> bool:
    return signal.price is None and signal.limit_price is None or signal.limit_offset is not None


def _atr(session: Session, source: str, signal: Signal, limits: RiskLimits | None,
         deadline: float) -> tuple[Decimal | None, str | None, str | None]:
    if limits is None or limits.sizing != "atr_risk" or signal.size is not None:
        return None, None, None
    if any(k in signal.indicators for k in ATR_KEYS):
        return None, None, None
    timeframe = signal.timeframe or DEFAULT_TIMEFRAME
    try:
        candles = recent_candles(source, signal.symbol, timeframe, ATR_PERIOD + 1, sync=False)
        if len(candles) < ATR_PERIOD + 1:
            cache.request_candles(source, signal.symbol, timeframe)
            while len(candles) < ATR_PERIOD + 1 and time.monotonic() < deadline:
                time.sleep(0.1)
                candles = recent_candles(source, signal.symbol, timeframe, ATR_PERIOD + 1, sync=False)
    except Exception as e:
        log.warning("candles not read: %s", e)
        return None, f"candles unavailable ({type(e).__name__})", timeframe
    atr = wilder_atr(candles, ATR_PERIOD)
    if atr is None:
        return None, (f"ATR({ATR_PERIOD}) needs {ATR_PERIOD + 1} closed {timeframe} candles of {signal.symbol} "
                      f"on {source}; {len(candles)} stored"), timeframe
    return atr, None, timeframe


def _account_source(session: Session, account_id: uuid.UUID) -> tuple[str | None, float, RiskLimits]:
    """The account's market-data source, its max quote age and the account's risk limits,
    cached for 30 s per process (one small read before the decision's lock otherwise)."""
    cached = _sources.get(account_id)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    settings = session.execute(select(Account.settings).where(Account.id == account_id)).scalar_one_or_none()
    config = AccountConfig.model_validate(settings or {})
    source = market_data_source(config)
    max_age = source_config(source).max_quote_age_seconds if source else 0.0
    _sources[account_id] = (time.monotonic() + _SOURCE_TTL_SECONDS, (source, max_age, config.risk))
    return source, max_age, config.risk


def forget_sources() -> None:
    """Drop the per-account source cache (tests, and after the configuration changed)."""
    _sources.clear()
