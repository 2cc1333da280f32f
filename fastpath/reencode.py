"""OpenAI chat-stream pass-through re-encoder (see reencode_py), compiled when possible.

Selects the Cython build ``reencode_c`` unless ``EDGE_NO_EXTENSIONS`` is set, the extension
is missing, or the interpreter is not CPython; otherwise the pure-Python twin ``reencode_py``.
``IMPLEMENTATION`` says which one was chosen ("c" or "py").
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from ._errors import SSEError

__all__ = [
    "IMPLEMENTATION",
    "OpenAIStreamRewriter",
    "SSEError",
]

IMPLEMENTATION: str
if TYPE_CHECKING:
    # One type for both builds: reencode_c.pyi describes the compiled module, and the tests
    # hold reencode_py to the same behaviour (tests/fastpath runs every case on both).
    from .reencode_c import OpenAIStreamRewriter
elif sys.implementation.name == "cpython" and os.environ.get("EDGE_NO_EXTENSIONS", "") in ("", "0"):
    try:
        from .reencode_c import OpenAIStreamRewriter
    except ImportError:  # not built (pure install, no compiler)
        from .reencode_py import OpenAIStreamRewriter

        IMPLEMENTATION = "py"
    else:
        IMPLEMENTATION = "c"
else:
    from .reencode_py import OpenAIStreamRewriter

    IMPLEMENTATION = "py"
