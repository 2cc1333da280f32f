"""The gateway's HTTP/1.1 client for upstream calls: keep-alive pools on asyncio protocols.

Every upstream request goes through here (edge/proxy.py, edge/providers.py). It does what a
gateway needs and nothing else: pooled keep-alive connections, TLS, content-length and chunked
bodies, gzip/deflate decoded in bounded steps, caps on heads and bodies enforced as the bytes
arrive, a whole-exchange deadline for plain calls and first-byte plus idle bounds
for streams, back-pressure. No cookies, redirects, proxies or retries: a redirect or a failure
is the routing layer's business (edge/routing), not the transport's.

Why not aiohttp's client: under the gRPC surface one aiohttp call cost about 170 us of CPU
against about 55 us for a bare protocol (bench/PROFILE.md), most of a unary call's budget.
"""

from .response import Response
from .errors import ClientError, ConnectError, InvalidResponse, ReadTimeout, ResponseTooLarge, ServerDisconnected
from .pool import Client, Pool

__all__ = ["Client", "ClientError", "ConnectError", "InvalidResponse", "Pool", "ReadTimeout", "Response", "ResponseTooLarge", "ServerDisconnected"]
