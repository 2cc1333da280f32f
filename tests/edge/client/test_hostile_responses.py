"""edge.client against hostile upstream responses on real loopback sockets: every cap holds as
the bytes arrive, the event loop is never held, and memory comes back.

Each test starts an asyncio server on 127.0.0.1 that writes the exact bytes under test. A probe
task wakes every millisecond and records how much CPU the loop thread spent between two of its
wakeups: the longest stretch any other request on a worker would have waited for the loop,
measured in CPU so that the shared machine's scheduling does not count (its wall-clock lateness
is bounded loosely too). ``time.thread_time`` gives the loop thread's CPU for the exchange and
/proc/self the process's peak RSS (VmHWM, reset through clear_refs first). Caps: the response
head (``MAX_HEADER_BYTES``, every byte before the final head, 1xx included), framing after it
(trailers, chunk extensions), a body read whole (``max_body_bytes``, refused at the head when
its length says so) and the output of gzip and deflate decoding (in steps, a few MB per turn).
"""

from __future__ import annotations

import asyncio
import gzip
import os
import random
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from edge.client import Client, InvalidResponse, ResponseTooLarge, ServerDisconnected
from edge.client.connection import MAX_HEADER_BYTES
from tests.hostile.hostile_upstream import gzip_bomb

MIB = 1024 * 1024
Writer = Callable[[asyncio.StreamWriter, bytes], Awaitable[None]]
# What another request on the worker may wait while a hostile answer is read, in loop CPU
# (issue 16 says 100 ms; a turn of decoding costs a few ms, so half of that leaves room), and
# in wall-clock time, loosely: before the fix the loop was held for seconds.
MAX_LAG_S = 0.050
MAX_WALL_LAG_S = 1.0


