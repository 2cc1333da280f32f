class ChunkScan:
    text_bytes: int
    finish_reason: str | None
    obj_s: int
    model_s: int
    model_e: int
    choices_s: int
    choices_e: int
    usage_s: int
    usage_e: int
    nkeys: int
    delta_ins: int
    choices: int
    has_error: bool
    delta_empty: bool
    delta_role: bool
    def __init__(self) -> None: ...
    def scan(self, b: bytes, i: int, n: int) -> int: ...
