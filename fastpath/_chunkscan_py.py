# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, annotation_typing=False
"""Structural scanner for one ``chat.completion.chunk`` JSON object (RFC 8259 syntax).

Used by the pass-through re-encoder (reencode_py): one pass over the payload bytes finds
the spans the re-encoder may rewrite (top-level ``model``, ``choices``, ``usage``, the
first choice's ``delta``) and reads the few values the gateway keeps (``finish_reason``,
the size of content/reasoning/refusal/tool-argument strings). It descends only along
``choices[].delta.tool_calls[].function`` and skips every other value whole. It is not a
validator: it checks structure (brackets, strings, separators), enough to refuse to edit
a malformed payload, and never allocates except for a changed finish_reason.

Source of truth for both builds: ``_chunkscan_c.pxd`` types it, setup.py compiles it as
``edge.fastpath._chunkscan_c``; the compiled re-encoder calls it through C, not Python.
"""

from __future__ import annotations

__all__ = ["ChunkScan"]

# Nesting levels the scanner descends into; everything else is skipped as a whole value.
_TOP = 0
_CHOICE = 1
_DELTA = 2
_TOOL_CALL = 3
_FUNCTION = 4
# choices: what the top-level "choices" key held.
_CH_MISSING = 0
_CH_NULL = 1
_CH_EMPTY = 2
_CH_ITEMS = 3
_CH_OTHER = 4

def _ws(b: bytes, i: int, n: int) -> int:
    while i < n:
        c = b[i]
        if c != 32 and c != 10 and c != 13 and c != 9:
            return i
        i += 1
    return i


def _eq(b: bytes, s: int, lit: bytes) -> bool:
    # Caller has checked the length; compares without slicing (no allocation).
    k = 0
    m = len(lit)
    while k < m:
        if b[s + k] != lit[k]:
            return False
        k += 1
    return True


def _str_end(b: bytes, i: int, n: int) -> int:
    # b[i] is the opening quote; returns the index after the closing one, -1 if cut.
    i += 1
    while i < n:
        c = b[i]
        if c == 34:
            return i + 1
        if c == 92:
            i += 2
        else:
            i += 1
    return -1


def _skip(b: bytes, i: int, n: int) -> int:
    # Skips one JSON value starting at b[i]; -1 if malformed or cut.
    c = b[i]
    if c == 34:
        return _str_end(b, i, n)
    if c == 123 or c == 91:
        depth = 0
        while i < n:
            c = b[i]
            if c == 34:
                i = _str_end(b, i, n)
                if i < 0:
                    return -1
                continue
            if c == 123 or c == 91:
                depth += 1
            elif c == 125 or c == 93:
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return -1
    start = i
    while i < n:
        c = b[i]
        if c == 44 or c == 125 or c == 93 or c == 32 or c == 10 or c == 13 or c == 9:
            break
        i += 1
    return i if i > start else -1

