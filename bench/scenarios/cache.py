"""The response cache (issue 17): the same request again, answered without an upstream call.

The public model ``cached`` (systems.py ``edge_config``: route ``mock/echo``, ``cache: {response:
{ttl_s: 3600, temperature: true}}``; the bench bodies send temperature 0.2) answers every
request after the first from each worker's memory: on ``edge`` the scenarios measure a hit,
plain and streamed (a stream hit replays the 23 SSE events of the first answer in one write).
On ``edge_cache_miss`` (a cache that keeps nothing) the same bytes are a miss every time: the
key, the lookup and the whole proxied request. Read both beside ``chat`` / ``stream20`` on edge
and on the floor proxy from the same run; "upstream calls/req" shows the hits made none.
"""

from __future__ import annotations

from ..common import Scenario
from ..data import chat_body

NO_CACHE = "no response cache (the floor, the mock and LiteLLM as set up here have none): not comparable; read edge's chat and stream20 rows beside it"

SCENARIOS = (
    Scenario(
        name="cache_hit",
        title="response cache: the same chat request again (edge: a hit; edge_cache_miss: a miss)",
        path="/v1/chat/completions",
        body=chat_body(reply_tokens=20, stream=False, model="cached"),
        systems=("edge", "edge_cache_miss"),
        not_applicable=NO_CACHE,
        baseline="chat",
    ),
    Scenario(
        name="cache_hit_stream20",
        title="response cache: the same 20-chunk stream again, paced 1 ms on a miss",
        path="/v1/chat/completions",
        body=chat_body(reply_tokens=20, stream=True, chunk_delay_ms=1.0, model="cached"),
        stream=True,
        chunks=20,  # not "paced": a hit is the replay of a paced stream, in one write
        systems=("edge", "edge_cache_miss"),
        not_applicable=NO_CACHE,
        baseline="stream20",
    ),
)
