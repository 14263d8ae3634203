"""Settings from ``TRADEWIRE_*`` environment variables (pydantic-settings).

With no ``TRADEWIRE_DATABASE_URL`` / ``TRADEWIRE_REDIS_URL``, ``tradewire up`` starts the
embedded PostgreSQL and Redis under ``TRADEWIRE_DATA_DIR`` and hands their URLs to the
processes it starts; configured URLs always win.
"""

import secrets
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import ConfigError


class Settings(BaseSettings):
    """Every knob of a Tradewire process. Units are in the field names or descriptions."""

    model_config = SettingsConfigDict(env_prefix="TRADEWIRE_", extra="ignore")

    database_url: str | None = Field(default=None, description="postgresql://user@host:port/db")
    redis_url: str | None = Field(default=None, description="redis://host:port/db or unix:///path")
    admin_token: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(default=None, description="Base URL TradingView reaches, for printed webhook URLs.")
    data_dir: Path = Path(".tradewire")
    config: Path | None = Field(default=None, description="TOML file of accounts, strategies and risk limits.")
    queue_prefix: str = "tradewire"
    sweeper_grace_seconds: float = 10.0
    sweeper_interval_seconds: float = 5.0
    paper_fee_rate: Decimal = Decimal("0.001")
    paper_slippage_bps: Decimal = Decimal("0")
    log_level: str = "INFO"

    @field_validator("database_url", "redis_url", "admin_token", "public_url", "config", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _psycopg_driver(cls, value: str | None) -> str | None:
        return sqlalchemy_url(value) if value else value

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def require_database_url(self) -> str:
        if not self.database_url:
            raise ConfigError("TRADEWIRE_DATABASE_URL is not set (tradewire up sets it for the processes it starts)")
        return self.database_url

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise ConfigError("TRADEWIRE_REDIS_URL is not set (tradewire up sets it for the processes it starts)")
        return self.redis_url

    def resolved_admin_token(self) -> str:
        """The configured admin token, else the one kept in the data folder (created on first use)."""
        if self.admin_token is not None:
            return self.admin_token.get_secret_value()
        return read_or_create_secret(self.data_dir / "admin_token")


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` → ``postgresql+psycopg://`` (SQLAlchemy's psycopg 3 driver)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def read_or_create_secret(path: Path) -> str:
    """A random URL-safe secret kept in ``path`` (mode 0600), created on first call."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
