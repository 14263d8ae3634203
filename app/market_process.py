"""The ``tradewire marketdata`` process: the market-data streamer, with the paper matcher
listening to its updates (resting paper limits and stops fill from the stream) and the relay
installed (a paper fill's follow-up events are dispatched as in any process)."""

from app.execution import paper_matcher
from app.followups import ladder
from app.jobs import relay
from app.marketdata import streamer


def run_marketdata() -> int:
    """Run until SIGINT / SIGTERM."""
    relay.install()
    streamer.add_listener(paper_matcher.on_market_update)
    streamer.add_listener(ladder.on_market_update)  # exit ladders, on every venue, from market data
    ladder.watch_active()
    return streamer.run_streamer()
