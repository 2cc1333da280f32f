# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, annotation_typing=False
"""Token accounting: fast estimates, exact o200k_base counts, usage accumulation.

``estimate_tokens`` needs no vocabulary: one pass classifies characters (ASCII words,
other-script words, digit groups, punctuation, line breaks, indentation, CJK) and weighs
them with coefficients fitted by least squares against o200k_base (the GPT-4o/4.1/o-series
encoding, counted with bpe-openai). See fastpath/README.md for the corpus and method.
Measured on a held-out sample (prose EN/FR/DE/ES, Chinese, Japanese, Korean, Python and
JS code, JSON, numbers, whitespace-heavy text): mean relative error 5.4%, p95
13.0%, max 25% (bytes/4 on the same sample: mean 27.4%, p95 51.5%).

``exact_tokens`` uses bpe-openai when installed. It is synchronous and costs about a
microsecond per few characters: callers must run it off the event loop for large inputs
(the server uses ``asyncio.to_thread`` above a size threshold).

``estimate_prompt_tokens`` follows OpenAI's published counting recipe for chat messages
(openai-cookbook "How to count tokens with tiktoken"): 3 tokens per message, 1 more for
a ``name``, 3 to prime the reply. Images cost a flat 85 tokens at ``detail: "low"`` and
765 otherwise (a 1024x1024 high-detail image: 4 tiles x 170 + 85); audio and file parts
a flat 256, as their size is not known from the message alone.

``estimate_body_tokens`` is the estimate for admission, O(1) in the size of the text: the
request body's byte count over ``_BYTES_PER_TOKEN``, less the media payloads (base64
images, audio, files: found by walking the messages' parts, never their characters)
which count the flat costs above. The body's JSON (field names, quoting) counts too, so
it over-counts most prompts: two samples in three of the calibration corpus, each put in
a chat body (mean error 30%); a short chat body by about 1.4x. Admission settles it
with the real usage afterwards.
"""

from __future__ import annotations

import functools
import warnings

__all__ = [
    "UsageAccumulator",
    "estimate_body_tokens",
    "estimate_prompt_tokens",
    "estimate_tokens",
    "estimate_tokens_from_bytes",
    "exact_tokens",
]

# Fitted coefficients (tests/fastpath/_calibrate_tokens.py prints them).
_W_WORD = 1.4887
_W_LETTER = -0.1445
_W_XWORD = 1.6287
_W_XLETTER = -0.1028
_W_LONG = 0.4456
_W_DIGITS = 1.4112
_W_PUNCT = 0.2981
_W_PUNCT_RUN = 0.161
_W_NEWLINE = 2.8139
_W_INDENT = -0.5136
_W_CJK = 0.7157
_W_OTHER = 2.1415
_BYTES_PER_TOKEN = 3.85

_MSG_OVERHEAD = 3
_NAME_OVERHEAD = 1
_REPLY_PRIMING = 3
_IMAGE_LOW = 85
_IMAGE_HIGH = 765
_OPAQUE_PART = 256

# Content parts that carry a media payload (OpenAI chat, Responses, Anthropic Messages).
_IMAGE_PARTS = ("image_url", "input_image", "image")
_OPAQUE_PARTS = ("input_audio", "file", "input_file", "document")

# Character classes for the scan.
_C_SPACE = 0
_C_NEWLINE = 1
_C_LETTER = 2
_C_DIGIT = 3
_C_PUNCT = 4
_C_XLETTER = 5
_C_CJK = 6
_C_OTHER = 7


def _classify(ch: str) -> int:
    code = ord(ch)
    if code < 128:
        if 97 <= code <= 122 or 65 <= code <= 90:
            return _C_LETTER
        if 48 <= code <= 57:
            return _C_DIGIT
        if code == 32 or code == 9:
            return _C_SPACE
        if code == 10 or code == 13:
            return _C_NEWLINE
        if code < 32 or code == 127:
            return _C_OTHER
        return _C_PUNCT
    if (
        0x3040 <= code <= 0x30FF  # hiragana, katakana
        or 0x3400 <= code <= 0x4DBF  # CJK extension A
        or 0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0xAC00 <= code <= 0xD7AF  # hangul syllables
        or 0xF900 <= code <= 0xFAFF  # CJK compatibility ideographs
        or 0x20000 <= code <= 0x2FFFF  # CJK extensions B and later
    ):
        return _C_CJK
    if 0x3000 <= code <= 0x303F or 0xFF00 <= code <= 0xFFEF:
        return _C_PUNCT  # CJK and full-width punctuation
    if ch.isalpha():
        return _C_XLETTER
    if ch.isspace():
        return _C_SPACE
    return _C_OTHER


