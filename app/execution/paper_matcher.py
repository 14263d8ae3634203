"""The paper matcher: resting paper orders fill when the market reaches them.

Driven by market data, not by polling the venue per order: the market-data process calls
``on_market_update(source, symbol)`` after each quote or book it caches
(``app.marketdata.streamer.add_listener``), and every paper order resting on that symbol
(``paper_book.resting_on``) is checked against the fresh market by its venue
(``PaperVenue.match``). A fill is recorded through the same lifecycle as any venue answer —
fills, balances, position, state and follow-up events in one transaction.
"""

import logging

from app.domain.orders import OrderStatus
from app.errors import AppError
from app.execution import lifecycle
from app.execution.venues import paper_book
from app.execution.venues.paper import PaperVenue
from app.execution.venues.registry import venue_for

log = logging.getLogger(__name__)


def on_market_update(source: str, symbol: str) -> int:
    """Check every paper order resting on ``symbol`` of ``source``; returns how many filled
    or fired. Errors are logged per order, never raised (the listener must not stop)."""
    done = 0
    for client_order_id in paper_book.resting_on(source, symbol):
        try:
            done += match_one(client_order_id) is not None
        except Exception:
            log.exception("paper matching of order %s failed; it stays resting", client_order_id)
    return done


def match_one(client_order_id: str) -> OrderStatus | None:
    """Match one resting order now; its recorded status when something happened, else None."""
    ticket = lifecycle.ticket_for_client_order_id(PaperVenue.name, client_order_id)
    if ticket is None:
        return None  # its send is still being recorded; the next update will see it
    try:
        venue = venue_for(ticket.account_id)
    except AppError as e:
        log.warning("paper order %s cannot be matched: %s", client_order_id, e.message)
        return None
    if not isinstance(venue, PaperVenue):
        return None
    report = venue.match(client_order_id)
    if report is None:
        return None
    status = lifecycle.record(ticket, venue, report)
    log.info("paper order %s %s: %s", client_order_id, status.value, report.reason)
    return status
