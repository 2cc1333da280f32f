from edge.fastpath._errors import SSEError as SSEError

class OpenAIStreamRewriter:
    public_model: str
    include_usage: bool
    max_event_bytes: int
    usage: bytes | None
    done: bool
    error: bytes | None
    finish_reason: str | None
    chunks: int
    malformed: int
    text_bytes: int
    role_seen: bool
    def __init__(
        self, public_model: str, include_usage: bool, max_event_bytes: int = ...
    ) -> None: ...
    def feed(self, chunk: bytes) -> bytes: ...
    def flush(self) -> bytes: ...
