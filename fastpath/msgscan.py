"""The Anthropic Messages stream scanner of the pass-through (see msgscan_py), compiled when possible.

Selects the Cython build ``msgscan_c`` unless ``EDGE_NO_EXTENSIONS`` is set, the extension
is missing, or the interpreter is not CPython; otherwise the pure-Python twin ``msgscan_py``.
``IMPLEMENTATION`` says which one was chosen ("c" or "py").
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from ._errors import SSEError

__all__ = ["IMPLEMENTATION", "ERROR", "MESSAGE_DELTA", "MESSAGE_START", "MESSAGE_STOP", "MessagesScanner", "SSEError", "UNNAMED"]

IMPLEMENTATION: str
if TYPE_CHECKING:
    # One type for both builds: msgscan_c.pyi describes the compiled module, and the tests
    # hold msgscan_py to the same behaviour (tests/fastpath runs every case on both).
    from .msgscan_c import ERROR, MESSAGE_DELTA, MESSAGE_START, MESSAGE_STOP, UNNAMED, MessagesScanner
elif sys.implementation.name == "cpython" and os.environ.get("EDGE_NO_EXTENSIONS", "") in ("", "0"):
    try:
        from .msgscan_c import ERROR, MESSAGE_DELTA, MESSAGE_START, MESSAGE_STOP, UNNAMED, MessagesScanner
    except ImportError:  # not built (pure install, no compiler)
        from .msgscan_py import ERROR, MESSAGE_DELTA, MESSAGE_START, MESSAGE_STOP, UNNAMED, MessagesScanner

        IMPLEMENTATION = "py"
    else:
        IMPLEMENTATION = "c"
else:
    from .msgscan_py import ERROR, MESSAGE_DELTA, MESSAGE_START, MESSAGE_STOP, UNNAMED, MessagesScanner

    IMPLEMENTATION = "py"
