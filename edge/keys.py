"""Making and describing gateway keys (``edge keys`` and the admin API share this).

A key is ``sk-edge-`` plus 32 random bytes (urlsafe base64); it is shown once, when made, and
only its SHA-256 digest and first characters are stored.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from .auth import hash_key
from .errors import InvalidRequest
from .store import KeyRow

__all__ = ["KeySpec", "describe", "make_key", "parse_expires", "parse_tag_list"]

PREFIX = "sk-edge-"


class KeySpec(Struct, kw_only=True, forbid_unknown_fields=True):
    """What a caller asks for (CLI flags or the admin API's JSON body)."""

    name: Annotated[str, Meta(min_length=1, max_length=128)]
    models: list[str] | None = None
    rpm: Annotated[int, Meta(ge=1)] | None = None
    tpm: Annotated[int, Meta(ge=1)] | None = None
    budget_usd: Annotated[float, Meta(ge=0)] | None = None
    period: Literal["day", "month"] = "month"
    tags: dict[str, str] | None = None
    expires: str | float | None = None  # "30d", "12h", an ISO date, or unix seconds
    # Import an existing secret instead of making one (migrating keys from another gateway).
    key: Annotated[str, Meta(min_length=20, max_length=256)] | None = None


def parse_tag_list(text: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InvalidRequest(f"tags must be name=value pairs separated by commas; got '{part}'", param="tags")
        tags[name.strip()] = value.strip()
    return tags


def parse_expires(value: str | float | None, now: float) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", value.strip())
    if found:
        return now + float(found.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[found.group(2)]
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequest(f"expires must be like 30d, 12h or an ISO date; got '{value}'", param="expires") from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def make_key(spec: KeySpec, now: float | None = None) -> tuple[str, KeyRow]:
    """A new key (to show once) and the row to store."""
    now = time.time() if now is None else now
    if not spec.name.strip():
        raise InvalidRequest("a key needs a name", param="name")
    for field, value in (("rpm", spec.rpm), ("tpm", spec.tpm)):
        if value is not None and value < 1:
            raise InvalidRequest(f"{field} must be at least 1", param=field)
    if spec.budget_usd is not None and spec.budget_usd < 0:
        raise InvalidRequest("budget_usd must not be negative", param="budget_usd")
    if spec.period not in ("day", "month"):
        raise InvalidRequest("period must be day or month", param="period")
    if spec.key is not None and (len(spec.key) < 20 or any(c.isspace() for c in spec.key)):
        raise InvalidRequest("an imported key must be at least 20 characters, without spaces", param="key")
    key = spec.key if spec.key is not None else PREFIX + secrets.token_urlsafe(32)
    row = KeyRow(
        id="key_" + secrets.token_hex(6),
        name=spec.name.strip(),
        hash=hash_key(key).hex(),
        prefix=key[: len(PREFIX) + 4] if key.startswith(PREFIX) else key[:6],
        created_at=now,
        models=spec.models,
        rpm=spec.rpm,
        tpm=spec.tpm,
        budget_usd=spec.budget_usd,
        period=spec.period,
        tags=spec.tags,
        expires_at=parse_expires(spec.expires, now),
    )
    return key, row


def describe(row: KeyRow) -> dict[str, Any]:
    """A key as listings show it: everything but the digest."""
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix + "...",
        "created_at": row.created_at,
        "models": row.models,
        "rpm": row.rpm,
        "tpm": row.tpm,
        "budget_usd": row.budget_usd,
        "period": row.period,
        "tags": row.tags,
        "expires_at": row.expires_at,
        "revoked": row.revoked_at is not None,
    }
