"""Keep-alive connection pools per upstream origin, and the Client the providers hold.

A pool reuses its most recently used idle connection first (the one least likely to have been
closed by the server), drops connections idle longer than ``keepalive_s`` and never opens more
than ``limit`` at once; callers beyond the limit wait for a connection to come back. A
connection the server closed while idle is noticed by its protocol and leaves the pool then.

Requests are written as HTTP/1.1 with ``host``, ``content-length`` and
``accept-encoding: gzip, deflate`` added; header names and values with CR or LF are refused
(RFC 9110 section 5.5), so configured headers cannot split a request.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

from .connection import Connection
from .response import DONE, HEAD, MAX_BODY_BYTES, MAX_STREAM_BYTES, Response
from .errors import ConnectError

__all__ = ["Client", "Pool"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_CACHED_URLS = 512


class Pool:
    """Connections to one origin (scheme, host, port)."""

    def __init__(self, scheme: str, host: str, port: int, *, limit: int, connect_timeout: float, keepalive_s: float, ssl_context: ssl.SSLContext | None) -> None:
        self.host, self.port = host, port
        self.limit = max(1, limit)
        self.connect_timeout = connect_timeout
        self.keepalive_s = keepalive_s
        self._ssl = ssl_context if scheme == "https" else None
        self._idle: list[Connection] = []
        self._open = 0
        self._waiters: collections.deque[asyncio.Future[Connection | None]] = collections.deque()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def open(self) -> int:
        """Connections open now, busy or idle."""
        return self._open

    async def acquire(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Connection:
        """A live connection, reused or new; waits (until loop time ``deadline``) at the limit."""
        self._loop = loop
        while True:
            idle = self._idle
            if idle:
                now = loop.time()
                # The oldest idle connection is checked too, so a quiet pool still shrinks.
                if now - idle[0].idle_since > self.keepalive_s:
                    idle.pop(0).abort()
                while idle:
                    conn = idle.pop()
                    if conn.closed or (conn.transport is not None and conn.transport.is_closing()):
                        continue
                    if now - conn.idle_since > self.keepalive_s:
                        conn.abort()
                        continue
                    return conn
            if self._closed:
                raise ConnectError("the client is closed")
            if self._open < self.limit:
                self._open += 1
                try:
                    return await self._connect(loop, deadline)
                except BaseException:
                    self._open -= 1
                    self._wake_one()
                    raise
            waiter: asyncio.Future[Connection | None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    handed = await waiter
            except BaseException:
                handed = waiter.result() if waiter.done() and not waiter.cancelled() else None
                if handed is not None:
                    self._idle_conn(handed)  # handed over as we gave up: pass it on
                else:
                    try:
                        self._waiters.remove(waiter)
                    except ValueError:
                        pass
                raise
            if handed is not None and not handed.closed:
                return handed

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Connection:
        bound = min(self.connect_timeout, max(0.0, deadline - loop.time()))
        try:
            async with asyncio.timeout(bound):
                _, conn = await loop.create_connection(
                    lambda: Connection(self._lost), self.host, self.port, ssl=self._ssl, server_hostname=self.host if self._ssl else None
                )
        except TimeoutError:  # an OSError too, but it stays a timeout
            raise
        except (OSError, ssl.SSLError) as exc:
            # The exception text can name addresses; callers only show its type.
            raise ConnectError(type(exc).__name__) from exc
        # Counted from here on: a connection made as the connect timed out is closed by asyncio
        # and must not leave the count a second time (acquire already took it back).
        conn.counted = True
        return conn

    def _idle_conn(self, conn: Connection) -> None:
        """A connection whose exchange ended cleanly: to a waiting caller, or into the pool."""
        if self._closed:
            conn.abort()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.idle_since = self._loop.time() if self._loop is not None else 0.0
        self._idle.append(conn)

    def _lost(self, conn: Connection) -> None:
        if not conn.counted:
            return
        self._open -= 1
        try:
            self._idle.remove(conn)
        except ValueError:
            pass
        self._wake_one()

    def _wake_one(self) -> None:
        # A slot is free: the first waiter may open a connection.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        self._closed = True
        for conn in self._idle:
            conn.abort()
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


class Client:
    """HTTP/1.1 to any number of upstream origins; one per provider (edge/providers.py)."""

    def __init__(self, *, limit: int = 256, connect_timeout: float = 10.0, keepalive_s: float = 60.0, ssl_context: ssl.SSLContext | None = None, max_body_bytes: int = MAX_BODY_BYTES, max_stream_bytes: int = MAX_STREAM_BYTES) -> None:
        self.limit = limit
        self.max_body_bytes = max_body_bytes
        self.max_stream_bytes = max_stream_bytes
        self.connect_timeout = connect_timeout
        self.keepalive_s = keepalive_s
        self._ssl = ssl_context
        self._pools: dict[tuple[str, str, int], Pool] = {}
        # url -> (pool, request-target, host header): adapters reuse a handful of URLs.
        self._urls: dict[str, tuple[Pool, str, str]] = {}
        # The loop of the first call; a client lives in one worker's loop. Looking it up per
        # call costs a getpid() system call in CPython 3.11.
        self._loop: asyncio.AbstractEventLoop | None = None

    def _route(self, url: str) -> tuple[Pool, str, str]:
        found = self._urls.get(url)
        if found is not None:
            return found
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError("upstream URLs must be absolute http:// or https:// URLs")
        host = parts.hostname
        port = parts.port or _DEFAULT_PORTS[scheme]
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            if scheme == "https" and self._ssl is None:
                self._ssl = ssl.create_default_context()
            pool = self._pools[key] = Pool(scheme, host, port, limit=self.limit, connect_timeout=self.connect_timeout, keepalive_s=self.keepalive_s, ssl_context=self._ssl)
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if len(self._urls) >= _MAX_CACHED_URLS:
            self._urls.clear()
        found = self._urls[url] = (pool, target, netloc)
        return found

    async def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, timeout: float) -> Response:
        """The whole exchange within ``timeout`` seconds (connect included); the returned
        response is complete and its connection already back in the pool (read ``body``)."""
        loop = self._loop or self._bind()
        deadline = loop.time() + timeout
        response = await self._send(loop, method, url, headers, body, deadline)
        response.deadline(deadline)
        try:
            await response.wait(DONE)
        except BaseException:
            response.close()
            raise
        response.release()
        return response

    async def stream(self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, first_byte_s: float, idle_s: float) -> Response:
        """Returns once the response's headers arrived (within ``first_byte_s``, connect
        included); the body is then read with ``read_chunk`` with at most ``idle_s`` seconds
        between data. The caller ends it with ``release()`` or ``close()``."""
        loop = self._loop or self._bind()
        deadline = loop.time() + first_byte_s
        response = await self._send(loop, method, url, headers, body, deadline)
        response.idle_bound(deadline, idle_s)
        try:
            await response.wait(HEAD)
        except BaseException:
            response.close()
            raise
        return response

    def _bind(self) -> asyncio.AbstractEventLoop:
        self._loop = asyncio.get_running_loop()
        return self._loop

    async def _send(self, loop: asyncio.AbstractEventLoop, method: str, url: str, headers: Mapping[str, str], body: bytes, deadline: float) -> Response:
        pool, target, host = self._route(url)
        lines = [f"{method} {target} HTTP/1.1\r\nhost: {host}\r\n"]
        encoding = False
        for name, value in headers.items():
            if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
                raise ValueError("header names and values must not contain CR or LF")
            lines.append(f"{name}: {value}\r\n")
            if not encoding and name.lower() == "accept-encoding":
                encoding = True
        if not encoding:
            lines.append("accept-encoding: gzip, deflate\r\n")
        lines.append(f"content-length: {len(body)}\r\n\r\n" if body or method not in ("GET", "HEAD") else "\r\n")
        head = "".join(lines).encode("latin-1")
        conn = await pool.acquire(loop, deadline)
        response = Response(conn, loop, self.max_body_bytes, self.max_stream_bytes)
        conn.send(head, body, response, pool._idle_conn)
        return response

    @property
    def pools(self) -> list[Pool]:
        return list(self._pools.values())

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._urls.clear()
