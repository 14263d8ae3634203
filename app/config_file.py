"""The tables of the TOML file named by ``TRADEWIRE_CONFIG``: accounts, strategies, risk limits,
pollers, notifications, market data.

``app.config.Settings`` is a ``FileConfig``: each process reads and validates the file once,
in ``get_settings()``; an error names the key (``accounts.paper.risk.sizing: ...``). The file
is applied to the database (``apply_config``) so every process reads the same limits and
the request path never reads files. Key names are the interface (README, "Configuration").
"""

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.domain.ladder import ExitLadder
from app.errors import ConfigError

# Amounts are stored in NUMERIC(38, 18) columns (app.persistence.models.Money): at most 20
# digits before the point and 18 after. A value the columns cannot hold is refused here, with
# its key, rather than failing on the first fill.
Amount = Annotated[Decimal, Field(max_digits=38, decimal_places=18)]
# A paper account's balance grows with its gains; 10^18 leaves a factor of 100 below the
# columns' 10^20 before a balance could no longer be stored.
MAX_STARTING_BALANCE = Decimal(10**18)


class RiskLimits(BaseModel):
    """Per-account risk limits. Notionals and losses are in the quote currency; None: no cap."""

    model_config = ConfigDict(extra="forbid")

    sizing: Literal["fixed_base", "fixed_quote", "percent_equity", "atr_risk"] = "fixed_quote"
    sizing_value: Amount = Field(default=Decimal(100), gt=0, description="base units, quote units, percent, or risk percent")
    atr_multiplier: Amount = Field(default=Decimal("1.5"), gt=0)
    max_order_notional: Amount | None = Field(default=None, gt=0)
    max_position_notional: Amount | None = Field(default=None, gt=0)
    max_open_positions: int | None = Field(default=None, ge=0)
    max_orders_per_minute: int | None = Field(default=None, ge=0)
    daily_loss_limit: Amount | None = Field(default=None, gt=0)
    daily_loss_action: Literal["reducing", "halted"] = "reducing"
    cooldown_seconds: int = Field(default=0, ge=0)
    symbols: list[str] = Field(default_factory=list, description="allowlist; empty = every listed market")


class FuturesSymbolConfig(BaseModel):
    """One symbol's overrides of ``[accounts.NAME.futures]`` (``[accounts.NAME.futures.symbols."BTC/USDT:USDT"]``)."""

    model_config = ConfigDict(extra="forbid")

    leverage: Decimal | None = Field(default=None, gt=0, le=1000)
    margin_mode: Literal["cross", "isolated"] | None = None
    max_leverage: Decimal | None = Field(default=None, gt=0, le=1000)


class FuturesConfig(FuturesSymbolConfig):
    """``[accounts.NAME.futures]``: leverage, margin and position mode set on the venue before an
    entry on a perpetual (``app.execution.futures``); ``max_leverage`` caps what a signal may ask."""

    position_mode: Literal["one_way", "hedge"] | None = None
    symbols: dict[str, FuturesSymbolConfig] = Field(default_factory=dict)

    def for_symbol(self, symbol: str) -> FuturesSymbolConfig:
        """The account's settings with ``symbol``'s overrides applied."""
        override = self.symbols.get(symbol)
        merged = {k: getattr(self, k) for k in ("leverage", "margin_mode", "max_leverage")}
        if override is not None:
            merged |= override.model_dump(exclude_none=True)
        return FuturesSymbolConfig(**merged)


class PaperSimulation(BaseModel):
    """How a paper account fills (``[accounts.X.paper]``): fees as fractions of notional (None:
    ``TRADEWIRE_PAPER_FEE_RATE``), a slippage cap on book walks, and a latency between send
    and fill in milliseconds (fixed, plus up to ``latency_jitter_ms`` of uniform jitter)."""

    model_config = ConfigDict(extra="forbid")

    taker_fee_rate: Decimal | None = Field(default=None, ge=0, le=Decimal("0.1"))
    maker_fee_rate: Decimal | None = Field(default=None, ge=-Decimal("0.01"), le=Decimal("0.1"))
    max_slippage_bps: Decimal | None = Field(default=None, gt=0, le=10_000)
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    latency_jitter_ms: int = Field(default=0, ge=0, le=60_000)


