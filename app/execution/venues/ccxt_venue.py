"""``CcxtVenue``: any ccxt exchange, built from an account's settings.

One instance per account per process: its ccxt object keeps the rate limiter
(``enableRateLimit``), the loaded markets and the clock offset. Credentials: the vault's
(``VenueAccount.credentials``, decrypted by the registry) when stored, else the environment
variables named by ``api_key_env`` / ``secret_env`` / ``password_env`` of the account settings
(the ``AccountConfig`` dump in ``accounts.settings``); never logged. ``sandbox`` → ``set_sandbox_mode(True)``, ``api_url``
replaces the scheme and host of every URL in ``exchange.urls['api']`` (emulators, regional
hosts, proxies), ``options`` go to ccxt as its ``options``.

Sends are made once: ccxt's own ``maxRetriesOnFailure`` is forced to 0, and a failed send is
raised for the lifecycle to resolve by client order id. Reads (and cancels, which are safe to
repeat) are retried with exponential backoff on ``NetworkError`` (timeouts, 5xx, rate limits,
``InvalidNonce`` — after resynchronising the clock with ``load_time_difference``).
Per-venue quirks are subclasses (``binance.py``, ``bybit.py``, ``okx.py``, ``hyperliquid.py``).
"""

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import ccxt
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from app.config import Settings
from app.config_file import AccountConfig
from app.domain.enums import OrderType, TimeInForce
from app.errors import AppError, ConfigError, TemporaryVenueError, VenueError, VenueOrderNotFound, VenueRefused
from app.execution.order_rate import OrderRate
from app.execution.venues import ccxt_convert as convert
from app.execution.venues.base import OpenOrder, OrderRequest, Trade, Trigger, Venue, VenueOrder
from app.execution.venues.ccxt_errors import translated
from app.security.vault import Credentials

log = logging.getLogger(__name__)
# ccxt logs every request's headers at DEBUG, API keys included (X-MBX-APIKEY, OK-ACCESS-KEY):
# credentials must never reach a log, whatever TRADEWIRE_LOG_LEVEL says.
logging.getLogger("ccxt").setLevel(logging.INFO)
T = TypeVar("T")
FILL_TOLERANCE = Decimal("1e-9")  # relative: ccxt may sum partial fills in floats


@dataclass(frozen=True)
class VenueAccount:
    """What building a venue needs: the account's id and name, its ccxt exchange id, its
    settings, and its credentials from the vault (None: from the environment, if named)."""

    id: uuid.UUID
    name: str
    venue: str
    config: AccountConfig
    credentials: Credentials | None = None


@dataclass(frozen=True)
class VenuePosition:
    """A position as the venue reports it: signed base quantity (contracts × contract size),
    entry price (quote per base), leverage and margin mode when the venue says;
    ``position_side`` ``net`` (one-way mode), or ``long`` / ``short`` (hedge mode: ccxt's
    ``hedged``)."""

    symbol: str
    quantity: Decimal
    entry_price: Decimal | None = None
    leverage: Decimal | None = None
    margin_mode: str | None = None
    position_side: str = "net"


@dataclass(frozen=True)
class FuturesState:
    """A symbol's leverage and margin mode on the venue (None: the venue did not say)."""

    leverage: Decimal | None = None
    margin_mode: str | None = None


@dataclass(frozen=True)
class VenueTuning:
    """Timeouts and retry pacing. ``timeout_ms`` per HTTP request; backoff in seconds."""

    timeout_ms: int = 10_000
    read_attempts: int = 4
    read_backoff_seconds: float = 0.5
    market_refresh_seconds: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "VenueTuning":
        return cls(settings.venue_timeout_ms, settings.venue_read_attempts, settings.venue_read_backoff_seconds,
                   settings.market_refresh_seconds)


