"""Load tests of llm-edge against a mocked upstream, with peers side by side (``edge bench``).

Layout after msgspec's ``benchmarks/``: one module per scenario under ``scenarios/`` sharing the
small contract in ``common.py``, a deterministic data generator (``data.py``), the systems under
test (``systems.py``; the floor proxy is ``floor_proxy.py``), two load generators (``loadgen.py``:
wrk when installed, a built-in asyncio client otherwise), the runner (``runner.py``), the report
(``report.py``: markdown, JSON, PNG plot), the soak (``soak.py``) and the profiler (``profile.py``).
See README.md for the commands and the latest report.

bench/ is not installed with the wheel; ``edge bench`` loads it from the source checkout.
"""
