"""What the upstream client raises. Callers map these to gateway errors (edge/proxy.py).

The messages say what happened, never where: an upstream's address is configuration, not
something a gateway error should echo (the callers wrap these anyway).
"""

from __future__ import annotations

__all__ = ["ClientError", "ConnectError", "InvalidResponse", "ReadTimeout", "ResponseTooLarge", "ServerDisconnected"]


class ClientError(Exception):
    """The exchange with the upstream failed below HTTP: connection, framing, timeout."""


class ConnectError(ClientError):
    """No connection could be opened (refused, unreachable, name not found, TLS failed)."""


class ServerDisconnected(ClientError):
    """The upstream closed the connection before its response was complete."""


class InvalidResponse(ClientError):
    """The upstream's bytes are not a valid HTTP/1.1 response (or a body we cannot decode)."""


class ResponseTooLarge(InvalidResponse):
    """The response's head, framing or body went past its cap: no answer is that large."""


class ReadTimeout(ClientError, TimeoutError):
    """A streamed response sent nothing for longer than its idle bound."""
