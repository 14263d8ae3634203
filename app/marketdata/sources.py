"""Market-data sources: which exist (``resolve_sources``) and their ccxt exchanges (``build_exchange``).

A source is a ccxt exchange id read through public endpoints, no keys. Configured ones come
from ``[market_data.ID]``; an account whose source is not configured there (a ccxt account
reads its own venue by default) gets one built from its own ``api_url``, ``options`` and
``sandbox``, so market data and orders come from the same host.
"""

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt
import ccxt.pro

from app.config import Settings, get_settings
from app.config_file import FileConfig, MarketDataSource, market_data_source
from app.errors import ConfigError
from app.execution.venues.ccxt_venue import rewrite_api_urls

# Per-source ccxt options applied under the configured ones. binance: ccxt 4.5.90's
# watch_ticker() goes through watch_tickers(), whose 'stock' lookup drops the
# callerMethodName param, so options['watchTicker']['name'] is never read and the stream is
# '<symbol>@miniTicker', which has no bid/ask; naming the full 24hrTicker stream gives both
# (https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams).
SOURCE_DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"watchTickers": {"name": "ticker"}},
}
WS_SCHEMES = {"http": "ws", "https": "wss"}


def resolve_sources(config: FileConfig) -> dict[str, MarketDataSource]:
    """Every source Tradewire reads: the configured ones, plus each account's source that is
    not configured (taken from that account's ``api_url`` / ``options`` / ``sandbox``)."""
    sources = dict(config.market_data)
    for account in config.accounts.values():
        name = market_data_source(account)
        if name is None or name in sources:
            continue
        if account.venue == name:
            sources[name] = MarketDataSource(api_url=account.api_url, options=account.options, sandbox=account.sandbox)
        else:
            sources[name] = MarketDataSource()
    return sources


@lru_cache(maxsize=1)
def _configured_sources(settings_id: int) -> tuple[Settings, dict[str, MarketDataSource]]:
    # Keyed by the settings object's id; the entry keeps that object alive, so its id cannot
    # be reused by the next one after get_settings.cache_clear().
    settings = get_settings()
    return settings, resolve_sources(settings)


def configured_sources() -> dict[str, MarketDataSource]:
    """``resolve_sources`` of the configuration (``get_settings()``), computed once per settings object."""
    settings = get_settings()
    cached, sources = _configured_sources(id(settings))
    return sources if cached is settings else resolve_sources(settings)


def source_config(name: str) -> MarketDataSource:
    """The settings of source ``name``; an unknown but valid ccxt id gets the defaults.
    Raises ``ConfigError`` if ``name`` is not a ccxt exchange id."""
    sources = configured_sources()
    if name in sources:
        return sources[name]
    if name not in ccxt.exchanges:
        raise ConfigError(f"market data source {name!r} is not a ccxt exchange id", field="market_data")
    return MarketDataSource()


def ws_urls(value: Any) -> Any:
    """``value`` (a URL or nested dicts/lists of them) with ``http``/``https`` schemes turned into ``ws``/``wss``."""
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme in WS_SCHEMES and parts.netloc:
            return urlunsplit((WS_SCHEMES[parts.scheme], *parts[1:]))
        return value
    if isinstance(value, dict):
        return {k: ws_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [ws_urls(v) for v in value]
    return value


def build_exchange(name: str, config: MarketDataSource, *, pro: bool, timeout_ms: int | None = None) -> Any:
    """A ccxt exchange for source ``name``: ``ccxt.pro`` (asyncio, ``watch_*`` and async
    ``fetch_*``) when ``pro``, else the synchronous ``ccxt`` class; no credentials, rate limiter
    on, options = the source's defaults updated with ``config.options``; sandbox URLs, then
    ``api_url`` over every API host (``rewrite_api_urls``, as for accounts) with the WebSocket
    entries (``urls['api']['ws']``) on the matching ``ws``/``wss`` scheme.

    Raises ``ConfigError`` for an unknown id, a venue without streams in ccxt.pro (when
    ``pro``), or a sandbox ccxt does not have. A ccxt.pro instance must be ``await close()``d.
    """
    module = ccxt.pro if pro else ccxt
    exchange_class = getattr(module, name, None)
    if not isinstance(exchange_class, type):
        where = "ccxt.pro (no WebSocket support)" if pro and name in ccxt.exchanges else "ccxt"
        raise ConfigError(f"market data source {name!r} is not an exchange in {where}", field=f"market_data.{name}")
    exchange = exchange_class({
        "enableRateLimit": True,
        "timeout": timeout_ms or get_settings().venue_timeout_ms,
        "options": {**SOURCE_DEFAULT_OPTIONS.get(name, {}), **config.options},
    })
    if config.sandbox:
        try:
            exchange.set_sandbox_mode(True)
        except ccxt.NotSupported as e:
            raise ConfigError(f"market data source {name!r} has no sandbox in ccxt", field=f"market_data.{name}.sandbox") from e
    if config.api_url:
        api = rewrite_api_urls(exchange.urls["api"], config.api_url)
        if isinstance(api, dict) and "ws" in api:
            api["ws"] = ws_urls(api["ws"])
        exchange.urls["api"] = api
    return exchange

