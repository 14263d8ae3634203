"""Tradewire: trading signals in, exchange orders out."""

__version__ = "0.1.0"
