"""The credential vault: exchange credentials encrypted at rest in PostgreSQL.

Envelope encryption (AES-256-GCM, ``cryptography``): each record has its own random data key;
the credentials (JSON) are sealed with it, and the data key is sealed ("wrapped") with the
master key (``app.security.keyring``). Both seals bind the account id as associated data, so
a record copied onto another account does not open. Layout of a sealed value: 12-byte nonce
then ciphertext and tag. Only the master key's id is stored beside the record.

Nothing here logs, returns or stores a credential in clear: ``Credentials.__repr__`` masks
them, views show the API key's last 4 characters only.

Rotation: ``store`` replaces an account's record in one statement with a new ``revision``;
the venue registry compares revisions before each venue call, so the next order uses the new
key. ``rotate_master`` re-wraps every data key in one transaction.
"""

import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.db import unit_of_work
from app.errors import ConfigError
from app.persistence.models import AccountCredentialsRecord
from app.security import keyring as keys
from app.security.settings import get_security_settings

NONCE_BYTES = 12
# Stores take it shared, a master-key rotation exclusive: a record written during a rotation is
# either re-wrapped by it or written under the new key, never left under the retired one.
VAULT_LOCK = 0x7477_7661_756C  # "twvaul"


@dataclass(frozen=True)
class Credentials:
    """An exchange API key with its secret and, where the venue has one, its password
    (passphrase). The values never appear in ``repr``."""

    api_key: str
    secret: str
    password: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(api_key='…{self.fingerprint}', secret='***', password={'***' if self.password else None})"

    __str__ = __repr__

    @property
    def fingerprint(self) -> str:
        return self.api_key[-4:]

    def secrets(self) -> tuple[str, ...]:
        return tuple(v for v in (self.api_key, self.secret, self.password) if v)


@dataclass(frozen=True)
class StoredCredentials:
    """What may be shown about an account's stored credentials."""

    revision: uuid.UUID
    fingerprint: str
    permissions: list[str] | None
    updated_at: datetime
    updated_by: str | None


def _aad(purpose: bytes, account_id: uuid.UUID) -> bytes:
    return b"tradewire:" + purpose + b":" + account_id.bytes


def _seal(key: bytes, data: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, data, aad)


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)


def seal(account_id: uuid.UUID, credentials: Credentials) -> tuple[bytes, bytes, str]:
    """(ciphertext, wrapped data key, master key id) of ``credentials`` for ``account_id``."""
    keyring = keys.keyring_for_writing()
    data_key = AESGCM.generate_key(bit_length=256)
    plain = json.dumps({"api_key": credentials.api_key, "secret": credentials.secret,
                        "password": credentials.password}).encode()
    ciphertext = _seal(data_key, plain, _aad(b"credentials", account_id))
    wrapped = _seal(keyring.current, data_key, _aad(b"data-key", account_id))
    return ciphertext, wrapped, keyring.current_id


def unseal(record: AccountCredentialsRecord) -> Credentials:
    """The credentials of ``record``. Raises ``ConfigError`` when its master key is missing or
    the record does not open (tampered, or wrapped for another account)."""
    master = keys.master_key(record.master_key_id)
    try:
        data_key = _open(master, record.wrapped_key, _aad(b"data-key", record.account_id))
        plain = json.loads(_open(data_key, record.ciphertext, _aad(b"credentials", record.account_id)))
    except InvalidTag:
        raise ConfigError(f"the stored credentials of account {record.account_id} do not open with master key "
                          f"{record.master_key_id}; store them again", field="credentials") from None
    return Credentials(plain["api_key"], plain["secret"], plain.get("password"))


