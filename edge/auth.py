"""Gateway keys: who is calling. Keys are compared by SHA-256 digest, never kept or logged raw.

When no key is configured (the embedded default), every caller is the anonymous principal.
Keys made with ``edge keys create`` (stored hashed in the ledger) join this table with the keys
work; the admin key from config is always accepted.
"""

from __future__ import annotations

import hashlib

from msgspec import Struct

from .config import Config
from .errors import AuthenticationError

__all__ = ["ANONYMOUS", "Authenticator", "Principal", "hash_key"]


class Principal(Struct, frozen=True):
    key_id: str | None
    name: str
    is_admin: bool = False
    models: frozenset[str] | None = None
    tags: dict[str, str] | None = None


ANONYMOUS = Principal(key_id=None, name="anonymous")


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


class Authenticator:
    def __init__(self, config: Config) -> None:
        self._by_hash: dict[bytes, Principal] = {}
        if config.keys.admin:
            self._by_hash[hash_key(config.keys.admin)] = Principal(key_id="admin", name="admin", is_admin=True)

    @property
    def required(self) -> bool:
        return bool(self._by_hash)

    def authenticate(self, authorization: str | None) -> Principal:
        if not self._by_hash:
            return ANONYMOUS
        if not authorization:
            raise AuthenticationError("Missing gateway key: send 'Authorization: Bearer <key>'.")
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise AuthenticationError("Malformed Authorization header: expected 'Bearer <key>'.")
        # Looked up by SHA-256 digest: timing can only reveal facts about a digest, never the
        # key itself, which is the property a constant-time compare protects.
        principal = self._by_hash.get(hash_key(key))
        if principal is None:
            raise AuthenticationError("Incorrect gateway key provided.")
        return principal
