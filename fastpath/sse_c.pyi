from edge.fastpath._errors import SSEError as SSEError

class SSEEvent:
    event: str
    data: bytes
    id: str | None
    retry: int | None
    def __init__(self, event: str, data: bytes, id: str | None, retry: int | None) -> None: ...

class SSEDecoder:
    max_event_bytes: int
    data_only: bool
    last_event_id: str | None
    retry: int | None
    def __init__(self, max_event_bytes: int = ..., *, data_only: bool = ...) -> None: ...
    # Lists of SSEEvent, or of bytes when data_only is set.
    def feed(self, chunk: bytes) -> list[SSEEvent]: ...
    def flush(self) -> list[SSEEvent]: ...
