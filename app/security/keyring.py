"""The master keys that wrap the vault's data keys.

A master key is 32 random bytes, written as URL-safe base64. Its id (``key_id``) is the first
16 hex digits of its sha256: stored beside each wrapped data key, printed by ``tradewire keys
rotate-master``; the key itself is never printed or logged.

Source: ``TRADEWIRE_MASTER_KEY`` when set, else the key file ``master.key`` in the data folder
(mode 0600, created on first use). The file may hold several keys, one a line, the current one
first: during ``rotate-master`` it holds the new key and the old one, so every process can open
every record while the re-wrap commits. A process that meets a key id it does not hold re-reads
the source once before giving up, so a rotation needs no restart.
"""

import base64
import binascii
import hashlib
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from app.config import get_settings
from app.errors import ConfigError
from app.security.files import write_private
from app.security.settings import get_security_settings

log = logging.getLogger(__name__)
KEY_FILE = "master.key"
KEY_BYTES = 32


def new_master_key() -> bytes:
    return os.urandom(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def parse_key(text: str, source: str) -> bytes:
    """A master key from its base64 text. Raises ``ConfigError`` naming ``source`` (never the value)."""
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{source} is not a master key: expected URL-safe base64 of {KEY_BYTES} bytes; generate one "
                          "with: python -c \"import os,base64;print(base64.urlsafe_b64encode(os.urandom(32)).decode())\"")
    return key


def key_file() -> Path:
    return get_settings().data_dir / KEY_FILE


@dataclass
class Keyring:
    """The master keys this process holds: ``current`` wraps new data keys; all open records."""

    current: bytes
    keys: dict[str, bytes] = field(default_factory=dict)
    source: str = "file"

    @property
    def current_id(self) -> str:
        return key_id(self.current)


def load_keyring(*, create: bool) -> Keyring | None:
    """The keys from ``TRADEWIRE_MASTER_KEY`` or the key file; with ``create`` a missing key file
    is created (mode 0600 from the start). None when there is no key and ``create`` is false."""
    env = get_security_settings().master_key
    if env is not None:
        key = parse_key(env.get_secret_value(), "TRADEWIRE_MASTER_KEY")
        return Keyring(key, {key_id(key): key}, source="env")
    path = key_file()
    if not path.exists():
        if not create:
            return None
        try:
            write_private(path, encode_key(new_master_key()) + "\n", exclusive=True)
            log.info("created the vault's master key file %s (mode 0600); back it up", path)
        except FileExistsError:
            pass
    keys = [parse_key(line, f"line {n} of {path}") for n, line in enumerate(path.read_text().splitlines(), 1)
            if line.strip()]
    if not keys:
        raise ConfigError(f"{path} holds no master key")
    return Keyring(keys[0], {key_id(k): k for k in keys}, source="file")


def write_key_file(keys: list[bytes]) -> None:
    """Replace the key file (atomically, mode 0600) with ``keys``, the current one first."""
    write_private(key_file(), "".join(encode_key(k) + "\n" for k in keys))


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keyring: Keyring | None = None

    def get(self, *, create: bool = False, refresh: bool = False) -> Keyring | None:
        with self.lock:
            if self.keyring is None or refresh:
                self.keyring = load_keyring(create=create) or self.keyring
            return self.keyring

    def clear(self) -> None:
        with self.lock:
            self.keyring = None


_cache = _Cache()


def keyring_for_writing() -> Keyring:
    """The keyring whose current key wraps new records, read afresh from its source (a rotation
    in another process may have changed it); the key file is created if missing."""
    keyring = _cache.get(create=True, refresh=True)
    assert keyring is not None
    return keyring


def master_key(wanted_id: str) -> bytes:
    """The master key ``wanted_id``, re-reading the source once if this process lacks it.

    Raises ``ConfigError`` when neither ``TRADEWIRE_MASTER_KEY`` nor the key file holds it.
    """
    for refresh in (False, True):
        keyring = _cache.get(refresh=refresh)
        if keyring is not None and wanted_id in keyring.keys:
            return keyring.keys[wanted_id]
    raise ConfigError(f"the master key {wanted_id} that wraps these credentials is not available: set "
                      f"TRADEWIRE_MASTER_KEY or restore {key_file()}", field="master_key")


def forget_keys() -> None:
    """Drop the keys held in memory (tests; after a rotation in this process)."""
    _cache.clear()