def store(session: Session, account_id: uuid.UUID, credentials: Credentials, *, permissions: list[str] | None,
          actor: str | None) -> StoredCredentials:
    """Insert or replace ``account_id``'s credentials in one statement (a new revision)."""
    session.execute(select(func.pg_advisory_xact_lock_shared(VAULT_LOCK)))
    ciphertext, wrapped, master_id = seal(account_id, credentials)
    now = datetime.now(UTC)
    values = {"revision": uuid.uuid4(), "ciphertext": ciphertext, "wrapped_key": wrapped, "master_key_id": master_id,
              "fingerprint": credentials.fingerprint, "permissions": permissions, "updated_at": now,
              "updated_by": actor}
    statement = insert(AccountCredentialsRecord).values(account_id=account_id, created_at=now, **values)
    session.execute(statement.on_conflict_do_update(index_elements=["account_id"], set_=values))
    return StoredCredentials(values["revision"], credentials.fingerprint, permissions, now, actor)  # type: ignore[arg-type]


def remove(session: Session, account_id: uuid.UUID) -> bool:
    """Delete ``account_id``'s credentials; False when there were none."""
    return bool(session.execute(
        delete(AccountCredentialsRecord).where(AccountCredentialsRecord.account_id == account_id)
    ).rowcount)


def describe(session: Session, account_id: uuid.UUID) -> StoredCredentials | None:
    row = session.get(AccountCredentialsRecord, account_id)
    if row is None:
        return None
    return StoredCredentials(row.revision, row.fingerprint, row.permissions, row.updated_at, row.updated_by)


def revision_of(account_id: uuid.UUID) -> uuid.UUID | None:
    """The current revision of ``account_id``'s credentials (None: none stored); one short read."""
    with unit_of_work() as session:
        return session.execute(
            select(AccountCredentialsRecord.revision).where(AccountCredentialsRecord.account_id == account_id)
        ).scalar_one_or_none()


def load(account_id: uuid.UUID) -> tuple[uuid.UUID, Credentials] | None:
    """(revision, credentials) of ``account_id``, read in one statement, or None."""
    with unit_of_work() as session:
        row = session.get(AccountCredentialsRecord, account_id)
        return None if row is None else (row.revision, unseal(row))


@dataclass(frozen=True)
class Rotation:
    records: int
    old_key_ids: list[str]
    new_key_id: str


def rotate_master(new_key: bytes) -> Rotation:
    """Re-wrap every data key under ``new_key`` in one transaction (rows locked; the credentials
    and their revisions are unchanged, so running venues keep their instances). Until it
    commits, every record still opens with its old master key."""
    old_ids: set[str] = set()
    new_id = keys.key_id(new_key)
    with unit_of_work() as session:
        session.execute(select(func.pg_advisory_xact_lock(VAULT_LOCK)))
        rows = session.execute(select(AccountCredentialsRecord).with_for_update()).scalars().all()
        for row in rows:
            aad = _aad(b"data-key", row.account_id)
            data_key = _open(keys.master_key(row.master_key_id), row.wrapped_key, aad)
            old_ids.add(row.master_key_id)
            row.wrapped_key = _seal(new_key, data_key, aad)
            row.master_key_id = new_id
    return Rotation(len(rows), sorted(old_ids), new_id)


def rotate() -> Rotation:
    """``tradewire keys rotate-master``. With the key file: a new key is generated and written
    first beside the old one (both open records meanwhile), every data key is re-wrapped in one
    transaction, then the old key is dropped from the file. With ``TRADEWIRE_MASTER_KEY``: the
    new key comes from ``TRADEWIRE_NEW_MASTER_KEY``; afterwards every process must be restarted
    with it as ``TRADEWIRE_MASTER_KEY``. Raises ``ConfigError`` when the new key is missing."""
    keyring = keys.keyring_for_writing()
    if keyring.source == "env":
        given = get_security_settings().new_master_key
        if given is None:
            raise ConfigError("the master key comes from TRADEWIRE_MASTER_KEY: set TRADEWIRE_NEW_MASTER_KEY to the new "
                              "key for the rotation, then restart every process with it as TRADEWIRE_MASTER_KEY")
        return rotate_master(keys.parse_key(given.get_secret_value(), "TRADEWIRE_NEW_MASTER_KEY"))
    new_key = keys.new_master_key()
    keys.write_key_file([new_key, *keyring.keys.values()])
    keys.forget_keys()
    rotation = rotate_master(new_key)
    keys.write_key_file([new_key])
    keys.forget_keys()
    return rotation
