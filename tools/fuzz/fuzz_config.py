"""The config loader (edge.config.load_config): any file gives a Config or a ConfigError, never
another exception, and a ConfigError never shows a secret it was given."""

from __future__ import annotations

import os
import tempfile

import atheris

with atheris.instrument_imports(include=["edge"]):
    from edge.config import ConfigError, load_config

from tools.fuzz._harness import ROOT, main

_DIR = tempfile.mkdtemp(prefix="fuzz-config-")
_PATH = os.path.join(_DIR, "edge.yaml")
SECRET = "sk-fuzz-secret-7f3a"
ENV = {"SECRET_KEY": SECRET, "EMPTY": ""}


def one_input(data: bytes) -> None:
    with open(_PATH, "wb") as f:
        f.write(data)
    try:
        load_config(_PATH, env=ENV)
    except ConfigError as exc:
        assert SECRET not in str(exc), f"a config error shows the secret: {exc}"


def seeds() -> list[bytes]:
    example = (ROOT / "examples" / "edge.yaml").read_bytes()
    return [
        example,
        b"providers:\n  p: {kind: openai, base_url: 'http://x', api_key: '${SECRET_KEY}'}\nmodels:\n  m: {route: [{provider: p, model: x}]}\n",
        b"providers:\n  p: {kind: openai, base_url: 3, api_key: '${SECRET_KEY}'}\n",
        b"keys: {admin: 12}\nserver: {port: -1, workers: 0}\n",
        b"models:\n  a: {fallbacks: [b]}\n  b: {fallbacks: [a]}\n",
    ]


if __name__ == "__main__":
    main("config", one_input, seeds())
