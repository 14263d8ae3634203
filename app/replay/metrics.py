"""Performance formulas of a replay report. Pure functions; money ``Decimal``, ratios ``float``.

Each formula names its source. Returns use the equity marked to market (``Simulation.marks``:
every ``mark_period`` boundary and after every fill); ratios use the regular period marks only.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from app.domain.money import MONEY_CONTEXT

YEAR_SECONDS = 365 * 86_400  # crypto markets trade every day: 365 daily periods a year


@dataclass(frozen=True)
class Drawdown:
    """The largest fall of equity from a running peak: ``amount`` (quote), ``fraction`` of that
    peak, when the peak and the trough were, when equity regained the peak (None: not by the
    end) and ``duration`` in seconds from the peak to the recovery (or to the end)."""

    amount: Decimal
    fraction: float
    peak_at: float | None
    trough_at: float | None
    recovered_at: float | None
    duration: float


def max_drawdown(marks: Sequence[tuple[float, Decimal]]) -> Drawdown:
    """Maximum drawdown of an equity series (time, equity), oldest first.

    MDD = max over t of (max_{s ≤ t} E_s − E_t); as a fraction, of that running peak. The
    duration runs from the peak before the deepest trough until equity is back at or above that
    peak. Source: Magdon-Ismail & Atiya, "Maximum Drawdown", Risk 17(10), 2004; the same
    definition as the "Max drawdown" of TradingView's strategy tester (Performance Summary).
    """
    best = Drawdown(Decimal(0), 0.0, None, None, None, 0.0)
    if not marks:
        return best
    peak_at, peak = marks[0]
    deepest: tuple[Decimal, float, float, Decimal] | None = None  # amount, peak time, trough time, peak
    for at, value in marks:
        if value > peak:
            peak_at, peak = at, value
        fall = peak - value
        if fall > 0 and (deepest is None or fall > deepest[0]):
            deepest = (fall, peak_at, at, peak)
    if deepest is None:
        return best
    amount, start, trough, top = deepest
    recovered = next((at for at, value in marks if at > trough and value >= top), None)
    end = recovered if recovered is not None else marks[-1][0]
    with localcontext(MONEY_CONTEXT):
        fraction = float(amount / top) if top > 0 else 0.0
    return Drawdown(amount, fraction, start, trough, recovered, end - start)


def period_returns(marks: Sequence[tuple[float, Decimal]]) -> list[float]:
    """Simple returns r_k = E_k / E_{k−1} − 1 of consecutive period marks."""
    out = []
    for (_, before), (_, after) in zip(marks, marks[1:]):
        out.append(float(after / before) - 1 if before > 0 else 0.0)
    return out


def periodic_rate(annual: float, periods_per_year: float) -> float:
    """The per-period rate compounding to ``annual``: (1 + R)^(1/N) − 1."""
    return (1 + annual) ** (1 / periods_per_year) - 1


def sharpe(returns: Sequence[float], periods_per_year: float, risk_free_annual: float = 0.0) -> float | None:
    """Annualised Sharpe ratio: mean(r − r_f) / stdev(r − r_f) × √N.

    r are period returns, r_f the per-period risk-free rate (``periodic_rate``), stdev the
    sample standard deviation (n − 1), N periods per year (365 for daily crypto returns).
    Sources: W. F. Sharpe, "The Sharpe Ratio", Journal of Portfolio Management 21(1), 1994
    (the ex-post ratio of mean to standard deviation of excess returns); annualised by √N for
    independent returns as in A. W. Lo, "The Statistics of Sharpe Ratios", Financial Analysts
    Journal 58(4), 2002. None with fewer than two returns or no variation.
    """
    if len(returns) < 2:
        return None
    rf = periodic_rate(risk_free_annual, periods_per_year)
    excess = [r - rf for r in returns]
    mean = math.fsum(excess) / len(excess)
    variance = math.fsum((x - mean) ** 2 for x in excess) / (len(excess) - 1)
    if variance <= 0:
        return None
    return mean / math.sqrt(variance) * math.sqrt(periods_per_year)


def sortino(returns: Sequence[float], periods_per_year: float, risk_free_annual: float = 0.0) -> float | None:
    """Annualised Sortino ratio: mean(r − r_f) / DD × √N, with the downside deviation
    DD = √(Σ min(0, r − r_f)² / n) over all n periods (target return = the risk-free rate).

    Sources: F. A. Sortino & L. N. Price, "Performance Measurement in a Downside Risk
    Framework", Journal of Investing 3(3), 1994; the all-periods denominator as in T. Rollinger
    & S. Hoffman, "Sortino: A 'Sharper' Ratio", Red Rock Capital, 2013. None with fewer than two
    returns or no period below the target.
    """
    if len(returns) < 2:
        return None
    rf = periodic_rate(risk_free_annual, periods_per_year)
    excess = [r - rf for r in returns]
    downside = math.fsum(min(0.0, x) ** 2 for x in excess) / len(excess)
    if downside <= 0:
        return None
    return math.fsum(excess) / len(excess) / math.sqrt(downside) * math.sqrt(periods_per_year)


def annualised(total_return: float, seconds: float) -> float | None:
    """Compound annual growth rate: (1 + total return)^(1 year / duration) − 1.
    Source: CAGR, e.g. https://www.investopedia.com/terms/c/cagr.asp. None for an empty period
    or a total loss."""
    if seconds <= 0 or total_return <= -1:
        return None
    try:
        return (1 + total_return) ** (YEAR_SECONDS / seconds) - 1
    except OverflowError:
        return None


def profit_factor(pnls: Sequence[Decimal]) -> Decimal | None:
    """Gross profit / gross loss of closed trades (net of fees): Σ winners / |Σ losers|. None
    without a losing trade. Source: the "Profit factor" of TradingView's strategy tester
    (Performance Summary); R. Pardo, *The Evaluation and Optimization of Trading Strategies*, 2008."""
    gains = sum((p for p in pnls if p > 0), Decimal(0))
    losses = -sum((p for p in pnls if p < 0), Decimal(0))
    if losses == 0:
        return None
    with localcontext(MONEY_CONTEXT):
        return gains / losses
