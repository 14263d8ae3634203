"""Typed answers of the shadow comparison, as they appear in OpenAPI (``GET
/api/v1/strategies/{name}/shadow`` and the ``shadow`` section of a signal's trace).

Money, prices and quantities are exact decimal strings in JSON (as everywhere in the admin
API); prices are quote per base, quantities base units, fees and PnL quote currency, slippage
basis points. Formulas: ``app.shadow.compare``.
"""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from app.domain.money import fmt

# The admin API's ``Money`` (app.admin.schemas), declared here too so this package does not
# import the admin package that includes it.
Money = Annotated[
    Decimal,
    PlainSerializer(fmt, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "decimal", "examples": ["60030.5"]}, mode="serialization"),
]
Bps = Annotated[Money, Field(description="basis points, 2 decimals; positive: the first price is worse for the "
                                         "trader (paid more on a buy, got less on a sell)")]


class ShadowLeg(BaseModel):
    """One account's side of a comparison row: its orders for the signal in that symbol and side."""

    account: str
    status: str = Field(description="the orders' statuses (`FILLED`, `FILLED + FILLED` for a reversal); before an "
                        "order exists the intent's; `refused` when the decision mirrored nothing; `no order`")
    reason: str | None = Field(description="why it was refused, or what the venue said (paper: which price it used)")
    quantity: Money = Field(description="ordered, base units")
    filled_quantity: Money = Field(description="base units")
    average_price: Money | None = Field(description="volume-weighted over the fills, quote per base")
    fee: Money = Field(description="quote currency (a fee in the base currency valued at the fill price)")
    realized_pnl: Money = Field(description="of these fills, quote currency, net of fees")
    client_order_ids: list[str]


class ShadowRow(BaseModel):
    """A signal's live and shadow fills side by side (one row per symbol and side: one for an
    ordinary signal, both legs of a reversal in one row)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "signal_id": "3375d267-5c4e-4a0e-9a3c-0c1f3f1d2b11", "received_at": "2026-11-29T10:00:00.123Z",
        "symbol": "BTC/USDT", "side": "buy", "sender_price": "59980", "market_price": "60000",
        "market_source": "binance", "slippage_bps": "5", "live_vs_market_bps": "5", "shadow_vs_market_bps": "0",
        "live_vs_sender_bps": "8.34",
        "live": {"account": "binance-main", "status": "FILLED", "reason": None, "quantity": "0.002",
                 "filled_quantity": "0.002", "average_price": "60030", "fee": "0.12006", "realized_pnl": "-0.12006",
                 "client_order_ids": ["tw3f1c..."]},
        "shadow": {"account": "ma-cross-shadow", "status": "FILLED", "reason": "priced from the binance order book "
                   "(1 levels)", "quantity": "0.002", "filled_quantity": "0.002", "average_price": "60000",
                   "fee": "0.12", "realized_pnl": "-0.12", "client_order_ids": ["tw9a0b..."]},
    }]})

    signal_id: uuid.UUID
    received_at: datetime
    symbol: str
    side: str
    sender_price: Money | None = Field(description="the signal's `price`, as the sender stated it")
    market_price: Money | None = Field(description="the ask (buy) / bid (sell) of the quote the live decision "
                                       "saw at receipt (its `market` check); null without a fresh quote")
    market_source: str | None
    live: ShadowLeg
    shadow: ShadowLeg
    slippage_bps: Bps | None = Field(description="live vs shadow average price: (live − shadow) / shadow × 10,000, "
                                     "negated for sells; positive: the live fill cost more than the paper one")
    live_vs_market_bps: Bps | None = Field(description="live average price vs the market at receipt")
    shadow_vs_market_bps: Bps | None = Field(description="shadow average price vs the market at receipt")
    live_vs_sender_bps: Bps | None = Field(description="live average price vs the sender's price")


class ShadowSide(BaseModel):
    """All fills of one side (live or shadow) for the strategy's shadowed signals: their entry
    orders and what followed them (protective orders, exit ladders)."""

    fills: int
    realized_pnl: Money = Field(description="quote currency, net of fees")
    fees: Money = Field(description="quote currency")
    notional: Money = Field(description="traded, quote currency")


class ShadowTotals(BaseModel):
    signals: int = Field(description="signals with a shadow decision and an order on either side")
    compared: int = Field(description="rows where both the live and the shadow order filled")
    live: ShadowSide
    shadow: ShadowSide
    pnl_difference: Money = Field(description="live − shadow realised PnL (negative: execution cost you this much)")
    fee_difference: Money = Field(description="live − shadow fees")
    avg_slippage_bps: Bps | None = Field(description="over compared rows, weighted by the live filled notional")


class ShadowDay(BaseModel):
    """One UTC day (by the fills' venue time) of realised PnL, and the running totals."""

    date: date
    live_realized_pnl: Money
    shadow_realized_pnl: Money
    live_cumulative_pnl: Money
    shadow_cumulative_pnl: Money


class StrategyShadow(BaseModel):
    """``GET /api/v1/strategies/{name}/shadow``: totals and daily PnL over every shadowed signal
    received in [from, to), and one page of comparison rows, newest first."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    strategy: str
    live_account: str = Field(description="the strategy's account (the live side)")
    shadow_account: str | None = Field(description="its shadow account now; null: it has none (older rows remain)")
    since: datetime | None = Field(alias="from")
    until: datetime | None = Field(alias="to")
    totals: ShadowTotals
    daily: list[ShadowDay]
    rows: list[ShadowRow]
    limit: int
    next_cursor: str | None = Field(description="pass as `cursor` for older rows; null: the last page")
