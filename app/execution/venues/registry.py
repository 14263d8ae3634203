"""Which adapter serves a venue name. One instance per venue per process (ccxt's rate
limiter is per instance; markets load once)."""

from functools import lru_cache

from app.config import get_settings
from app.errors import ConfigError
from app.execution.venues.base import Venue
from app.execution.venues.paper import PaperVenue


@lru_cache
def venue_for(name: str) -> Venue:
    """The adapter for ``name``. Raises ``ConfigError`` for a venue this build cannot serve."""
    if name == "paper":
        settings = get_settings()
        return PaperVenue(fee_rate=settings.paper_fee_rate, slippage_bps=settings.paper_slippage_bps)
    raise ConfigError(f"venue {name!r} is not available yet; use 'paper'", field="venue")
