"""Which adapter serves an account. One instance per account per process (ccxt's rate limiter
is per instance; markets load once); a changed account setting builds a new one, and so do
new credentials: each call reads the revision of the account's stored credentials (one short
read) and a different revision builds the venue anew from the record read in one statement,
so the next order after a credentials rotation uses the new key and none a half-updated one.

A paper account's ``PaperVenue`` prices from the account's market-data source
(``market_data_source``), with the paper fees and slippage of the settings.
"""

import dataclasses
import json
import threading
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from app.config import get_settings
from app.config_file import AccountConfig, market_data_source
from app.db import unit_of_work
from app.errors import ConfigError
from app.execution.venues.base import Venue
from app.execution.venues.binance import BinanceVenue
from app.execution.venues.bybit import BybitVenue
from app.execution.venues.ccxt_venue import CcxtVenue, VenueAccount, VenueTuning
from app.execution.venues.hyperliquid import HyperliquidVenue
from app.execution.venues.okx import OkxVenue
from app.execution.venues.paper import PaperVenue
from app.marketdata.sources import source_config
from app.persistence.models import Account
from app.security import vault

QUIRKS: dict[str, type[CcxtVenue]] = {
    "binance": BinanceVenue,
    "binanceusdm": BinanceVenue,
    "binancecoinm": BinanceVenue,
    "binanceus": BinanceVenue,  # Binance.US runs Binance's API (ccxt's binanceus extends binance)
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

    def __call__(self, account: uuid.UUID | str) -> Venue:
        return self.for_account(_load_account(account))

    def for_row(self, row: Any, account: uuid.UUID | str) -> Venue:
        """The adapter of an account row already read by the caller (anything with ``id``,
        ``name``, ``venue``, ``settings``; ``None``: no such ``account``), saving the read of
        ``__call__``. Raises ``ConfigError`` likewise."""
        return self.for_account(_venue_account(row, account))

    def for_account(self, ref: VenueAccount) -> Venue:
        revision = vault.revision_of(ref.id) if ref.venue != "paper" and ref.credentials is None else None
        with self._lock:
            cached = self._venues.get(ref.id)
            if cached is not None and cached[0] == _fingerprint(ref, revision):
                return cached[1]
        if revision is not None:  # decrypt outside the lock; the record read may be newer still
            loaded = vault.load(ref.id)
            revision = loaded[0] if loaded else None
            ref = dataclasses.replace(ref, credentials=loaded[1]) if loaded else ref
        fingerprint = _fingerprint(ref, revision)
        with self._lock:
            cached = self._venues.get(ref.id)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
            venue = _paper_venue(ref) if ref.venue == "paper" else self.build(ref)
            self._venues[ref.id] = (fingerprint, venue)
            return venue

    def build(self, ref: VenueAccount) -> CcxtVenue:
        """A new, uncached adapter for ccxt account ``ref`` with its credentials as given
        (``ref.credentials``, else the environment): used to test credentials before storing them."""
        return QUIRKS.get(ref.venue, CcxtVenue)(ref, VenueTuning.from_settings(get_settings()))

    def cache_clear(self) -> None:
        """Forget every instance (tests, and after settings change)."""
        with self._lock:
            self._venues.clear()


def _paper_venue(ref: VenueAccount) -> PaperVenue:
    settings, source, sim = get_settings(), market_data_source(ref.config), ref.config.paper
    max_age = source_config(source).max_quote_age_seconds if source else 5.0
    return PaperVenue(str(ref.id), source=source, max_quote_age_seconds=max_age,
                      taker_fee_rate=sim.taker_fee_rate if sim.taker_fee_rate is not None else settings.paper_fee_rate,
                      maker_fee_rate=sim.maker_fee_rate, slippage_bps=settings.paper_slippage_bps,
                      max_slippage_bps=sim.max_slippage_bps, latency_ms=sim.latency_ms,
                      latency_jitter_ms=sim.latency_jitter_ms)


def _fingerprint(ref: VenueAccount, revision: uuid.UUID | None) -> str:
    return json.dumps([ref.venue, ref.config.model_dump(mode="json"), str(revision)], sort_keys=True)


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
