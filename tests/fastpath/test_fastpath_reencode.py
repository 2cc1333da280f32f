"""The OpenAI chat-stream re-encoder on both builds: recorded and hand-written streams."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from edge.fastpath import reencode
from edge.fastpath._errors import SSEError

PUBLIC = 'edge-"pub"\\model é'
SHARED_SSE = [
    "chat-stream-text-usage.sse",
    "chat-stream-parallel-tool-calls.sse",
    "chat-stream-finish-length.sse",
    "chat-stream-refusal.sse",
    "chat-stream-json-schema.sse",
    "anthropic-openai-compat-stream-tool-index1.sse",
]
SHARED_JSONL = ["xai-chat-stream-reasoning-content-tool-call.jsonl", "azure-chat-stream-content-filter.jsonl"]


def run(mod, raw: bytes, include_usage: bool = True, sizes=None, public: str = PUBLIC):
    rw = mod.OpenAIStreamRewriter(public, include_usage)
    if sizes is None:
        out = rw.feed(raw)
    else:
        parts, pos = [], 0
        for size in sizes:
            parts.append(rw.feed(raw[pos : pos + size]))
            pos += size
        parts.append(rw.feed(raw[pos:]))
        out = b"".join(parts)
    return out + rw.flush(), rw


def events(out: bytes) -> list:
    assert out == b"" or out.endswith(b"\n\n")
    frames = [f for f in out.split(b"\n\n") if f]
    assert all(f.startswith(b"data: ") and b"\n" not in f for f in frames)
    return [orjson.loads(f[6:]) for f in frames]


def upstream(raw: bytes) -> list:
    """The upstream's own payloads, decoded the slow, obvious way."""
    found = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = [line[6:] for line in block.split(b"\n") if line.startswith(b"data: ")]
        if data and data[0] != b"[DONE]":
            found.append(orjson.loads(b"\n".join(data)))
    return found


def text_of(chunks: list, key: str = "content") -> str:
    return "".join(
        (c.get("delta") or {}).get(key) or "" for ch in chunks for c in (ch.get("choices") or [])
    )


def tool_args(chunks: list) -> dict:
    args: dict = {}
    for ch in chunks:
        for c in ch.get("choices") or []:
            for tc in (c.get("delta") or {}).get("tool_calls") or []:
                fn = tc.get("function") or {}
                args[tc["index"]] = args.get(tc["index"], "") + (fn.get("arguments") or "")
    return args


