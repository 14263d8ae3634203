"""Technical indicators over ``Candle`` sequences. Pure, Decimal in, Decimal out."""

from collections.abc import Sequence
from decimal import Decimal, localcontext

from app.domain.marketdata import Candle
from app.domain.money import MONEY_CONTEXT


def true_range(candle: Candle, previous_close: Decimal | None) -> Decimal:
    """max(high − low, |high − previous close|, |low − previous close|); high − low for the first candle."""
    span = candle.high - candle.low
    if previous_close is None:
        return span
    return max(span, abs(candle.high - previous_close), abs(candle.low - previous_close))


def wilder_atr(candles: Sequence[Candle], period: int = 14) -> Decimal | None:
    """Wilder's Average True Range of ``candles`` (oldest first) at the last candle, in quote
    currency per base unit; None with fewer than ``period + 1`` candles.

    The true range of candle i (i ≥ 1) is max(high − low, |high − close[i−1]|,
    |low − close[i−1]|); the first candle only provides the previous close, so ``period`` true
    ranges need ``period + 1`` candles. The first ATR is the mean of the first ``period`` true
    ranges; each later one is smoothed: ATR = (previous ATR × (period − 1) + TR) / period.

    Source: J. Welles Wilder Jr., *New Concepts in Technical Trading Systems* (1978), "Volatility
    Index"; e.g. https://www.investopedia.com/terms/a/atr.asp. Raises ``ValueError`` when
    ``period`` < 1. Computed in ``MONEY_CONTEXT`` (app.domain.money).
    """
    if period < 1:
        raise ValueError(f"ATR period must be at least 1, not {period}")
    if len(candles) < period + 1:
        return None
    with localcontext(MONEY_CONTEXT):
        ranges = [true_range(c, p.close) for p, c in zip(candles, candles[1:])]
        atr = sum(ranges[:period], Decimal(0)) / period
        for tr in ranges[period:]:
            atr = (atr * (period - 1) + tr) / period
        return +atr
