"""The tables of the TOML file named by ``TRADEWIRE_CONFIG``: accounts, strategies, risk limits,
pollers, notifications, market data.

``app.config.Settings`` is a ``FileConfig``: each process reads and validates the file once,
in ``get_settings()``; an error names the key (``accounts.paper.risk.sizing: ...``). The file
is applied to the database (``apply_config``) so every process reads the same limits and
the request path never reads files. Key names are the interface (README, "Configuration").
"""

import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator

from app.domain.ladder import ExitLadder
from app.errors import ConfigError
from app.ingest.parsers import DIALECTS, PREDICTION_DIALECTS
from app.ingest.parsers.mapped import MappingError, compile_mapping

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
    taker_fee_rate: Decimal | None = Field(
        default=None, ge=0, le=Decimal("0.1"), description="ccxt accounts: your fee tier's taker rate (fraction of "
        "notional) for routing costs (app.routing); default: the taker of ccxt's market. Paper: paper.taker_fee_rate")


DEFAULT_MARKET_DATA_SOURCE = "binance"  # a paper account's quotes, books and candles


def market_data_source(account: AccountConfig) -> str | None:
    """The market-data source (a ccxt exchange id) whose quotes, books and candles ``account``
    uses: its ``market_data`` key; unset: ``binance`` for a paper account, the account's own
    venue for a ccxt account; ``market_data = ""``: None (the account uses no market data)."""
    if account.market_data is not None:
        return account.market_data or None
    return DEFAULT_MARKET_DATA_SOURCE if account.venue == "paper" else account.venue


SHADOW_SUFFIX = "-shadow"  # ``shadow = true`` on strategy X: the paper account X-shadow


def shadow_account(live: AccountConfig) -> AccountConfig:
    """The paper account ``shadow = true`` creates to shadow ``live`` (``app.shadow``): its quote
    currency, fed by its market data (``market_data_source(live)``: a ccxt account's own venue),
    starting with ``live.starting_balance`` in that currency (default 10,000; on a ccxt account
    set it to the capital the account trades, so the shadow can afford the same orders), and the
    paper venue's default fees (``paper.taker_fee_rate``; declare ``[accounts.X-shadow]`` to set
    your fee tier)."""
    return AccountConfig(venue="paper", quote_currency=live.quote_currency, starting_balance=live.starting_balance,
                         market_data=market_data_source(live) or "")


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


DURATION = r"^[1-9][0-9]*(m|h|d|w)$"  # "15m", "1h", "1d", "1w"
_DURATION_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(text: str) -> int:
    """Seconds of a ``DURATION`` text: ``"1h"`` is 3600, ``"1d"`` 86400. Raises ``ValueError``."""
    if not re.fullmatch(DURATION, text):
        raise ValueError(f"{text!r} is not a duration like 15m, 1h, 1d or 1w")
    return int(text[:-1]) * _DURATION_UNITS[text[-1]]


