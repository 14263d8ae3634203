"""Which adapter serves an account. One instance per account per process (ccxt's rate limiter
is per instance; markets load once); a changed account setting builds a new one.

The paper venue keeps its book in our tables, so one ``PaperVenue`` serves every paper account.
"""

import json
import threading
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from app.config import get_settings
from app.config_file import AccountConfig
from app.db import unit_of_work
from app.errors import ConfigError
from app.execution.venues.base import Venue
from app.execution.venues.binance import BinanceVenue
from app.execution.venues.bybit import BybitVenue
from app.execution.venues.ccxt_venue import CcxtVenue, VenueAccount, VenueTuning
from app.execution.venues.hyperliquid import HyperliquidVenue
from app.execution.venues.okx import OkxVenue
from app.execution.venues.paper import PaperVenue
from app.persistence.models import Account

QUIRKS: dict[str, type[CcxtVenue]] = {
    "binance": BinanceVenue,
    "binanceusdm": BinanceVenue,
    "binancecoinm": BinanceVenue,
    "bybit": BybitVenue,
    "okx": OkxVenue,
    "hyperliquid": HyperliquidVenue,
}


class VenueRegistry:
    """``venue_for(account)``: the adapter of an account given its id or its name.

    Raises ``ConfigError`` for an unknown account, an exchange ccxt does not have, or a
    credential environment variable that is not set (its name is in the message, never a value).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._venues: dict[uuid.UUID, tuple[str, Venue]] = {}
        self._paper: PaperVenue | None = None

    def __call__(self, account: uuid.UUID | str) -> Venue:
        return self.for_account(_load_account(account))

    def for_row(self, row: Any, account: uuid.UUID | str) -> Venue:
        """The adapter of an account row already read by the caller (anything with ``id``,
        ``name``, ``venue``, ``settings``; ``None``: no such ``account``), saving the read of
        ``__call__``. Raises ``ConfigError`` likewise."""
        return self.for_account(_venue_account(row, account))

    def for_account(self, ref: VenueAccount) -> Venue:
        if ref.venue == "paper":
            return self._paper_venue()
        fingerprint = json.dumps([ref.venue, ref.config.model_dump(mode="json")], sort_keys=True)
        with self._lock:
            cached = self._venues.get(ref.id)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
            venue = QUIRKS.get(ref.venue, CcxtVenue)(ref, VenueTuning.from_settings(get_settings()))
            self._venues[ref.id] = (fingerprint, venue)
            return venue

    def _paper_venue(self) -> PaperVenue:
        with self._lock:
            if self._paper is None:
                settings = get_settings()
                self._paper = PaperVenue(fee_rate=settings.paper_fee_rate, slippage_bps=settings.paper_slippage_bps)
            return self._paper

    def cache_clear(self) -> None:
        """Forget every instance (tests, and after settings change)."""
        with self._lock:
            self._venues.clear()
            self._paper = None


def _load_account(account: uuid.UUID | str) -> VenueAccount:
    with unit_of_work() as session:
        query = select(Account)
        if isinstance(account, uuid.UUID):
            query = query.where(Account.id == account)
        else:
            query = query.where(Account.name == account)
        return _venue_account(session.execute(query).scalar_one_or_none(), account)


def _venue_account(row: Any, account: uuid.UUID | str) -> VenueAccount:
    if row is None:
        raise ConfigError(f"no account {account!s}", field="account")
    try:
        config = AccountConfig.model_validate(row.settings or {})
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"account {row.name!r}: settings.{key}: {first['msg']}", field=key) from None
    return VenueAccount(row.id, row.name, row.venue, config)


venue_for = VenueRegistry()
