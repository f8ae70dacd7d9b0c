"""The audit trail's secret key, kept outside the database.

``PATROL_AUDIT_KEY``       the key itself, hex (64 digits) or base64 of at least 32 bytes; or
``PATROL_AUDIT_KEY_FILE``  a file holding it (hex); default ``$PATROL_DATA_DIR/audit.key``, created on first use
                           with 0600 permissions.

Standard library only: the audit scan's worker processes read it too. Someone who can write the database but
cannot read this key cannot forge a trail that ``patrol audit verify`` accepts. Back the key up separately
from the database: a database restored without its key cannot be verified.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_BYTES = 32


class AuditKeyError(Exception):
    """The configured key is unusable; ``key`` is a catalog key, ``params`` its parameters."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def _decode(text: str, where: str) -> bytes:
    text = text.strip()
    raw: bytes | None = None
    if len(text) >= 2 * KEY_BYTES and all(c in "0123456789abcdefABCDEF" for c in text):
        raw = bytes.fromhex(text)
    else:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) < KEY_BYTES:
        raise AuditKeyError("audit.bad_key", where=where, n=KEY_BYTES)
    return raw


def key_file() -> Path:
    explicit = os.environ.get("PATROL_AUDIT_KEY_FILE")
    if explicit:
        return Path(explicit).expanduser()
    from patrol_app.config import get_settings

    # the store's data directory, never a path relative to the current directory
    return get_settings().data_dir / "audit.key"


def load_key(create: bool = True) -> bytes:
    """The key from the environment or the key file; a missing key file is created (0600) when ``create``."""
    env = os.environ.get("PATROL_AUDIT_KEY")
    if env:
        return _decode(env, "PATROL_AUDIT_KEY")
    path = key_file()
    try:
        return _decode(path.read_text(encoding="ascii"), str(path))
    except FileNotFoundError:
        if not create:
            raise AuditKeyError("audit.no_key", path=str(path)) from None
    except (OSError, UnicodeError):
        raise AuditKeyError("audit.bad_key", where=str(path), n=KEY_BYTES) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    text = secrets.token_hex(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile: use theirs
        return _decode(path.read_text(encoding="ascii"), str(path))
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return bytes.fromhex(text)


def key_id(key: bytes) -> str:
    """A short public fingerprint of the key (tells which key sealed a trail without revealing it)."""
    return hmac.new(key, b"patrol-audit-key-id", hashlib.sha256).hexdigest()[:16]
