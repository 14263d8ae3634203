"""Point a real ccxt exchange at a fake venue.

``ccxt.binance.sign()`` builds every URL as ``exchange.urls['api'][<api name>] + '/' + path``
(ccxt 4.5.x, python/ccxt/binance.py), so rewriting the scheme and host of those base URLs is
enough to redirect all REST calls; this mirrors what the app's ``api_url`` account option does.

Side effect worth knowing: ``binance.get_exceptions_by_url()`` only applies the per-market-type
error tables (``exceptions['spot']`` ...) when the URL starts with ``https://api.binance.com/`` etc.,
so against a rewritten URL only the common ``exceptions['exact']`` / ``['broad']`` tables apply.
The codes this fake sends (-1003, -1013, -1021, -1022, -2010, -2011, -2013, -2014, -2015) are all
in the common table, so the mapping to ccxt exceptions is the same as against the real host.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

# ccxt 4.5.x binance options: options['fetchMarkets'] is a dict with 'types' (a bare list is still
# accepted "for backward-compatibility"); 'fetchCurrencies' False skips sapi capital/config/getall;
# 'fetchMargins' False skips sapi margin/allPairs and margin/isolated/allPairs.
SPOT_ONLY_OPTIONS: dict[str, Any] = {
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
}


def _rewrite(value: Any, scheme: str, netloc: str, prefix: str) -> Any:
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme and parts.netloc:
            return urlunsplit((scheme, netloc, prefix + parts.path, parts.query, parts.fragment))
        return value
    if isinstance(value, dict):
        return {k: _rewrite(v, scheme, netloc, prefix) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, scheme, netloc, prefix) for v in value]
    return value


def point_ccxt_at(exchange, base_url: str):
    """Rewrite scheme+host of every URL string in ``exchange.urls['api']`` (recursively) to
    ``base_url``, keeping each path (a path in ``base_url`` is prepended). Returns the exchange."""
    base = urlsplit(base_url)
    if not (base.scheme and base.netloc):
        raise ValueError(f"base_url needs a scheme and a host: {base_url!r}")
    exchange.urls["api"] = _rewrite(exchange.urls["api"], base.scheme, base.netloc, base.path.rstrip("/"))
    return exchange


def make_ccxt_binance(fake, *, api_key: str | None = None, secret: str | None = None,
                      timeout_ms: int = 3000, options: dict | None = None, **config):
    """A real sync ``ccxt.binance`` with the spot-only options, rate limiting on, aimed at ``fake``."""
    import ccxt

    exchange = ccxt.binance({
        "apiKey": fake.api_key if api_key is None else api_key,
        "secret": fake.secret if secret is None else secret,
        "enableRateLimit": True,
        "timeout": timeout_ms,
        "options": {**SPOT_ONLY_OPTIONS, **(options or {})},
        **config,
    })
    return point_ccxt_at(exchange, fake.url)


def make_ccxt_bybit(fake, *, timeout_ms: int = 3000, options: dict | None = None, **config):
    """A real sync ``ccxt.bybit`` with the linear-only options, rate limiting on, aimed at ``fake``."""
    import ccxt

    from .bybit_linear import LINEAR_ONLY_OPTIONS

    exchange = ccxt.bybit({
        "apiKey": fake.api_key, "secret": fake.secret, "enableRateLimit": True, "timeout": timeout_ms,
        "options": {**LINEAR_ONLY_OPTIONS, **(options or {})}, **config,
    })
    return point_ccxt_at(exchange, fake.url)


# ccxt 4.5 binanceusdm: its markets are the linear ones already (options['fetchMarkets']['types']
# ['linear']); 'fetchCurrencies' False skips sapi capital/config/getall, which lives on the spot host.
USDM_OPTIONS: dict[str, Any] = {"fetchCurrencies": False}


def make_ccxt_binanceusdm(fake, *, timeout_ms: int = 3000, options: dict | None = None, **config):
    """A real sync ``ccxt.binanceusdm`` (USDⓈ-M futures), rate limiting on, aimed at ``fake``."""
    import ccxt

    exchange = ccxt.binanceusdm({
        "apiKey": fake.api_key, "secret": fake.secret, "enableRateLimit": True, "timeout": timeout_ms,
        "options": {**USDM_OPTIONS, **(options or {})}, **config,
    })
    return point_ccxt_at(exchange, fake.url)
