"""One Settings per process: the environment and the TOML file named by TRADEWIRE_CONFIG,
read and validated once (``get_settings()``), the environment winning over the file."""

import ipaddress
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings, get_settings
from app.errors import ConfigError


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No TRADEWIRE_CONFIG unless a test sets one; settings forgotten before and after."""
    monkeypatch.delenv("TRADEWIRE_CONFIG", raising=False)
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def use_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tradewire.toml"
    path.write_text(text)
    monkeypatch.setenv("TRADEWIRE_CONFIG", str(path))
    return path


def test_the_file_is_read_once_per_process_whoever_asks(monkeypatch, tmp_path):
    from app.marketdata.sources import configured_sources
    from app.notify.config import notifications_config

    path = use_file(monkeypatch, tmp_path, 'port = 9001\n[notifications]\nretry_intervals_seconds = [5]\n'
                                           '[accounts.paper]\nmarket_data = "kraken"\n')
    reads = []
    parse = tomllib.loads
    monkeypatch.setattr(tomllib, "loads", lambda text: reads.append(path) or parse(text))

    assert get_settings().port == 9001
    assert notifications_config().retry_intervals_seconds == [5]
    assert set(configured_sources()) == {"binance", "kraken"}
    assert get_settings().accounts["paper"].market_data == "kraken"
    assert reads == [path]

    path.write_text("port = 9002\n")
    assert get_settings().port == 9001  # not seen until the settings are forgotten
    get_settings.cache_clear()
    assert (get_settings().port, set(configured_sources())) == (9002, {"binance"})
    assert reads == [path, path]


def test_the_environment_wins_over_the_file_for_process_knobs(monkeypatch, tmp_path):
    use_file(monkeypatch, tmp_path, 'port = 9001\nlog_level = "DEBUG"\ntrusted_proxies = ["10.0.0.0/8"]\n')
    monkeypatch.setenv("TRADEWIRE_PORT", "9100")
    monkeypatch.setenv("TRADEWIRE_TRUSTED_PROXIES", '["192.168.0.0/16"]')
    settings = get_settings()
    assert settings.port == 9100
    assert settings.trusted_proxies == [ipaddress.ip_network("192.168.0.0/16")]
    assert settings.log_level == "DEBUG"  # from the file: no variable set


def test_the_file_tables_are_part_of_the_settings(monkeypatch, tmp_path):
    use_file(monkeypatch, tmp_path, '[accounts.main]\nvenue = "binance"\n[accounts.main.risk]\nmax_open_positions = 2\n'
                                    '[strategies.trend]\naccount = "main"\n')
    settings = get_settings()
    assert settings.accounts["main"].risk.max_open_positions == 2
    assert set(settings.accounts) == {"main", "paper"}  # the default strategy's account is always there
    assert settings.strategies["trend"].account == "main"


@pytest.mark.parametrize(("text", "key"), [
    ('[accounts.paper.risk]\nsizing = "martingale"\n', "accounts.paper.risk.sizing"),
    ('[accounts.paper.risk]\nmax_open_position = 3\n', "accounts.paper.risk.max_open_position"),
    ('prot = 8001\n', "prot"),
    ('port = "eighty"\n', "port"),
    ('trusted_proxies = ["10.0.0.0/33"]\n', "trusted_proxies"),
    ('[strategies.ma-cross]\naccount = "binance-main"\n', "strategies.ma-cross.account"),
    ('[market_data.nosuchexchange]\n', "market_data.nosuchexchange"),
    ('config = "other.toml"\n', "config"),
])
def test_a_bad_key_in_the_file_is_refused_naming_it(monkeypatch, tmp_path, text, key):
    path = use_file(monkeypatch, tmp_path, text)
    with pytest.raises(ConfigError) as error:
        get_settings()
    assert error.value.field == key
    assert error.value.message.startswith(f"{path}: {key}: ")


def test_a_bad_variable_is_refused_naming_it(monkeypatch):
    monkeypatch.setenv("TRADEWIRE_PORT", "eighty")
    with pytest.raises(ConfigError) as error:
        get_settings()
    assert error.value.field == "port" and error.value.message.startswith("TRADEWIRE_PORT: ")
    monkeypatch.setenv("TRADEWIRE_PORT", "8000")
    monkeypatch.setenv("TRADEWIRE_TRUSTED_PROXIES", '["10.0.0.0/33"]')
    with pytest.raises(ConfigError, match=r"^TRADEWIRE_TRUSTED_PROXIES: '10.0.0.0/33' is not an IP address or CIDR$"):
        get_settings()
    monkeypatch.setenv("TRADEWIRE_TRUSTED_PROXIES", "10.0.0.0/8")  # not JSON
    with pytest.raises(ConfigError, match=r'"trusted_proxies" .*lists and tables are JSON'):
        get_settings()


def test_a_missing_or_broken_file_is_refused_naming_it(monkeypatch, tmp_path):
    missing = tmp_path / "nope.toml"
    monkeypatch.setenv("TRADEWIRE_CONFIG", str(missing))
    with pytest.raises(ConfigError, match="TRADEWIRE_CONFIG names .*nope.toml, which does not exist"):
        get_settings()
    path = use_file(monkeypatch, tmp_path, "[accounts.paper\n")
    with pytest.raises(ConfigError, match=f"^{path}: .*line 1"):
        get_settings()


@pytest.mark.parametrize(("given", "network"), [
    ("52.89.214.238", "52.89.214.238/32"),
    ("10.0.0.0/8", "10.0.0.0/8"),
    ("10.1.2.3/8", "10.0.0.0/8"),  # host bits dropped, as ip_network(strict=False) does
    ("2001:db8::1", "2001:db8::1/128"),
    ("2001:db8::/32", "2001:db8::/32"),
])
def test_ip_networks_parse_addresses_and_cidrs(given, network):
    settings = Settings(tradingview_ips=[given], trusted_proxies=[given])
    assert settings.tradingview_ips == settings.trusted_proxies == [ipaddress.ip_network(network)]


def test_tradingview_ips_default_to_tradingviews_senders():
    assert [str(n) for n in Settings().tradingview_ips] == [
        "52.89.214.238/32", "34.212.75.30/32", "54.218.53.128/32", "52.32.178.7/32"]


def test_ip_networks_from_a_variable(monkeypatch):
    monkeypatch.setenv("TRADEWIRE_TRUSTED_PROXIES", '["10.0.0.0/8", "::1"]')
    assert get_settings().trusted_proxies == [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]


@pytest.mark.parametrize("field", ["tradingview_ips", "trusted_proxies"])
@pytest.mark.parametrize("bad", ["10.0.0.0/33", "not-an-ip", "::g"])
def test_a_bad_ip_network_is_refused_naming_the_field(field, bad):
    with pytest.raises(ValidationError, match=f"TRADEWIRE_{field.upper()}: '{bad}' is not an IP address or CIDR"):
        Settings(**{field: [bad]})


def test_an_empty_variable_counts_as_unset(monkeypatch):
    for name in ("DATABASE_URL", "REDIS_URL", "PORT", "CONFIG", "LOG_FORMAT", "TRUSTED_PROXIES", "ADMIN_TOKEN"):
        monkeypatch.setenv(f"TRADEWIRE_{name}", "")
    settings = get_settings()
    assert settings.database_url is None and settings.redis_url is None  # tradewire up starts the embedded ones
    assert (settings.port, settings.log_format, settings.trusted_proxies) == (8000, "json", [])
    assert settings.config is None and set(settings.accounts) == {"paper"}
    assert settings.admin_token is None
