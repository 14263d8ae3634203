"""Map the tickers senders write to ccxt unified symbols.

ccxt's unified symbol is ``BASE/QUOTE`` for spot and ``BASE/QUOTE:SETTLE`` for derivatives
(https://docs.ccxt.com/#/README?id=contract-naming-conventions). TradingView renders
``{{ticker}}`` without separators (``BTCUSDT``), perpetuals as ``BTCUSDTPERP`` or
``BTCUSDT.P``; OKX writes ``BTC-USDT-SWAP``.
"""

import re

# Longest first, so BTCUSDT splits on USDT, not on USD or T.
KNOWN_QUOTES: tuple[str, ...] = tuple(
    sorted(
        (
            "USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USDP", "DAI", "USD", "EUR", "GBP", "JPY",
            "TRY", "BRL", "AUD", "CAD", "CHF", "KRW", "BTC", "ETH", "BNB",
        ),
        key=len,
        reverse=True,
    )
)
_PERP_SUFFIXES = ("PERP", ".P", "-PERP", "_PERP")
# Width of the symbol columns (signals.symbol, orders.symbol, … are String(64)); the ticker as
# written is held to the same width.
MAX_SYMBOL_LENGTH = 64
# One part of a slash symbol: letters and digits, with ccxt's dated-contract dashes
# (``BTC/USDT:USDT-240628``) and the dots or underscores some venues use.
_SLASH_PART = re.compile(r"[A-Z0-9]+([._-][A-Z0-9]+)*")


class SymbolError(ValueError):
    """The ticker cannot be mapped to a unified symbol; the message says why."""


def split_pair(ticker: str) -> tuple[str, str]:
    """Split a separator-less pair (``DOGEUSDT``) into (base, quote) on a known quote currency.

    Raises ``SymbolError`` when no known quote currency ends the ticker.
    """
    for quote in KNOWN_QUOTES:
        if ticker.endswith(quote) and len(ticker) > len(quote):
            return ticker[: -len(quote)], quote
    raise SymbolError(f"cannot tell base from quote in {ticker!r}; write it as BASE/QUOTE")


def to_unified_symbol(raw: str) -> str:
    """``BINANCE:BTCUSDT`` → ``BTC/USDT``; ``BTCUSDTPERP``, ``BTCUSDT.P``, ``BTC-USDT-SWAP`` →
    ``BTC/USDT:USDT``; ``BTC/USDT`` and ``BTC/USDT:USDT`` unchanged; ``ETH-PERP`` → ``ETH/USD:USD``.

    Raises ``SymbolError`` for an empty or unsplittable ticker, and for a ticker or a unified
    symbol longer than ``MAX_SYMBOL_LENGTH`` characters.
    """
    if len(raw.strip()) > MAX_SYMBOL_LENGTH:
        raise SymbolError(f"the ticker is {len(raw.strip())} characters long; at most {MAX_SYMBOL_LENGTH}")
    unified = _unify(raw)
    if len(unified) > MAX_SYMBOL_LENGTH:
        raise SymbolError(f"the symbol {unified!r} is longer than {MAX_SYMBOL_LENGTH} characters")
    return unified


def _unify(raw: str) -> str:
    text = raw.strip().upper()
    if ":" in text and "/" not in text:  # TradingView's EXCHANGE:TICKER
        text = text.split(":", 1)[1]
    if not text:
        raise SymbolError("empty ticker")
    if "/" in text:
        return _from_slash(text)
    perpetual = False
    for suffix in _PERP_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            text, perpetual = text[: -len(suffix)].rstrip("-_"), True
            break
    parts = [p for p in re.split(r"[-_]", text) if p]
    if parts and parts[-1] in ("SWAP", "PERP"):
        parts, perpetual = parts[:-1], True
    if len(parts) == 1:
        try:
            base, quote = split_pair(parts[0])
        except SymbolError:
            if not perpetual:
                raise
            base, quote = parts[0], "USD"  # FTX / dYdX style ETH-PERP
    elif len(parts) == 2:
        base, quote = parts
    else:
        raise SymbolError(f"cannot read ticker {raw!r}")
    if not re.fullmatch(r"[A-Z0-9]+", base) or not re.fullmatch(r"[A-Z0-9]+", quote):
        raise SymbolError(f"cannot read ticker {raw!r}")
    return f"{base}/{quote}:{quote}" if perpetual else f"{base}/{quote}"


def _from_slash(text: str) -> str:
    pair, _, settle = text.partition(":")
    base, _, quote = pair.partition("/")
    if not all(_SLASH_PART.fullmatch(part) for part in (base, quote, *([settle] if settle else []))):
        raise SymbolError(f"cannot read ticker {text!r}")
    return f"{base}/{quote}:{settle}" if settle else f"{base}/{quote}"


def base_quote(symbol: str) -> tuple[str, str]:
    """(base, quote) of a unified symbol: ``BTC/USDT:USDT`` → (``BTC``, ``USDT``)."""
    pair = symbol.split(":", 1)[0]
    base, _, quote = pair.partition("/")
    return base, quote


def is_derivative(symbol: str) -> bool:
    """True for a contract symbol (``BASE/QUOTE:SETTLE``)."""
    return ":" in symbol
