"""Reading a batch input file: one ``{custom_id, method, url, body}`` request per JSONL line.

OpenAI's input format (https://platform.openai.com/docs/api-reference/batch/request-input).
Where OpenAI refuses a whole file for one bad line, a line here that cannot run (not JSON, no
custom_id, a repeated custom_id, a method other than POST, a url other than the batch's
endpoint, a body its endpoint's schema refuses, ``stream: true``) fails alone: it is stored
as failed from the start, with an error line that says what was wrong, and the others run.
Blank lines are skipped, as OpenAI does.
"""

from __future__ import annotations

from typing import Any

from edge.errors import EdgeError, InvalidRequest, invalid_from_validation
from edge.fastpath import jsonio

from .model import NewRow, new_id
from .rows import RUNNERS

__all__ = ["error_line", "parse_rows"]


def error_line(row_id: str, custom_id: str | None, code: str, message: str) -> str:
    """An error file line for a request that got no response (OpenAI's ``error`` member)."""
    return jsonio.dumps({"id": row_id, "custom_id": custom_id, "response": None, "error": {"code": code, "message": message}}).decode()


def _check(number: int, doc: Any, endpoint: str, seen: set[str]) -> tuple[str | None, str | None]:
    """The line's custom_id and, when it cannot run, why (None when it can)."""
    where = f"Line {number}"
    if not isinstance(doc, dict):
        return None, f"{where}: expected a JSON object with custom_id, method, url and body, got {type(doc).__name__}."
    custom_id = doc.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return None, f"{where}: 'custom_id' is required and must be a non-empty string."
    if custom_id in seen:
        return custom_id, f"{where}: custom_id {custom_id[:100]!r} appears on an earlier line; each request needs its own."
    seen.add(custom_id)
    if doc.get("method") != "POST":
        return custom_id, f"{where}: 'method' must be \"POST\", got {str(doc.get('method'))[:40]!r}."
    if doc.get("url") != endpoint:
        return custom_id, f"{where}: 'url' must be the batch's endpoint {endpoint!r}, got {str(doc.get('url'))[:100]!r}."
    body = doc.get("body")
    if not isinstance(body, dict):
        return custom_id, f"{where}: 'body' must be a JSON object (the request for {endpoint})."
    if body.get("stream"):
        return custom_id, f"{where}: 'stream' is not supported in a batch request."
    try:
        RUNNERS[endpoint].check(body)
    except jsonio.ValidationError as exc:
        err: EdgeError = invalid_from_validation(str(exc))
        return custom_id, f"{where}: {err.message}"
    except InvalidRequest as err:
        return custom_id, f"{where}: {err.message}"
    return custom_id, None


def parse_rows(data: bytes, endpoint: str, max_rows: int) -> list[NewRow]:
    """Every non-blank line as a row; raises InvalidRequest for a file that is not a batch file
    at all (not UTF-8, no request in it, more than ``max_rows``)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"The input file is not UTF-8 text (byte {exc.start}).", param="input_file_id") from None
    rows: list[NewRow] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        if len(rows) >= max_rows:
            raise InvalidRequest(f"The input file has more than {max_rows} requests (batch.max_rows).", param="input_file_id")
        row_id = new_id("batch_req_")
        try:
            doc = jsonio.loads(raw)
        except jsonio.JSONDecodeError as exc:
            rows.append(NewRow(len(rows), row_id, None, endpoint, raw, error_line(row_id, None, "invalid_json", f"Line {number} is not valid JSON: {exc}.")))
            continue
        custom_id, problem = _check(number, doc, endpoint, seen)
        failed = error_line(row_id, custom_id, "invalid_request", problem) if problem else None
        rows.append(NewRow(len(rows), row_id, custom_id, endpoint, raw, failed))
    if not rows:
        raise InvalidRequest("The input file holds no requests.", param="input_file_id")
    return rows
