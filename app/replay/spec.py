"""What a replay is asked to do: inputs, period, configurations to compare, fill model.

A configuration overrides the base account's and strategy's settings (``AccountConfig``,
``RiskLimits``, ``StrategyConfig`` of ``app.config_file``) key by key; the merged settings are
validated by the same models the configuration file uses, so a replay can test only settings
a live account could have.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.config import get_settings
from app.config_file import AccountConfig, RiskLimits, StrategyConfig
from app.domain.signal import UtcDatetime
from app.errors import AppError

InputKind = Literal["stored", "jsonl", "tradingview_csv", "predictions_csv"]
MAX_CONFIGS = 8


class ReplayError(AppError):
    """The replay cannot run as asked (a bad configuration, an unreadable input file, no such
    strategy). The message names the field; change the request and ask again."""

    status_code = 422
    code = "invalid_replay"


class ReplayInput(BaseModel):
    """Where the signals come from.

    ``stored``: the signals Tradewire recorded, of ``strategy`` (a prediction model is the
    strategy its predictions are ingested for) and/or ``source`` (tradingview, prediction, rest);
    ``jsonl``: one JSON object a line, ``{"received_at": ..., "body": <object or text>}``
    (optional ``dialect``, ``source``); ``tradingview_csv``: TradingView's "List of trades"
    export of one ``symbol``, its times in ``timezone``; ``predictions_csv``: symbol, timeframe,
    prediction, confidence, timestamp (optional ``atr_14``, ``received_at``).
    """

    model_config = ConfigDict(extra="forbid")

    kind: InputKind
    strategy: str | None = Field(default=None, max_length=64)
    source: Literal["tradingview", "prediction", "rest"] | None = None
    content: str | None = Field(default=None, description="the file's text (files only)")
    symbol: str | None = Field(default=None, max_length=64, description="tradingview_csv: the chart's symbol")
    timezone: str = Field(default="UTC", description="tradingview_csv: the chart's time zone (IANA name)")
    dialect: str | None = Field(default=None, max_length=32, description="jsonl: force a parser dialect")

    @model_validator(mode="after")
    def _complete(self) -> "ReplayInput":
        if self.kind == "stored" and not (self.strategy or self.source):
            raise ValueError("stored signals need a strategy or a source")
        if self.kind != "stored" and self.content is None:
            raise ValueError(f"a {self.kind} input needs the file's content")
        return self


class FillModel(BaseModel):
    """How simulated orders fill from candles (stated in the report).

    Market orders fill at the open of the first candle opening at or after the signal's
    receipt, at the ask (open + half ``spread_bps``) for a buy and the bid for a sell, moved
    ``slippage_bps`` further against the order, paying ``taker_fee_rate`` × notional. A limit
    order marketable at that open fills there as a taker; otherwise it rests (GTC) and fills at
    its own price, paying ``maker_fee_rate``, at the first later candle whose range reaches it
    (IOC / FOK expire, post-only is refused when marketable). Stop-loss and take-profit prices of
    a signal arm after its entry fills and fire as market orders at the first candle whose range
    reaches them (at the open when the candle gaps through); when one candle reaches both, the
    stop-loss is assumed first.
    """

    model_config = ConfigDict(extra="forbid")

    source: str = Field(default="binance", description="market-data source (ccxt id) of the candles")
    timeframe: str = Field(default="1m", description="candles the fills and quotes come from")
    spread_bps: Decimal = Field(default=Decimal(2), ge=0, lt=10_000)
    slippage_bps: Decimal | None = Field(default=None, ge=0, lt=10_000, description="default: paper_slippage_bps")
    taker_fee_rate: Decimal | None = Field(default=None, ge=0, le=1, description="default: paper_fee_rate")
    maker_fee_rate: Decimal | None = Field(default=None, ge=0, le=1, description="default: the taker rate")
    max_gap_seconds: int = Field(default=3600, gt=0, description="no candle this long after a signal: no fill")
    fetch_missing: bool = Field(default=True, description="fetch candles not stored with ccxt fetch_ohlcv")

    def resolved(self) -> "FillModel":
        """Defaults taken from the settings (the live paper venue's fee and slippage)."""
        settings = get_settings()
        taker = self.taker_fee_rate if self.taker_fee_rate is not None else settings.paper_fee_rate
        return self.model_copy(update={
            "taker_fee_rate": taker,
            "maker_fee_rate": self.maker_fee_rate if self.maker_fee_rate is not None else taker,
            "slippage_bps": self.slippage_bps if self.slippage_bps is not None else settings.paper_slippage_bps,
        })


class ConfigOverride(BaseModel):
    """One configuration to test: keys of ``[strategies.X]`` (``strategy``), of
    ``[accounts.X.risk]`` (``risk``) and of ``[accounts.X]`` (``account``) replacing the base's."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="base", min_length=1, max_length=32)
    strategy: dict[str, Any] = Field(default_factory=dict)
    risk: dict[str, Any] = Field(default_factory=dict)
    account: dict[str, Any] = Field(default_factory=dict)


class ReplayRequest(BaseModel):
    """A replay: inputs over [``since``, ``until``) (receipt times), the base configuration
    (the ``strategy``'s and its account's settings as stored; defaults without one), the
    configurations compared side by side, the fill model, the equity marking period and the
    annual risk-free rate used by Sharpe and Sortino."""

    model_config = ConfigDict(extra="forbid")

    input: ReplayInput
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None
    strategy: str | None = Field(default=None, max_length=64, description="base configuration; default: the input's")
    configs: list[ConfigOverride] = Field(default_factory=lambda: [ConfigOverride()], min_length=1,
                                          max_length=MAX_CONFIGS)
    fill: FillModel = Field(default_factory=FillModel)
    mark_period: Literal["1h", "4h", "1d"] = "1d"
    risk_free_rate: Decimal = Field(default=Decimal(0), ge=-1, le=1, description="annual, e.g. 0.04")

    @field_validator("configs")
    @classmethod
    def _unique_names(cls, configs: list[ConfigOverride]) -> list[ConfigOverride]:
        names = [c.name for c in configs]
        if len(set(names)) != len(names):
            raise ValueError(f"configuration names must differ: {', '.join(names)}")
        return configs

    def base_strategy(self) -> str | None:
        return self.strategy or self.input.strategy


class Effective(BaseModel):
    """A configuration after its overrides: what the risk engine reads."""

    name: str
    account_name: str
    strategy_name: str
    account: AccountConfig
    strategy: StrategyConfig

    @property
    def limits(self) -> RiskLimits:
        return self.account.risk


def effective(override: ConfigOverride, account_name: str, strategy_name: str,
              account: dict[str, Any], strategy: dict[str, Any]) -> Effective:
    """The base settings (stored dicts) with ``override`` applied, validated. Raises
    ``ReplayError`` naming ``configs.<name>.<key>``."""
    merged_account = {**account, **override.account}
    merged_account["risk"] = {**(account.get("risk") or {}), **override.risk}
    merged_strategy = {**strategy, **override.strategy}
    try:
        return Effective(name=override.name, account_name=account_name, strategy_name=strategy_name,
                         account=AccountConfig.model_validate(merged_account),
                         strategy=StrategyConfig.model_validate(merged_strategy))
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ReplayError(f"configs.{override.name}.{key}: {first['msg']}", field=f"configs.{override.name}") from None


def parse_override(text: str) -> ConfigOverride:
    """``NAME:key=value,key=value`` (the CLI's ``--config``) as a ``ConfigOverride``: each key goes
    to the model that has it (strategy, then risk, then account). Raises ``ReplayError``."""
    name, _, pairs = text.partition(":")
    override = ConfigOverride(name=name.strip() or "base")
    for pair in filter(None, (p.strip() for p in pairs.split(","))):
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep:
            raise ReplayError(f"--config {text!r}: {pair!r} is not key=value", field="config")
        parsed: Any = None if value.strip().lower() in ("none", "null", "") else value.strip()
        if key in StrategyConfig.model_fields:
            override.strategy[key] = parsed
        elif key in RiskLimits.model_fields:
            override.risk[key] = parsed.split("|") if key == "symbols" and parsed else parsed
        elif key in AccountConfig.model_fields:
            override.account[key] = parsed
        else:
            raise ReplayError(f"--config {text!r}: unknown setting {key!r}", field="config")
    return override


def load_request(data: dict[str, Any]) -> ReplayRequest:
    """Validate a request dict. Raises ``ReplayError`` naming the field."""
    try:
        return ReplayRequest.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ReplayError(f"{key}: {first['msg']}", field=key) from None


def in_period(request: ReplayRequest, received_at: datetime) -> bool:
    return (request.since is None or received_at >= request.since) and (
        request.until is None or received_at < request.until)
