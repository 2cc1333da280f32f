"""A minimal OTLP/HTTP trace receiver for the bench's edge_tracing system: accept, count, drop.

``POST /v1/traces`` takes an ExportTraceServiceRequest (protobuf), counts its spans and answers
an empty ExportTraceServiceResponse; ``GET /stats`` says how many exports and spans arrived, so
the report can show that the traced system really exported a span per request and attempt. It
runs as its own process, outside the measured system's process tree: its CPU is the collector's
cost, not the gateway's.

    python bench/otlp_sink.py --port 0     # logs "otlp sink serving on http://127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from aiohttp import web
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

_EMPTY = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()


def make_app() -> web.Application:
    stats = {"exports": 0, "spans": 0, "bytes": 0}

    async def traces(request: web.Request) -> web.Response:
        body = await request.read()
        export = trace_service_pb2.ExportTraceServiceRequest()
        export.ParseFromString(body)
        stats["exports"] += 1
        stats["bytes"] += len(body)
        stats["spans"] += sum(len(s.spans) for r in export.resource_spans for s in r.scope_spans)
        return web.Response(body=_EMPTY, content_type="application/x-protobuf")

    async def report(request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(stats), content_type="application/json")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", traces)
    app.router.add_get("/stats", report)
    return app


async def _main(port: int) -> None:
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"otlp sink serving on http://127.0.0.1:{bound}", file=sys.stderr, flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(_main(args.port))
    except ImportError:
        asyncio.run(_main(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
