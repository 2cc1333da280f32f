"""OpenAI's Batches endpoints, run by the gateway itself (edge.batch), and retry of failed rows.

POST /v1/batches (input_file_id, endpoint, completion_window, metadata), GET /v1/batches/{id},
GET /v1/batches (``limit``, ``after``), POST /v1/batches/{id}/cancel, per
https://platform.openai.com/docs/api-reference/batch. Ours: POST /v1/batches/{id}/retry makes a
new batch of the failed rows of a finished one (``retry_of`` links them). ``completion_window``
is OpenAI's ``24h`` or any ``<n>s``, ``<n>m``, ``<n>h``; rows still unrun when it passes fail
with ``batch_expired``. ``x-edge-tags`` on the create request and the batch's metadata tag
each row's ledger row, with ``batch_id`` (cost per batch: GET /v1/usage?group_by=tag:batch_id).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from aiohttp import web
from msgspec import Struct

from edge.errors import InvalidRequest, NotFound
from edge.fastpath import jsonio

from ..batch.model import TERMINAL, FileRow, JobRow, batch_object, new_id
from ..batch.parse import parse_rows
from ..batch.rows import RUNNERS
from ..tags import HEADER as TAGS_HEADER, MAX_TAGS, request_tags
from .appkeys import GATEWAY
from .batch_common import BATCH, Conflict, owner_of, page_limit
from .body import read_json

__all__ = ["cancel_batch", "create_batch", "get_batch", "list_batches", "retry_batch"]

_WINDOW = re.compile(r"^(\d{1,7})([smh])$")
_UNIT = {"s": 1, "m": 60, "h": 3600}


class BatchCreate(Struct, kw_only=True):
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, str] | None = None
    output_expires_after: Any = None


def _json(doc: object) -> web.Response:
    return web.Response(body=jsonio.dumps(doc), content_type="application/json")


def _window(raw: str) -> float:
    found = _WINDOW.match(raw)
    if not found or int(found.group(1)) == 0:
        raise InvalidRequest(f"'completion_window' must be '24h' (or a span such as 30m, 2h), got '{raw[:20]}'.", param="completion_window")
    return int(found.group(1)) * _UNIT[found.group(2)]


def _metadata(metadata: dict[str, str] | None) -> None:
    if metadata is None:
        return
    if len(metadata) > 16:
        raise InvalidRequest(f"'metadata' holds at most 16 pairs, got {len(metadata)}.", param="metadata")
    for key, value in metadata.items():
        if len(key) > 64 or len(value) > 512:
            raise InvalidRequest("'metadata' keys are at most 64 characters and values at most 512.", param="metadata")


async def _start(request: web.Request, owner: str, input_file: FileRow, data: bytes, endpoint: str, window: str, metadata: dict[str, str] | None, tags: dict[str, str] | None, retry_of: str | None) -> JobRow:
    service = request.app[BATCH]
    rows = await asyncio.to_thread(parse_rows, data, endpoint, service.config.max_rows)
    now = time.time()
    job = JobRow(
        id=new_id("batch_"), owner=owner, endpoint=endpoint, input_file_id=input_file.id, completion_window=window,
        status="in_progress", created_at=now, in_progress_at=now, expires_at=now + _window(window), metadata=metadata,
        tags=tags, retry_of=retry_of,
    )
    await service.store.create_job(job, rows)
    service.wake()
    found = await service.store.get_job(None, job.id)
    assert found is not None
    return found


async def create_batch(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    service = request.app[BATCH]
    principal = gw.auth.authenticate(request.headers.get("authorization"))
    spec, _ = await read_json(request, BatchCreate, gw.max_body_bytes)
    if spec.endpoint not in RUNNERS:
        raise InvalidRequest(f"'endpoint' must be one of {', '.join(sorted(RUNNERS))}, got '{spec.endpoint[:100]}'.", param="endpoint")
    _window(spec.completion_window)
    _metadata(spec.metadata)
    header_tags = request_tags(request.headers.get(TAGS_HEADER), None, None)
    every = request_tags(request.headers.get(TAGS_HEADER), spec.metadata, principal.tags) or {}
    if len(every) >= MAX_TAGS:  # each row adds batch_id
        raise InvalidRequest(f"A batch's tags (header, metadata and key together) are at most {MAX_TAGS - 1}; got {len(every)}.", param=TAGS_HEADER)
    owner = principal.key_id or ""
    input_file = await service.store.get_file(owner_of(principal), spec.input_file_id)
    if input_file is None:
        raise NotFound(f"No such File object: {spec.input_file_id[:100]}", param="input_file_id")
    if input_file.purpose != "batch":
        raise InvalidRequest(f"File {input_file.id} has purpose '{input_file.purpose}'; a batch's input needs purpose 'batch'.", param="input_file_id")
    data = await service.store.file_content(None, input_file.id) or b""
    job = await _start(request, owner, input_file, data, spec.endpoint, spec.completion_window, spec.metadata, header_tags, None)
    return _json(batch_object(job))


async def _job(request: web.Request) -> tuple[JobRow, str | None]:
    gw = request.app[GATEWAY]
    principal = gw.auth.authenticate(request.headers.get("authorization"))
    batch_id = request.match_info["batch_id"]
    owner = owner_of(principal)
    job = await request.app[BATCH].store.get_job(owner, batch_id)
    if job is None:
        raise NotFound(f"No such Batch object: {batch_id[:100]}", param="batch_id")
    return job, owner


async def get_batch(request: web.Request) -> web.Response:
    job, _ = await _job(request)
    return _json(batch_object(job))


async def list_batches(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    principal = gw.auth.authenticate(request.headers.get("authorization"))
    limit = page_limit(request.query.get("limit"), 20, 100)
    jobs = await request.app[BATCH].store.list_jobs(owner_of(principal), limit + 1, request.query.get("after"))
    data = [batch_object(j) for j in jobs[:limit]]
    return _json({"object": "list", "data": data, "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None, "has_more": len(jobs) > limit})


async def cancel_batch(request: web.Request) -> web.Response:
    job, owner = await _job(request)
    if job.status in TERMINAL and job.status != "cancelled":
        raise Conflict(f"Cannot cancel a batch with status '{job.status}'.")
    service = request.app[BATCH]
    cancelled = await service.store.cancel(owner, job.id, time.time())
    service.wake()
    return _json(batch_object(cancelled or job))


async def retry_batch(request: web.Request) -> web.Response:
    job, _ = await _job(request)
    if job.status not in TERMINAL:
        raise Conflict(f"Batch {job.id} is still '{job.status}'; retry it once it has finished.")
    service = request.app[BATCH]
    lines = await service.store.failed_raw(job.id)
    if not lines:
        raise InvalidRequest(f"Batch {job.id} has no failed requests to retry.", param="batch_id")
    data = ("\n".join(lines) + "\n").encode()
    retry_file = FileRow(id=new_id("file-"), owner=job.owner, purpose="batch", filename=f"{job.id}_retry.jsonl", bytes=len(data), created_at=time.time())
    await service.store.create_file(retry_file, data)
    new = await _start(request, job.owner, retry_file, data, job.endpoint, job.completion_window, job.metadata, job.tags, job.id)
    return _json(batch_object(new))
