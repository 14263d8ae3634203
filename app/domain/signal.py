"""The canonical signal: what every dialect is normalised into (DESIGN.md, stage 2).

A ``Signal`` is what the sender said, made exact: prices and amounts are ``Decimal``,
times are UTC-aware, the symbol is a ccxt unified symbol. It does not say what will be
ordered; that is the risk engine's ``RiskDecision``.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from app.domain.ladder import ExitLadder
from app.domain.enums import Action, OrderType, PositionSide, SizeUnit, Source, TimeInForce
from app.domain.money import MAX_AMOUNT, MAX_PERCENT
from app.domain.symbols import MAX_SYMBOL_LENGTH

# Text bounds (the parsers check them first and name the sender's field; these are the net).
# Column widths: signals.dialect String(32), idempotency_key String(200), symbol String(64),
# strategies.name / accounts.name String(64). A comment is cut by the parser, never refused.
MAX_NAME_LENGTH = 64
MAX_COMMENT_LENGTH = 1000
MAX_ASSETS = 100  # assets of a portfolio signal's weights / prices


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class Size(BaseModel):
    """An amount with its unit: ``base`` (e.g. DOGE), ``quote`` (e.g. USDT), ``percent_equity``
    (0–100) or ``contracts`` (the venue's contract size)."""

    model_config = ConfigDict(frozen=True)

    amount: Decimal = Field(gt=0, le=MAX_AMOUNT, description="Positive amount in `unit`; percentages at most 100.")
    unit: SizeUnit = SizeUnit.BASE

    @model_validator(mode="after")
    def _percent_at_most_100(self) -> "Size":
        if self.unit in (SizeUnit.PERCENT_EQUITY, SizeUnit.PERCENT_POSITION) and self.amount > MAX_PERCENT:
            raise ValueError(f"a {self.unit} size must be at most 100, got {self.amount}")
        return self


class LimitOffset(BaseModel):
    """A limit price given as an offset from the market (OKX's and OctoBot's signals allow it):
    ``-0.1%`` is ``percent = -0.1``, ``-5 ticks`` is ``ticks = -5``. Applied to the best bid for
    a buy and the best ask for a sell (the passive side): a negative offset rests further
    from the market, a positive one reaches into it (``app.risk.market.offset_limit``)."""

    model_config = ConfigDict(frozen=True)

    percent: Decimal | None = Field(default=None, ge=-50, le=50)
    ticks: int | None = Field(default=None, ge=-10_000, le=10_000)

    @model_validator(mode="after")
    def _one_unit(self) -> "LimitOffset":
        if (self.percent is None) == (self.ticks is None):
            raise ValueError("a limit offset is either a percent or a number of ticks")
        return self

    def __str__(self) -> str:
        return f"{self.percent}%" if self.percent is not None else f"{self.ticks} ticks"


class Signal(BaseModel):
    """A trading signal in canonical form.

    ``source`` and ``strategy`` are set by the endpoint that received it; parsers leave the
    strategy empty. ``idempotency_key`` is unique per (source, strategy): from the payload
    when the dialect carries one, else derived from its content and signal time.
    """

    model_config = ConfigDict(frozen=True)

    source: Source = Source.TRADINGVIEW
    strategy: str = Field(default="", max_length=MAX_NAME_LENGTH)
    dialect: str = Field(max_length=32, description="Parser that read the payload, e.g. `tradingview`, `tradewire`.")
    idempotency_key: str = Field(min_length=1, max_length=200)
    symbol: str = Field(
        max_length=MAX_SYMBOL_LENGTH,
        description="ccxt unified symbol: `BTC/USDT` spot, `BTC/USDT:USDT` linear perpetual.",
    )
    raw_symbol: str = Field(max_length=MAX_SYMBOL_LENGTH, description="The ticker as the sender wrote it.")
    exchange: str | None = Field(
        default=None, max_length=MAX_NAME_LENGTH, description="Exchange named by the sender, lower case (`binance`)."
    )
    account: str | None = Field(
        default=None, max_length=MAX_NAME_LENGTH, description="Account to trade on; absent: the strategy's account."
    )
    action: Action
    target_position: PositionSide | None = Field(
        default=None, description="Position the sender wants afterwards (TradingView `strategy.market_position`)."
    )
    prev_position: PositionSide | None = Field(
        default=None, description="Position the sender had before (`strategy.prev_market_position`)."
    )
    leverage: Decimal | None = Field(default=None, gt=0, le=1000, description="Perpetuals: leverage to trade at "
                                     "(overrides the account's `[futures]`; capped by `max_leverage`).")
    margin_mode: Literal["cross", "isolated"] | None = Field(default=None, description="Perpetuals: margin mode.")
    position_side: PositionSide | None = Field(default=None, description="Hedge mode: the side (long / short) acted on.")
    size: Size | None = Field(default=None, description="Absent: the account's sizing rule decides.")
    target_size: Decimal | None = Field(
        default=None, ge=-MAX_AMOUNT, le=MAX_AMOUNT,
        description="The position wanted, signed base units (TradingView `{{strategy.position_size}}`, negative short).")
    target_percent: Decimal | None = Field(
        default=None, ge=-1000, le=1000, description="The position wanted, signed percent of equity.")
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = Field(default=None, gt=0, le=MAX_AMOUNT, description="Quote currency per base unit.")
    limit_offset: LimitOffset | None = Field(
        default=None, description="Limit price as an offset from the market (`-0.1%`, `-5 ticks`); makes a limit order.")
    time_in_force: TimeInForce | None = None
    stop_loss: Decimal | None = Field(default=None, gt=0, le=MAX_AMOUNT)
    take_profit: Decimal | None = Field(default=None, gt=0, le=MAX_AMOUNT)
    exit_ladder: ExitLadder | None = Field(
        default=None, description="Take-profits, stop-loss, break-even and trailing stop of the entry "
        "(`app.domain.ladder`); absent: the strategy's `exit_ladder`, if any.")
    price: Decimal | None = Field(
        default=None, gt=0, le=MAX_AMOUNT,
        description="Sender's reference price (TradingView `{{close}}`), quote per base.",
    )
    confidence: Decimal | None = Field(default=None, ge=0, le=1)
    timeframe: str | None = Field(default=None, max_length=MAX_NAME_LENGTH)
    indicators: dict[str, Decimal] = Field(default_factory=dict)
    signal_time: UtcDatetime | None = Field(default=None, description="When the sender produced it (UTC).")
    max_lag: int | None = Field(default=None, gt=0, description="Seconds the signal may age before arrival.")
    comment: str | None = Field(
        default=None, max_length=MAX_COMMENT_LENGTH, description="Sender's order id or comment, e.g. `Long Entry`."
    )
    weights: dict[str, Decimal] | None = Field(
        default=None, max_length=MAX_ASSETS,
        description="`rebalance`: target weight per asset (`{\"BTC\": 0.5}`), fractions 0–1 summing to at most 1; "
        "the rest stays in the account's quote currency. Absent: the strategy's `[portfolio] weights`.")
    prices: dict[str, Decimal] | None = Field(
        default=None, max_length=MAX_ASSETS,
        description="`rebalance`: reference price per asset, quote per base; used without a fresh quote, "
        "checked against the market when there is one.")

    @model_validator(mode="after")
    def _portfolio(self) -> "Signal":
        """Weights and prices belong to a ``rebalance``: each weight in [0, 1], their sum at
        most 1, each price positive and at most ``MAX_AMOUNT``. Raises ``ValueError`` naming
        the field (``weights.BTC``)."""
        if self.action != Action.REBALANCE:
            if self.weights is not None or self.prices is not None:
                raise ValueError("weights / prices: only a rebalance signal carries them")
            return self
        for asset, weight in (self.weights or {}).items():
            if not 0 <= weight <= 1:
                raise ValueError(f"weights.{asset}: a weight is a fraction between 0 and 1, got {weight}")
        total = sum((self.weights or {}).values(), Decimal(0))
        if total > 1:
            raise ValueError(f"weights: they sum to {total}; at most 1 (the rest stays in the quote currency)")
        for asset, price in (self.prices or {}).items():
            if not 0 < price <= MAX_AMOUNT:
                raise ValueError(f"prices.{asset}: a price must be greater than 0 and at most {MAX_AMOUNT:f}, got {price}")
        return self

    def summary(self) -> dict[str, Any]:
        """The signal as plain JSON values (Decimals as strings), for storage and answers."""
        return self.model_dump(mode="json", exclude_none=True)
