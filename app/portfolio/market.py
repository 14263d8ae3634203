"""What a rebalance reads about an account, from our own tables and the market-data cache only
(never a venue): its configuration, spot holdings, cash, fee rate, and a price per asset.

Prices (``resolve_prices``): the fresh quote of ``ASSET/QUOTE`` on the account's market-data
source (bid, ask and their mid) when it has both sides, else the signal's reference price
(``prices.ASSET``), else the quote's last trade; none of them: no price. A reference price
further than the strategy's ``max_price_deviation_bps`` from the quote's mid refuses the
rebalance, with both prices (``app.risk.market.deviation_bps``, as for a single signal).
"""

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.config_file import AccountConfig, PortfolioConfig, StrategyConfig, market_data_source
from app.domain.money import fmt
from app.marketdata import cache
from app.marketdata.sources import source_config
from app.persistence.models import Account, BalanceRecord, PositionRecord, RebalanceRecord, Strategy
from app.portfolio.legs import Price
from app.risk.market import FIRST_QUOTE_WAIT_SECONDS, deviation_bps
from app.risk.rules import MarketRules
from app.risk.state import parsed_account_config, parsed_strategy_config  # the risk context's parse caches

DEFAULT_FEE_RATE = Decimal("0.001")  # a ccxt market that states no taker fee: Binance's base spot rate
RUNNING = ("pending_sells", "buying")


@dataclass(frozen=True)
class AccountView:
    """An account as a rebalance needs it: its configuration and market-data source."""

    id: uuid.UUID
    name: str
    venue: str
    config: AccountConfig
    source: str | None
    max_quote_age: float

    @property
    def quote(self) -> str:
        return self.config.quote_currency


def account_view(session: Session, account_id: uuid.UUID) -> AccountView:
    """The account's configuration (stored settings) and market-data source."""
    row = session.execute(select(Account.name, Account.venue, Account.settings).where(Account.id == account_id)).one()
    config = parsed_account_config(row.settings)
    source = market_data_source(config)
    max_age = source_config(source).max_quote_age_seconds if source else 0.0
    return AccountView(account_id, row.name, row.venue, config, source, max_age)


def strategy_config(session: Session, strategy_id: uuid.UUID) -> StrategyConfig:
    """The strategy's stored settings (``StrategyConfig``)."""
    settings = session.execute(select(Strategy.settings).where(Strategy.id == strategy_id)).scalar_one_or_none()
    return parsed_strategy_config(settings)


def portfolio_of(config: StrategyConfig) -> PortfolioConfig:
    """The strategy's ``[portfolio]`` table, or its defaults (no weights, threshold 0)."""
    return config.portfolio or PortfolioConfig()


def held_assets(session: Session, account_id: uuid.UUID, quote: str) -> dict[str, Decimal]:
    """Base quantity of each asset held on spot against ``quote`` (the ledger's positions in
    ``ASSET/QUOTE``, non-zero), by asset. Derivative positions and other quotes are left out."""
    rows = session.execute(select(PositionRecord.symbol, PositionRecord.quantity).where(
        PositionRecord.account_id == account_id, PositionRecord.quantity != 0,
        PositionRecord.symbol.like(f"%/{quote}"))).all()
    return {symbol.split("/")[0]: quantity for symbol, quantity in rows if ":" not in symbol}


def cash_of(session: Session, account_id: uuid.UUID, quote: str) -> Decimal:
    """The account's balance in ``quote`` (the paper venue's book, a real venue's last snapshot)."""
    total = session.execute(select(BalanceRecord.total).where(
        BalanceRecord.account_id == account_id, BalanceRecord.currency == quote)).scalar_one_or_none()
    return total if total is not None else Decimal(0)


def fee_rate_of(view: AccountView, rules: Iterable[MarketRules]) -> Decimal:
    """The taker fee rate legs are costed at (fraction of notional): the paper account's
    ``[paper] taker_fee_rate`` (default ``TRADEWIRE_PAPER_FEE_RATE``); for a ccxt venue the
    highest ``taker`` of the stored markets traded (ccxt's market structure), else 0.1 %."""
    if view.venue == "paper":
        rate = view.config.paper.taker_fee_rate
        return rate if rate is not None else get_settings().paper_fee_rate
    stated = [Decimal(str(r.market["taker"])) for r in rules if r.market and r.market.get("taker") is not None]
    return max(stated) if stated else DEFAULT_FEE_RATE


