"""OpenAI's Files endpoints, for batch input and output files (edge.batch).

POST /v1/files (multipart: ``file`` and ``purpose``, as the openai SDK sends it; only purpose
``batch`` is taken), GET /v1/files (``purpose``, ``limit``, ``order``, ``after``), GET
/v1/files/{id}, GET /v1/files/{id}/content, DELETE /v1/files/{id}. A key sees its own files;
the admin key sees all. https://platform.openai.com/docs/api-reference/files
"""

from __future__ import annotations

import time

from aiohttp import web

from edge.errors import InvalidRequest, NotFound, PayloadTooLarge
from edge.fastpath import jsonio

from ..batch.model import FileRow, file_object, new_id
from .appkeys import GATEWAY
from .batch_common import BATCH, owner_of, page_limit

__all__ = ["create_file", "delete_file", "file_content", "get_file", "list_files"]


def _json(doc: object, status: int = 200) -> web.Response:
    return web.Response(body=jsonio.dumps(doc), status=status, content_type="application/json")


async def create_file(request: web.Request) -> web.Response:
    from .multipart import parse_form

    gw = request.app[GATEWAY]
    service = request.app[BATCH]
    principal = gw.auth.authenticate(request.headers.get("authorization"))
    form = parse_form(request.headers.get("content-type", ""), await request.read())
    purpose = form.get("purpose")
    upload = form.get("file")
    if purpose is None:
        raise InvalidRequest("The form needs a 'purpose' field.", param="purpose")
    if purpose.data.decode("utf-8", "replace") != "batch":
        raise InvalidRequest(f"This gateway stores files for purpose 'batch' only, got '{purpose.data[:40].decode('utf-8', 'replace')}'.", param="purpose")
    if upload is None or upload.filename is None:
        raise InvalidRequest("The form needs a 'file' field holding the file.", param="file")
    if len(upload.data) > service.max_file_bytes:
        raise PayloadTooLarge(f"The file is {len(upload.data)} bytes; the limit is {service.max_file_bytes} bytes (batch.max_file_mb).")
    row = FileRow(id=new_id("file-"), owner=principal.key_id or "", purpose="batch", filename=upload.filename[:255] or "upload.jsonl", bytes=len(upload.data), created_at=time.time())
    await service.store.create_file(row, upload.data)
    return _json(file_object(row))


async def list_files(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    principal = gw.auth.authenticate(request.headers.get("authorization"))
    query = request.query
    limit = page_limit(query.get("limit"), 10_000, 10_000)
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"'order' must be 'asc' or 'desc', got '{order[:20]}'.", param="order")
    rows = await request.app[BATCH].store.list_files(owner_of(principal), query.get("purpose"), limit + 1, query.get("after"), order == "asc")
    data = [file_object(r) for r in rows[:limit]]
    return _json({"object": "list", "data": data, "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None, "has_more": len(rows) > limit})


async def _found(request: web.Request) -> FileRow:
    gw = request.app[GATEWAY]
    principal = gw.auth.authenticate(request.headers.get("authorization"))
    file_id = request.match_info["file_id"]
    row = await request.app[BATCH].store.get_file(owner_of(principal), file_id)
    if row is None:
        raise NotFound(f"No such File object: {file_id[:100]}", param="file_id")
    return row


async def get_file(request: web.Request) -> web.Response:
    return _json(file_object(await _found(request)))


async def file_content(request: web.Request) -> web.Response:
    row = await _found(request)
    data = await request.app[BATCH].store.file_content(None, row.id)
    if data is None:  # deleted between the two reads
        raise NotFound(f"No such File object: {row.id}", param="file_id")
    return web.Response(body=data, content_type="application/octet-stream")


async def delete_file(request: web.Request) -> web.Response:
    row = await _found(request)
    await request.app[BATCH].store.delete_file(None, row.id)
    return _json({"id": row.id, "object": "file", "deleted": True})
