"""Secrets at rest: the master key, sealed custodial signing keys, API keys.

- The master key (32 bytes) lives in `<data dir>/master.key` (mode 0600) or comes from
  `LEDGER_MASTER_KEY` (hex); it never enters the database.
- `seal`/`unseal`: AES-256-GCM with a random 96-bit nonce and associated data naming what is
  sealed, so a sealed key cannot be swapped for another participant's.
- Documents are sealed by the vault (`ledger.vault.crypto`), their data keys wrapped by this
  master key.
- API keys: random 32 bytes, shown once; only their SHA-256 is stored.
- Chain accounts (the deployer, each gateway's anchoring account) come from key files or the
  environment (`load_account`): a file holding the 32-byte private key as hex, readable by its
  owner only, or an Ethereum V3 keystore (JSON) with its password in an environment variable.
  Once loaded, a gateway keeps them sealed in the database like custodial keys.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.errors import ConfigurationError, LedgerError

__all__ = [
    "API_KEY_PREFIX",
    "hash_api_key",
    "load_account",
    "load_master_key",
    "new_api_key",
    "seal",
    "unseal",
]

API_KEY_PREFIX = "lel_"
_NONCE = 12


def load_master_key(data_dir: Path) -> bytes:
    """The master key from LEDGER_MASTER_KEY, or the data dir (created on first use)."""
    from_env = os.environ.get("LEDGER_MASTER_KEY")
    if from_env:
        key = bytes.fromhex(from_env)
        if len(key) != 32:
            raise ConfigurationError("LEDGER_MASTER_KEY must be 32 bytes of hex")
        return key
    path = data_dir / "master.key"
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise ConfigurationError(f"{path} is not a 32-byte key")
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    return key


def seal(master_key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """nonce ‖ AES-256-GCM(master_key, plaintext, associated)."""
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(master_key).encrypt(nonce, plaintext, associated)


def unseal(master_key: bytes, sealed: bytes, associated: bytes) -> bytes:
    """Opens `seal`'s output; `LedgerError` if the key, data or associated data do not match."""
    try:
        return AESGCM(master_key).decrypt(sealed[:_NONCE], sealed[_NONCE:], associated)
    except InvalidTag as exc:
        raise LedgerError(
            "sealed secret does not open with this master key", code="SEAL_INVALID"
        ) from exc


def new_api_key() -> str:
    """A fresh API key (shown to its owner once)."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    """What is stored and looked up: SHA-256 hex of the key."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def _private_key_hex(text: str, where: str) -> bytes:
    raw = text.strip().removeprefix("0x")
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigurationError(f"{where}: not a 32-byte private key in hex")
    return key


def load_account(
    path: Path | None, *, env: str | None = None, password_env: str | None = None
) -> LocalAccount | None:
    """A chain account from `path` or, without one, from the environment variable `env` (hex).

    The file holds the private key as hex (one line, `0x` optional) and must not be readable by
    group or others; or it is an Ethereum V3 keystore (JSON), decrypted with the password in
    `password_env`. None if neither is given."""
    if path is None:
        value = os.environ.get(env) if env else None
        if not value:
            return None
        from_env: LocalAccount = Account.from_key(_private_key_hex(value, env or ""))
        return from_env
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the key file {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"key file {path} is readable by others (mode {stat.S_IMODE(mode):o}): chmod 600 it"
        )
    if text.lstrip().startswith("{"):
        password = os.environ.get(password_env or "")
        if password is None:
            raise ConfigurationError(
                f"{path} is a keystore: put its password in {password_env or 'the environment'}"
            )
        try:
            key = Account.decrypt(json.loads(text), password)
        except (ValueError, KeyError) as exc:
            raise ConfigurationError(f"keystore {path} does not open: {exc}") from exc
        decrypted: LocalAccount = Account.from_key(bytes(key))
        return decrypted
    from_file: LocalAccount = Account.from_key(_private_key_hex(text, str(path)))
    return from_file