def check_stream(mod, raw: bytes) -> None:
    src = upstream(raw)
    src_usage = [c["usage"] for c in src if c.get("usage")]
    for include_usage in (True, False):
        out, rw = run(mod, raw, include_usage)
        got = events(out)
        assert got and all(c["model"] == PUBLIC for c in got)
        assert all(isinstance(c["choices"], list) for c in got)
        for key in ("content", "refusal", "reasoning_content", "reasoning"):
            assert text_of(got, key) == text_of(src, key)
        assert tool_args(got) == tool_args(src)
        first = next(c for c in got if c["choices"])
        assert first["choices"][0]["delta"]["role"] == "assistant"
        assert rw.done == (b"[DONE]" in raw)
        assert orjson.loads(rw.usage) == src_usage[-1] if src_usage else rw.usage is None
        if include_usage:
            assert [c["usage"] for c in got if c.get("usage")] == src_usage
        else:
            assert not any(c.get("usage") for c in got)
        assert rw.chunks == len(got)
        finish = [c["finish_reason"] for ch in src for c in ch.get("choices") or [] if c.get("finish_reason")]
        assert rw.finish_reason == (finish[-1] if finish else None)
        text = sum(len(text_of(src, k).encode()) for k in ("content", "refusal", "reasoning_content", "reasoning"))
        text += sum(len(a.encode()) for a in tool_args(src).values())
        assert abs(rw.text_bytes - text) <= max(4, text // 10)


def check_splits(mod, raw: bytes, every_byte: bool = True) -> None:
    whole, _ = run(mod, raw)
    if every_byte:
        for cut in range(len(raw) + 1):
            assert run(mod, raw, sizes=[cut])[0] == whole, cut
    rnd = random.Random(len(raw))
    for _ in range(25):
        sizes = [rnd.choice((1, 2, 3, 7, 64, 300)) for _ in range(len(raw))]
        assert run(mod, raw, sizes=sizes)[0] == whole


def jsonl_to_sse(path: Path) -> bytes:
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    return b"".join(b"data: " + line + b"\n\n" for line in lines) + b"data: [DONE]\n\n"


@pytest.mark.shared_fixtures
@pytest.mark.parametrize("name", SHARED_SSE)
def test_recorded_streams(reencode_mod, shared_fixtures: Path, name: str) -> None:
    raw = (shared_fixtures / "openai" / name).read_bytes()
    check_stream(reencode_mod, raw)
    check_splits(reencode_mod, raw)


@pytest.mark.shared_fixtures
@pytest.mark.parametrize("name", SHARED_JSONL)
def test_recorded_jsonl_streams(reencode_mod, shared_fixtures: Path, name: str) -> None:
    raw = jsonl_to_sse(shared_fixtures / "openai" / name)
    check_stream(reencode_mod, raw)
    check_splits(reencode_mod, raw, every_byte=False)


def test_own_streams(reencode_mod, own_streams: Path) -> None:
    paths = sorted(own_streams.glob("*.sse"))
    assert len(paths) >= 5
    for path in paths:
        raw = path.read_bytes()
        if path.name.startswith("error"):
            continue
        check_stream(reencode_mod, raw)
        check_splits(reencode_mod, raw)


def test_builds_agree(own_streams: Path) -> None:
    from tests.fastpath.fastpath_builds import load_build

    py, c = load_build("reencode", "py"), load_build("reencode", "c")
    for path in sorted(own_streams.glob("*.sse")):
        raw = path.read_bytes()
        for inc in (True, False):
            (a, ra), (b, rb) = run(py, raw, inc), run(c, raw, inc)
            assert a == b
            assert (ra.usage, ra.chunks, ra.text_bytes, ra.finish_reason, ra.error) == (
                rb.usage, rb.chunks, rb.text_bytes, rb.finish_reason, rb.error)


def test_vllm_choices_null_and_missing_role(reencode_mod, own_streams: Path) -> None:
    raw = (own_streams / "vllm-no-role-choices-null.sse").read_bytes()
    got = events(run(reencode_mod, raw, True)[0])
    assert got[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Hi"}
    assert "role" not in got[1]["choices"][0]["delta"]  # only the first chunk
    assert got[-1]["choices"] == [] and got[-1]["usage"]["total_tokens"] == 7
    out, rw = run(reencode_mod, raw, False)
    assert len(events(out)) == 2 and orjson.loads(rw.usage)["total_tokens"] == 7


def test_usage_on_a_content_chunk_is_nulled_not_dropped(reencode_mod, own_streams: Path) -> None:
    raw = (own_streams / "crlf-comments-reasoning.sse").read_bytes()
    got = events(run(reencode_mod, raw, False)[0])
    assert got[-1]["choices"][0]["finish_reason"] == "stop"
    assert got[-1]["usage"] is None


def test_error_event_forwarded_unchanged(reencode_mod, own_streams: Path) -> None:
    raw = (own_streams / "error-midstream.sse").read_bytes()
    out, rw = run(reencode_mod, raw)
    got = events(out)
    assert got[-1] == upstream(raw)[-1] and "model" not in got[-1]
    assert orjson.loads(rw.error)["error"]["type"] == "server_error"
    assert not rw.done and rw.chunks == 2


def one(mod, payload: bytes, include_usage: bool = True, public: str = "pub"):
    out, rw = run(mod, b"data: " + payload + b"\n\n", include_usage, public=public)
    return out, rw


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"model": "x" , "choices":[]}', b'{"model": "pub" , "choices":[]}'),
        (b'{"choices":[],"model":"x"}', b'{"choices":[],"model":"pub"}'),
        (b'{"id":"a","choices":[]}', b'{"model":"pub","id":"a","choices":[]}'),
        (b"{}", b'{"model":"pub","choices":[]}'),
        (b'{"model":null,"choices":null}', b'{"model":"pub","choices":[]}'),
        (b'{"model":"x","choices":[{"index":0,"delta":{}}]}',
         b'{"model":"pub","choices":[{"index":0,"delta":{"role":"assistant"}}]}'),
        (b'{"model":"x","choices":[{"delta":{"content":"\\"model\\":\\"y\\""}}]}',
         b'{"model":"pub","choices":[{"delta":{"role":"assistant","content":"\\"model\\":\\"y\\""}}]}'),
        (b'{"x":{"model":"inner"},"model":"x","choices":[]}',
         b'{"x":{"model":"inner"},"model":"pub","choices":[]}'),
        (b'  {"model":"pub","choices":[]}  ', b'  {"model":"pub","choices":[]}  '),
    ],
)
def test_rewrites(reencode_mod, payload: bytes, expected: bytes) -> None:
    out, _ = one(reencode_mod, payload)
    assert out == b"data: " + expected + b"\n\n"


