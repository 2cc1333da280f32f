"""Running one worker: the app on a uvloop event loop, SO_REUSEPORT, graceful drain on SIGTERM.

On SIGTERM (or SIGINT) the worker turns /readyz to 503, stops accepting connections, lets
in-flight requests and streams finish for up to ``server.drain_timeout_s`` (aiohttp's
shutdown_timeout), flushes the ledger and exits 0.

That holds from the CLI's first step on: a SIGTERM that arrives while the worker is still
importing, loading its config or starting its stores (a supervisor stopping a worker it just
restarted, a test or a service manager that gives up early) is held blocked
(edge.stopsignals) until the loop's handlers are in place, then handled like any other: the
worker listens on nothing, closes what it opened and exits 0. Unblocked, the default action
killed it mid-start (status -SIGTERM), and a Python-level handler set before the loop could
lose the signal to uvloop's (which only sees a signal that reaches its wake-up fd).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from aiohttp import web

from . import stopsignals
from .collector import settle_collector
from .config import Config
from .http import create_app
from .http.appkeys import GATEWAY
from .http.logs import install_log_filters
from .server.site import LeanSite

__all__ = ["run_worker"]

log = logging.getLogger("edge")


async def _serve(config: Config, host: str, port: int, reuse_port: bool, grpc_port: int | None, shared_dir: Path | None) -> None:
    stop = asyncio.Event()
    signals = stopsignals.StopSignals(asyncio.get_running_loop(), stop)
    signals.install()
    # Held blocked since the CLI started (edge.stopsignals); one that came meanwhile reaches
    # the handlers now. Released before any thread or child starts: none inherits it.
    stopsignals.release()
    app = create_app(config, shared_dir)
    install_log_filters(app[GATEWAY].scrubber)
    access_logger = log.getChild("access") if config.server.access_log else None
    runner = web.AppRunner(
        app,
        handler_cancellation=True,  # a client that goes away cancels its handler: upstream closes
        access_log=access_logger,
        shutdown_timeout=config.server.drain_timeout_s,
        # Caps on what a client may send before any handler runs (docs/hostile.md).
        keepalive_timeout=config.server.keepalive_timeout_s,
        max_line_size=config.server.max_header_bytes,
        max_field_size=config.server.max_header_bytes,
        max_headers=config.server.max_headers,
        # After an early answer (413, 408) aiohttp reads what is left of the body for at most
        # this long before it closes the connection (its default is 10 s).
        lingering_time=1.0,
    )
    await runner.setup()  # the app's startup: stores, writer process, key and limit loops
    if stop.is_set():  # stopped while starting: listen on nothing, close what setup opened
        signals.close()
        log.info("stopped before serving (pid %d)", os.getpid())
        await runner.cleanup()
        return
    lean: LeanSite | None = None
    if config.server.lean_path:
        # The hot endpoints on edge.server; it hands every other request to the runner's server.
        lean = LeanSite(runner, access_logger)
        bound = await lean.start(host, port, reuse_port)
    else:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port, backlog=2048)
        await site.start()
        addresses = runner.addresses  # the bound sockets' names: the port that port 0 picked
        bound = addresses[0][1] if addresses else port
    grpc_server = None
    if grpc_port is not None:
        # The gRPC surface shares this worker's loop and Gateway (one pipeline for both).
        from .grpc.server import start_grpc_server

        grpc_server = await start_grpc_server(app[GATEWAY], host, grpc_port)
        log.info("grpc serving on %s:%d (pid %d)", host, grpc_server.port, os.getpid())
    settle_collector()  # start-up is done: what it built is kept for the worker's life
    # Tests and supervisors read this line to learn the port; keep its shape.
    log.info("serving on http://%s:%d (pid %d, config %s)", host, bound, os.getpid(), config.source)
    await stop.wait()
    signals.close()
    log.info("draining (pid %d, up to %g s)", os.getpid(), config.server.drain_timeout_s)
    app[GATEWAY].ready = False
    drains = [] if lean is None else [lean.drain(config.server.drain_timeout_s), _drain_aiohttp(runner, config.server.drain_timeout_s)]
    if grpc_server is not None:
        drains.append(grpc_server.stop(config.server.drain_timeout_s))
    await asyncio.gather(*drains)
    await runner.cleanup()  # aiohttp's connections (drained above when lean), then the app's cleanup
    log.info("stopped (pid %d)", os.getpid())


async def _drain_aiohttp(runner: web.AppRunner, timeout_s: float) -> None:
    """The connections edge.server handed to aiohttp, drained as runner.cleanup drains its own."""
    server = runner.server
    if server is not None:
        server.pre_shutdown()  # idle ones close now
        await server.shutdown(timeout_s)


def run_worker(config: Config, host: str, port: int, reuse_port: bool = False, grpc_port: int | None = None, shared_dir: Path | None = None) -> int:
    stopsignals.hold()  # the CLI did already; for a caller that did not
    try:
        import uvloop
    except ImportError:  # not on this platform: the stdlib loop works, only slower
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(_serve(config, host, port, reuse_port, grpc_port, shared_dir))
    except OSError as exc:
        print(f"edge: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
