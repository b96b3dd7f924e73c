"""The data-key ring: AES-256-GCM sealing of personal data and the e-mail blind index.

A sealed value is `<kid>:<base64url(nonce ‖ ciphertext ‖ tag)>`, so each row names the
key that opens it, and rows sealed under an older key can be found and re-sealed.
The first key of `GALLEY_DATA_KEYS` seals; every key opens.

Each configured secret is stretched with HKDF into two keys that are never used for
anything else: one for AES-256-GCM, one for the HMAC-SHA256 blind index. The column a
value belongs to is the associated data, so a value copied into another column (an
e-mail pasted over an address) does not open.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from galley.config_values import KeyRing

_NONCE_BYTES = 12


class UnreadableData(Exception):
    """A sealed value that no configured key opens: a key is missing, or the data was altered."""


@dataclass(frozen=True)
class _Key:
    kid: str
    cipher: AESGCM
    index_key: bytes


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


class DataKeys:
    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("no data keys")
        self._keys = {
            kid: _Key(
                kid,
                AESGCM(_derive(secret, b"galley personal data v1")),
                _derive(secret, b"galley e-mail index v1"),
            )
            for kid, secret in keys
        }
        self.current = keys[0][0]
        self._current_secret = keys[0][1]

    def derived(self, purpose: str) -> bytes:
        """A key of its own for `purpose`, from the current data key (HKDF): a secret that
        needs no setting of its own, and changes when the data key is rotated."""
        return _derive(self._current_secret, f"galley {purpose}".encode())

    def seal(self, value: str, column: str) -> str:
        key = self._keys[self.current]
        nonce = os.urandom(_NONCE_BYTES)
        sealed = key.cipher.encrypt(nonce, value.encode(), column.encode())
        return f"{key.kid}:{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"

    def unseal(self, sealed: str, column: str) -> str:
        kid, _, body = sealed.partition(":")
        key = self._keys.get(kid)
        if key is None:
            raise UnreadableData(
                f"{column} is sealed with data key {kid!r}, which is not configured"
            )
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return key.cipher.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], column.encode()
            ).decode()
        except (InvalidTag, ValueError, binascii.Error):
            raise UnreadableData(f"{column} does not open with data key {kid!r}") from None

    def email_index(self, email: str) -> str:
        """The blind index under the current key: what a new or re-sealed row stores."""
        return self._index(self._keys[self.current], email)

    def email_indexes(self, email: str) -> list[str]:
        """The index under every key, so a lookup finds rows not yet re-sealed."""
        return [self._index(key, email) for key in self._keys.values()]

    @staticmethod
    def _index(key: _Key, email: str) -> str:
        return hmac.new(key.index_key, email.encode(), hashlib.sha256).hexdigest()


@functools.cache
def data_keys(configured: KeyRing) -> DataKeys:
    """The ring for a `GALLEY_DATA_KEYS` value; built once per value, as HKDF is not free."""
    return DataKeys(list(configured.get_secret_value()))
