# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, annotation_typing=False
"""Pass-through re-encoder for OpenAI chat-completion streams, by byte scanning.

Input: the raw upstream body of a streamed ``/v1/chat/completions`` (WHATWG HTML
"server-sent events" framing; ``chat.completion.chunk`` payloads per the OpenAI OpenAPI
spec, docs wire-formats 1.5). Output: our client's body, one ``data: <json>\n\n`` per
upstream data event. Payloads are never decoded into Python objects: one structural scan
per chunk finds the spans to change and the values to read; output is spliced from slices.

Rewrites, and nothing else: top-level ``model`` becomes the public name (inserted if
missing); the first chunk with non-empty ``choices`` gets ``"role":"assistant"`` in its
first delta if absent; ``"choices":null`` or no ``choices`` becomes ``[]`` (vLLM usage
chunks); usage the client did not ask for (the gateway always asks upstream) is dropped:
the whole chunk if its choices are empty, else ``"usage":null``. ``data: [DONE]`` is
swallowed (the server writes its own) and ends processing; comments and other SSE fields
are dropped. A payload that is not a JSON object, or is malformed, is not forwarded but
counted in ``malformed`` (the server then ends the stream with an error event): nothing
raises except ``SSEError`` for an event over ``max_event_bytes``.

Read as it goes: ``usage`` (raw JSON of the last non-null usage), ``finish_reason``,
``error`` (raw payload of an in-stream ``{"error": ...}``, forwarded unchanged), ``chunks``
(events forwarded), ``text_bytes`` (approximate UTF-8 size of content, reasoning, refusal
and tool-call argument strings, to estimate tokens when usage never arrives).

Source of truth for both builds: ``reencode_c.pxd`` types it, setup.py compiles it as
``edge.fastpath.reencode_c``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import SSEError

# Pair each build with the SSE framing of the same build: the compiled module (named
# ..._c by setup.py) uses sse_c and _chunkscan_c (through C: see reencode_c.pxd), the
# pure-Python twin stays pure. The type checker reads both through the _c stubs.
if TYPE_CHECKING:
    from ._chunkscan_c import ChunkScan as _ChunkScan
    from .sse_c import SSEDecoder as _SSEDecoder
elif __name__.endswith("_c"):
    from ._chunkscan_c import ChunkScan as _ChunkScan
    from .sse_c import SSEDecoder as _SSEDecoder
else:
    from ._chunkscan_py import ChunkScan as _ChunkScan
    from .sse_py import SSEDecoder as _SSEDecoder

__all__ = ["OpenAIStreamRewriter", "SSEError"]

_DEFAULT_MAX = 16 * 1024 * 1024
# What the top-level "choices" held; the same values as in _chunkscan_py (duplicated so
# the compiled build compares C ints, not imported Python objects).
_CH_MISSING = 0
_CH_NULL = 1
_CH_EMPTY = 2
_CH_ITEMS = 3
_CH_OTHER = 4
def _json_string(text: str) -> bytes:
    """``text`` as a JSON string literal (RFC 8259 section 7), non-ASCII kept as UTF-8."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    text = "".join(ch if ch >= " " else "\\u%04x" % ord(ch) for ch in text)
    return ('"' + text + '"').encode("utf-8", "surrogatepass")


