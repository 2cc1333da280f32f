"""Resilience (issue 5): a flaky primary with a healthy fallback, and a primary that always says 429.

Both go to public models only the edge systems configure (systems.py ``edge_config``):

    flaky        route: mock/flaky-primary, fallbacks: [echo]
    fallback429  route: mock/primary429,   fallbacks: [echo]
    routing      retries 2, cooldown {consecutive_failures: 3, base_ejection_s: 5}

The failures are the mock's per-upstream-model knobs in the request body (``mock.by_model``), so
the fallback (upstream ``echo``) always answers. The report gives client-visible errors, the
upstream attempts per request (the mock's request count over the phase / requests served), and
the gateway's own account from its ledger (mean ``attempts`` per row, share answered by the
fallback). With the cooldown, the primary is skipped most of the time once it has failed 3
times: the share answered by the fallback says how much. ``edge_nocooldown`` runs chaos with a
cooldown that never opens: every request tries the primary first (retries, then the fallback).
The floor, the mock itself and LiteLLM (as configured here) have no fallbacks: their rows are
marked not applicable rather than compared.
"""

from __future__ import annotations

from ..common import Scenario
from ..data import chat_body

NO_FALLBACKS = "no fallback configured (the floor and the mock have none; LiteLLM's is not set up here): not comparable"

SCENARIOS = (
    Scenario(
        name="chaos",
        title="chaos: primary fails 30% at random (503), healthy fallback",
        path="/v1/chat/completions",
        body=chat_body(reply_tokens=20, stream=False, model="flaky", mock={"by_model": {"flaky-primary": {"fail_rate": 0.3, "fail_status": 503}}}),
        systems=("edge", "edge_nocooldown"),
        not_applicable=NO_FALLBACKS,
        baseline="chat",
        ledger=True,
    ),
    Scenario(
        name="fallback_429",
        title="429 on the primary, answered by the fallback",
        path="/v1/chat/completions",
        body=chat_body(reply_tokens=20, stream=False, model="fallback429", mock={"by_model": {"primary429": {"status": 429}}}),
        systems=("edge",),
        not_applicable=NO_FALLBACKS,
        baseline="chat",
        ledger=True,
    ),
)
