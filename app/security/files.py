"""Secret files: created with mode 0600 from the first byte (``os.open`` with the mode, never
written and then chmod'ed), replaced atomically. Standard library only, so any module
(``app.config`` included) may use it."""

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` to ``path`` with mode 0600. ``exclusive``: fail (``FileExistsError``) if
    it exists. Otherwise the file is written beside and renamed over ``path``, so a reader
    sees the old or the new content, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = path if exclusive else path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if not exclusive:
        os.replace(target, path)


def read_or_create_secret(path: Path, make: Callable[[], str] | None = None) -> str:
    """The secret kept in ``path``, created (mode 0600 from the start) on first call with
    ``make()`` (default: 32 URL-safe characters). Two processes racing both read the winner's."""
    if not path.exists():
        try:
            write_private(path, (make or (lambda: secrets.token_urlsafe(24)))() + "\n", exclusive=True)
        except FileExistsError:
            pass
    return path.read_text().strip()