def rewrite_api_urls(value: Any, base_url: str) -> Any:
    """Every URL string in ``value`` (nested dicts/lists) with its scheme and host replaced by
    ``base_url``'s, keeping its path (a path in ``base_url`` is prepended)."""
    base = urlsplit(base_url)
    if not (base.scheme and base.netloc):
        raise ConfigError(f"api_url needs a scheme and a host: {base_url!r}", field="api_url")
    prefix = base.path.rstrip("/")
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme and parts.netloc:
            return urlunsplit((base.scheme, base.netloc, prefix + parts.path, parts.query, parts.fragment))
        return value
    if isinstance(value, dict):
        return {k: rewrite_api_urls(v, base_url) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite_api_urls(v, base_url) for v in value]
    return value


class CcxtVenue(Venue):
    """A venue served by ccxt's exchange class ``account.venue``. Capabilities below are the
    generic ccxt behaviour; quirk subclasses override them."""

    supports_protective_orders = True
    credential_keys: tuple[str, str, str] = ("apiKey", "secret", "password")
    default_options: dict[str, Any] = {}
    duplicate_messages: tuple[str, ...] = ()
    client_order_id_param = "clientOrderId"  # ccxt's unified create_order param
    open_orders_need_symbol = False

    def __init__(self, account: VenueAccount, tuning: VenueTuning) -> None:
        self.name = account.venue
        self.account_id = account.id
        self.account_name = account.name
        self.tuning = tuning
        self.exchange = self._build_exchange(account)
        limit = account.config.order_rate_limit
        self.order_rate = OrderRate.parse(limit) if limit else None
        self._lock = threading.RLock()  # the ccxt object is not thread-safe (the API serves cancels from threads)
        self._markets_loaded_at: float | None = None

    # ------------------------------------------------------------------ construction
    def _build_exchange(self, account: VenueAccount) -> Any:
        exchange_class = getattr(ccxt, account.venue, None)
        if not isinstance(exchange_class, type):
            raise ConfigError(f"account {account.name!r}: {account.venue!r} is not a ccxt exchange id", field="venue")
        config = account.config
        params: dict[str, Any] = {
            "enableRateLimit": True,
            "timeout": self.tuning.timeout_ms,
            "options": {**self.default_options, **config.options},
        }
        params.update(self._credential_params(account))
        exchange = exchange_class(params)
        exchange.options["maxRetriesOnFailure"] = 0  # an order send is never repeated by ccxt itself
        if config.sandbox:
            try:
                exchange.set_sandbox_mode(True)
            except ccxt.NotSupported as e:
                raise ConfigError(f"account {account.name!r}: {account.venue} has no sandbox in ccxt", field="sandbox") from e
        if config.api_url:
            exchange.urls["api"] = rewrite_api_urls(exchange.urls["api"], config.api_url)
        return exchange

    def _credential_params(self, account: VenueAccount) -> dict[str, str]:
        """ccxt's credential params (``credential_keys``): the vault's when stored (it wins),
        else the named environment variables. Raises ``ConfigError`` for a named variable
        that is not set (its name in the message, never a value)."""
        stored = account.credentials
        if stored is not None:
            values = (stored.api_key, stored.secret, stored.password)
            return {key: value for key, value in zip(self.credential_keys, values) if value}
        config, params = account.config, {}
        for key, env_name in zip(self.credential_keys, (config.api_key_env, config.secret_env, config.password_env)):
            if env_name:
                value = os.environ.get(env_name)
                if not value:
                    raise ConfigError(f"account {account.name!r}: environment variable {env_name} is not set", field=env_name)
                params[key] = value
        return params

    # ------------------------------------------------------------- client order ids
    def venue_client_order_id(self, client_order_id: str) -> str:
        """Our ``tw`` + 30 hex digits as the venue's client order id (identity unless a quirk says)."""
        return client_order_id

    def our_client_order_id(self, venue_client_order_id: str | None) -> str | None:
        """The inverse of ``venue_client_order_id`` for ids in our format, else None."""
        if venue_client_order_id and len(venue_client_order_id) == 32 and venue_client_order_id.startswith("tw"):
            return venue_client_order_id
        return None

    def lookup_params(self, client_order_id: str) -> dict[str, Any]:
        """ccxt params that make ``fetch_order`` / ``cancel_order`` address an order by client id."""
        return {"clientOrderId": self.venue_client_order_id(client_order_id)}

    # ------------------------------------------------------------------ order params
    def order_params(self, request: OrderRequest) -> dict[str, Any]:
        """ccxt ``create_order`` params: client order id, time in force, reduce-only (contract
        markets only: spot has no such flag), protective trigger, then the quirk's position params."""
        params: dict[str, Any] = {self.client_order_id_param: self.venue_client_order_id(request.client_order_id)}
        if request.time_in_force == TimeInForce.PO:
            params["postOnly"] = True
        elif request.time_in_force is not None and request.order_type == OrderType.LIMIT:
            params["timeInForce"] = request.time_in_force.value
        if request.reduce_only and self.is_contract(request.symbol):
            params["reduceOnly"] = True
        if request.trigger is not None and request.trigger_price is not None:
            key = "stopLossPrice" if request.trigger == Trigger.STOP_LOSS else "takeProfitPrice"
            params[key] = float(request.trigger_price)
        params.update(self.position_params(request))
        return params

    def position_params(self, request: OrderRequest) -> dict[str, Any]:
        """Extra params for perpetuals (position mode, margin mode); none by default."""
        return {}

    def order_price(self, request: OrderRequest) -> float | None:
        """The price argument: the limit price; None for market orders (ccxt's binance turns a
        market buy *with* a price into ``quoteOrderQty``)."""
        return float(request.limit_price) if request.order_type == OrderType.LIMIT and request.limit_price else None

    def is_contract(self, symbol: str) -> bool:
        market = (self.exchange.markets or {}).get(symbol)
        return bool(market.get("contract")) if market else ":" in symbol

    # ------------------------------------------------------------------------ orders
    def create_order(self, request: OrderRequest) -> VenueOrder:
        """Send once. Raises as ``Venue.create_order`` says; a ``VenueRefused`` for a clock
        error resynchronises the clock first, so the next send carries a valid timestamp."""
        self.ensure_markets()
        params = self.order_params(request)
        with self._lock:
            try:
                with translated(self.name, "create_order", sending=True, duplicate_messages=self.duplicate_messages):
                    raw = self.exchange.create_order(
                        request.symbol, request.order_type.value, request.side.value, float(request.quantity),
                        self.order_price(request), params,
                    )
            except VenueRefused as e:
                if isinstance(e.__cause__, ccxt.InvalidNonce):
                    self._resync_clock()
                raise
        if raw.get("status") is None:  # an acknowledgement only (Bybit v5): read the order once
            try:
                found = self.fetch_order(request.client_order_id, request.symbol)
            except AppError as e:
                log.info("%s: order %s placed; its state is read later (%s)", self.name, request.client_order_id, e.message)
                found = None
            if found is not None:
                return found
        return self._complete(raw, request.client_order_id, request.symbol)

    def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        try:
            raw = self._read("fetch_order", self.fetch_raw_order, client_order_id, symbol)
        except VenueOrderNotFound:
            return None
        return self._complete(raw, client_order_id, symbol)

    def fetch_raw_order(self, client_order_id: str, symbol: str) -> dict[str, Any]:
        """ccxt's order structure for our client order id (a ccxt call: raises ccxt errors,
        ``OrderNotFound`` when absent). Quirks override it where ccxt cannot look up by client id."""
        return self.exchange.fetch_order(None, symbol, self.lookup_params(client_order_id))

    def cancel_order(self, client_order_id: str, symbol: str, venue_order_id: str | None = None) -> VenueOrder | None:
        """Cancel (retried like a read: a repeated cancel is harmless). None when the venue has
        no open order by that id."""
        params = {} if venue_order_id else self.lookup_params(client_order_id)
        try:
            raw = self._read("cancel_order", self.exchange.cancel_order, venue_order_id, symbol, params)
        except VenueOrderNotFound:
            return None
        if raw.get("status") is None:  # an acknowledgement only (Bybit v5): read the order's final state
            return self.fetch_order(client_order_id, symbol)
        return self._complete(raw, client_order_id, symbol)

    def fetch_open_orders(self, symbols: list[str] | None = None) -> list[OpenOrder]:
        if self.open_orders_need_symbol:
            raws = [o for s in symbols or [] for o in self._read("fetch_open_orders", self.exchange.fetch_open_orders, s)]
        else:
            raws = self._read("fetch_open_orders", self.exchange.fetch_open_orders)
        result = []
        for raw in raws:
            ours = self.our_client_order_id(raw.get("clientOrderId"))
            result.append(convert.open_order(raw, ours or raw.get("clientOrderId"), ours is not None))
        return result

    def fetch_balances(self) -> dict[str, Decimal]:
        """Total per currency (free + used), zero balances left out."""
        raw = self._read("fetch_balance", self.exchange.fetch_balance)
        totals = {c: convert.dec(v) for c, v in (raw.get("total") or {}).items()}
        return {c: v for c, v in totals.items() if v}

    # ------------------------------------------------------------- futures settings
    # The venue's unified calls (https://docs.ccxt.com: setLeverage, setMarginMode,
    # setPositionMode). Translated as sends: a refusal is ``OrderRejected`` with the venue's
    # message (the entry is refused, never sent at another leverage); a "not modified" answer
    # (ccxt ``NoChange``, or a quirk's ``unchanged_messages``) is success.
    unchanged_messages: tuple[str, ...] = ()

    @property
    def supports_futures_settings(self) -> bool:
        return bool(self.exchange.has.get("setLeverage"))

    def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        self._setting("set_leverage", self.exchange.set_leverage, _number(leverage), symbol)

    def set_margin_mode(self, symbol: str, margin_mode: str, leverage: Decimal | None = None) -> None:
        params = {"leverage": _number(leverage)} if leverage is not None else {}
        self._setting("set_margin_mode", self.exchange.set_margin_mode, margin_mode, symbol, params)

    def set_position_mode(self, symbol: str, hedged: bool) -> None:
        self._setting("set_position_mode", self.exchange.set_position_mode, hedged, symbol)

    def futures_state(self, symbol: str) -> FuturesState:
        """Leverage (``fetch_leverage``) and margin mode (``fetch_margin_mode``) where ccxt has them."""
        self.ensure_markets()
        has, leverage, mode = self.exchange.has, None, None
        if has.get("fetchLeverage"):
            raw = self._read("fetch_leverage", self.exchange.fetch_leverage, symbol)
            leverage = convert.dec(raw.get("longLeverage") or raw.get("shortLeverage"))
            mode = raw.get("marginMode")
        if has.get("fetchMarginMode"):
            mode = self._read("fetch_margin_mode", self.exchange.fetch_margin_mode, symbol).get("marginMode") or mode
        return FuturesState(leverage, mode)

    def fetch_positions(self) -> list[VenuePosition] | None:
        """Every open contract position (``fetch_positions``); None where ccxt has no such call
        or the account trades no contract market."""
        self.ensure_markets()
        if not self.exchange.has.get("fetchPositions") or not any(
                m.get("contract") for m in (self.exchange.markets or {}).values()):
            return None  # no contract markets loaded (a spot-only account): nothing to ask
        result = []
        for raw in self._read("fetch_positions", self.exchange.fetch_positions):
            size = (convert.dec(raw.get("contracts")) or convert.ZERO) * (convert.dec(raw.get("contractSize")) or 1)
            if size and raw.get("symbol"):
                signed = -abs(size) if raw.get("side") == "short" else abs(size)
                side = (raw.get("side") or "net") if raw.get("hedged") else "net"
                result.append(VenuePosition(raw["symbol"], signed, convert.dec(raw.get("entryPrice")),
                                            convert.dec(raw.get("leverage")), raw.get("marginMode"), side))
        return result

    def _setting(self, action: str, call: Callable[..., Any], *args: Any) -> None:
        self.ensure_markets()
        with self._lock:
            try:
                with translated(self.name, action, sending=True):
                    call(*args)
            except VenueError as e:
                cause = e.__cause__
                if isinstance(cause, ccxt.NoChange) or any(m in str(cause) for m in self.unchanged_messages):
                    return
                raise

    # ----------------------------------------------------------------------- markets
    def load_markets(self) -> dict[str, dict[str, Any]]:
        """(Re)load the venue's markets; ccxt's unified structures, JSON-safe, by symbol."""
        markets = self._read("load_markets", self.exchange.load_markets, True)
        self._markets_loaded_at = time.monotonic()
        return {symbol: convert.json_safe(market) for symbol, market in markets.items()}

    def markets_stale(self) -> bool:
        loaded = self._markets_loaded_at
        return loaded is None or time.monotonic() - loaded > self.tuning.market_refresh_seconds

    def ensure_markets(self) -> None:
        """Markets loaded once per process (ccxt needs them to map symbols)."""
        if self._markets_loaded_at is None:
            self.load_markets()

    def probe(self) -> None:
        """One cheap read, not retried: ``fetch_time`` where ccxt has it, else ``fetch_balance``."""
        call = self.exchange.fetch_time if self.exchange.has.get("fetchTime") else self.exchange.fetch_balance
        with self._lock, translated(self.name, "probe"):
            call()

    # ----------------------------------------------------------------------- helpers
    def _read(self, action: str, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` retried with backoff on ccxt ``NetworkError``; errors translated."""
        retrying = Retrying(
            stop=stop_after_attempt(self.tuning.read_attempts),
            wait=wait_exponential(multiplier=self.tuning.read_backoff_seconds, max=8),
            retry=retry_if_exception_type(ccxt.NetworkError),
            before_sleep=lambda state: self._before_retry(action, state),
            reraise=True,
        )
        with self._lock, translated(self.name, action):
            return retrying(call, *args)

    def _before_retry(self, action: str, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.info("%s %s failed (%s), retrying", self.name, action, type(error).__name__)
        if isinstance(error, ccxt.InvalidNonce):
            self._resync_clock()

    def _resync_clock(self) -> None:
        """``load_time_difference``: ccxt then signs with the venue's clock (Binance -1021)."""
        try:
            self.exchange.load_time_difference()
        except ccxt.BaseError as e:
            log.warning("%s: clock resync failed: %s", self.name, type(e).__name__)

    def _complete(self, raw: dict[str, Any], client_order_id: str, symbol: str) -> VenueOrder:
        """``raw`` with all its trades: from the answer, else fetched. Raises
        ``TemporaryVenueError`` when the trades cannot be read (nothing is recorded then)."""
        default_ts = convert.ts(raw.get("timestamp"))
        trades = convert.trades_of(raw.get("trades") or [], default_ts) or ()
        filled = convert.dec(raw.get("filled")) or convert.ZERO
        if not _covers(trades, filled) and raw.get("id"):
            trades = self._order_trades(str(raw["id"]), symbol, raw.get("timestamp"), default_ts)
        if not _covers(trades, filled):
            raise TemporaryVenueError(
                f"{self.name}: order {client_order_id} reports {filled} filled but its trades cover "
                f"{sum((t.quantity for t in trades), convert.ZERO)}; it will be read again"
            )
        return convert.venue_order(raw, client_order_id, trades)

    def _order_trades(self, venue_order_id: str, symbol: str, since: int | None, default_ts: Any) -> tuple[Trade, ...]:
        if self.exchange.has.get("fetchOrderTrades"):
            raws = self._read("fetch_order_trades", self.exchange.fetch_order_trades, venue_order_id, symbol)
        else:
            raws = self._read("fetch_my_trades", self.exchange.fetch_my_trades, symbol, since)
            raws = [t for t in raws if str(t.get("order")) == venue_order_id]
        return convert.trades_of(raws, default_ts) or ()


def _number(value: Decimal) -> int | float:
    """A leverage as ccxt wants it: an int when whole (``5``, not ``5.0``)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _covers(trades: tuple[Trade, ...], filled: Decimal) -> bool:
    total = sum((t.quantity for t in trades), convert.ZERO)
    return filled <= 0 or abs(total - filled) <= filled * FILL_TOLERANCE
