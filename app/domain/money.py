"""Decimal helpers and the bounds every amount meets. Money is never a float.

Parsers refuse numbers outside these bounds before any arithmetic (``1e999999`` reads
instantly as a Decimal, but ``int()``, ``quantize()`` or a product with it can take seconds or
raise ``decimal.Overflow``); domain arithmetic runs in ``MONEY_CONTEXT`` so that products of
bounded numbers are exact and never raise.
"""

from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, localcontext

# A parsed number has at most this many significant digits ...
MAX_DIGITS = 40
# ... and a magnitude between 1e-MAX_EXPONENT and 1e+MAX_EXPONENT (zero aside).
MAX_EXPONENT = 30
# Largest size in base, quote or contracts, and largest price (quote per base).
MAX_AMOUNT = Decimal("1e15")
# Percent units (percent of equity, percent of the position) are in (0, 100].
MAX_PERCENT = Decimal(100)

# Precision for domain arithmetic: a product of two bounded numbers (≤ 2 × MAX_DIGITS digits)
# stays exact. Overflow is not trapped: a result beyond 1e999999 becomes Infinity, which every
# cap comparison treats as too large, instead of an exception in the middle of a decision.
MONEY_CONTEXT = Context(
    prec=4 * MAX_DIGITS, rounding=ROUND_HALF_EVEN, Emin=-999_999, Emax=999_999,
    traps=[InvalidOperation, DivisionByZero],
)


def fmt(value: Decimal) -> str:
    """Exact plain-notation text without trailing zeros: ``Decimal('10000.000')`` → ``'10000'``.

    Computed in ``MONEY_CONTEXT``, so a 40-digit amount is not rounded to 28 digits.
    """
    with localcontext(MONEY_CONTEXT):
        text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text
