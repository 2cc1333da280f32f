"""Malformed rows fail alone with a clear error; embeddings batches; the file size cap; a batch
whose completion window passes; and what the endpoints answer to bad input (4xx, OpenAI's
envelope, a message saying what was wrong)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator

import openai
import pytest

from tests.support import Mock, Server, request, write_config

from .batch_support import batch_config, lines_of, wait_done

ADMIN = "sk-admin-batch"
AUTH = {"authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="module")
def edge(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("batch-edges")
    config = batch_config(mock.base_url, f"sqlite:///{home}/edge.db", "batch: {poll_s: 0.1, max_file_mb: 0.05}")
    server = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    yield server
    assert server.stop() == 0
    assert "Traceback" not in server.output, server.output[-3000:]


@pytest.fixture()
def client(edge: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=edge.url + "/v1", api_key=ADMIN, max_retries=0) as c:
        yield c


def _row(custom_id: str, url: str = "/v1/chat/completions", **body: object) -> str:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": {"model": "openai/echo", "messages": [{"role": "user", "content": custom_id}], **body}})


def _run(client: openai.OpenAI, lines: list[str], endpoint: str = "/v1/chat/completions", window: str = "24h") -> object:
    uploaded = client.files.create(file=("in.jsonl", ("\n".join(lines) + "\n").encode()), purpose="batch")
    return wait_done(client, client.batches.create(input_file_id=uploaded.id, endpoint=endpoint, completion_window=window).id)  # type: ignore[arg-type]


def test_malformed_rows_fail_alone_with_a_clear_error(client: openai.OpenAI) -> None:
    lines = [
        _row("good-1"),
        "{not json",
        json.dumps({"method": "POST", "url": "/v1/chat/completions", "body": {}}),
        _row("good-1"),  # repeated custom_id
        json.dumps({"custom_id": "get", "method": "GET", "url": "/v1/chat/completions", "body": {}}),
        _row("elsewhere", url="/v1/embeddings"),
        json.dumps({"custom_id": "no-messages", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "openai/echo"}}),
        _row("streamed", stream=True),
        _row("unknown-model", model="nope/nothing"),
        _row("good-2"),
    ]
    batch = _run(client, lines)
    assert batch.status == "completed"  # type: ignore[attr-defined]
    counts = batch.request_counts  # type: ignore[attr-defined]
    assert (counts.total, counts.completed, counts.failed) == (10, 2, 8)
    assert [line["custom_id"] for line in lines_of(client, batch.output_file_id)] == ["good-1", "good-2"]  # type: ignore[attr-defined]
    errors = lines_of(client, batch.error_file_id)  # type: ignore[attr-defined]
    messages = [e["error"]["message"] if e["error"] else e["response"]["body"]["error"]["message"] for e in errors]
    assert "Line 2 is not valid JSON" in messages[0]
    assert "Line 3: 'custom_id' is required" in messages[1]
    assert "Line 4: custom_id 'good-1' appears on an earlier line" in messages[2]
    assert "Line 5: 'method' must be \"POST\"" in messages[3]
    assert "Line 6: 'url' must be the batch's endpoint" in messages[4]
    assert "Line 7: " in messages[5] and "messages" in messages[5]
    assert "Line 8: 'stream' is not supported" in messages[6]
    assert errors[7]["custom_id"] == "unknown-model" and errors[7]["response"]["status_code"] == 404 and "nope/nothing" in messages[7]


def test_embeddings_batch(client: openai.OpenAI) -> None:
    lines = [json.dumps({"custom_id": f"e{i}", "method": "POST", "url": "/v1/embeddings", "body": {"model": "openai/embed", "input": f"text {i}", "dimensions": 4}}) for i in range(5)]
    lines.append(json.dumps({"custom_id": "b64", "method": "POST", "url": "/v1/embeddings", "body": {"model": "openai/embed", "input": "x", "dimensions": 4, "encoding_format": "base64"}}))
    batch = _run(client, lines, endpoint="/v1/embeddings")
    assert batch.request_counts.completed == 6  # type: ignore[attr-defined]
    out = {line["custom_id"]: line["response"]["body"] for line in lines_of(client, batch.output_file_id)}  # type: ignore[attr-defined]
    assert len(out["e0"]["data"][0]["embedding"]) == 4
    assert len(base64.b64decode(out["b64"]["data"][0]["embedding"])) == 16


def test_a_passed_completion_window_expires_the_rest(client: openai.OpenAI) -> None:
    lines = [_row(f"slow-{i}", mock={"latency_ms": 400}) for i in range(40)]
    batch = _run(client, lines, window="1s")
    assert batch.status == "expired" and batch.expired_at is not None  # type: ignore[attr-defined]
    errors = lines_of(client, batch.error_file_id)  # type: ignore[attr-defined]
    expired = [e for e in errors if e["error"] and e["error"]["code"] == "batch_expired"]
    assert expired and batch.request_counts.failed == len(errors)  # type: ignore[attr-defined]
    assert batch.request_counts.completed + batch.request_counts.failed == 40  # type: ignore[attr-defined]


def _error(status: int, body: bytes) -> dict[str, object]:
    doc = json.loads(body)
    assert set(doc) == {"error"}, doc
    return doc["error"]  # type: ignore[no-any-return]


def test_bad_input_is_a_4xx_that_says_what_was_wrong(edge: Server, client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="purpose 'batch' only"):
        client.files.create(file=("x.jsonl", b"{}\n"), purpose="fine-tune")
    with pytest.raises(openai.APIStatusError, match="batch.max_file_mb") as too_big:
        client.files.create(file=("x.jsonl", b"x" * 60_000), purpose="batch")
    assert too_big.value.status_code == 413
    with pytest.raises(openai.NotFoundError, match="No such File object: file-nope"):
        client.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h")
    uploaded = client.files.create(file=("x.jsonl", (_row("a") + "\n").encode()), purpose="batch")
    with pytest.raises(openai.BadRequestError, match="'endpoint' must be one of"):
        client.batches.create(input_file_id=uploaded.id, endpoint="/v1/completions", completion_window="24h")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="completion_window"):
        client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="soon")  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError, match="No such Batch object"):
        client.batches.retrieve("batch_nope")
    empty = client.files.create(file=("e.jsonl", b"\n\n"), purpose="batch")
    with pytest.raises(openai.BadRequestError, match="holds no requests"):
        client.batches.create(input_file_id=empty.id, endpoint="/v1/chat/completions", completion_window="24h")
    status, _, body = request("POST", edge.url + "/v1/files", b"plain", {**AUTH, "content-type": "text/plain"})
    assert status == 400 and "multipart/form-data" in str(_error(status, body)["message"])
    status, _, body = request("POST", edge.url + "/v1/batches/batch_nope/retry", b"", AUTH)
    assert status == 404
    status, _, body = request("GET", edge.url + "/v1/batches?limit=0", None, AUTH)
    assert status == 400 and "'limit'" in str(_error(status, body)["message"])


def test_files_list_get_delete_and_batches_paging(client: openai.OpenAI) -> None:
    name = f"{uuid.uuid4().hex[:8]}.jsonl"
    made = client.files.create(file=(name, (_row("p") + "\n").encode()), purpose="batch")
    assert client.files.retrieve(made.id).filename == name
    assert made.id in {f.id for f in client.files.list(purpose="batch")}
    first = client.batches.create(input_file_id=made.id, endpoint="/v1/chat/completions", completion_window="24h")
    second = client.batches.create(input_file_id=made.id, endpoint="/v1/chat/completions", completion_window="24h")
    page = client.batches.list(limit=1)
    assert [b.id for b in page.data] == [second.id] and page.has_more
    assert client.batches.list(limit=1, after=second.id).data[0].id == first.id
    wait_done(client, first.id)
    wait_done(client, second.id)
    with pytest.raises(openai.ConflictError, match="Cannot cancel a batch with status 'completed'"):
        client.batches.cancel(first.id)
    assert client.files.delete(made.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(made.id)


def test_another_key_sees_neither_files_nor_batches(edge: Server, client: openai.OpenAI) -> None:
    made = client.files.create(file=("mine.jsonl", (_row("m") + "\n").encode()), purpose="batch")
    body = json.dumps({"name": f"other-{uuid.uuid4().hex[:6]}"}).encode()
    status, _, data = request("POST", edge.url + "/v1/keys", body, {**AUTH, "content-type": "application/json"})
    assert status == 201
    other = str(json.loads(data)["key"])
    from tests.support import wait_for

    wait_for(lambda: request("GET", edge.url + "/v1/models", None, {"authorization": f"Bearer {other}"})[0] == 200, timeout=10)
    with openai.OpenAI(base_url=edge.url + "/v1", api_key=other, max_retries=0) as theirs:
        with pytest.raises(openai.NotFoundError):
            theirs.files.retrieve(made.id)
        assert made.id not in {f.id for f in theirs.files.list()}


_MULTIPART = "multipart/form-data; boundary=b0undary"


def _form(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--b0undary\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return out + b"--b0undary--\r\n"


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status", "words"),
    [
        ("POST", "/v1/files", b"--x\r\n", "multipart/form-data", 400, "names no boundary"),
        ("POST", "/v1/files", b"garbage", _MULTIPART, 400, "holds no parts"),
        ("POST", "/v1/files", _form(("file", "a.jsonl", b"{}")), _MULTIPART, 400, "'purpose' field"),
        ("POST", "/v1/files", _form(("purpose", None, b"batch")), _MULTIPART, 400, "'file' field"),
        ("POST", "/v1/files", b"--b0undary\r\nno blank line--b0undary--", _MULTIPART, 400, "no blank line"),
        ("POST", "/v1/batches", b"{nope", "application/json", 400, "could not parse the JSON"),
        ("POST", "/v1/batches", b'{"input_file_id": 5, "endpoint": "/v1/embeddings", "completion_window": "24h"}', "application/json", 400, "input_file_id"),
        ("POST", "/v1/batches", b'{"endpoint": "/v1/embeddings", "completion_window": "24h"}', "application/json", 400, "'input_file_id' is a required property"),
        ("POST", "/v1/batches", json.dumps({"input_file_id": "f", "endpoint": "/v1/embeddings", "completion_window": "24h", "metadata": {str(i): "v" for i in range(17)}}).encode(), "application/json", 400, "at most 16 pairs"),
        ("POST", "/v1/batches", b'{"input_file_id": "f", "endpoint": "/v1/embeddings", "completion_window": "0h"}', "application/json", 400, "completion_window"),
        ("GET", "/v1/files?order=sideways", None, None, 400, "'order'"),
        ("GET", "/v1/files/file-nope/content", None, None, 404, "No such File object"),
        ("DELETE", "/v1/files/file-nope", None, None, 404, "No such File object"),
        ("POST", "/v1/batches/batch_nope/cancel", b"", None, 404, "No such Batch object"),
        ("GET", "/v1/batches?limit=abc", None, None, 400, "whole number"),
    ],
)
def test_hostile_requests_are_4xx_envelopes(edge: Server, method: str, path: str, body: bytes | None, content_type: str | None, status: int, words: str) -> None:
    headers = dict(AUTH)
    if content_type:
        headers["content-type"] = content_type
    got, _, data = request(method, edge.url + path, body, headers)
    assert got == status, data
    assert words in str(_error(got, data)["message"]), data


def test_an_input_file_that_is_not_text_is_refused(client: openai.OpenAI) -> None:
    binary = client.files.create(file=("b.jsonl", b"\xff\xfe\x00garbage"), purpose="batch")
    with pytest.raises(openai.BadRequestError, match="not UTF-8"):
        client.batches.create(input_file_id=binary.id, endpoint="/v1/chat/completions", completion_window="24h")


def test_responses_batch(client: openai.OpenAI) -> None:
    lines = [json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/responses", "body": {"model": "openai/echo", "input": f"say {i}"}}) for i in range(4)]
    lines.append(json.dumps({"custom_id": "bg", "method": "POST", "url": "/v1/responses", "body": {"model": "openai/echo", "input": "x", "background": True}}))
    batch = _run(client, lines, endpoint="/v1/responses")
    counts = batch.request_counts  # type: ignore[attr-defined]
    assert (counts.total, counts.completed, counts.failed) == (5, 4, 1), lines_of(client, batch.error_file_id)  # type: ignore[attr-defined]
    out = {line["custom_id"]: line["response"]["body"] for line in lines_of(client, batch.output_file_id)}  # type: ignore[attr-defined]
    assert out["r2"]["object"] == "response" and out["r2"]["output_text" if "output_text" in out["r2"] else "output"]
    text = "".join(part.get("text", "") for item in out["r2"]["output"] if item.get("type") == "message" for part in item["content"])
    assert text == "say 2"
    assert client.responses.retrieve(out["r2"]["id"]).id == out["r2"]["id"]  # stored, as a live response is
    [error] = lines_of(client, batch.error_file_id)  # type: ignore[attr-defined]
    assert error["custom_id"] == "bg" and "'background' is not supported" in error["error"]["message"]
