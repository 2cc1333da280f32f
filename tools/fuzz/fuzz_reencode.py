"""The OpenAI stream re-encoder (edge.fastpath.reencode), both builds: the same bytes and the
same readings (usage, finish_reason, error, chunks, text_bytes) from reencode_py and
reencode_c in any split; every event it emits is ``data: ...\\n\\n``; only SSEError raised."""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["edge"]):
    from edge.fastpath import reencode_c, reencode_py
    from edge.fastpath._errors import SSEError

from tools.fuzz._harness import fixture_seeds, main, splits

MODELS = ("gpt-4o", "", 'we"ird\\model\n', "модель")


def _run(module: object, pieces: list[bytes], model: str, include_usage: bool, limit: int) -> tuple[object, ...]:
    rw = module.OpenAIStreamRewriter(model, include_usage, limit)  # type: ignore[attr-defined]
    out = []
    try:
        for piece in pieces:
            out.append(rw.feed(piece))
        out.append(rw.flush())
    except SSEError:
        return ("SSEError",)
    return (b"".join(out), rw.usage, rw.finish_reason, rw.error, rw.chunks, rw.text_bytes, rw.done)


def one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    model = MODELS[data[0] % len(MODELS)]
    include_usage = bool(data[0] & 4)
    limit = 64 + (data[0] >> 3) * 512
    body, pieces = splits(data[1:])
    py = _run(reencode_py, pieces, model, include_usage, limit)
    c = _run(reencode_c, pieces, model, include_usage, limit)
    assert py == c, f"reencode_py and reencode_c disagree:\n{py!r}\n{c!r}"
    whole = _run(reencode_py, [body] if body else [], model, include_usage, limit)
    assert whole == py, f"the split changed the output:\n{whole!r}\n{py!r}"
    if py[0] != "SSEError":
        text = py[0]
        assert isinstance(text, bytes)
        for event in filter(None, text.split(b"\n\n")):
            # An event of several data lines leaves as several data lines.
            assert all(line.startswith(b"data: ") for line in event.split(b"\n")), f"bad event framing: {event!r}"


def seeds() -> list[bytes]:
    return [b"\xf9" + s for s in fixture_seeds("openai")] + [
        b'\xf9\x00data: {"id":"x","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}],"model":"m"}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\ndata: [DONE]\n\n',
        b'\xf9\x00data: {"error":{"message":"boom"}}\n\n',
    ]


if __name__ == "__main__":
    main("reencode", one_input, seeds())