class ChunkScan:
    """Scan results of the last payload, plus what accumulates across a stream."""

    def __init__(self) -> None:
        self.text_bytes = 0
        self.finish_reason: str | None = None
        self._finish_raw = b""
        self.obj_s = 0
        self.model_s = -1
        self.model_e = -1
        self.choices = _CH_MISSING
        self.choices_s = -1
        self.choices_e = -1
        self.usage_s = -1
        self.usage_e = -1
        self.has_error = False
        self.nkeys = 0
        self.delta_ins = -1
        self.delta_empty = False
        self.delta_role = False
        # Every chunk of one completion repeats the same id/object/created/model prefix:
        # keep the bytes before "choices" and the scan state there, and resume after them
        # when the next chunk starts the same way (one memcmp instead of a scan).
        self._prefix = b""
        self._pre_nkeys = 0
        self._pre_model_s = -1
        self._pre_model_e = -1
        self._pre_obj_s = 0
        self._resume = -1
        self._nkeys_at_resume = 0
        self._model_s_at_resume = -1
        self._model_e_at_resume = -1

    def scan(self, b: bytes, i: int, n: int) -> int:
        """Scan the top-level object at b[i]; record spans; -1 if malformed."""
        self.obj_s = i
        self.model_s = -1
        self.model_e = -1
        self.choices = _CH_MISSING
        self.usage_s = -1
        self.usage_e = -1
        self.has_error = False
        self.nkeys = 0
        self.delta_ins = -1
        self.delta_empty = False
        self.delta_role = False
        self._resume = -1
        if self._prefix and b.startswith(self._prefix):
            self.obj_s = self._pre_obj_s
            self.nkeys = self._pre_nkeys
            self.model_s = self._pre_model_s
            self.model_e = self._pre_model_e
            i = self._members(b, len(self._prefix), n, _TOP, True)
        else:
            i = self._object(b, i, n, _TOP, True)
            if i >= 0 and self._resume > 0:
                self._prefix = b[: self._resume]
                self._pre_obj_s = self.obj_s
                self._pre_nkeys = self._nkeys_at_resume
                self._pre_model_s = self._model_s_at_resume
                self._pre_model_e = self._model_e_at_resume
        if i < 0 or _ws(b, i, n) != n:
            return -1
        return i

    def _object(self, b: bytes, i: int, n: int, level: int, first: bool) -> int:
        # b[i] == "{". Descends only along choices[].delta.tool_calls[].function.
        if level == _DELTA and first:
            self.delta_ins = i + 1
        i = _ws(b, i + 1, n)
        if i < n and b[i] == 125:
            if level == _DELTA and first:
                self.delta_empty = True
            return i + 1
        return self._members(b, i, n, level, first)

    def _members(self, b: bytes, i: int, n: int, level: int, first: bool) -> int:
        # The "key": value pairs of an object, from the first key's quote to the "}".
        while True:
            if i >= n or b[i] != 34:
                return -1
            ks = i + 1
            i = _str_end(b, i, n)
            if i < 0:
                return -1
            klen = i - 1 - ks
            i = _ws(b, i, n)
            if i >= n or b[i] != 58:
                return -1
            i = _ws(b, i + 1, n)
            if i >= n:
                return -1
            c = b[i]
            vs = i
            # Keys are told apart by length first: no allocation, rarely a byte compare.
            if level == _TOP:
                self.nkeys += 1
                if klen == 5 and _eq(b, ks, b"model"):
                    i = _skip(b, i, n)
                    self.model_s = vs
                    self.model_e = i
                elif klen == 7 and _eq(b, ks, b"choices"):
                    if self.usage_s < 0 and not self.has_error:
                        self._resume = ks - 1
                        self._nkeys_at_resume = self.nkeys - 1
                        self._model_s_at_resume = self.model_s
                        self._model_e_at_resume = self.model_e
                    if c == 91:
                        j = _ws(b, i + 1, n)
                        self.choices = _CH_EMPTY if j < n and b[j] == 93 else _CH_ITEMS
                        i = self._array(b, i, n, _CHOICE)
                    else:
                        i = _skip(b, i, n)
                        self.choices = _CH_NULL if c == 110 else _CH_OTHER
                        self.choices_s = vs
                        self.choices_e = i
                elif klen == 5 and _eq(b, ks, b"usage"):
                    i = _skip(b, i, n)
                    self.usage_s = vs
                    self.usage_e = i
                elif klen == 5 and _eq(b, ks, b"error"):
                    i = _skip(b, i, n)
                    self.has_error = True
                else:
                    i = _skip(b, i, n)
            elif level == _CHOICE:
                if klen == 5 and c == 123 and _eq(b, ks, b"delta"):
                    i = self._object(b, i, n, _DELTA, first)
                elif klen == 13 and c == 34 and _eq(b, ks, b"finish_reason"):
                    i = _str_end(b, i, n)
                    if i > 0:
                        self._set_finish(b, vs, i)
                else:
                    i = _skip(b, i, n)
            elif level == _DELTA:
                if c == 34 and (
                    (klen == 7 and (_eq(b, ks, b"content") or _eq(b, ks, b"refusal")))
                    or (klen == 9 and _eq(b, ks, b"reasoning"))
                    or (klen == 17 and _eq(b, ks, b"reasoning_content"))
                ):
                    i = self._text(b, i, n)
                elif klen == 10 and c == 91 and _eq(b, ks, b"tool_calls"):
                    i = self._array(b, i, n, _TOOL_CALL)
                else:
                    if klen == 4 and _eq(b, ks, b"role"):
                        self.delta_role = True
                    i = _skip(b, i, n)
            elif level == _TOOL_CALL:
                if klen == 8 and c == 123 and _eq(b, ks, b"function"):
                    i = self._object(b, i, n, _FUNCTION, False)
                else:
                    i = _skip(b, i, n)
            else:
                if klen == 9 and c == 34 and _eq(b, ks, b"arguments"):
                    i = self._text(b, i, n)
                else:
                    i = _skip(b, i, n)
            if i < 0:
                return -1
            i = _ws(b, i, n)
            if i >= n:
                return -1
            c = b[i]
            if c == 44:
                i = _ws(b, i + 1, n)
            elif c == 125:
                return i + 1
            else:
                return -1

    def _array(self, b: bytes, i: int, n: int, level: int) -> int:
        # b[i] == "[": an array whose object items are scanned at ``level``.
        i = _ws(b, i + 1, n)
        if i < n and b[i] == 93:
            return i + 1
        first = True
        while True:
            if i >= n:
                return -1
            if b[i] == 123:
                i = self._object(b, i, n, level, first)
            else:
                i = _skip(b, i, n)
            if i < 0:
                return -1
            first = False
            i = _ws(b, i, n)
            if i >= n:
                return -1
            c = b[i]
            if c == 44:
                i = _ws(b, i + 1, n)
            elif c == 93:
                return i + 1
            else:
                return -1

    def _text(self, b: bytes, i: int, n: int) -> int:
        # A string whose size feeds text_bytes. Escapes shrink when decoded: \uXXXX is
        # six bytes for a code unit of one to three UTF-8 bytes (count 3), others two for one.
        i += 1
        start = i
        adj = 0
        while i < n:
            c = b[i]
            if c == 34:
                self.text_bytes += i - start - adj
                return i + 1
            if c == 92:
                if i + 1 < n and b[i + 1] == 117:
                    adj += 3
                else:
                    adj += 1
                i += 2
            else:
                i += 1
        return -1

    def _set_finish(self, b: bytes, s: int, e: int) -> None:
        # Decode only when it changes: finish_reason is null on all but the last chunk.
        raw = b[s + 1 : e - 1]
        if raw != self._finish_raw:
            self._finish_raw = raw
            self.finish_reason = raw.decode("utf-8", "replace")