def _features(text: str) -> list:
    """Counts the estimator weighs: see the _W_* coefficients, in the same order."""
    words = letters = xwords = xletters = longs = digits = punct = punct_runs = 0
    newlines = indents = cjk = other = 0
    prev = _C_NEWLINE
    run = 0  # length of the current run of the same class
    word_x = False  # current word has a non-ASCII letter
    lower = False  # previous character was an ASCII lower-case letter
    for ch in text:
        code = ord(ch)
        cls = _classify(ch)
        # o200k's pre-tokenizer starts a new piece at a lower-to-upper case change
        # ("thoughtSignature" is "thought" + "Signature"): count pieces, not words.
        hump = cls == _C_LETTER and lower and code <= 90
        lower = 97 <= code <= 122
        isx = cls == _C_XLETTER
        if isx:
            cls = _C_LETTER
        same = cls == prev and not hump
        if prev == _C_LETTER and not same:
            if word_x:  # the word that just ended
                xwords += 1
                xletters += run
            else:
                letters += run
            if run > 6:
                longs += run - 6
        if cls == _C_LETTER:
            if not same:
                words += 1
                word_x = False
                run = 0
            run += 1
            if isx:
                word_x = True
        elif cls == _C_DIGIT:
            # o200k splits digit runs into groups of up to three.
            if not same:
                run = 0
            if run % 3 == 0:
                digits += 1
            run += 1
        elif cls == _C_PUNCT:
            punct += 1
            if not same:
                punct_runs += 1
        elif cls == _C_NEWLINE:
            if not same:
                newlines += 1
        elif cls == _C_SPACE:
            if not same:
                run = 0
            run += 1
            if run == 2:
                indents += 1  # a space run longer than one is a token of its own
        elif cls == _C_CJK:
            cjk += 1
        else:
            # Symbols and emoji: about one token per UTF-8 byte pair; weigh their bytes.
            other += 2 if code < 0x800 else (3 if code < 0x10000 else 4)
        prev = cls
    if prev == _C_LETTER:
        if word_x:
            xwords += 1
            xletters += run
        else:
            letters += run
        if run > 6:
            longs += run - 6
    return [words - xwords, letters, xwords, xletters, longs, digits, punct, punct_runs,
            newlines, indents, cjk, other]


def estimate_tokens(text: str) -> int:
    """Estimated o200k_base token count of ``text`` (no vocabulary needed)."""
    if not text:
        return 0
    f = _features(text)
    est = (
        _W_WORD * f[0] + _W_LETTER * f[1] + _W_XWORD * f[2] + _W_XLETTER * f[3]
        + _W_LONG * f[4] + _W_DIGITS * f[5] + _W_PUNCT * f[6] + _W_PUNCT_RUN * f[7]
        + _W_NEWLINE * f[8] + _W_INDENT * f[9] + _W_CJK * f[10] + _W_OTHER * f[11]
    )
    return max(1, int(est + 0.5))


def estimate_tokens_from_bytes(n: int) -> int:
    """Estimate from a UTF-8 byte count alone (e.g. text seen on a cut stream)."""
    if n <= 0:
        return 0
    return max(1, int(n / _BYTES_PER_TOKEN + 0.5))


@functools.lru_cache(maxsize=1)
def _o200k():
    # Loaded once, lazily, on first use (about 0.1 s): never at import.
    # bpe-openai 0.1 reads its vocabularies (at import) with importlib.resources.open_binary,
    # deprecated since Python 3.11; the warning is theirs, so it is silenced here only.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import bpe_openai
        except ImportError:
            return None
        return bpe_openai.get_encoding("o200k_base")


# bpe-openai refuses inputs of 1,000,000 characters or more and results over 200,000
# tokens per call; longer text is counted in pieces cut where o200k's pre-tokenizer cuts
# anyway (a line break followed by a letter or digit), so the sum stays exact.
_PIECE = 40_000


