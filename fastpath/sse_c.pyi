from typing import Generic, Literal, TypeVar, overload

from edge.fastpath._errors import SSEError as SSEError

class SSEEvent:
    event: str
    data: bytes
    id: str | None
    retry: int | None
    def __init__(self, event: str, data: bytes, id: str | None, retry: int | None) -> None: ...

# What feed/flush return: SSEEvent objects, or each event's data bytes when data_only is set
# (the runtime class is not generic; the parameter only follows the constructor's flag).
_Item = TypeVar("_Item", SSEEvent, bytes)

class SSEDecoder(Generic[_Item]):
    last_event_id: str | None
    retry: int | None
    @overload
    def __init__(
        self: SSEDecoder[SSEEvent], max_event_bytes: int = ..., *, data_only: Literal[False] = ...
    ) -> None: ...
    @overload
    def __init__(
        self: SSEDecoder[bytes], max_event_bytes: int = ..., *, data_only: Literal[True]
    ) -> None: ...
    @property
    def max_event_bytes(self) -> int: ...
    @property
    def data_only(self) -> bool: ...
    def feed(self, chunk: bytes) -> list[_Item]: ...
    def flush(self) -> list[_Item]: ...