class PortfolioConfig(BaseModel):
    """``[strategies.X.portfolio]`` (issue 19, ``app.portfolio``): fixed target ``weights`` (asset
    → fraction of equity, summing to at most 1; the rest stays in the quote currency), used by a
    ``rebalance`` signal without its own; a schedule ``every`` ("1d"); the ``drift_threshold``
    below which an asset is not traded, in percentage points of equity (``drift_mode =
    "absolute"``) or in percent of its target weight (``"relative"``); ``on_drift``: rebalance
    when market prices move an asset beyond the threshold, at most once per ``drift_cooldown``."""

    model_config = ConfigDict(extra="forbid")

    weights: dict[str, Annotated[Decimal, Field(ge=0, le=1)]] | None = Field(default=None, max_length=100)
    every: str | None = Field(default=None, pattern=DURATION, description="rebalance this often: 15m, 1h, 1d, 1w")
    drift_threshold: Decimal = Field(default=Decimal(0), ge=0, le=100,
                                     description="percentage points (absolute) or percent of the target (relative)")
    drift_mode: Literal["absolute", "relative"] = "absolute"
    on_drift: bool = Field(default=False, description="rebalance when prices move an asset beyond the threshold")
    drift_cooldown: str = Field(default="15m", pattern=DURATION,
                                description="on_drift: at least this long after the strategy's last rebalance")

    @model_validator(mode="after")
    def _weights(self) -> "PortfolioConfig":
        if self.weights is not None:
            self.weights = {str(k).strip().upper(): v for k, v in self.weights.items()}
            total = sum(self.weights.values(), Decimal(0))
            if total > 1:
                raise ValueError(f"weights: they sum to {total}; at most 1 (the rest stays in the quote currency)")
        if (self.every or self.on_drift) and not self.weights:
            raise ValueError("weights: every / on_drift rebalance to the strategy's own weights; give them")
        return self


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
    portfolio: PortfolioConfig | None = Field(
        default=None, description="target weights, schedule and drift threshold of rebalance signals (app.portfolio)")
    dialect: str | None = Field(default=None, min_length=1, max_length=32, description="the dialect its webhooks "
                                "read with (a built-in or a [dialects] name) unless ?dialect= forces one; none: detect")
    route: list[str] = Field(default_factory=list, description="a venue group (app.routing): account names holding "
                             "the same symbol; each order goes to the cheapest all-in; not with accounts")
    route_split: bool = Field(default=False, description="route: split a large order across the group's venues "
                              "when that costs less than the best single venue")
    # Issue 15 (app.shadow): true → a paper account NAME-shadow, created (``shadow_account``); or
    # the name of a paper account. Resolved to the account's name when the file is read.
    shadow: StrictBool | Annotated[str, Field(min_length=1, max_length=64)] = Field(
        default=False, description="paper shadow of the live account: every order its decision approves is also "
        "sent to this paper account with the same quantity (true: an account NAME-shadow is created)")

    @model_validator(mode="before")
    @classmethod
    def _route_primary(cls, data: Any) -> Any:
        """With ``route`` and no ``account``, the primary account is the route's first."""
        if isinstance(data, dict) and data.get("route") and "account" not in data and isinstance(data["route"], list):
            return {**data, "account": data["route"][0]}
        return data


class PollerMarket(BaseModel):
    """One (symbol, timeframe) a poller asks for, passed through as the query's values. Without
    a symbol the poller asks for every symbol (a query parameter that renders empty is left
    out) and records one signal per symbol of the answer."""

    model_config = ConfigDict(extra="forbid")

    symbol: str | None = Field(default=None, min_length=1, description="as the prediction API spells it, e.g. "
                               "BTCUSDT; none: every symbol the answer lists")
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
    # app.ingest.parsers.PREDICTION_DIALECTS or a [dialects] mapping, checked by
    # check_file_config), fetched from ``{base_url}{path}`` with the
    # ``query`` template ({symbol}, {timeframe}, {base}: the symbol's base asset, BTC of
    # BTCUSDT), the key sent as ``Authorization: Bearer`` (auth = "bearer"), in the header
    # ``auth_name`` (auth = "header") or in the query parameter ``auth_name`` (auth = "query").
    dialect: str = Field(default="prediction", min_length=1, max_length=32)
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


