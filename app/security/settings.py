"""The security knobs, from ``TRADEWIRE_*`` environment variables (pydantic-settings), kept
apart from ``app.config.Settings`` so they can be read without the rest.

- ``TRADEWIRE_MASTER_KEY``: the vault's master key (URL-safe base64 of 32 bytes); unset: the
  key file ``master.key`` in ``TRADEWIRE_DATA_DIR`` (created with mode 0600 on first use).
- ``TRADEWIRE_NEW_MASTER_KEY``: only for ``tradewire keys rotate-master`` when the master key
  comes from the environment (the new key to wrap under).
- ``TRADEWIRE_METRICS_TOKEN``: when set, ``GET /metrics`` needs ``Authorization: Bearer <it>``.
- ``TRADEWIRE_AUTH_FAILURE_LIMIT`` failed authentications from one address and credential kind
  within ``TRADEWIRE_AUTH_FAILURE_WINDOW_SECONDS`` → 429 with ``Retry-After``.
- ``TRADEWIRE_SIGNALS_PER_MINUTE``: ceiling of signals accepted per strategy token and per API
  key in any 60 s (0: no ceiling).
"""

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_ADMIN_TOKEN_LENGTH = 32


class SecuritySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRADEWIRE_", extra="ignore")

    master_key: SecretStr | None = None
    new_master_key: SecretStr | None = None
    metrics_token: SecretStr | None = None
    auth_failure_limit: int = Field(default=10, ge=1, description="Failed authentications before 429.")
    auth_failure_window_seconds: int = Field(default=300, ge=1, description="Window of the failure count, seconds.")
    signals_per_minute: int = Field(default=600, ge=0, description="Per strategy token and per API key; 0: none.")

    @field_validator("master_key", "new_master_key", "metrics_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value


_cached: tuple[object, SecuritySettings] | None = None


def get_security_settings() -> SecuritySettings:
    """Read once per ``app.config.get_settings()`` object: clearing that cache (tests, a
    settings change) re-reads these too."""
    global _cached
    from app.config import get_settings

    base = get_settings()
    if _cached is None or _cached[0] is not base:
        _cached = (base, SecuritySettings())
    return _cached[1]