class Upstream:
    """A loopback server whose every request is answered by ``write(writer, body)``."""

    def __init__(self, write: Writer) -> None:
        self.write = write
        self.connections = 0
        self.written = 0  # bytes the writer got into the socket before the client hung up
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await writer.drain()
        self.written += len(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
                await self.write(writer, await reader.readexactly(length))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture()
async def upstream() -> AsyncIterator[Callable[[Writer], Awaitable[tuple[Upstream, str]]]]:
    started: list[Upstream] = []

    async def start(write: Writer) -> tuple[Upstream, str]:
        server = Upstream(write)
        started.append(server)
        return server, await server.start()

    yield start
    for server in started:
        await server.stop()


@pytest.fixture()
async def client() -> AsyncIterator[Client]:
    c = Client(limit=4, connect_timeout=2.0, keepalive_s=30.0)
    yield c
    await c.close()
    await asyncio.sleep(0)


class Watch:
    """While open: the loop's worst lateness, the loop thread's CPU, the process's peak RSS."""

    async def __aenter__(self) -> Watch:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # VmHWM := VmRSS (proc(5))
        self.rss_before = _status_mb("VmRSS")
        self.cpu_before = time.thread_time()
        self.worst_lag = 0.0  # in loop CPU
        self.worst_wall_lag = 0.0
        self._stop = asyncio.Event()
        self._probe = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            wall, cpu = loop.time(), time.thread_time()
            await asyncio.sleep(0.001)
            self.worst_lag = max(self.worst_lag, time.thread_time() - cpu)
            self.worst_wall_lag = max(self.worst_wall_lag, loop.time() - wall - 0.001)

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await self._probe
        self.cpu = time.thread_time() - self.cpu_before
        self.peak_growth_mb = _status_mb("VmHWM") - self.rss_before


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def _head(extra: bytes = b"", status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n" + extra + b"\r\n"


# -- the head ---------------------------------------------------------------------------------


async def test_a_header_line_that_never_ends_fails_at_the_cap(upstream, client: Client) -> None:
    async def endless(writer, body):
        await server.send(writer, b"HTTP/1.1 200 OK\r\nx-endless: ")
        for _ in range(100):  # 100 MB, no CRLF
            await server.send(writer, b"a" * MIB)

    server, url = await upstream(endless)
    for call in ("request", "stream"):
        server.written = 0
        async with Watch() as watch:
            with pytest.raises(ResponseTooLarge, match=f"head is larger than {MAX_HEADER_BYTES} bytes"):
                if call == "request":
                    await client.request("POST", url, {}, b"{}", timeout=30)
                else:
                    await client.stream("POST", url, {}, b"{}", first_byte_s=30, idle_s=30)
        # Before: 100 MB were read (11 s of CPU, the loop held for seconds). Now the socket goes
        # at 64 KiB; what the server got out is what the kernel's buffers took meanwhile.
        assert server.written < 16 * MIB, (call, server.written)
        assert watch.cpu < 0.5 and watch.worst_lag < MAX_LAG_S, (call, watch.cpu, watch.worst_lag)
        assert watch.worst_wall_lag < MAX_WALL_LAG_S, watch.worst_wall_lag


@pytest.mark.parametrize("over", [0, 1])
async def test_the_head_cap_is_exact_whatever_the_reads(upstream, client: Client, over: int) -> None:
    start = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-pad: "
    pad = MAX_HEADER_BYTES - len(start) - len(b"\r\n\r\n") + over
    response_bytes = start + b"p" * pad + b"\r\n\r\n{}"
    assert len(response_bytes) == MAX_HEADER_BYTES + over + 2

    async def write(writer, body):
        if body == b"one":
            await server.send(writer, response_bytes)  # head and body in one write
        else:
            for at in range(0, len(response_bytes), 7919):
                await server.send(writer, response_bytes[at:at + 7919])
                await asyncio.sleep(0)

    server, url = await upstream(write)
    for how in (b"one", b"pieces"):
        if over:
            with pytest.raises(ResponseTooLarge):
                await client.request("POST", url, {}, how, timeout=5)
        else:
            response = await client.request("POST", url, {}, how, timeout=5)
            assert (response.status, response.body, len(response.headers["x-pad"])) == (200, b"{}", pad)


async def test_a_flood_of_interim_responses_counts_toward_the_head(upstream, client: Client) -> None:
    async def flood(writer, body):
        for _ in range(200):
            await server.send(writer, b"HTTP/1.1 100 Continue\r\n\r\n" * 100)
        await server.send(writer, _head(b"content-length: 2\r\n") + b"{}")

    server, url = await upstream(flood)
    with pytest.raises(ResponseTooLarge):
        await client.request("POST", url, {}, b"{}", timeout=5)


@pytest.mark.parametrize(
    "framing",
    [
        b"2\r\nhi\r\n0\r\nx-trailer: ",  # a trailer line that never ends
        b"2;" + b"e" * 64,  # chunk extensions that never end
    ],
    ids=["trailer", "chunk-extension"],
)
async def test_framing_without_body_data_is_capped_too(upstream, client: Client, framing: bytes) -> None:
    async def endless(writer, body):
        await server.send(writer, _head(b"transfer-encoding: chunked\r\n") + framing)
        for _ in range(50):
            await server.send(writer, b"e" * MIB)

    server, url = await upstream(endless)
    async with Watch() as watch:
        with pytest.raises(ResponseTooLarge, match="framing"):
            await client.request("POST", url, {}, b"{}", timeout=30)
    assert server.written < 16 * MIB and watch.cpu < 0.5, (server.written, watch.cpu)


# -- bodies read whole ------------------------------------------------------------------------


async def test_a_body_over_the_cap_fails_as_it_arrives_and_its_memory_goes(upstream) -> None:
    cap = 16 * MIB

    async def big(writer, body):
        size = int(body)
        chunked = size < 0
        size = abs(size)
        await server.send(writer, _head(b"transfer-encoding: chunked\r\n" if chunked else b"content-length: %d\r\n" % size))
        piece = b"x" * MIB
        while size:
            part = piece[: min(size, MIB)]
            await server.send(writer, b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            size -= len(part)
        if chunked:
            await server.send(writer, b"0\r\n\r\n")

    server, url = await upstream(big)
    client = Client(limit=2, max_body_bytes=cap)
    try:
        # At the cap exactly: an answer, with and without a length.
        for size in (cap, -cap):
            assert len((await client.request("POST", url, {}, b"%d" % size, timeout=30)).body) == cap
        # A declared length over the cap is refused before the body is read.
        server.written = 0
        with pytest.raises(ResponseTooLarge, match=f"larger than {cap} bytes"):
            await client.request("POST", url, {}, b"%d" % (300 * MIB), timeout=30)
        assert server.written < 16 * MIB, server.written
        # Without a length: read up to the cap, then dropped, and the memory with it.
        server.written = 0
        async with Watch() as watch:
            with pytest.raises(ResponseTooLarge, match=f"larger than {cap} bytes"):
                await client.request("POST", url, {}, b"%d" % -(cap + 1), timeout=30)
        assert watch.peak_growth_mb < 2.5 * cap / MIB, watch.peak_growth_mb
        assert _status_mb("VmRSS") < watch.rss_before + 8, (_status_mb("VmRSS"), watch.rss_before)
        assert watch.worst_lag < MAX_LAG_S and watch.worst_wall_lag < MAX_WALL_LAG_S, (watch.worst_lag, watch.worst_wall_lag)
    finally:
        await client.close()
        await asyncio.sleep(0)


# -- gzip and deflate -------------------------------------------------------------------------


async def test_a_gzip_bomb_read_whole_stops_at_the_cap_in_short_turns(upstream) -> None:
    cap = 64 * MIB
    bomb = gzip_bomb()  # 1 GiB of zeros in about 1 MB

    async def send_bomb(writer, body):
        await server.send(writer, _head(b"content-encoding: gzip\r\ncontent-length: %d\r\n" % len(bomb)) + bomb)

    server, url = await upstream(send_bomb)
    client = Client(limit=2, max_body_bytes=cap)
    try:
        async with Watch() as watch:
            with pytest.raises(ResponseTooLarge, match=f"larger than {cap} bytes"):
                await client.request("POST", url, {}, b"{}", timeout=30)
    finally:
        await client.close()
        await asyncio.sleep(0)
    # Before: 256 MiB inflated in pieces of up to 64 MB per call (+1.3 GB at peak, the loop held
    # for seconds). Now 64 MiB in 1 MiB turns; CPU is what inflating 64 MiB costs.
    assert watch.worst_lag < MAX_LAG_S and watch.worst_wall_lag < MAX_WALL_LAG_S, (watch.worst_lag, watch.worst_wall_lag)
    assert watch.cpu < 2.0, watch.cpu
    assert watch.peak_growth_mb < cap / MIB + 48, watch.peak_growth_mb
    assert _status_mb("VmRSS") < watch.rss_before + 8, (_status_mb("VmRSS"), watch.rss_before)


async def test_a_gzip_bomb_streamed_decodes_under_back_pressure_and_others_go_on(upstream, client: Client) -> None:
    expanded = 256 * MIB
    bomb = gzip_bomb(expanded)

    async def send_bomb(writer, body):
        await server.send(writer, _head(b"content-encoding: gzip\r\ntransfer-encoding: chunked\r\n") + b"%x\r\n%s\r\n0\r\n\r\n" % (len(bomb), bomb))

    async def small(writer, body):
        await other.send(writer, _head(b"content-length: 2\r\n") + b"{}")

    server, url = await upstream(send_bomb)
    other, other_url = await upstream(small)
    latencies: list[float] = []
    done = asyncio.Event()

    async def normal_traffic() -> None:
        while not done.is_set():
            started = time.monotonic()
            assert (await client.request("POST", other_url, {}, b"{}", timeout=5)).body == b"{}"
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.002)

    async with Watch() as watch:
        traffic = asyncio.create_task(normal_traffic())
        response = await client.stream("POST", url, {}, b"{}", first_byte_s=5, idle_s=5)
        total, nonzero = 0, 0
        while data := await response.read_chunk():
            total += len(data)
            nonzero += len(data.strip(b"\0"))
        response.release()
        done.set()
        await traffic
    assert (total, nonzero) == (expanded, 0)
    assert watch.peak_growth_mb < 32, watch.peak_growth_mb  # what the reader had not taken yet
    assert watch.worst_lag < MAX_LAG_S and watch.worst_wall_lag < MAX_WALL_LAG_S, (watch.worst_lag, watch.worst_wall_lag)
    assert len(latencies) > 10 and max(latencies) < MAX_WALL_LAG_S, (len(latencies), max(latencies))


async def test_large_and_trickled_encoded_bodies_decode_exactly_and_keep_the_connection(upstream, client: Client) -> None:
    rng = random.Random(16)
    text = b"".join(b'{"index":%d,"embedding":[%s]}' % (i, b",".join(b"%.6f" % rng.random() for _ in range(64))) for i in range(8000))
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    bodies = {
        "gzip": gzip.compress(text),
        "deflate": zlib.compress(text),
        "deflate-raw": raw.compress(text) + raw.flush(),
    }
    assert len(text) > 4 * MIB  # decoded in more than one turn

    async def write(writer, body):
        kind, _, how = body.decode().partition(":")
        encoded = bodies[kind]
        await server.send(writer, _head(b"content-encoding: %s\r\ncontent-length: %d\r\n" % (kind.split("-")[0].encode(), len(encoded))))
        if how == "trickle":  # one byte, then the rest in small pieces: the deflate flavour is
            await server.send(writer, encoded[:1])  # known only from the second byte on
            await asyncio.sleep(0.01)
            for at in range(1, len(encoded), 4096):
                await server.send(writer, encoded[at:at + 4096])
        else:
            await server.send(writer, encoded)

    server, url = await upstream(write)
    for kind in bodies:
        for how in ("whole", "trickle"):
            response = await client.request("POST", url, {}, f"{kind}:{how}".encode(), timeout=30)
            assert response.body == text, (kind, how)
            streamed = await client.stream("POST", url, {}, f"{kind}:{how}".encode(), first_byte_s=5, idle_s=5)
            pieces = []
            while data := await streamed.read_chunk():
                pieces.append(data)
            streamed.release()
            assert b"".join(pieces) == text, (kind, how)
    assert server.connections == 1, "every exchange ended cleanly: one keep-alive connection"


async def test_an_encoded_body_cut_mid_decoding_and_a_corrupt_one_fail_cleanly(upstream, client: Client) -> None:
    encoded = gzip.compress(os.urandom(MIB) * 6)  # incompressible: decoding keeps pace with reading

    async def write(writer, body):
        if body == b"corrupt":
            data = bytearray(encoded)
            data[len(data) // 2] ^= 0xFF
            await server.send(writer, _head(b"content-encoding: gzip\r\ncontent-length: %d\r\n" % len(data)) + bytes(data))
        else:
            await server.send(writer, _head(b"content-encoding: gzip\r\ncontent-length: %d\r\n" % len(encoded)) + encoded[: len(encoded) // 2])
            writer.close()

    server, url = await upstream(write)
    with pytest.raises(ServerDisconnected):
        await client.request("POST", url, {}, b"cut", timeout=10)
    with pytest.raises(InvalidResponse, match="content-encoding"):
        await client.request("POST", url, {}, b"corrupt", timeout=10)


async def test_bytes_after_a_response_still_decoding_do_not_fail_it(upstream, client: Client) -> None:
    # fuzz_client finding (on this change): an encoded body still decoding in later turns when
    # unparseable bytes followed it in the same read was failed by them; a response read at
    # once was not. Bytes after a complete response are dropped with the connection, however
    # far its decoding has got.
    text = bytes(4 * MIB)
    encoded = gzip.compress(text)

    async def write(writer, body):
        await server.send(writer, _head(b"content-encoding: gzip\r\ncontent-length: %d\r\n" % len(encoded)) + encoded + b"\x00garbage, not HTTP\r\n\r\n")

    server, url = await upstream(write)
    for _ in range(2):
        response = await client.request("POST", url, {}, b"{}", timeout=10)
        assert response.body == text
    assert server.connections == 2, "a connection that sent more than its answer is not reused"