class AccountConfig(BaseModel):
    """An account: its venue (``paper`` or a ccxt exchange id) and its limits."""

    model_config = ConfigDict(extra="forbid")

    venue: str = "paper"
    starting_balance: Amount = Field(default=Decimal(10000), ge=0, le=MAX_STARTING_BALANCE,
                                     description="paper only, quote currency")
    quote_currency: str = "USDT"
    min_notional: Amount = Field(default=Decimal(5), ge=0, description="paper only: smallest order notional, quote")
    api_key_env: str | None = None
    secret_env: str | None = None
    password_env: str | None = None
    sandbox: bool = False
    api_url: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    risk: RiskLimits = Field(default_factory=RiskLimits)
    paper: PaperSimulation = Field(default_factory=PaperSimulation, description="paper only: fees, slippage cap, latency")
    market_data: str | None = Field(default=None, description="market-data source (a ccxt id); default: binance "
                                    "for paper, the account's own venue otherwise; \"\" for none")
    futures: FuturesConfig = Field(default_factory=FuturesConfig)
    sync_mode: Literal["report", "adopt"] = Field(default="report", description="positions that drift from the "
                                                  "venue: report only, or make the ledger follow the venue")
    order_rate_limit: str | None = Field(default=None, pattern=r"^[1-9][0-9]*/[1-9][0-9]*(s|m)$",
                                         description="the venue's order-count limit for this account, orders/window "
                                         "such as \"50/10s\" or \"1200/1m\": sends wait for a slot, across workers "
                                         "(app.execution.order_rate)")


DEFAULT_MARKET_DATA_SOURCE = "binance"  # a paper account's quotes, books and candles


def market_data_source(account: AccountConfig) -> str | None:
    """The market-data source (a ccxt exchange id) whose quotes, books and candles ``account``
    uses: its ``market_data`` key; unset: ``binance`` for a paper account, the account's own
    venue for a ccxt account; ``market_data = ""``: None (the account uses no market data)."""
    if account.market_data is not None:
        return account.market_data or None
    return DEFAULT_MARKET_DATA_SOURCE if account.venue == "paper" else account.venue


class MarketDataSource(BaseModel):
    """A market-data source (``[market_data.ID]``, ``ID`` a ccxt exchange id): public endpoints,
    no keys. ``api_url`` replaces the scheme and host of every API URL, REST and WebSocket
    (``http`` → ``ws``, ``https`` → ``wss``), as an account's does; ``options`` go to ccxt."""

    model_config = ConfigDict(extra="forbid")

    api_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    options: dict[str, Any] = Field(default_factory=dict)
    sandbox: bool = False
    max_quote_age_seconds: float = Field(default=5, gt=0, description="an older quote is not used")
    poll_interval_seconds: float = Field(default=1, gt=0, description="REST polling period when not streaming")
    stream: bool = Field(default=True, description="False: REST polling only")
    stream_retry_seconds: float = Field(default=30, gt=0, description="while polling, try the stream again this often")


class Subscription(BaseModel):
    """One account's subscription to a strategy (``[strategies.X] accounts = {NAME = ...}``):
    a size multiplier applied to the quantity its own sizing rule gives (before the venue's
    precision), and its own leverage cap (the lower of this and the account's wins)."""

    model_config = ConfigDict(extra="forbid")

    multiplier: Decimal = Field(default=Decimal(1), gt=0, le=1000)
    max_leverage: Decimal | None = Field(default=None, gt=0, le=1000)