def running(session: Session, account_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
    """The account's rebalance still under way (id, status), if any (the partial index
    ``ix_rebalances_running`` answers it)."""
    row = session.execute(select(RebalanceRecord.id, RebalanceRecord.status).where(
        RebalanceRecord.account_id == account_id, RebalanceRecord.status.in_(RUNNING)).limit(1)).first()
    return (row.id, row.status) if row else None


@dataclass(frozen=True)
class Prices:
    """Prices by asset, the reasons of assets without one, and the refusals (a reference
    price too far from the market)."""

    prices: dict[str, Price]
    missing: dict[str, str]
    refusals: list[str]


def resolve_prices(view: AccountView, assets: Iterable[str], references: Mapping[str, Decimal],
                   max_deviation_bps: Decimal | None, *, wait: bool,
                   fallback: Mapping[str, Price] | None = None) -> Prices:
    """A price per asset of ``assets`` (see the module). ``wait``: a symbol without a fresh
    quote and without a reference price is subscribed and waited for, at most
    ``FIRST_QUOTE_WAIT_SECONDS`` in all, while the source streams or polls. ``fallback``: the
    prices to use without a fresh quote (a rebalance's second step: its decision's prices)."""
    fallback = fallback or {}
    quotes, reasons = _quotes(view, list(assets), {**references, **fallback}, wait)
    prices, missing, refusals = {}, {}, []
    for asset in assets:
        symbol, quote, reference = f"{asset}/{view.quote}", quotes.get(asset), references.get(asset)
        if quote is not None and quote.bid is not None and quote.ask is not None:
            prices[asset] = Price(quote.bid, quote.ask, quote.mid, f"the {view.source} quote (bid {fmt(quote.bid)}, "
                                  f"ask {fmt(quote.ask)})")
            measured = deviation_bps(reference, quote) if reference is not None else None
            if measured is not None and max_deviation_bps is not None and measured[0] > max_deviation_bps:
                refusals.append(f"prices.{asset} {fmt(reference)} is {measured[0]:.0f} bps from the {view.source} "
                                f"market of {symbol} (mid {fmt(measured[1])}, bid {fmt(quote.bid)}, ask "
                                f"{fmt(quote.ask)}); max_price_deviation_bps is {fmt(max_deviation_bps)}")
        elif asset in fallback:
            prices[asset] = replace(fallback[asset], source=f"{fallback[asset].source}, as decided "
                                    f"({reasons.get(asset)})")
        elif reference is not None:
            prices[asset] = Price.single(reference, f"the sender's price {fmt(reference)} ({reasons.get(asset)})")
        elif quote is not None and quote.last is not None:
            prices[asset] = Price.single(quote.last, f"the {view.source} last trade {fmt(quote.last)} (one side only)")
        else:
            missing[asset] = reasons.get(asset) or "no market data"
    return Prices(prices, missing, refusals)


def _quotes(view: AccountView, assets: list[str], references: Mapping[str, Decimal],
            wait: bool) -> tuple[dict[str, object], dict[str, str]]:
    if view.source is None:
        return {}, {a: "the account has no market-data source" for a in assets}
    quotes, reasons = {}, {}
    try:
        for asset in assets:
            quote, reason = cache.usable_quote(view.source, f"{asset}/{view.quote}", view.max_quote_age)
            quotes[asset], reasons[asset] = quote, reason
            if quote is None:
                cache.request(view.source, f"{asset}/{view.quote}")
        waiting = [a for a in assets if quotes[a] is None and a not in references]
        if wait and waiting and cache.status(view.source).get("mode") in ("stream", "poll"):
            deadline = time.monotonic() + FIRST_QUOTE_WAIT_SECONDS
            for asset in waiting:
                left = max(deadline - time.monotonic(), 0.0)
                quotes[asset], reasons[asset] = cache.wait_for_quote(view.source, f"{asset}/{view.quote}",
                                                                     view.max_quote_age, left)
    except Exception as e:  # Redis down: the signal's own prices, as a single signal does
        return {}, {a: f"market data unavailable ({type(e).__name__})" for a in assets}
    return {a: q for a, q in quotes.items() if q is not None}, reasons
