"""Passing a connection, or the rest of one, to aiohttp's own server protocol.

Only the hot endpoints are served by edge.server; everything else (models, usage, keys, files,
batches, the dashboard, health and metrics, a wrong method on a hot path) is aiohttp's, through
the same app, router and middleware as before. A connection whose first request line names
another endpoint is handed over whole: the transport gets aiohttp's protocol and the bytes read
so far, and edge.server is out of it. A lean connection that later asks for another endpoint
keeps its parser (the framing was already checked), and passes that request and every one
after it to an aiohttp protocol as canonical bytes: the head as received, the body re-framed
(its pieces under the length it declared, or as chunks), in order after the lean answers before
it. The aiohttp protocol writes to the real transport through ``_Transport``.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["Relay", "hand_over"]

# Bytes of later requests held while the lean answers before them are written.
_MAX_BACKLOG = 1 << 20


def hand_over(transport: asyncio.Transport, protocol: asyncio.Protocol, data: bytes) -> None:
    """The whole connection to ``protocol``, with what was read of it."""
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    if data:
        protocol.data_received(data)


class _Transport(asyncio.Transport):
    """What the aiohttp protocol writes through: the real transport, closed with the lean side."""

    def __init__(self, real: asyncio.Transport) -> None:
        super().__init__()
        self._real = real

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._real.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self._real.writelines(list_of_data)

    def is_closing(self) -> bool:
        return self._real.is_closing()

    def close(self) -> None:
        self._real.close()

    def abort(self) -> None:
        self._real.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._real.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._real.pause_reading()

    def resume_reading(self) -> None:
        self._real.resume_reading()

    def is_reading(self) -> bool:
        return self._real.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._real.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._real.get_write_buffer_size()

    def can_write_eof(self) -> bool:
        return self._real.can_write_eof()

    def write_eof(self) -> None:
        self._real.write_eof()


class Relay:
    """The requests of a lean connection from one on, re-framed for an aiohttp protocol."""

    def __init__(self, transport: asyncio.Transport, protocol: asyncio.Protocol) -> None:
        self._real = transport
        self._transport = _Transport(transport)
        self._protocol = protocol
        self.active = False  # connected: the lean answers before it are written
        self._backlog: list[bytes] = []
        self._backlog_size = 0
        self._paused = False
        self._chunked = False

    def head(self, method: bytes, url: bytes, version: str, headers: list[tuple[bytes, bytes]]) -> None:
        lines = [b"%s %s HTTP/%s\r\n" % (method, url, version.encode("ascii"))]
        chunked = False
        for name, value in headers:
            if name.lower() == b"transfer-encoding":
                chunked = True  # llhttp took it only as chunked last; the body is re-chunked below
                lines.append(b"transfer-encoding: chunked\r\n")
                continue
            lines.append(name + b": " + value + b"\r\n")
        lines.append(b"\r\n")
        self._chunked = chunked
        self._send(b"".join(lines))

    def body(self, data: bytes) -> None:
        self._send(b"%x\r\n%s\r\n" % (len(data), data) if self._chunked else data)

    def end(self) -> None:
        if self._chunked:
            self._send(b"0\r\n\r\n")
            self._chunked = False

    def broken(self) -> None:
        """The client's bytes stopped being HTTP: what follows the whole requests is refused."""
        self._chunked = False
        self._send(b"\x00 refused\r\n\r\n")

    def start(self) -> None:
        """The lean side has written its answers: connect the aiohttp protocol, replay what waits."""
        if self.active:
            return
        self.active = True
        self._protocol.connection_made(self._transport)
        backlog, self._backlog = self._backlog, []
        for data in backlog:
            self._protocol.data_received(data)
        if self._paused:
            self._paused = False
            self._real.resume_reading()

    def _send(self, data: bytes) -> None:
        if self.active:
            self._protocol.data_received(data)
        else:
            self._backlog.append(data)
            self._backlog_size += len(data)
            if self._backlog_size > _MAX_BACKLOG and not self._paused:
                self._paused = True  # a client that sends on while the lean answers are written
                self._real.pause_reading()

    def eof_received(self) -> None:
        if self.active:
            self._protocol.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.active:
            self._protocol.connection_lost(exc)

    def pause_writing(self) -> None:
        self._protocol.pause_writing()

    def resume_writing(self) -> None:
        self._protocol.resume_writing()