@pytest.mark.parametrize(
    "payload",
    [b'{"model":"x",', b'{"model" "x"}', b"not json", b'{"a":[1,2}', b'{"model":"x"} trailing',
     b"[1,2]", b'"str"', b'{"model":"x\\', b'{"a":tru'],
)
def test_malformed_is_counted_not_forwarded(reencode_mod, payload: bytes) -> None:
    out, rw = one(reencode_mod, payload)
    assert out == b""
    assert rw.chunks == 0 and rw.malformed == 1


def test_public_model_is_json_escaped(reencode_mod) -> None:
    out, _ = one(reencode_mod, b'{"model":"x","choices":[]}', public='a"b\\c\n\u00e9')
    assert orjson.loads(out[6:])["model"] == 'a"b\\c\n\u00e9'


def test_done_ends_processing(reencode_mod) -> None:
    rw = reencode_mod.OpenAIStreamRewriter("pub", True)
    out = rw.feed(b'data: {"choices":[]}\n\ndata: [DONE]\n\ndata: {"choices":[]}\n\n')
    assert len(events(out)) == 1 and rw.done
    assert rw.feed(b'data: {"choices":[]}\n\n') == b"" and rw.flush() == b""


def test_comments_events_and_multiline_data(reencode_mod) -> None:
    raw = b': ping\n\nevent: chunk\nid: 3\ndata: {"model":"x",\ndata: "choices":[]}\n\ndata:\n\n'
    out, rw = run(reencode_mod, raw, public="pub")
    assert out == b'data: {"model":"pub",\ndata: "choices":[]}\n\n'
    assert rw.chunks == 1


def test_cut_stream_flushes_last_event(reencode_mod) -> None:
    rw = reencode_mod.OpenAIStreamRewriter("pub", True)
    assert rw.feed(b'data: {"choices":[{"delta":{"content":"abc"}}]}') == b""
    assert events(rw.flush())[0]["choices"][0]["delta"]["content"] == "abc"
    assert rw.text_bytes == 3 and not rw.done


def test_text_bytes_counts_decoded_size(reencode_mod) -> None:
    _, rw = one(reencode_mod, b'{"choices":[{"delta":{"content":"\\u00e9\\n\xc3\xa9"}}]}')
    assert rw.text_bytes == 3 + 1 + 2  # approximate: \u escapes count 3


def test_oversize_event_raises(reencode_mod) -> None:
    rw = reencode_mod.OpenAIStreamRewriter("pub", True, max_event_bytes=100)
    with pytest.raises(SSEError):
        rw.feed(b"data: " + b"x" * 200)
    assert issubclass(reencode.SSEError, ValueError) and reencode.SSEError is SSEError


def test_random_garbage_never_raises(reencode_mod) -> None:
    rnd = random.Random(3)
    alphabet = b'{}[]":,\\ \n\r0123456789nulltruefalsemodelchoicesusagedata: '
    for _ in range(300):
        raw = bytes(rnd.choice(alphabet) for _ in range(rnd.randint(0, 120)))
        out, _ = run(reencode_mod, b"data: " + raw)
        assert out == b"" or out.endswith(b"\n\n")
