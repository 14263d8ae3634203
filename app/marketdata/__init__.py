"""The market-data stage: live quotes and L2 books from ccxt exchanges' public endpoints,
cached in Redis for every process (``cache``), streamed or polled by the ``tradewire
marketdata`` process (``streamer``), and OHLCV candles stored in PostgreSQL (``candles``).

The request path reads the cache only (``cache.usable_quote``); it never calls the network.
"""