def exact_tokens(text: str) -> int | None:
    """o200k_base token count via bpe-openai, or None when it is not installed.

    Synchronous, CPU-bound: run it off the event loop for large inputs.
    """
    enc = _o200k()
    if enc is None:
        return None
    n = len(text)
    if n <= _PIECE:
        return len(enc.encode_ordinary(text))
    total = 0
    start = 0
    while start < n:
        end = min(start + _PIECE, n)
        if end < n:
            cut = text.rfind("\n", start + _PIECE // 2, end)
            while cut != -1 and not text[cut + 1].isalnum():
                cut = text.rfind("\n", start + _PIECE // 2, cut)
            if cut != -1:
                end = cut + 1
        total += len(enc.encode_ordinary(text[start:end]))
        start = end
    return total


def _content_tokens(content) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return estimate_tokens(content)
    total = 0
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "text" or kind == "refusal":
                total += estimate_tokens(part.get(kind) or "")
            elif kind == "image_url":
                image = part.get("image_url")
                low = isinstance(image, dict) and image.get("detail") == "low"
                total += _IMAGE_LOW if low else _IMAGE_HIGH
            else:
                total += _OPAQUE_PART
    return total


def _payload_bytes(part: dict) -> int:
    """Bytes of a media part's strings, one level down too (``image_url.url``,
    ``source.data``): ASCII (base64, URLs), so characters are bytes."""
    total = 0
    for value in part.values():
        if isinstance(value, str):
            total += len(value)
        elif isinstance(value, dict):
            for inner in value.values():
                if isinstance(inner, str):
                    total += len(inner)
    return total


def estimate_body_tokens(messages, body_size: int) -> int:
    """Prompt tokens from the body's size: O(1) in its text, media parts at their flat costs."""
    payload = 0
    flat = 0
    if isinstance(messages, list):
        for msg in messages:
            if not isinstance(msg, dict):
                continue
            content = msg.get("content")
            if not isinstance(content, list):
                continue
            for part in content:
                if not isinstance(part, dict):
                    continue
                kind = part.get("type")
                if kind in _IMAGE_PARTS:
                    image = part.get("image_url")
                    low = part.get("detail") == "low" or (isinstance(image, dict) and image.get("detail") == "low")
                    flat += _IMAGE_LOW if low else _IMAGE_HIGH
                elif kind in _OPAQUE_PARTS:
                    if kind == "document":
                        source = part.get("source")
                        if not (isinstance(source, dict) and source.get("type") == "base64"):
                            continue  # a text document: its text is prompt
                    flat += _OPAQUE_PART
                else:
                    continue
                payload += _payload_bytes(part)
    return flat + estimate_tokens_from_bytes(body_size - payload)


def estimate_prompt_tokens(messages: list) -> int:
    """Estimated prompt tokens of decoded OpenAI chat messages, overheads included."""
    total = _REPLY_PRIMING
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        total += _MSG_OVERHEAD + 1  # the role is one token
        total += _content_tokens(msg.get("content"))
        name = msg.get("name")
        if name:
            total += _NAME_OVERHEAD + estimate_tokens(name)
        calls = msg.get("tool_calls")
        if calls:
            for call in calls:
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict):
                    total += _MSG_OVERHEAD + estimate_tokens(fn.get("name") or "")
                    total += estimate_tokens(fn.get("arguments") or "")
        tool_call_id = msg.get("tool_call_id")
        if tool_call_id:
            total += estimate_tokens(tool_call_id)
    return total


class UsageAccumulator:
    """Token usage of one request, built from a provider's per-chunk numbers.

    ``add(..., cumulative=False)`` adds deltas (Anthropic's message_start then
    message_delta); ``cumulative=True`` treats them as running totals and keeps the
    largest seen (Gemini's usageMetadata repeats the totals so far on every chunk).
    Cached and reasoning tokens are kept apart and never added to the totals twice: they
    are parts of prompt and completion tokens respectively, as in OpenAI's usage object.
    """

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cached_tokens = 0
        self.reasoning_tokens = 0
        self.seen = False

    def add(self, prompt=None, completion=None, cached=None, reasoning=None,
            cumulative=False) -> None:
        if prompt is not None:
            self.prompt_tokens = _merge(self.prompt_tokens, prompt, cumulative)
            self.seen = True
        if completion is not None:
            self.completion_tokens = _merge(self.completion_tokens, completion, cumulative)
            self.seen = True
        if cached is not None:
            self.cached_tokens = _merge(self.cached_tokens, cached, cumulative)
            self.seen = True
        if reasoning is not None:
            self.reasoning_tokens = _merge(self.reasoning_tokens, reasoning, cumulative)
            self.seen = True

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __repr__(self) -> str:
        return (
            f"UsageAccumulator(prompt={self.prompt_tokens}, completion={self.completion_tokens}, "
            f"cached={self.cached_tokens}, reasoning={self.reasoning_tokens}, seen={self.seen})"
        )


def _merge(current: int, value: int, cumulative: bool) -> int:
    value = int(value)
    if cumulative:
        return value if value > current else current
    return current + value
