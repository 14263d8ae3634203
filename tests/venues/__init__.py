"""Fake trading venues for tests (local HTTP servers that real ccxt classes can be pointed at)."""

from .binance_engine import SpotEngine
from .binance_rules import BinanceError, MarketSpec
from .binance_spot import FakeBinance, binance_signature, start_fake_binance
from .fake_server import FAULT_KINDS, Fault
from .bybit_engine import BybitError, Instrument, LinearEngine
from .bybit_linear import LINEAR_ONLY_OPTIONS, FakeBybit, start_fake_bybit
from .ccxt_helpers import SPOT_ONLY_OPTIONS, make_ccxt_binance, make_ccxt_bybit, point_ccxt_at

__all__ = [
    "FAULT_KINDS", "SPOT_ONLY_OPTIONS", "BinanceError", "FakeBinance", "Fault", "MarketSpec", "SpotEngine",
    "binance_signature", "make_ccxt_binance", "point_ccxt_at", "start_fake_binance",
    "BybitError", "FakeBybit", "Instrument", "LINEAR_ONLY_OPTIONS", "LinearEngine", "make_ccxt_bybit", "start_fake_bybit",
]
from .binance_public import PUBLIC_SPOT_OPTIONS, FakeBinancePublic, make_ccxt_binance_public, start_fake_binance_public  # noqa: E402
__all__ += ["PUBLIC_SPOT_OPTIONS", "FakeBinancePublic", "make_ccxt_binance_public", "start_fake_binance_public"]
from .binance_futures import FakeBinanceFutures, start_fake_binance_futures  # noqa: E402
from .binance_futures_engine import Perpetual, UsdmEngine  # noqa: E402
from .ccxt_helpers import USDM_OPTIONS, make_ccxt_binanceusdm  # noqa: E402
__all__ += ["FakeBinanceFutures", "Perpetual", "USDM_OPTIONS", "UsdmEngine", "make_ccxt_binanceusdm",
            "start_fake_binance_futures"]
