"""The peers bench/ runs llm-edge beside, from outside this project: LiteLLM (its own venv) and
Portkey's gateway (npm): where to find them, their config, their versions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["find_litellm", "find_portkey", "litellm_config", "litellm_version", "portkey_version"]

# The embeddings scenario's upstream model (bench.systems uses the same name).
EMBED_UPSTREAM = "text-embedding-3-small"


def litellm_config(mock_url: str) -> str:
    rows = "".join(
        f"""  - model_name: {name}
    litellm_params:
      model: openai/{upstream}
      api_base: {mock_url}/v1
      api_key: sk-bench-upstream-0123456789
"""
        for name, upstream in (("echo", "echo"), ("embed", EMBED_UPSTREAM))
    )
    return f"model_list:\n{rows}general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n"


def find_portkey(explicit: str | None = None) -> str | None:
    """Portkey's gateway (npm @portkey-ai/gateway): its start-server.js, when node can run it."""
    path = explicit or os.environ.get("EDGE_BENCH_PORTKEY") or str(Path(__file__).resolve().parent.parent.parent / "cache" / "portkey" / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js")
    return path if os.path.exists(path) and shutil.which("node") else None


def find_litellm(explicit: str | None) -> str | None:
    path = explicit or os.environ.get("EDGE_BENCH_LITELLM")
    if path:
        return path if Path(path).is_file() else None
    default = Path("/tmp/litellm-venv/bin/litellm")
    return str(default) if default.is_file() else None


def portkey_version(script: str) -> str:
    try:
        return "portkey gateway " + json.loads((Path(script).parent.parent / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "portkey gateway"


def litellm_version(litellm: str) -> str:
    python = Path(litellm).with_name("python")
    try:
        out = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"], capture_output=True, text=True, timeout=60)
        return "LiteLLM " + out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "LiteLLM"
