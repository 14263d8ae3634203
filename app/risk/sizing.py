"""Order quantity from a signal's size or the account's sizing rule.

Modes (``RiskLimits.sizing``): ``fixed_base`` (sizing_value base units), ``fixed_quote``
(sizing_value quote units ÷ price), ``percent_equity`` (equity × sizing_value % ÷ price) and
``atr_risk``: risk ``equity × sizing_value %`` with a stop ``atr × atr_multiplier`` away, so
``qty = equity × risk / (atr × atr_multiplier)`` (the seed article's engine: 1% risk,
1.5 × ATR; van Tharp's position sizing). A signal's own ``size`` overrides the rule.
"""

from decimal import Decimal

from app.config_file import RiskLimits
from app.domain.enums import SizeUnit
from app.domain.money import fmt
from app.domain.signal import Signal

ATR_KEYS = ("atr_14", "atr")
HUNDRED = Decimal(100)


class SizingError(ValueError):
    """The quantity cannot be computed; the message says what is missing, with numbers."""


def order_quantity(signal: Signal, limits: RiskLimits, equity: Decimal, price: Decimal | None,
                   atr: Decimal | None = None, atr_missing: str | None = None) -> Decimal:
    """Base quantity to open. ``equity``, ``price`` and ``atr`` are in the quote currency;
    ``atr`` (from stored candles) is used when the signal brings no ``indicators.atr_14``,
    ``atr_missing`` says why there is none.

    Raises ``SizingError`` when the mode needs a price or an ATR the signal lacks.
    """
    if signal.size is not None:
        return _from_signal_size(signal.size.unit, signal.size.amount, equity, price)
    value = limits.sizing_value
    if limits.sizing == "fixed_base":
        return value
    if limits.sizing == "fixed_quote":
        return _per_price(value, price, f"fixed_quote sizing ({fmt(value)} quote)")
    if limits.sizing == "percent_equity":
        return _per_price(equity * value / HUNDRED, price, f"percent_equity sizing ({fmt(value)}% of equity)")
    atr = next((signal.indicators[k] for k in ATR_KEYS if k in signal.indicators), atr)
    if atr is None or atr <= 0:
        why = f"; from candles: {atr_missing}" if atr_missing else ""
        raise SizingError(
            f"atr_risk sizing needs indicators.atr_14 (the stop distance); this signal has "
            f"{', '.join(signal.indicators) or 'no indicators'}{why}"
        )
    return equity * value / HUNDRED / (atr * limits.atr_multiplier)


def _from_signal_size(unit: SizeUnit, amount: Decimal, equity: Decimal, price: Decimal | None) -> Decimal:
    if unit in (SizeUnit.BASE, SizeUnit.CONTRACTS):
        return amount
    if unit == SizeUnit.QUOTE:
        return _per_price(amount, price, f"a size of {fmt(amount)} quote")
    if unit == SizeUnit.PERCENT_EQUITY:
        return _per_price(equity * amount / HUNDRED, price, f"a size of {fmt(amount)}% of equity")
    raise SizingError("percent_position sizes only apply to exits")


def _per_price(notional: Decimal, price: Decimal | None, what: str) -> Decimal:
    if price is None:
        raise SizingError(f"{what} needs the signal's reference price (price) or a fresh quote from the "
                          "account's market data to convert to base units")
    return notional / price
