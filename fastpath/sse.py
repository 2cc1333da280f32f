"""Server-sent-events framing (WHATWG HTML "server-sent events"), compiled when possible.

Selects the Cython build ``sse_c`` unless ``EDGE_NO_EXTENSIONS`` is set, the extension
is missing, or the interpreter is not CPython; otherwise the pure-Python twin ``sse_py``.
``IMPLEMENTATION`` says which one was chosen ("c" or "py").
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from ._errors import SSEError

__all__ = ["IMPLEMENTATION", "SSEDecoder", "SSEError", "SSEEvent"]

IMPLEMENTATION: str
if TYPE_CHECKING:
    # One type for both builds: sse_c.pyi describes the compiled module, and the tests
    # hold sse_py to the same behaviour (tests/fastpath runs every case on both).
    from .sse_c import SSEDecoder, SSEEvent
elif sys.implementation.name == "cpython" and os.environ.get("EDGE_NO_EXTENSIONS", "") in ("", "0"):
    try:
        from .sse_c import SSEDecoder, SSEEvent
    except ImportError:  # not built (pure install, no compiler)
        from .sse_py import SSEDecoder, SSEEvent

        IMPLEMENTATION = "py"
    else:
        IMPLEMENTATION = "c"
else:
    from .sse_py import SSEDecoder, SSEEvent

    IMPLEMENTATION = "py"
