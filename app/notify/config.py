"""The ``[notifications]`` table of ``TRADEWIRE_CONFIG``, read once per process.

Every process that sends or queues notifications (API, worker) is started with the same
``TRADEWIRE_CONFIG``; channel secrets stay in environment variables and are read when a
message is sent, so they never travel through Redis.
"""

from functools import lru_cache

from app.config import get_settings
from app.config_file import NotificationsConfig, load_config


@lru_cache
def notifications_config() -> NotificationsConfig:
    """The configured channels (none without a config file). Raises ``ConfigError``."""
    return load_config(get_settings().config).notifications


def reset_notifications_config() -> None:
    """Forget the cached table (tests, or after the file changed)."""
    notifications_config.cache_clear()
