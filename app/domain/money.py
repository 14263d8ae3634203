"""Decimal helpers. Money is never a float."""

from decimal import Decimal


def fmt(value: Decimal) -> str:
    """Exact plain-notation text without trailing zeros: ``Decimal('10000.000')`` → ``'10000'``."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text
