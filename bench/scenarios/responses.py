"""The OpenAI Responses API (POST /v1/responses): plain and streamed, bridged and native.

The same 40-word prompt and 20-word answer as ``chat`` and ``stream20``, so the report sets each
beside its chat counterpart from the same run: bridged (model ``echo``, whose provider speaks
only chat, ``responses: bridge``: the request is translated to chat, the chat stream decoded and
written again as Responses events) and native (model ``echo_native``, the same mock declared
``responses: native``: the request forwarded as sent, the stream passed through with the model
renamed). ``store`` is left at its default (true): each answer is also kept in the SQLite store.
Only edge serves it (the floor and the peers speak chat).
"""

from __future__ import annotations

from ..common import Scenario
from ..data import MODEL, responses_body

NATIVE_MODEL = "echo_native"
_WHY = "serves only chat completions"


def _pair(kind: str, model: str) -> tuple[Scenario, Scenario]:
    suffix = "" if kind == "bridged" else "_native"
    return (
        Scenario(
            name=f"responses{suffix}",
            title=f"Responses, non-streamed, {kind}",
            path="/v1/responses",
            body=responses_body(model=model, reply_tokens=20, stream=False),
            systems=("edge", "edge_base"),
            not_applicable=_WHY,
            baseline="chat",
        ),
        Scenario(
            name=f"responses{suffix}_stream20",
            title=f"Responses stream, 20 chunks, 1 ms/chunk, {kind}",
            path="/v1/responses",
            body=responses_body(model=model, reply_tokens=20, stream=True, chunk_delay_ms=1),
            stream=True,
            chunks=20,
            paced=True,
            systems=("edge", "edge_base"),
            not_applicable=_WHY,
            baseline="stream20",
        ),
    )


SCENARIOS = (*_pair("bridged", MODEL), *_pair("native", NATIVE_MODEL))
