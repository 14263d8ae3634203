"""The ``[notifications]`` table of ``TRADEWIRE_CONFIG``, part of ``get_settings()`` (read once per process).

Every process that sends or queues notifications (API, worker) is started with the same
``TRADEWIRE_CONFIG``; channel secrets stay in environment variables and are read when a
message is sent, so they never travel through Redis.
"""

from app.config import get_settings
from app.config_file import NotificationsConfig


def notifications_config() -> NotificationsConfig:
    """The configured channels (none without a config file). Raises ``ConfigError``."""
    return get_settings().notifications


def reset_notifications_config() -> None:
    """Forget the settings, the file's tables with them (tests, or after the file changed)."""
    get_settings.cache_clear()
