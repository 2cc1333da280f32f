"""Log hygiene for the HTTP surface: what aiohttp logs about bad requests, and every line scrubbed.

aiohttp logs a full traceback at ERROR for every malformed request (too many headers, a bad
request line), and its message quotes the offending head line, which can be a client's
``Authorization`` header: a hostile client could flood the log, and an honest one with a stray
byte would leave its key there. Such records become one DEBUG line with credential header values
redacted (edge.scrub.redact_credential_headers). Every handler of the root logger also gets the
Gateway's scrubbing filter, so no configured secret reaches the log from any logger.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

from edge.scrub import ScrubbingLogFilter, Scrubber, redact_credential_headers

__all__ = ["install_log_filters", "malformed_request_line"]

_MAX_LINE = 200


def malformed_request_line(record: logging.LogRecord) -> bool:
    """aiohttp.server filter: a malformed request is one DEBUG line, credentials redacted."""
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, HttpProcessingError):
        # Redact on the multi-line text (a quoted head line ends at its line break), then cut.
        text = redact_credential_headers(str(exc)).replace("\n", " ")[:_MAX_LINE]
        record.msg, record.args, record.exc_info, record.exc_text = "refused a malformed request: %s", (text,), None, None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger("aiohttp.server").isEnabledFor(logging.DEBUG)
    return True


def install_log_filters(scrubber: Scrubber) -> None:
    """Once per worker process, before it serves."""
    logging.getLogger("aiohttp.server").addFilter(malformed_request_line)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ScrubbingLogFilter) for f in handler.filters):
            handler.addFilter(ScrubbingLogFilter(scrubber))
