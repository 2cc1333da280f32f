"""Token estimates, exact o200k_base counts and usage accumulation, compiled when possible.

Selects the Cython build ``tokens_c`` unless ``EDGE_NO_EXTENSIONS`` is set, the extension
is missing, or the interpreter is not CPython; otherwise the pure-Python twin ``tokens_py``.
``IMPLEMENTATION`` says which one was chosen ("c" or "py").
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

__all__ = [
    "IMPLEMENTATION",
    "UsageAccumulator",
    "estimate_body_tokens",
    "estimate_prompt_tokens",
    "estimate_tokens",
    "estimate_tokens_from_bytes",
    "exact_tokens",
]

IMPLEMENTATION: str
if TYPE_CHECKING:
    # One type for both builds: tokens_c.pyi describes the compiled module, and the tests
    # hold tokens_py to the same behaviour (tests/fastpath runs every case on both).
    from .tokens_c import (
        UsageAccumulator,
        estimate_body_tokens,
        estimate_prompt_tokens,
        estimate_tokens,
        estimate_tokens_from_bytes,
        exact_tokens,
    )
elif sys.implementation.name == "cpython" and os.environ.get("EDGE_NO_EXTENSIONS", "") in ("", "0"):
    try:
        from .tokens_c import (
            UsageAccumulator,
            estimate_body_tokens,
        estimate_prompt_tokens,
            estimate_tokens,
            estimate_tokens_from_bytes,
            exact_tokens,
        )
    except ImportError:  # not built (pure install, no compiler)
        from .tokens_py import (
            UsageAccumulator,
            estimate_body_tokens,
        estimate_prompt_tokens,
            estimate_tokens,
            estimate_tokens_from_bytes,
            exact_tokens,
        )

        IMPLEMENTATION = "py"
    else:
        IMPLEMENTATION = "c"
else:
    from .tokens_py import (
        UsageAccumulator,
        estimate_body_tokens,
        estimate_prompt_tokens,
        estimate_tokens,
        estimate_tokens_from_bytes,
        exact_tokens,
    )

    IMPLEMENTATION = "py"
