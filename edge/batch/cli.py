"""``edge batch``: submit a JSONL file, watch it, retry its failed rows, fetch its results.

Talks to a running gateway over its HTTP API (the same endpoints the openai SDK uses), so it
works against any instance: ``--url`` (default ``$EDGE_URL``, else http://127.0.0.1:8080) and
``--key`` (default ``$EDGE_KEY``, else ``$OPENAI_API_KEY``).

    edge batch submit FILE.jsonl [--model M] [--tags k=v,k2=v2] [--window 24h]
    edge batch status [ID] [--once]      no ID: the newest batches; ID: a progress bar until it ends
    edge batch retry ID                  a new batch of the failed rows of ID
    edge batch results ID -o out.jsonl   the output file's lines, then the error file's
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from edge.fastpath import jsonio

__all__ = ["add_parser", "run"]

_TERMINAL = ("completed", "failed", "expired", "cancelled")


class CliError(Exception):
    pass


class Api:
    def __init__(self, url: str, key: str | None) -> None:
        self.base = url.rstrip("/")
        self.key = key

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
        sent = dict(headers or {})
        if self.key:
            sent["authorization"] = f"Bearer {self.key}"
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=sent)
        try:
            with urllib.request.urlopen(req, timeout=300) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()
            try:
                message = jsonio.loads(detail)["error"]["message"]
            except Exception:
                message = detail[:200].decode("utf-8", "replace")
            raise CliError(f"{method} {path}: {exc.code}: {message}") from None
        except urllib.error.URLError as exc:
            raise CliError(f"cannot reach the gateway at {self.base}: {exc.reason}") from None

    def json(self, method: str, path: str, doc: Any = None, headers: dict[str, str] | None = None) -> Any:
        body = None if doc is None else jsonio.dumps(doc)
        sent = {"content-type": "application/json", **(headers or {})} if body is not None else headers
        return jsonio.loads(self.call(method, path, body, sent))


def _with_model(data: bytes, model: str) -> bytes:
    """Every row that parses gets ``model``; the others go as they are (the gateway says why)."""
    out = []
    for raw in data.decode("utf-8").splitlines():
        try:
            row = jsonio.loads(raw)
            row["body"]["model"] = model
            out.append(jsonio.dumps(row).decode())
        except Exception:
            out.append(raw)
    return ("\n".join(out) + "\n").encode()


def _endpoint(data: bytes) -> str:
    for raw in data.decode("utf-8").splitlines():
        if raw.strip():
            try:
                url = jsonio.loads(raw).get("url")
            except Exception:
                continue
            if isinstance(url, str):
                return url
    return "/v1/chat/completions"


def _upload(api: Api, name: str, data: bytes) -> str:
    boundary = secrets.token_hex(16)
    form = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/jsonl\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    doc = jsonio.loads(api.call("POST", "/v1/files", form, {"content-type": f"multipart/form-data; boundary={boundary}"}))
    return str(doc["id"])


def _line(batch: dict[str, Any]) -> str:
    counts = batch.get("request_counts") or {}
    total, done, failed = counts.get("total", 0), counts.get("completed", 0), counts.get("failed", 0)
    width = 30
    filled = int(width * (done + failed) / total) if total else 0
    bar = "#" * filled + "-" * (width - filled)
    return f"{batch['id']} [{bar}] {done + failed}/{total} completed {done} failed {failed} {batch['status']}"


def _submit(api: Api, args: argparse.Namespace) -> int:
    path = Path(args.file)
    data = path.read_bytes()
    if args.model:
        data = _with_model(data, args.model)
    file_id = _upload(api, path.name, data)
    headers = {"x-edge-tags": args.tags} if args.tags else None
    batch = api.json("POST", "/v1/batches", {"input_file_id": file_id, "endpoint": _endpoint(data), "completion_window": args.window}, headers)
    print(f"submitted {batch['id']} ({batch['request_counts']['total']} requests, input {file_id})")
    return 0


def _status(api: Api, args: argparse.Namespace) -> int:
    if args.id is None:
        for batch in api.json("GET", "/v1/batches?limit=20")["data"]:
            print(f"{_line(batch)}  cost ${batch.get('cost_usd', 0):.6f}")
        return 0
    live = sys.stdout.isatty()
    while True:
        batch = api.json("GET", f"/v1/batches/{args.id}")
        if batch["status"] in _TERMINAL or args.once:
            break
        # A progress bar that redraws on a terminal, one line per poll elsewhere.
        print("\r" + _line(batch), end="" if live else "\n", flush=True)
        time.sleep(args.interval)
    if live:
        print("\r", end="")
    print(_line(batch))
    print(f"output {batch['output_file_id']}  errors {batch['error_file_id']}  cost ${batch.get('cost_usd', 0):.6f}" + (f"  retry of {batch['retry_of']}" if batch.get("retry_of") else ""))
    return 0


def _retry(api: Api, args: argparse.Namespace) -> int:
    batch = api.json("POST", f"/v1/batches/{args.id}/retry", {})
    print(f"submitted {batch['id']}: the {batch['request_counts']['total']} failed requests of {args.id}")
    return 0


def _results(api: Api, args: argparse.Namespace) -> int:
    batch = api.json("GET", f"/v1/batches/{args.id}")
    if batch["status"] not in _TERMINAL:
        raise CliError(f"batch {args.id} is still {batch['status']}; wait for it (edge batch status {args.id})")
    written = 0
    with open(args.output, "wb") as out:
        for file_id in (batch["output_file_id"], batch["error_file_id"]):
            if file_id:
                data = api.call("GET", f"/v1/files/{file_id}/content")
                out.write(data)
                written += data.count(b"\n")
    counts = batch["request_counts"]
    print(f"wrote {written} lines to {args.output} ({counts['completed']} completed, {counts['failed']} failed)")
    return 0


def _connection() -> argparse.ArgumentParser:
    """--url and --key, taken before or after the action (the environment fills them in run)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--url", default=argparse.SUPPRESS, help="the gateway (default $EDGE_URL, else http://127.0.0.1:8080)")
    parent.add_argument("--key", default=argparse.SUPPRESS, help="gateway key (default $EDGE_KEY, else $OPENAI_API_KEY)")
    return parent


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    both = [*parents, _connection()]
    batch = sub.add_parser("batch", help="submit and follow OpenAI-format batch files through a running gateway", parents=both)
    actions = batch.add_subparsers(dest="action", required=True)
    submit = actions.add_parser("submit", help="upload a JSONL file and start a batch of it", parents=both)
    submit.add_argument("file")
    submit.add_argument("--model", help="run every row with this public model")
    submit.add_argument("--tags", help="tags for the cost report: k=v,k2=v2")
    submit.add_argument("--window", default="24h", help="completion window (default 24h)")
    status = actions.add_parser("status", help="the newest batches, or one batch with a progress bar until it ends", parents=both)
    status.add_argument("id", nargs="?")
    status.add_argument("--once", action="store_true", help="print the state once, do not wait")
    status.add_argument("--interval", type=float, default=0.5, help="seconds between polls")
    retry = actions.add_parser("retry", help="a new batch of the failed rows of a finished one", parents=both)
    retry.add_argument("id")
    results = actions.add_parser("results", help="write a finished batch's output and error lines to a file", parents=both)
    results.add_argument("id")
    results.add_argument("-o", "--output", required=True)
    batch.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    url = getattr(args, "url", None) or os.environ.get("EDGE_URL") or "http://127.0.0.1:8080"
    key = getattr(args, "key", None) or os.environ.get("EDGE_KEY") or os.environ.get("OPENAI_API_KEY")
    api = Api(url, key)
    try:
        return {"submit": _submit, "status": _status, "retry": _retry, "results": _results}[args.action](api, args)
    except CliError as exc:
        print(f"edge batch: {exc}", file=sys.stderr)
        return 1
    except (OSError, UnicodeDecodeError) as exc:
        print(f"edge batch: {exc}", file=sys.stderr)
        return 2
