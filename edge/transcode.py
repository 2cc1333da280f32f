"""The two ways an upstream stream becomes a client's: byte pass-through, or decode and encode.

``PassthroughStream`` is the fast path for a client whose dialect the adapter declares it speaks
(``Adapter.passthrough``; OpenAI chat to an OpenAI-format server): fastpath's rewriter changes
only the model name and the usage chunk, never decoding the payloads into objects.
``DecodedStream`` is everything else: the adapter's decoder turns the provider's stream into
normalized chunks (edge.adapters.types.Chunk) and the surface's encoder writes them in the
client's dialect. Both keep one ``StreamState`` (edge/types.py) that the relay reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic

from edge.adapters._common import INVALID_EVENT
from edge.adapters._openai_stream import finish_reason, stream_error, usage_from_openai
from edge.adapters.types import Chunk, StreamDecoder, Usage
from edge.fastpath import jsonio
from edge.fastpath.reencode import OpenAIStreamRewriter

from .types import EventEncoder, Out, StreamState

__all__ = ["DecodedStream", "PassthroughStream"]


class PassthroughStream:
    """OpenAI chat SSE in, OpenAI chat SSE out, through fastpath's rewriter."""

    def __init__(self, public_model: str, include_usage: bool, scrub: Callable[[bytes], bytes] | None = None) -> None:
        self._rewriter = OpenAIStreamRewriter(public_model, include_usage)
        # The configured secrets out of what the upstream sent (edge.scrub, Scrubber.sse): the
        # rewriter's output is whole events, so a secret never straddles two pieces.
        self._scrub = scrub
        self.state = StreamState()

    def feed(self, data: bytes) -> bytes:
        rewriter = self._rewriter
        out: bytes = rewriter.feed(data)
        if rewriter.malformed or rewriter.error is not None:  # rare: the relay stops on either
            self.final()
        return self._scrub(out) if out and self._scrub is not None else out

    def flush(self) -> bytes:
        out: bytes = self._rewriter.flush()
        self.final()
        return self._scrub(out) if out and self._scrub is not None else out

    def tail(self) -> None:
        return None  # the rewriter places (or drops) the usage chunk where the upstream sent it

    def final(self) -> StreamState:
        rewriter, state = self._rewriter, self.state
        state.done = bool(rewriter.done)
        state.malformed = bool(rewriter.malformed)
        state.text_bytes = rewriter.text_bytes
        reason = rewriter.finish_reason
        if reason is not None:
            state.finish_reason = finish_reason(reason)
        if rewriter.usage is not None and state.usage is None:
            state.usage = _usage(rewriter.usage)
        if rewriter.error is not None and state.error is None:
            # The rewriter forwarded the upstream's error event as it was; read it for the record.
            try:
                doc = jsonio.loads(rewriter.error)
            except jsonio.JSONDecodeError:
                doc = {}
            state.error = stream_error(doc.get("error") if isinstance(doc, dict) else None)
            state.error_forwarded = True
        return state


def _usage(raw: bytes) -> Usage | None:
    try:
        return usage_from_openai(jsonio.loads(raw))
    except jsonio.JSONDecodeError:
        return None


class DecodedStream(Generic[Out]):
    """A provider's stream through its adapter's decoder, then the surface's encoder."""

    def __init__(self, decoder: StreamDecoder, encoder: EventEncoder[Out]) -> None:
        self._decoder = decoder
        self._encoder = encoder
        self.state = StreamState()

    def feed(self, data: bytes) -> Out | None:
        if self.state.error is not None or self.state.malformed:
            return None
        return self._encode(self._decoder.feed(data))

    def flush(self) -> Out | None:
        if self.state.error is not None or self.state.malformed:
            return None
        return self._encode(self._decoder.flush())

    def tail(self) -> Out | None:
        return self._encoder.tail(self.state)

    def final(self) -> StreamState:
        return self.state

    def _encode(self, chunks: list[Chunk]) -> Out | None:
        state = self.state
        keep = chunks
        text = 0
        for i, chunk in enumerate(chunks):
            if chunk.error is not None:
                # An error ends the answer: what came before it is still written. An event the
                # decoder could not read is the relay's "malformed", worded as on the pass-through.
                if chunk.error.code == INVALID_EVENT:
                    state.malformed = True
                else:
                    state.error = chunk.error
                keep = chunks[:i]
                break
            if chunk.usage is not None:
                state.usage = chunk.usage
            if chunk.finish_reason is not None and state.finish_reason is None:
                state.finish_reason = chunk.finish_reason
            for piece in (chunk.content, chunk.reasoning, chunk.refusal):
                if piece:
                    text += len(piece.encode())
            if chunk.tool_calls:
                for call in chunk.tool_calls:
                    text += len(call.arguments.encode())
        state.text_bytes += text
        state.done = self._decoder.done
        return self._encoder.encode(keep) if keep else None
