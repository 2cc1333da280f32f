"""The Gemini adapter's stream decoder (and egress behind it); properties in tools/fuzz/_decoders.py."""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["edge"]):
    from tools.fuzz._decoders import make_target

from tools.fuzz._harness import fixture_seeds, main

one_input = make_target("gemini")

if __name__ == "__main__":
    main("gemini_stream", one_input, fixture_seeds("gemini"))
