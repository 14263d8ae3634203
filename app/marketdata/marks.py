"""Mark-to-market: positions valued at the market from the cache (no network), for the admin
API, the console and ``/metrics``."""

from dataclasses import dataclass
from decimal import Decimal

from app.config_file import AccountConfig, market_data_source
from app.domain.equity import Holding, mark_price, marked_equity, unrealized_pnl
from app.domain.symbols import base_quote
from app.marketdata import cache
from app.marketdata.sources import source_config


@dataclass(frozen=True)
class Marked:
    """One position at the market: ``mark`` quote per base (None: no fresh quote), ``notional``
    = |quantity| × mark and ``unrealized`` = quantity × (mark − average), both in quote."""

    symbol: str
    mark: Decimal | None
    notional: Decimal | None
    unrealized: Decimal | None


@dataclass(frozen=True)
class AccountMarks:
    """``positions`` by (symbol, position side): ``net``, or ``long`` / ``short`` in hedge mode."""

    positions: dict[tuple[str, str], Marked]
    equity: Decimal | None
    unrealized: Decimal | None
    exposure: Decimal | None


def mark_account(config: AccountConfig, cash: Decimal, holdings: list[Holding]) -> AccountMarks:
    """Mark ``holdings`` with fresh quotes of the account's market-data source. Totals are None
    when no position could be marked (no source, stale or missing quotes, Redis down)."""
    source = market_data_source(config)
    marked: dict[tuple[str, str], Marked] = {}
    if source is not None:
        max_age = source_config(source).max_quote_age_seconds
        for h in holdings:
            try:
                quote, _ = cache.usable_quote(source, h.symbol, max_age)
            except Exception:  # Redis down: positions stay unmarked
                quote = None
            mark = mark_price(quote.bid, quote.ask, quote.last, h.quantity) if quote is not None else None
            marked[(h.symbol, getattr(h, "position_side", "net"))] = Marked(h.symbol, mark, abs(h.quantity) * mark if mark is not None else None,
                                      unrealized_pnl(h.quantity, h.average_price, mark) if mark is not None else None)
    prices = {s: m.mark for (s, _), m in marked.items() if m.mark is not None}
    if not prices:
        return AccountMarks(marked, None, None, None)
    quote_currency = config.quote_currency
    in_quote = [m for (s, _), m in marked.items() if m.mark is not None and base_quote(s)[1] == quote_currency]
    return AccountMarks(
        marked,
        marked_equity(cash, holdings, quote_currency, prices),
        sum((m.unrealized or Decimal(0) for m in in_quote), Decimal(0)),
        sum((m.notional or Decimal(0) for m in in_quote), Decimal(0)),
    )