class OpenAIStreamRewriter:
    """Feed upstream body bytes in any split; get client body bytes back."""

    def __init__(
        self, public_model: str, include_usage: bool, max_event_bytes: int = _DEFAULT_MAX
    ) -> None:
        if max_event_bytes <= 0:
            raise ValueError("max_event_bytes must be positive")
        self.public_model = public_model
        self.include_usage = bool(include_usage)
        self.max_event_bytes = max_event_bytes
        self._model_json = _json_string(public_model)
        self.usage: bytes | None = None
        self.done = False
        self.error: bytes | None = None
        self.finish_reason: str | None = None
        self.chunks = 0
        self.malformed = 0
        self.text_bytes = 0
        self.role_seen = False
        # Framing is the SSE decoder of the same build (see the import above).
        self._sse = _SSEDecoder(max_event_bytes, data_only=True)
        self._js = _ChunkScan()

    def feed(self, chunk: bytes) -> bytes:
        if self.done or not chunk:
            return b""
        events = self._sse.feed(chunk)
        if not events:
            return b""
        out: list[bytes] = []
        for data in events:
            self._event(data, out)
            if self.done:
                break  # nothing after [DONE] is ours to forward
        return b"".join(out)

    def flush(self) -> bytes:
        """End of upstream body: emit an event cut before its blank line, if any."""
        if self.done:
            return b""
        out: list[bytes] = []
        for data in self._sse.flush():
            self._event(data, out)
            if self.done:
                break
        return b"".join(out)

    # -- one event ----------------------------------------------------------------------

    def _event(self, b: bytes, out: list[bytes]) -> None:
        n = len(b)
        # Several data lines arrive joined by LF; they must leave as several lines.
        multi = b.find(b"\n") != -1
        i = 0
        while i < n:
            c = b[i]
            if c != 32 and c != 10 and c != 13 and c != 9:
                break
            i += 1
        if i >= n:
            return  # an empty data event carries nothing a client could parse
        if b[i] != 123:
            if b.startswith(b"[DONE]", i):
                self.done = True
                return
            self.malformed += 1  # a chat chunk is always an object: this one is broken
            return
        js = self._js
        ok = js.scan(b, i, n) >= 0
        self.text_bytes = js.text_bytes
        self.finish_reason = js.finish_reason
        if not ok:
            # Malformed: never forwarded (a client SDK would choke on it mid-answer); counted,
            # so the server can end the stream with a clear error event instead.
            self.malformed += 1
            return
        if js.has_error:
            self.error = b
            self._emit(b, multi, out)
            return
        items = js.choices == _CH_ITEMS or js.choices == _CH_OTHER
        us = js.usage_s
        ue = js.usage_e
        drop_usage = False
        if us >= 0 and not (ue - us == 4 and b[us] == 110):
            self.usage = b[us:ue]
            if not self.include_usage:
                if not items:
                    return  # a usage-only chunk the client did not ask for
                drop_usage = True
        ms = js.model_s
        me = js.model_e
        mj = self._model_json
        edit_model = ms >= 0 and not (me - ms == len(mj) and b.startswith(mj, ms))
        add_role = False
        if not self.role_seen and js.choices == _CH_ITEMS:
            self.role_seen = True
            add_role = js.delta_ins >= 0 and not js.delta_role
        if (
            ms >= 0
            and js.choices != _CH_MISSING
            and js.choices != _CH_NULL
            and not add_role
            and not drop_usage
        ):
            # The common case: at most the model value changes.
            if multi:
                if edit_model:
                    b = b[:ms] + mj + b[me:]
                self._emit(b, True, out)
            elif edit_model:
                out.append(b"data: ")
                out.append(b[:ms])
                out.append(mj)
                out.append(b[me:])
                out.append(b"\n\n")
                self.chunks += 1
            else:
                out.append(b"data: ")
                out.append(b)
                out.append(b"\n\n")
                self.chunks += 1
            return
        self._emit(self._splice(b, edit_model, add_role, drop_usage), multi, out)

    def _splice(self, b: bytes, edit_model: bool, add_role: bool, drop_usage: bool) -> bytes:
        # Rare path: several edits; collect (start, end, replacement) and apply in order.
        js = self._js
        edits = []
        head = []
        if js.model_s < 0:
            head.append(b'"model":' + self._model_json)
        elif edit_model:
            edits.append((js.model_s, js.model_e, self._model_json))
        if js.choices == _CH_MISSING:
            head.append(b'"choices":[]')
        elif js.choices == _CH_NULL:
            edits.append((js.choices_s, js.choices_e, b"[]"))
        if head:
            text = b",".join(head)
            edits.append((js.obj_s + 1, js.obj_s + 1, text + b"," if js.nkeys else text))
        if add_role:
            role = b'"role":"assistant"' if js.delta_empty else b'"role":"assistant",'
            edits.append((js.delta_ins, js.delta_ins, role))
        if drop_usage:
            edits.append((js.usage_s, js.usage_e, b"null"))
        edits.sort()
        parts = []
        cur = 0
        for s, e, rep in edits:
            parts.append(b[cur:s])
            parts.append(rep)
            cur = e
        parts.append(b[cur:])
        return b"".join(parts)

    def _emit(self, b: bytes, multi: bool, out: list[bytes]) -> None:
        if multi:
            # Data lines were joined by LF; re-split them as SSE data lines.
            b = b.replace(b"\n", b"\ndata: ")
        out.append(b"data: ")
        out.append(b)
        out.append(b"\n\n")
        self.chunks += 1
