"""The process's Redis connection: RQ's queues, the market-data cache, rate limits and token
generations all share it. Infrastructure below every stage, so any stage may import it."""

from functools import lru_cache

from redis import Redis

from app.config import get_settings


@lru_cache
def get_redis() -> Redis:
    """The connection to ``TRADEWIRE_REDIS_URL`` (5 s socket timeout, 2 s to connect)."""
    return Redis.from_url(get_settings().require_redis_url(), socket_timeout=5, socket_connect_timeout=2)


def reset_redis() -> None:
    """Forget the connection (tests, and after the settings changed)."""
    get_redis.cache_clear()
