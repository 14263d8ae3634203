"""Settings from ``TRADEWIRE_*`` environment variables and the TOML file named by
``TRADEWIRE_CONFIG`` (pydantic-settings): one validated object per process, ``get_settings()``.

The file holds the tables of ``app.config_file.FileConfig`` (accounts, strategies, ...) and
may set any process knob by its field name (``port = 8001``); an environment variable wins
over the file, and one set to the empty string counts as unset.

With no ``TRADEWIRE_DATABASE_URL`` / ``TRADEWIRE_REDIS_URL``, ``tradewire up`` starts the
embedded PostgreSQL and Redis under ``TRADEWIRE_DATA_DIR`` and hands their URLs to the
processes it starts; configured URLs always win.
"""

import ipaddress
import os
import secrets
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import (Field, IPvAnyNetwork, PrivateAttr, SecretStr, ValidationError, ValidationInfo,
                      field_validator)
from pydantic_settings import (BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError,
                               TomlConfigSettingsSource)

from app.config_file import FileConfig, check_file_config, config_error, read_config_file
from app.errors import ConfigError

# TradingView's webhook senders (support 43000529348); IPv4 only, webhooks have no IPv6.
TRADINGVIEW_IPS = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")


class ConfigFileSource(TomlConfigSettingsSource):
    """The TOML file at ``path`` as a settings source; a named file that is missing is an error."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        if path is not None and not path.is_file():
            raise ConfigError(f"TRADEWIRE_CONFIG names {path}, which does not exist")
        super().__init__(settings_cls, toml_file=path)
        if "config" in self.toml_data:
            raise ConfigError(f"{path}: config: the file is named by TRADEWIRE_CONFIG, not in itself", field="config")

    def _read_file(self, file_path: Path) -> dict:  # type: ignore[override]
        return read_config_file(file_path)


class Settings(BaseSettings, FileConfig):
    """Every knob of a Tradewire process and the file's tables (``FileConfig``). Units are in
    the field names or descriptions."""

    model_config = SettingsConfigDict(env_prefix="TRADEWIRE_", extra="forbid", env_ignore_empty=True)
    _admin_token_from_file: str | None = PrivateAttr(default=None)

    database_url: str | None = Field(default=None, description="postgresql://user@host:port/db")
    redis_url: str | None = Field(default=None, description="redis://host:port/db or unix:///path")
    admin_token: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(default=None, description="Base URL TradingView reaches, for printed webhook URLs.")
    data_dir: Path = Path(".tradewire")
    config: Path | None = Field(default=None, description="TOML file of accounts, strategies and risk limits "
                                "(and any knob here); read once, in get_settings().")
    queue_prefix: str = "tradewire"
    sweeper_grace_seconds: float = 10.0
    sweeper_interval_seconds: float = 5.0
    paper_fee_rate: Decimal = Field(default=Decimal("0.001"), ge=0, le=1, max_digits=38, decimal_places=18,
                                    description="fraction of notional (0.001 = 0.1%)")
    paper_slippage_bps: Decimal = Field(default=Decimal(0), ge=0, lt=10_000, description="basis points")
    log_level: str = "INFO"
    api_threads: int = Field(default=8, ge=1, description="Threads per API process running request handlers.")
    api_processes: int = Field(default=1, ge=1, le=64, description="API processes `tradewire api` runs (uvicorn "
                               "workers sharing the port); about one per core beyond the first two (README, Performance).")
    worker_processes: int = Field(default=1, ge=1, le=64, description="RQ worker processes `tradewire up` starts.")
    log_format: Literal["json", "text"] = Field(default="json", description="json: one JSON object per line (app.logs)")
    # Execution (issue 5): venue calls, the never-twice order lifecycle, reconciler, circuit breaker.
    venue_timeout_ms: int = Field(default=10_000, gt=0, description="HTTP timeout of one venue request, milliseconds.")
    venue_read_attempts: int = Field(default=4, ge=1, description="Tries of a venue read (never of an order send).")
    venue_read_backoff_seconds: float = Field(default=0.5, ge=0, description="First wait between read tries; doubles, at most 8 s.")
    order_lookup_grace_seconds: float = Field(
        default=30.0, ge=0,
        description="After a send whose outcome is unknown, seconds (beyond the HTTP timeout) during which the venue's "
        "'order not found' is not trusted; only then is the order sent again, with the same client order id.",
    )
    order_max_sends: int = Field(default=3, ge=1, description="Sends of one order (same client order id) before giving up.")
    order_max_refused_sends: int = Field(
        default=10, ge=0,
        description="Further sends allowed after the venue refused a send without acting on it (HTTP 429, -1003/-1015 "
        "rate limits), each after a backoff of 1, 2, 4 … at most 30 s: a rate-limited burst drains instead of failing.")
    market_refresh_seconds: float = Field(default=3600.0, gt=0, description="Reload a venue's markets after this age.")
    markets_wait_seconds: float = Field(
        default=5.0, ge=0, le=30,
        description="A signal for a venue whose markets are not stored yet waits this long for the worker to load them.")
    reconcile_interval_seconds: float = Field(default=15.0, gt=0, description="Reconciler pass interval (scheduler).")
    breaker_failure_threshold: int = Field(default=5, ge=1, description="Consecutive venue failures that open its breaker.")
    breaker_probe_interval_seconds: float = Field(default=30.0, ge=0, description="Probe an open breaker this often (0: every scheduler pass).")
    tradingview_allowlist: bool = Field(
        default=False, description="Accept /webhooks/tradingview only from tradingview_ips (after trusted_proxies)."
    )
    tradingview_ips: list[IPvAnyNetwork] = Field(
        default_factory=lambda: [ipaddress.ip_network(a) for a in TRADINGVIEW_IPS],
        description="TradingView's webhook sender addresses (support 43000529348); JSON list in the env var.",
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description='CIDRs of proxies whose X-Forwarded-For is believed, e.g. ["10.0.0.0/8"]; JSON list in the env var.',
    )
    signature_window_seconds: int = Field(
        default=300, gt=0, description="Replay window of signed API requests: |now - X-Tradewire-Timestamp| in seconds."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Earlier wins: arguments, environment, then the file named by ``config`` (the
        argument, else ``TRADEWIRE_CONFIG``)."""
        path = init_settings().get("config") or env_settings().get("config")
        return init_settings, env_settings, ConfigFileSource(settings_cls, Path(path) if path else None)

    @field_validator("tradingview_ips", "trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object, info: ValidationInfo) -> object:
        """A bare address is a /32 (or /128); host bits after the prefix are dropped
        (``10.0.0.1/8`` is ``10.0.0.0/8``), as ``ipaddress.ip_network(strict=False)`` does."""
        if not isinstance(value, list):
            return value
        networks = []
        for item in value:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except (TypeError, ValueError):
                raise ValueError(f"TRADEWIRE_{info.field_name.upper()}: {item!r} is not an IP address or CIDR") from None
        return networks

    @field_validator("database_url", "redis_url", "admin_token", "public_url", "config", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty value in the file or an argument; empty environment variables are unset already."""
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
        """The configured admin token, else the one kept in the data folder (created on first
        use; read once per process, not on every admin request)."""
        if self.admin_token is not None:
            return self.admin_token.get_secret_value()
        if self._admin_token_from_file is None:
            self._admin_token_from_file = read_or_create_secret(self.data_dir / "admin_token")
        return self._admin_token_from_file


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
    """The process's settings, the file read and validated on the first call;
    ``get_settings.cache_clear()`` forgets both (the next call reads the environment and the
    file again). Raises ``ConfigError`` naming the key (``TRADEWIRE_PORT: ...`` for a
    variable, ``FILE: accounts.paper.risk.sizing: ...`` for the file)."""
    try:
        settings = Settings()
    except ValidationError as e:
        raise _settings_error(e) from None
    except SettingsError as e:  # a variable of a list or table that is not JSON
        raise ConfigError(f'{e}: lists and tables are JSON in a variable, e.g. ["10.0.0.0/8"]') from None
    check_file_config(settings.config, settings)
    return settings


def _settings_error(error: ValidationError) -> ConfigError:
    """Name the environment variable if one set the bad key, else the file's key."""
    first = error.errors()[0]
    key = str(first["loc"][0]) if first["loc"] else ""
    variable = f"TRADEWIRE_{key.upper()}"
    if any(name.upper() == variable and value for name, value in os.environ.items()):
        message = first["msg"].removeprefix("Value error, ")
        return ConfigError(message if message.startswith(variable) else f"{variable}: {message}", field=key)
    config = next((v for k, v in os.environ.items() if k.upper() == "TRADEWIRE_CONFIG" and v), None)
    return config_error(Path(config) if config else None, error)
