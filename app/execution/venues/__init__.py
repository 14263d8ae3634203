"""Venue adapters: one interface (``Venue``), ``PaperVenue`` and the ccxt-backed venues."""
