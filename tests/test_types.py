"""The type checker as a test: mypy (configured in pyproject.toml, run by tools/typecheck.py) over
edge/, adapters/ and fastpath/ laid out as installed, and proof that it holds adapters to their
protocol: a class missing a member of ``edge.adapters.types.Adapter`` is reported.

mypy keeps its cache in .mypy_cache (gitignored): the first run in a fresh clone checks the whole
tree (about 10 s of CPU), later ones only what changed (about 2 s).
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tools import typecheck

# A cold run checks the whole tree; on a loaded machine that can take a minute or more.
pytestmark = pytest.mark.timeout(600)

# An adapter module as a provider would write one, in three versions of one class: without
# stream_decoder, without passthrough, and complete; each registered both ways an adapter is
# (a ProviderKind whose factory returns it, and a value typed Adapter).
PROBE = '''"""Adapters for tests/test_types.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge.adapters._common import BODY_MODEL_NAMES
from edge.adapters.kinds import ProviderKind
from edge.adapters.types import Adapter, ChatResult, MessagesUpstream, StreamDecoder, TokenCounter, UpstreamErrorInfo, UpstreamRequest


class _Core:
    kind = "probe"
    model_names = BODY_MODEL_NAMES
    native_messages: MessagesUpstream | None = None
    token_counter: TokenCounter | None = None

    def chat_request(self, body: dict[str, Any], upstream_model: str, stream: bool) -> UpstreamRequest:
        raise NotImplementedError

    def retry_request(self, body: dict[str, Any], upstream_model: str, status: int, error_body: bytes) -> UpstreamRequest | None:
        return None

    def parse_chat(self, body: bytes, public_model: str) -> ChatResult:
        raise NotImplementedError

    def embeddings_request(self, body: dict[str, Any], upstream_model: str) -> UpstreamRequest:
        raise NotImplementedError

    def parse_embeddings(self, body: bytes, public_model: str) -> ChatResult:
        raise NotImplementedError

    def models_request(self) -> UpstreamRequest | None:
        return None

    def native_request(self, dialect: str, path: str, body: bytes, stream: bool) -> UpstreamRequest:
        raise NotImplementedError

    def parse_models(self, body: bytes) -> list[str]:
        return []

    def parse_error(self, status: int, headers: Any, body: bytes) -> UpstreamErrorInfo:
        raise NotImplementedError


class NoDecoder(_Core):
    passthrough: frozenset[str] = frozenset()


class NoPassthrough(_Core):
    def stream_decoder(self) -> StreamDecoder:
        raise NotImplementedError


class Complete(NoDecoder):
    def stream_decoder(self) -> StreamDecoder:
        raise NotImplementedError


def build_no_decoder(base_url: str, api_key: str | None, headers: Mapping[str, str], options: Any) -> NoDecoder:
    return NoDecoder()


def build_no_passthrough(base_url: str, api_key: str | None, headers: Mapping[str, str], options: Any) -> NoPassthrough:
    return NoPassthrough()


def build_complete(base_url: str, api_key: str | None, headers: Mapping[str, str], options: Any) -> Complete:
    return Complete()


NO_DECODER_KIND = ProviderKind(name="no-decoder", build=build_no_decoder)
NO_DECODER: Adapter = NoDecoder()
NO_PASSTHROUGH_KIND = ProviderKind(name="no-passthrough", build=build_no_passthrough)
NO_PASSTHROUGH: Adapter = NoPassthrough()
COMPLETE_KIND = ProviderKind(name="complete", build=build_complete)
COMPLETE: Adapter = Complete()
'''


@pytest.fixture(scope="module")
def checked() -> subprocess.CompletedProcess[str]:
    return typecheck.run()


def _report(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def _sources() -> list[str]:
    """Every file mypy must check, named as in the linked tree (edge/adapters/..., edge/fastpath/...)."""
    exclude = re.compile(tomllib.loads((typecheck.ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["exclude"][0])
    names = []
    for folder, linked in (("edge", "edge"), ("adapters", "edge/adapters"), ("fastpath", "edge/fastpath")):
        for path in (typecheck.ROOT / folder).rglob("*.py*"):
            name = f"{linked}/{path.relative_to(typecheck.ROOT / folder)}"
            if path.suffix in (".py", ".pyi") and "__pycache__" not in path.parts and not exclude.search(name):
                names.append(name)
    return names


def test_checker_sees_the_whole_tree(checked: subprocess.CompletedProcess[str]) -> None:
    summary = re.search(r"^(?:Success: no issues found in|Found \d+ errors? in \d+ files? \(checked) (\d+) source files", checked.stdout, re.M)
    assert summary, _report(checked)
    assert int(summary[1]) == len(_sources()), _report(checked)


def test_tree_type_checks(checked: subprocess.CompletedProcess[str]) -> None:
    assert typecheck.errors(checked.stdout) == [], _report(checked)
    assert checked.returncode == 0, _report(checked)


def test_checker_catches_an_adapter_missing_a_protocol_member(tmp_path: Path) -> None:
    probe = tmp_path / "_typecheck_probe.py"
    probe.write_text(PROBE)
    done = typecheck.run(extra=[probe])
    lines = PROBE.splitlines()

    def at(name: str) -> str:
        """The ``path:line:`` prefix of the probe's line that defines ``name``."""
        return f"{probe}:{next(i for i, text in enumerate(lines, 1) if text.startswith((name + ' ', name + ':')))}: "

    out = done.stdout
    reported = [line for line in out.splitlines() if line.startswith(str(probe))]
    for name, cls, member in (("NO_DECODER", "NoDecoder", "stream_decoder"), ("NO_PASSTHROUGH", "NoPassthrough", "passthrough")):
        # The value typed Adapter: refused, naming the missing member.
        assert f'{at(name)}error: Incompatible types in assignment (expression has type "{cls}", variable has type "Adapter")' in out, _report(done)
        notes = [line for line in reported if line.startswith(at(name) + "note: ")]
        assert notes and f'"{cls}" is missing following "Adapter" protocol member' in notes[0], _report(done)
        assert re.search(rf"note: +{member}$", "\n".join(notes), re.M), _report(done)
        # The registration: a factory returning it is not an AdapterFactory.
        assert f'{at(name + "_KIND")}error: Argument "build" to "ProviderKind" has incompatible type' in out, _report(done)
        assert 'expected "AdapterFactory"' in out
    # The complete adapter passes both ways, so the errors above come from the missing members alone.
    assert not [line for line in reported if line.startswith((at("COMPLETE"), at("COMPLETE_KIND")))], _report(done)
    assert len([e for e in typecheck.errors(out) if e.startswith(str(probe))]) == 4, _report(done)