def _as_text(value: Any) -> Any:
    """A TOML number or boolean written where text is meant (``default = 0.01``), as text;
    anything else unchanged for the field's own check."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (int, float, Decimal)) else value


def _place(value: Any) -> Any:
    """A place is a JSON pointer / text key (a string) or a text position (an integer)."""
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError('a place is a JSON pointer ("/order/side"), a text key ("SIDE") or a position (0, 1, …)')


class DialectField(BaseModel):
    """One canonical field of a ``[dialects.NAME]`` mapping: its place (``from``), a value
    ``map`` (the sender's words → ours, any case) and a ``default`` (when the place is absent or
    empty; alone: a constant). A bare string or integer is the place alone
    (``app.ingest.parsers.mapped``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str | int | None = Field(default=None, alias="from", description="JSON pointer, text key or position")
    map: dict[str, str] = Field(default_factory=dict, max_length=100)
    default: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return {"from": _place(data)}
        data = dict(data)
        if isinstance(data.get("map"), dict):
            data["map"] = {k: _as_text(v) for k, v in data["map"].items()}
        if "default" in data:
            data["default"] = _as_text(data["default"])
        if "from" in data:
            data["from"] = _place(data["from"])
        return data


class DialectDetect(BaseModel):
    """How a ``[dialects.NAME]`` body is recognised; every condition given must hold:
    ``present`` places, ``equals`` place → exact text, and for text ``prefix`` / ``regex``."""

    model_config = ConfigDict(extra="forbid")

    present: list[str | int] = Field(default_factory=list, max_length=20)
    equals: dict[str, str] = Field(default_factory=dict, max_length=20)
    prefix: str | None = Field(default=None, min_length=1)
    regex: str | None = Field(default=None, min_length=1, max_length=500)

    @model_validator(mode="before")
    @classmethod
    def _texts(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("equals"), dict):
            data = {**data, "equals": {k: _as_text(v) for k, v in data["equals"].items()}}
        if isinstance(data, dict) and isinstance(data.get("present"), list):
            data = {**data, "present": [_place(p) for p in data["present"]]}
        return data


class DialectMapping(BaseModel):
    """``[dialects.NAME]``: a dialect defined without code (``app.ingest.parsers.mapped``):
    ``format`` json (places are JSON pointers) or text (``separator``; positions, or keys with
    ``key_value``), ``detect`` (required), ``secret`` (the place of the strategy's secret:
    accepted as the webhook secret, redacted from everything stored) and ``fields`` (canonical
    field → place or {from, map, default}). Checked further when the file is loaded
    (``check_file_config``), naming the key."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["json", "text"] = "json"
    separator: str | None = Field(default=None, min_length=1, max_length=8)
    key_value: str | None = Field(default=None, min_length=1, max_length=8)
    detect: DialectDetect
    secret: str | int | None = None
    fields: dict[str, DialectField] = Field(min_length=1, max_length=40)

    @model_validator(mode="before")
    @classmethod
    def _secret(cls, data: Any) -> Any:
        return {**data, "secret": _place(data["secret"])} if isinstance(data, dict) and "secret" in data else data


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
    dialects: dict[str, DialectMapping] = Field(default_factory=dict, description="dialects defined without code")

    @model_validator(mode="after")
    def _paper_account(self) -> "FileConfig":
        self.accounts.setdefault("paper", AccountConfig())  # the default strategy's account is always there
        return self

    @model_validator(mode="after")
    def _shadow_accounts(self) -> "FileConfig":
        """``shadow = true`` becomes the account name ``STRATEGY-shadow``, created as
        ``shadow_account`` of the strategy's account unless the file declares it."""
        for name, strategy in self.strategies.items():
            if strategy.shadow is True and strategy.account in self.accounts:
                strategy.shadow = f"{name}{SHADOW_SUFFIX}"
                self.accounts.setdefault(strategy.shadow, shadow_account(self.accounts[strategy.account]))
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
        _check_route(path, config, name, strategy)
        _check_shadow(path, config, name, strategy)
    for name, account in config.accounts.items():
        if account.venue == "paper" and account.taker_fee_rate is not None:
            raise ConfigError(f"{path}: accounts.{name}.taker_fee_rate: a paper account's taker fee is "
                              "paper.taker_fee_rate", field=f"accounts.{name}.taker_fee_rate")
    _check_market_data(path, config)
    _check_dialects(path, config)


def _check_route(path: Path | None, config: FileConfig, name: str, strategy: StrategyConfig) -> None:
    """A venue group (``route``): two or more distinct, existing accounts, the primary one of
    them, and no fan-out ``accounts`` beside it (one order goes to one of them, not to each)."""
    key = f"strategies.{name}.route"
    if not strategy.route:
        if strategy.route_split:
            raise ConfigError(f"{path}: strategies.{name}.route_split: needs a route", field=f"strategies.{name}.route_split")
        return
    problem = None
    if strategy.accounts:
        problem = "route (one venue of the group per order) and accounts (every account trades) cannot both be set"
    elif len(set(strategy.route)) != len(strategy.route) or len(strategy.route) < 2:
        problem = f"a route needs two or more distinct accounts, not {strategy.route}"
    elif missing := [a for a in strategy.route if a not in config.accounts]:
        problem = f"no account {missing[0]!r}"
    elif strategy.account not in strategy.route:
        problem = f"the strategy's account {strategy.account!r} is not in its route"
    if problem is not None:
        raise ConfigError(f"{path}: {key}: {problem}", field=key)



def _check_shadow(path: Path | None, config: FileConfig, name: str, strategy: StrategyConfig) -> None:
    """A shadow (``app.shadow``) is a paper account of its own beside a live, unrouted account."""
    if strategy.shadow is False or strategy.account not in config.accounts:
        return
    key, shadow = f"strategies.{name}.shadow", strategy.shadow
    problem = None
    if config.accounts[strategy.account].venue == "paper":
        problem = (f"account {strategy.account!r} is a paper account; a shadow compares a live venue's fills with "
                   "paper ones")
    elif strategy.route:
        problem = "a routed strategy (route) has no one live account to shadow"
    elif not isinstance(shadow, str) or len(shadow) > 64:
        problem = f"the account name {shadow!r} is longer than 64 characters; name a paper account instead"
    elif shadow not in config.accounts:
        problem = f"no account {shadow!r}"
    elif config.accounts[shadow].venue != "paper":
        problem = f"account {shadow!r} trades on {config.accounts[shadow].venue}; a shadow is a paper account"
    elif shadow in strategy.subscriptions():
        problem = f"account {shadow!r} already trades this strategy's signals; a shadow is an account of its own"
    elif other := next((n for n, s in config.strategies.items() if n != name
                        and (shadow in s.subscriptions() or s.shadow == shadow)), None):
        problem = f"account {shadow!r} also serves strategy {other!r}; a shadow account serves one strategy alone"
    if problem is not None:
        raise ConfigError(f"{path}: {key}: {problem}", field=key)


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


_DIALECT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def _check_dialects(path: Path | None, config: FileConfig) -> None:
    """Each ``[dialects.NAME]`` has a free name of its own and compiles
    (``app.ingest.parsers.mapped.compile_mapping``); each strategy's ``dialect`` exists; each
    poller's is a prediction dialect, ``tradewire`` or a mapping. Raises ``ConfigError`` naming the key
    (``dialects.myfmt.fields.action.map``)."""
    for name, mapping in config.dialects.items():
        key = f"dialects.{name}"
        if not _DIALECT_NAME.fullmatch(name):
            raise ConfigError(f"{path}: {key}: a dialect name is lower-case letters, digits, - and _ "
                              "(at most 32), starting with a letter", field=key)
        if name in DIALECTS:
            raise ConfigError(f"{path}: {key}: {name!r} is a built-in dialect; give the mapping another name",
                              field=key)
        try:
            compile_mapping(name, mapping)
        except MappingError as e:
            raise ConfigError(f"{path}: {key}.{e.key}: {e.message}", field=f"{key}.{e.key}") from None
    known = [*DIALECTS, *config.dialects]
    for name, strategy in config.strategies.items():
        if strategy.dialect is not None and strategy.dialect not in known:
            raise ConfigError(f"{path}: strategies.{name}.dialect: no dialect {strategy.dialect!r}; use one of "
                              f"{', '.join(known)}", field=f"strategies.{name}.dialect")
    # ``tradewire``: an index provider answering portfolio targets ({"weights": …, "time": …}),
    # each answer a rebalance of the poller's strategy (README, "Portfolios and rebalancing").
    predictions = [*PREDICTION_DIALECTS, "tradewire", *config.dialects]
    for name, poller in config.pollers.items():
        if poller.dialect not in predictions:
            raise ConfigError(f"{path}: pollers.{name}.dialect: {poller.dialect!r} is not a prediction dialect; use "
                              f"one of {', '.join(predictions)}", field=f"pollers.{name}.dialect")
