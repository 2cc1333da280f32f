"""The ``edge`` command: serve, mock, keys, usage, config, probe, bench, batch.

``edge serve`` with no config runs the embedded default (mock provider, SQLite ledger, providers
found in the environment). Config errors print the path and value at fault and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import stopsignals

if TYPE_CHECKING:
    from .config import Config

__all__ = ["main"]


def _load(path: str | None) -> Config:
    from .config import load_config
    from .defaults import embedded_config

    return embedded_config(os.environ) if path is None else load_config(path)


def _cmd_serve(args: argparse.Namespace) -> int:
    from .config import ConfigError

    try:
        config = _load(args.config)
    except ConfigError as exc:
        print(f"edge: config error: {exc}", file=sys.stderr)
        return 2
    host = args.host or config.server.host
    port = config.server.port if args.port is None else args.port
    workers = args.workers or config.server.workers
    grpc_port = config.server.grpc_port if args.grpc_port is None else args.grpc_port
    if grpc_port is not None and grpc_port < 0:
        grpc_port = None  # --grpc-port -1 turns a configured gRPC listener off
    if workers > 1:
        from .supervisor import supervise

        return supervise(args.config, host, port, workers, config.server.drain_timeout_s, grpc_port)
    from .serve import run_worker

    return run_worker(config, host, port, grpc_port=grpc_port)


def _cmd_worker(args: argparse.Namespace) -> int:
    from .config import ConfigError
    from .serve import run_worker

    try:
        config = _load(args.config)
    except ConfigError as exc:
        print(f"edge: config error: {exc}", file=sys.stderr)
        return 2
    return run_worker(config, args.host, args.port, reuse_port=True, grpc_port=args.grpc_port, shared_dir=Path(args.shared_dir) if args.shared_dir else None)


def _cmd_mock(args: argparse.Namespace) -> int:
    from .adapters.mock import MockKnobs, start_mock_server

    knobs = MockKnobs(latency_ms=args.latency_ms, tokens=args.tokens, chunk_delay_ms=args.chunk_delay_ms, api_key=args.api_key)

    async def run() -> None:
        runner, port = await start_mock_server(args.host, args.port, knobs)
        logging.getLogger("edge").info("mock provider serving on http://%s:%d/v1 (pid %d)", args.host, port, os.getpid())
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        import uvloop

        uvloop.run(run())
    except KeyboardInterrupt:
        pass
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    # bench/ lives in the source checkout and is not installed with the package: load it from
    # there under a private name, so no top-level module called "bench" enters anyone's imports.
    import importlib
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "bench"
    spec = importlib.util.spec_from_file_location("_edge_bench", root / "__init__.py", submodule_search_locations=[str(root)])
    if spec is None or spec.loader is None or not (root / "runner.py").is_file():
        print(f"edge bench: needs a source checkout of llm-edge (no bench/ at {root}); see bench/README.md", file=sys.stderr)
        return 2
    package = importlib.util.module_from_spec(spec)
    sys.modules["_edge_bench"] = package
    spec.loader.exec_module(package)
    runner = importlib.import_module("_edge_bench.runner")
    return int(runner.main(args.bench_args, runner.build_parser(argparse.ArgumentParser(prog="edge bench", description="Load-test llm-edge against a mock upstream, peers side by side (bench/README.md)."))))


def _cmd_config(args: argparse.Namespace) -> int:
    from .config import ConfigError, dump_config

    try:
        config = _load(args.config)
    except ConfigError as exc:
        print(f"edge: config error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(dump_config(config).decode() + "\n")
    return 0


def _cmd_usage(args: argparse.Namespace) -> int:
    from .config import ConfigError, redact_url
    from .fastpath import jsonio
    from .store import check_grouping
    from .usage import parse_since, render_table, report_from_config, terminal_json

    try:
        since = parse_since(args.since)
        check_grouping(args.group_by)
        config = _load(args.config)
    except (ConfigError, ValueError) as exc:
        print(f"edge usage: {exc}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(report_from_config(config, since, args.group_by))
    except Exception as exc:  # an unreachable or unreadable ledger: one line, no traceback
        reason = redact_url(str(exc)) or type(exc).__name__
        print(f"edge usage: cannot read the ledger at {redact_url(config.state.ledger)}: {reason}", file=sys.stderr)
        return 2
    # Ledger values came from clients: both formats escape what a terminal would act on.
    sys.stdout.write(terminal_json(jsonio.dumps(report)) + "\n" if args.json else render_table(report))
    return 0


def _cmd_probe(args: argparse.Namespace) -> int:
    from .probe import run

    return run(args)


def _cmd_keys(args: argparse.Namespace) -> int:
    from .config import ConfigError
    from .errors import EdgeError
    from .keys import KeySpec, describe, make_key, parse_tag_list
    from .store import open_store

    try:
        config = _load(args.config)
        base = Path(config.source).parent if not config.source.startswith("<") else Path.cwd()
        store = open_store(config.state.ledger, base)
    except (ConfigError, ValueError) as exc:
        print(f"edge: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        await store.start()
        try:
            if args.action == "create":
                spec = KeySpec(
                    name=args.name, models=args.models.split(",") if args.models else None, rpm=args.rpm, tpm=args.tpm,
                    budget_usd=args.budget_usd, period=args.period, tags=parse_tag_list(args.tags) if args.tags else None, expires=args.expires,
                    key=os.environ.get("EDGE_IMPORT_KEY") if args.import_key else None,
                )
                key, row = make_key(spec)
                await store.create_key(row)
                print(f"created key {row.id} ({row.name}); it is shown only now:\n{key}")
            elif args.action == "list":
                from .usage import terminal_json, terminal_text as shown

                rows = [describe(r) for r in await store.list_keys()]
                if args.json:
                    from .fastpath import jsonio

                    print(terminal_json(jsonio.dumps(rows)))
                for entry in [] if args.json else rows:
                    # The name came through the admin API: escaped, as in edge usage (models
                    # and tags print as reprs, which escape what is not printable).
                    state = "revoked" if entry["revoked"] else "active"
                    print(f"{entry['id']}  {shown(entry['name']):<20} {entry['prefix']:<16} {state:<8} rpm={entry['rpm']} tpm={entry['tpm']} budget={entry['budget_usd']}/{entry['period']} models={entry['models']} tags={entry['tags']}")
            elif not await store.revoke_key(args.key, time.time()):
                print(f"edge: no active key with id or name {args.key!r}", file=sys.stderr)
                return 1
            else:
                print(f"revoked {args.key}; every worker stops accepting it within a second")
            return 0
        except EdgeError as exc:
            print(f"edge: {exc.message}", file=sys.stderr)
            return 2
        finally:
            await store.close()

    return asyncio.run(run())


# The global options, accepted wherever a user puts them: before the command, after it, or after
# a subcommand (``edge keys create --name a --config x.yaml``). Each level's copy defaults to
# "not given", so a later level never overwrites what an earlier one read; main() fills in the
# defaults once.
_GLOBAL_DEFAULTS = {"config": None, "log_level": None}


def _global(config: bool = True) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--log-level", default=argparse.SUPPRESS, help="DEBUG, INFO, WARNING (default: $EDGE_LOG_LEVEL, else INFO)")
    if config:
        parent.add_argument("--config", default=argparse.SUPPRESS, help="YAML config file (default: the embedded default)")
    return parent


def build_parser() -> argparse.ArgumentParser:
    common = [_global()]
    parser = argparse.ArgumentParser(prog="edge", description="llm-edge: an OpenAI-compatible LLM gateway.", parents=common)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway (the embedded default when no --config)", parents=common)
    serve.add_argument("--host", help="listen address (default: server.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port, 8080; 0 picks a free one)")
    serve.add_argument("--workers", type=int, help="worker processes sharing the port (default: server.workers, 1)")
    serve.add_argument("--grpc-port", type=int, help="gRPC listener port (default: server.grpc_port; 0 picks a free one, -1 turns it off)")
    serve.set_defaults(func=_cmd_serve)

    worker = sub.add_parser("worker", help="internal: one worker process (the supervisor starts these)", parents=common)
    worker.add_argument("--host", required=True)
    worker.add_argument("--port", type=int, required=True)
    worker.add_argument("--grpc-port", type=int)
    worker.add_argument("--shared-dir")
    worker.set_defaults(func=_cmd_worker)

    mock = sub.add_parser("mock", help="run the mock OpenAI-format provider alone", parents=[_global(config=False)])
    mock.add_argument("--host", default="127.0.0.1")
    mock.add_argument("--port", type=int, default=9090)
    mock.add_argument("--latency-ms", type=float, default=0.0, help="delay before each response")
    mock.add_argument("--chunk-delay-ms", type=float, default=0.0, help="delay between stream chunks")
    mock.add_argument("--tokens", type=int, default=None, help="words per reply (default: echo the prompt)")
    mock.add_argument("--api-key", default=None, help="require this bearer key")
    mock.set_defaults(func=_cmd_mock)

    # Options are parsed by bench/runner.py (loaded only when run): pass everything through.
    bench = sub.add_parser("bench", help="load-test the gateway against a mock, peers side by side (edge bench --help)", add_help=False, prefix_chars="+")
    bench.add_argument("bench_args", nargs="*")
    bench.set_defaults(func=_cmd_bench)

    keys = sub.add_parser("keys", help="create, list and revoke gateway keys (stored hashed in the ledger)", parents=common)
    key_actions = keys.add_subparsers(dest="action", required=True)
    create = key_actions.add_parser("create", help="make a key and print it once", parents=common)
    create.add_argument("--name", required=True)
    create.add_argument("--models", help="allowed public models, comma separated (patterns like openai/* work)")
    create.add_argument("--rpm", type=int, help="requests per minute (default: limits.default.rpm)")
    create.add_argument("--tpm", type=int, help="tokens per minute (default: limits.default.tpm)")
    create.add_argument("--budget-usd", type=float, help="spend allowed per period")
    create.add_argument("--period", choices=("day", "month"), default="month")
    create.add_argument("--tags", help="tags added to every request of this key: k=v,k2=v2")
    create.add_argument("--expires", help="30d, 12h or an ISO date")
    create.add_argument("--import-key", action="store_true", help="store the secret in $EDGE_IMPORT_KEY instead of making one (migrations)")
    listing = key_actions.add_parser("list", help="list keys (never their secrets)", parents=common)
    listing.add_argument("--json", action="store_true")
    revoke = key_actions.add_parser("revoke", help="revoke a key by id or name", parents=common)
    revoke.add_argument("key")
    keys.set_defaults(func=_cmd_keys)

    config = sub.add_parser("config", help="validate a config and print it with secrets masked", parents=common)
    config.set_defaults(func=_cmd_config)

    usage = sub.add_parser("usage", help="cost and tokens from the ledger, grouped by model, key, provider, day or tag", parents=common)
    usage.add_argument("--since", default="7d", help="a span back from now (30m, 24h, 7d) or a UTC date (2025-01-31); default 7d")
    usage.add_argument("--group-by", default="model", help="model, key, provider, day or tag:<name> (default model)")
    usage.add_argument("--json", action="store_true", help="print the report as JSON (as GET /v1/usage returns it)")
    usage.set_defaults(func=_cmd_usage)

    from .probe import build_parser as probe_arguments  # argparse only; the SDK loads on run

    # probe's own --config (the config whose models it probes) is the global one too.
    probe = sub.add_parser("probe", help="run the compatibility checklist against an OpenAI-compatible endpoint", parents=[_global(config=False)])
    probe_arguments(probe).set_defaults(func=_cmd_probe)

    from .batch.cli import add_parser as batch_arguments  # argparse only; the API calls on run

    batch_arguments(sub, common)
    return parser


_HOLDING = frozenset({"serve", "worker"})  # the commands that hold the stop signals (edge.stopsignals)


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    holding = not _HOLDING.isdisjoint(words)
    if holding:
        # First thing, before the parser is built (a tenth of a second, several on a loaded
        # host): a SIGTERM from now on waits for the worker's or the supervisor's handler.
        stopsignals.hold()
    args = build_parser().parse_args(argv)
    if holding and getattr(args, "func", None) not in (_cmd_serve, _cmd_worker):
        stopsignals.release()  # "serve" was a value (a file name, say), not the command
    for name, default in _GLOBAL_DEFAULTS.items():
        if getattr(args, name, None) is None:
            setattr(args, name, default)
    if args.log_level is None:
        args.log_level = os.environ.get("EDGE_LOG_LEVEL", "INFO")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for chatty in ("httpx", "httpx2", "httpcore", "httpcore2"):  # the openai SDK's HTTP clients (probe)
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
