"""Gateway keys: who is calling, what they may use, and their limits.

Keys are looked up by SHA-256 digest and never kept or logged raw. The admin key comes from
config (``keys.admin``); the others (``edge keys create`` or POST /v1/keys) live in the store
and every worker re-reads them every ``refresh_s`` (0.5 s), so a revoked key stops working on
every worker within a second. A key this worker does not know yet (made on another instance,
or another worker, since the last re-read) is looked up in the store before it is refused, so
a new key works everywhere at once; a key the store does not have either is remembered as
unknown for a second, so a caller trying random keys costs the store one lookup per key per
second, with at most a few lookups in flight per worker. When no key exists at all (the
embedded default), every caller is the anonymous principal.

If the store does not answer when the worker starts, the worker serves anyway: the admin key
works, and every other caller gets 503 with Retry-After (never 401, never the anonymous
principal: nobody can tell yet whether keys exist) until the first reload succeeds. Later
outages keep the last table that was read, with one warning.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import logging
import time

from msgspec import Struct

from .config import Config, RateLimit
from .errors import AuthenticationError, PermissionDenied
from .store import KeyRow, Store
from .store.guard import StoreUnavailable
from .tasks import stop_task

__all__ = ["ANONYMOUS", "Authenticator", "Principal", "hash_key"]

log = logging.getLogger("edge.auth")


class Principal(Struct, frozen=True):
    key_id: str | None
    name: str
    is_admin: bool = False
    models: tuple[str, ...] | None = None  # allowed public model names or patterns (fnmatch)
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    period: str = "month"
    tags: dict[str, str] | None = None
    expires_at: float | None = None

    def check_model(self, model: str) -> None:
        if self.models is not None and not any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models):
            raise PermissionDenied(f"The key '{self.name}' may not use the model '{model}'.", param="model", code="model_not_allowed")


ANONYMOUS = Principal(key_id=None, name="anonymous")
# Unknown keys: how long a miss is remembered, how many are, and how many store lookups may be
# in flight per worker (beyond that a key unknown here is refused without asking the store).
_UNKNOWN_FOR_S = 1.0
_UNKNOWN_MAX = 10_000
_MAX_LOOKUPS = 4


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def _principal(row: KeyRow, default: RateLimit) -> Principal:
    return Principal(
        key_id=row.id,
        name=row.name,
        models=tuple(row.models) if row.models is not None else None,
        rpm=row.rpm if row.rpm is not None else default.rpm,
        tpm=row.tpm if row.tpm is not None else default.tpm,
        budget_usd=row.budget_usd,
        period=row.period,
        tags=row.tags,
        expires_at=row.expires_at,
    )


class Authenticator:
    def __init__(self, config: Config, store: Store | None = None, refresh_s: float = 0.5) -> None:
        self._admin: dict[bytes, Principal] = {}
        if config.keys.admin:
            self._admin[hash_key(config.keys.admin)] = Principal(key_id="admin", name="admin", is_admin=True)
        self._default = config.limits.default
        self._store = store
        self._refresh_s = refresh_s
        self._by_hash: dict[bytes, Principal] = dict(self._admin)
        self._revoked: set[bytes] = set()
        # Authorization header -> principal, so a known key skips hashing; cleared whenever the
        # key table changes, bounded because headers come from clients.
        self._by_header: dict[str, Principal] = {}
        self._loaded = store is None  # the key table has been read at least once
        # Authorization header -> monotonic time until which the store is not asked again.
        self._unknown: dict[str, float] = {}
        self._lookups = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._store is None:
            return
        try:
            await self.reload()
        except StoreUnavailable:
            log.warning("keys: the store is not answering; only the admin key works until it does")
        self._task = asyncio.create_task(self._refresh(), name="edge-keys")

    async def close(self) -> None:
        await stop_task(self._task)

    async def reload(self) -> None:
        assert self._store is not None
        rows = await self._store.list_keys()
        table = dict(self._admin)
        revoked = set()
        for row in rows:
            digest = bytes.fromhex(row.hash)
            if row.revoked_at is not None:
                revoked.add(digest)
            else:
                table[digest] = _principal(row, self._default)
        if table != self._by_hash or revoked != self._revoked:
            self._by_hash, self._revoked = table, revoked
            self._by_header.clear()
        if not self._loaded:
            self._loaded = True
            self._by_header.clear()

    async def _refresh(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.reload()
            except Exception as exc:  # keep serving with the last table; say so once
                if not failing:
                    log.warning("keys: cannot reload from the store (%s); using the last known keys", type(exc).__name__)
                failing = True
            else:
                failing = False

    def needs_lookup(self, authorization: str) -> bool:
        """True for a well-formed bearer key this worker does not know (nor recently missed).

        The surfaces call it before they authenticate, and ``lookup`` when it says so; a key
        seen before costs one dict lookup here.
        """
        if self._store is None or authorization in self._by_header:
            return False
        until = self._unknown.get(authorization)
        if until is not None and time.monotonic() < until:
            return False
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return False
        digest = hash_key(key)
        return digest not in self._by_hash and digest not in self._revoked

    async def lookup(self, authorization: str) -> None:
        """Ask the store for one key by digest; a found key joins the table at once."""
        if self._store is None or self._lookups >= _MAX_LOOKUPS:
            return
        digest = hash_key(authorization.partition(" ")[2].strip())
        self._lookups += 1
        try:
            row = await self._store.find_key(digest.hex())
        except Exception as exc:  # the store is down: refuse as unknown, as before
            log.debug("keys: lookup failed (%s)", type(exc).__name__)
            row = None
        finally:
            self._lookups -= 1
        if row is None:
            if len(self._unknown) >= _UNKNOWN_MAX:
                self._unknown.clear()
            self._unknown[authorization] = time.monotonic() + _UNKNOWN_FOR_S
        elif row.revoked_at is not None:
            self._revoked.add(digest)
        else:
            self._by_hash[digest] = _principal(row, self._default)

    def principal_for(self, key_id: str) -> Principal | None:
        """The active key with this id (a batch runs as the key that made it), or None."""
        for principal in self._by_hash.values():
            if principal.key_id == key_id:
                return principal
        return None

    @property
    def required(self) -> bool:
        return bool(self._by_hash) or bool(self._revoked) or not self._loaded

    def authenticate(self, authorization: str | None) -> Principal:
        if not self._loaded:
            return self._before_load(authorization)
        if not self._by_hash and not self._revoked:
            return ANONYMOUS
        if not authorization:
            raise AuthenticationError("Missing gateway key: send 'Authorization: Bearer <key>'.")
        cached = self._by_header.get(authorization)
        if cached is not None and (cached.expires_at is None or time.time() < cached.expires_at):
            return cached
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise AuthenticationError("Malformed Authorization header: expected 'Bearer <key>'.")
        # Looked up by SHA-256 digest: timing can only reveal facts about a digest, never the
        # key itself, which is the property a constant-time compare protects.
        digest = hash_key(key)
        principal = self._by_hash.get(digest)
        if principal is None:
            if digest in self._revoked:
                raise AuthenticationError("This gateway key has been revoked.", code="key_revoked")
            raise AuthenticationError("Incorrect gateway key provided.")
        if principal.expires_at is not None and time.time() >= principal.expires_at:
            raise AuthenticationError("This gateway key has expired.", code="key_expired")
        if len(self._by_header) < 10_000:
            self._by_header[authorization] = principal
        return principal

    def _before_load(self, authorization: str | None) -> Principal:
        """The key table was never read: only the admin key can be told apart."""
        scheme, _, key = (authorization or "").partition(" ")
        admin = self._admin.get(hash_key(key.strip())) if scheme.lower() == "bearer" and key.strip() else None
        if admin is not None:
            return admin
        raise StoreUnavailable("The gateway cannot check keys yet: its key store has not answered since this worker started; retry in a moment.", retry_after=1.0)

    def require_admin(self, authorization: str | None) -> Principal:
        if not self._admin:
            raise PermissionDenied("The admin API is off: set keys.admin in the config to use it.", code="admin_disabled")
        principal = self.authenticate(authorization)
        if not principal.is_admin:
            raise PermissionDenied("This endpoint needs the admin key.", code="admin_required")
        return principal
