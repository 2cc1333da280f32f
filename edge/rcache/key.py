"""The response cache's key: an exact match on the normalized chat request.

Two requests share an entry when they ask the same model the same thing with the same
parameters: the body with its object keys sorted (one text per document whatever the client's
key order), without the fields that change no answer (bookkeeping: ``user``, ``metadata``,
``store``, ``service_tier``, ``safety_identifier`` and the prompt-cache routing hints), and with
``stream`` as a yes/no, since a stream is replayed as the stream it was. Everything else stays
in the key, vendor fields included: a field the gateway does not know may change the answer.
The partition (the gateway key, or one for all when the model's config shares its cache) and
whether the request asked to drop fields it cannot have (x-edge-drop-params) come first.
The key is the SHA-256 of that text, hex.
"""

from __future__ import annotations

import hashlib
from typing import Any

from edge.fastpath import jsonio

__all__ = ["NOT_IN_KEY", "request_key"]

# Request fields that change no answer (adapters/fields.py calls the first five ignorable).
NOT_IN_KEY = frozenset(("user", "metadata", "store", "service_tier", "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options"))


def request_key(partition: str, body: dict[str, Any], drop_params: bool) -> str:
    """The hex key of this request in this partition."""
    normal = {name: value for name, value in body.items() if name not in NOT_IN_KEY and value is not None}
    normal["stream"] = bool(body.get("stream"))
    digest = hashlib.sha256(partition.encode("utf-8", "surrogatepass"))
    digest.update(b"\n1\n" if drop_params else b"\n0\n")
    digest.update(jsonio.dumps_sorted(normal))
    return digest.hexdigest()