class StrategyConfig(BaseModel):
    """A strategy: its account(s) and its signal filters. ``accounts`` fans one signal out to
    several accounts: a list of names, or a table of name = multiplier | {multiplier, max_leverage};
    ``account`` (default: the first of ``accounts``) is the primary one, always subscribed."""

    model_config = ConfigDict(extra="forbid")

    account: str = "paper"
    accounts: dict[str, Subscription] = Field(default_factory=dict, description="fan-out: subscribed accounts")

    @model_validator(mode="before")
    @classmethod
    def _subscriptions(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("accounts") is None:
            return data
        raw = data["accounts"]
        if isinstance(raw, list):
            raw = {name: {} for name in raw}
        if isinstance(raw, dict):
            raw = {k: ({"multiplier": v} if isinstance(v, (int, float, str, Decimal)) and not isinstance(v, bool)
                       else v) for k, v in raw.items()}
            data = {**data, "accounts": raw}
            if "account" not in data and raw:
                data["account"] = next(iter(raw))
        return data

    def subscriptions(self) -> dict[str, Subscription]:
        """Every subscribed account, the primary first."""
        return {self.account: self.accounts.get(self.account, Subscription())} | {
            k: v for k, v in self.accounts.items() if k != self.account}
    min_confidence: Decimal | None = Field(default=None, ge=0, le=1)
    max_lag_seconds: int | None = Field(default=None, gt=0)
    on_opposite_signal: Literal["reverse", "reduce"] = "reverse"
    on_desync: Literal["warn", "reject"] = Field(default="warn", description="a prev_position the ledger disagrees "
                                                 "with: a warning in the decision, or a rejection")
    max_price_deviation_bps: Decimal | None = Field(
        default=None, gt=0, le=10_000,
        description="refuse a signal whose price is more than this many basis points from the market's mid")
    exit_ladder: ExitLadder | None = Field(
        default=None, description="take-profits, stop-loss, break-even and trailing stop of every entry "
        "(app.domain.ladder); a signal's own exit_ladder wins")


class PollerMarket(BaseModel):
    """One (symbol, timeframe) a poller asks for, passed through as the query's values."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, description="as the prediction API spells it, e.g. BTCUSDT")
    timeframe: str = Field(min_length=1, description="as the prediction API spells it, e.g. 4h")


class PollerConfig(BaseModel):
    """A prediction API polled by the scheduler (``[pollers.NAME]``): ``GET
    {base_url}/v1/predictions?symbol=&timeframe=`` with ``Authorization: Bearer`` the value of
    the environment variable ``api_key_env``, every ``interval_seconds``, for each market; each
    answer is ingested as a ``prediction`` signal of ``strategy``. ``dialect``, ``path``,
    ``query``, ``auth`` and ``auth_name`` (below) point it at any other prediction API."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(pattern=r"^https?://\S+$", description="e.g. https://api.example.com (no /v1)")
    api_key_env: str = Field(min_length=1, description="name of the environment variable holding the key")
    strategy: str = Field(min_length=1, description="strategy (by name) the predictions are ingested for")
    interval_seconds: int = Field(default=300, gt=0)
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    markets: list[PollerMarket] = Field(min_length=1)
    # Issue 18: any prediction API. The answer is read by ``dialect`` (one of
    # app.ingest.parsers.PREDICTION_DIALECTS), fetched from ``{base_url}{path}`` with the
    # ``query`` template ({symbol}, {timeframe}, {base}: the symbol's base asset, BTC of
    # BTCUSDT), the key sent as ``Authorization: Bearer`` (auth = "bearer"), in the header
    # ``auth_name`` (auth = "header") or in the query parameter ``auth_name`` (auth = "query").
    dialect: Literal["prediction", "tokenmetrics", "signals_mtf", "forecast", "trade_levels"] = "prediction"
    path: str = Field(default="/v1/predictions", pattern=r"^/\S*$", description="URL path after base_url")
    query: dict[str, str] = Field(default_factory=lambda: {"symbol": "{symbol}", "timeframe": "{timeframe}"},
                                  max_length=20, description="query parameters; {symbol} {timeframe} {base}")
    auth: Literal["bearer", "header", "query"] = "bearer"
    auth_name: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                                  description="header or query parameter carrying the key")

    @model_validator(mode="after")
    def _auth_and_query(self) -> "PollerConfig":
        if self.auth != "bearer" and not self.auth_name:
            raise ValueError(f"auth_name: auth = {self.auth!r} needs the name of the {self.auth} carrying the key")
        for name, template in self.query.items():
            try:
                template.format(symbol="", timeframe="", base="")
            except (KeyError, IndexError, ValueError) as e:
                raise ValueError(f"query.{name}: {template!r} may only use {{symbol}}, {{timeframe}}, {{base}} "
                                 f"({type(e).__name__}: {e})") from None
        return self


EVENT_KINDS = ("fill", "rejection", "venue_error", "order_in_doubt", "trading_state_change", "daily_loss_limit",
               "position_drift", "exit_ladder")
EventKind = Literal["fill", "rejection", "venue_error", "order_in_doubt", "trading_state_change", "daily_loss_limit",
                    "position_drift", "exit_ladder", "*"]


