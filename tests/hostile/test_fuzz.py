"""Coverage-guided fuzzing (atheris) of every parser of outside bytes: a short run of each
target in the suite, and the findings as regression tests. Longer runs: tools/fuzz (docs/hostile.md)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.adapters.anthropic import AnthropicAdapter
from edge.adapters.gemini import GeminiAdapter
from edge.adapters.ollama import OllamaAdapter
from edge.config import ConfigError, load_config
from edge.fastpath.sse import SSEError

ROOT = Path(__file__).resolve().parents[2]
CRASHES = Path(__file__).parent / "crashes"
TARGETS = ["sse", "reencode", "anthropic_stream", "gemini_stream", "ollama_stream", "config", "tags", "client", "server"]

pytest.importorskip("atheris")


def test_short_fuzz_run(tmp_path: Path) -> None:
    """About 2 s of each target (seed corpus first, then mutations), all at once; any finding fails."""
    procs = {
        target: subprocess.Popen(
            [sys.executable, "-m", f"tools.fuzz.fuzz_{target}", "--seconds", "2", "--findings", str(tmp_path)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for target in TARGETS
    }
    for target, proc in procs.items():
        log, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, f"fuzz_{target} found something:\n{log[-4000:]}"
        runs = re.search(r"Done (\d+) runs", log)
        assert runs and int(runs.group(1)) > 20, f"fuzz_{target} did not run:\n{log[-2000:]}"


# -- findings, kept as regression tests ------------------------------------------------------


def test_config_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    # fuzz_config: load_config raised UnicodeDecodeError (a crash of `edge serve` with a traceback).
    path = tmp_path / "edge.yaml"
    path.write_bytes((CRASHES / "config-non-utf8.yaml").read_bytes())
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path, env={"SECRET_KEY": "x"})


@pytest.mark.parametrize(
    ("name", "adapter", "prefix"),
    [
        ("anthropic", AnthropicAdapter("http://127.0.0.1:9", "k"), b"data: "),
        ("gemini-sse", GeminiAdapter("http://127.0.0.1:9", "k"), b"data: "),
        ("gemini-bare-json", GeminiAdapter("http://127.0.0.1:9", "k"), b'[{"text":"'),
        ("ollama", OllamaAdapter("http://127.0.0.1:9"), b'{"message":{"content":"'),
    ],
)
def test_a_line_without_end_is_bounded(name: str, adapter: object, prefix: bytes) -> None:
    # Gemini's and Ollama's decoders held an unterminated line without a cap and re-copied it
    # on every feed: 40 MB in 64 KB pieces took 9-12 s and 80 MB; 100 MB would take minutes.
    decoder = adapter.stream_decoder()  # type: ignore[attr-defined]
    piece = b"x" * 65536
    started = time.perf_counter()
    with pytest.raises(SSEError):
        decoder.feed(prefix)
        for _ in range(100 * 16):  # up to 100 MB
            decoder.feed(piece)
    assert time.perf_counter() - started < 2.0


def test_a_config_error_never_shows_a_value_from_the_environment() -> None:
    # fuzz_config: base_url 'htt${SECRET_KEY}' (a key pasted into a URL) was echoed in the error.
    from edge.config import parse_config

    with pytest.raises(ConfigError) as caught:
        parse_config({"providers": {"p": {"kind": "openai", "base_url": "htt${SECRET_KEY}"}}}, env={"SECRET_KEY": "sk-fuzz-secret-7f3a"})
    assert "sk-fuzz-secret-7f3a" not in str(caught.value) and "<from environment>" in str(caught.value)