class ChannelConfig(BaseModel):
    """A notification channel (``[notifications.channels.NAME]``) and the event kinds it gets
    (``"*"``: all). Secrets are named by environment variable, never written in the file:
    telegram ``token_env`` (the bot token) + ``chat_id``; discord / slack / webhook
    ``url_env`` (the webhook URL is the secret) or ``url`` (a URL that is not secret).
    A telegram channel with ``command_chat_ids`` also takes commands from those chats."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["telegram", "discord", "slack", "webhook"]
    events: list[EventKind] = Field(default_factory=lambda: ["*"], min_length=1)
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    url_env: str | None = None
    token_env: str | None = None
    chat_id: str | None = None
    base_url: str = Field(default="https://api.telegram.org", pattern=r"^https?://\S+$",
                          description="Telegram Bot API base (a local stand-in in tests)")
    secret_env: str | None = Field(default=None, description="webhook: HMAC-SHA256 key for X-Tradewire-Signature")
    timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    # Remote control (app.notify.telegram): the scheduler long-polls getUpdates for these chats.
    command_chat_ids: list[int] = Field(default_factory=list, max_length=100,
                                        description="telegram: chats whose commands are obeyed; empty: no commands")
    confirm_seconds: int = Field(default=120, ge=1, le=3600,
                                 description="telegram: how long a destructive command's confirm button works")
    poll_timeout_seconds: int = Field(default=25, ge=0, le=50, description="telegram: getUpdates long-poll wait")

    @model_validator(mode="after")
    def _destination(self) -> "ChannelConfig":
        if self.type == "telegram" and not (self.token_env and self.chat_id):
            raise ValueError("a telegram channel needs token_env and chat_id")
        if self.type != "telegram" and self.command_chat_ids:
            raise ValueError("command_chat_ids: only a telegram channel takes commands")
        if self.type != "telegram" and not (self.url or self.url_env):
            raise ValueError(f"a {self.type} channel needs url_env (or url)")
        return self

    def subscribes(self, kind: str) -> bool:
        return "*" in self.events or kind in self.events


class NotificationsConfig(BaseModel):
    """``[notifications]``: channels by name, and the waits (seconds) between delivery retries."""

    model_config = ConfigDict(extra="forbid")

    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    retry_intervals_seconds: list[int] = Field(default_factory=lambda: [10, 60, 300, 900], max_length=10)


class FileConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: dict[str, AccountConfig] = Field(default_factory=lambda: {"paper": AccountConfig()})
    strategies: dict[str, StrategyConfig] = Field(default_factory=dict)
    pollers: dict[str, PollerConfig] = Field(default_factory=dict)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    # Binance's public data by default: a fresh install with internet sees live prices.
    market_data: dict[str, MarketDataSource] = Field(
        default_factory=lambda: {DEFAULT_MARKET_DATA_SOURCE: MarketDataSource()})

    @model_validator(mode="after")
    def _paper_account(self) -> "FileConfig":
        self.accounts.setdefault("paper", AccountConfig())  # the default strategy's account is always there
        return self


def load_config(path: Path | None) -> FileConfig:
    """The tables of the file at ``path`` alone (no environment); no file: the default
    ``paper`` account only. Processes use ``get_settings()``, which reads the file once and
    also takes process knobs (``port``, ``trusted_proxies``, ...) from it.

    Raises ``ConfigError`` naming the key and the problem, or the TOML syntax error's line.
    """
    if path is None:
        return FileConfig()
    try:
        config = FileConfig.model_validate(read_config_file(path))
    except ValidationError as e:
        raise config_error(path, e) from None
    check_file_config(path, config)
    return config


def read_config_file(path: Path) -> dict[str, Any]:
    """The parsed TOML file. Raises ``ConfigError`` if it is missing or not TOML (the line)."""
    try:
        return tomllib.loads(path.read_text())
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(f"TRADEWIRE_CONFIG names {path}, which does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None


def config_error(path: Path | None, error: ValidationError) -> ConfigError:
    """The first problem of ``error`` as a ``ConfigError`` naming its dotted key."""
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    return ConfigError(f"{path}: {key}: {first['msg']}", field=key)


def check_file_config(path: Path | None, config: FileConfig) -> None:
    """What the models cannot check alone: each strategy's account exists; market-data
    sources are ccxt exchange ids. Raises ``ConfigError`` naming the key."""
    for name, strategy in config.strategies.items():
        if strategy.account not in config.accounts:
            raise ConfigError(f"{path}: strategies.{name}.account: no account {strategy.account!r}",
                              field=f"strategies.{name}.account")
        for account in strategy.accounts:
            if account not in config.accounts:
                raise ConfigError(f"{path}: strategies.{name}.accounts: no account {account!r}",
                                  field=f"strategies.{name}.accounts")
    _check_market_data(path, config)


def _check_market_data(path: Path | None, config: FileConfig) -> None:
    """Every source is a ccxt exchange id; every account's source is configured or one."""
    import ccxt  # only here: ccxt takes a while to import and the rest of the file needs none of it

    exchanges = set(ccxt.exchanges)
    for name in config.market_data:
        if name not in exchanges:
            raise ConfigError(f"{path}: market_data.{name}: {name!r} is not a ccxt exchange id",
                              field=f"market_data.{name}")
    for name, account in config.accounts.items():
        source = market_data_source(account)
        if source is not None and source not in config.market_data and source not in exchanges:
            raise ConfigError(f"{path}: accounts.{name}.market_data: {source!r} is neither a configured "
                              "[market_data] source nor a ccxt exchange id", field=f"accounts.{name}.market_data")
