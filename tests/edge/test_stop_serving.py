"""A serving worker stops on its first SIGTERM, busy or idle, even if its loop misses the signal.

Seen once in a full run: a gateway that had served for a while stayed up, listening, after its
first SIGTERM, and drained at once on a second one (edge.stopsignals says what was done). Here:

- a real ``edge serve`` under streaming load gets one SIGTERM at a random moment of its
  serving, several times over; each must drain and exit 0 on that one signal;
- the fallback itself, in a process of its own on a real uvloop loop: with the loop's wake-up
  fd taken away (``signal.set_wakeup_fd(-1)``, so the signal number never reaches the loop, the
  way the lost signal behaved), a real SIGTERM still sets ``stop`` and says so in the log; with
  the wake-up in place the loop's own path stops it and nothing is logged.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import openai
import pytest

from tests.support import Mock, Server, gateway_config, write_config

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals")

EXIT_BOUND_S = 60.0  # generous: drain_timeout_s is 10 and a loaded host is slow
ROUNDS = 4


def _stream_until(stop: threading.Event, url: str, errors: list[BaseException]) -> None:
    with openai.OpenAI(base_url=url + "/v1", api_key="any", max_retries=0, timeout=10) as client:
        while not stop.is_set():
            try:
                with client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "a b c d e f g h"}], stream=True) as chunks:
                    for _ in chunks:
                        pass
            except (openai.APIConnectionError, openai.APIStatusError):
                return  # the gateway is draining or gone: what a stopped gateway does
            except BaseException as exc:  # anything else is a fault the test must show
                errors.append(exc)
                return


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_sigterm_stops_a_busy_worker(tmp_path: Path, mock: Mock, round_: int) -> None:
    path = write_config(tmp_path / "edge.yaml", gateway_config(mock.base_url, tmp_path))
    server = Server(["serve", "--config", str(path)], cwd=str(tmp_path), timeout=60)
    done, errors = threading.Event(), []
    clients = [threading.Thread(target=_stream_until, args=(done, server.url, errors)) for _ in range(4)]
    try:
        for thread in clients:
            thread.start()
        time.sleep(random.Random(round_).uniform(0.5, 3.0))  # a random moment of its serving
        server.popen.send_signal(signal.SIGTERM)
        code = server.popen.wait(EXIT_BOUND_S)
    finally:
        done.set()
        for thread in clients:
            thread.join(30)
        server.stop(signal.SIGKILL, 10)  # a no-op for a process that exited
    assert code == 0, server.output[-3000:]
    assert "draining" in server.output and "stopped (pid" in server.output, server.output[-3000:]
    assert "wake-up" not in server.output, server.output[-3000:]  # its loop heard the signal itself
    assert not errors, errors


_FALLBACK = textwrap.dedent(
    """
    import asyncio, logging, os, signal, sys, time
    import uvloop
    from edge.stopsignals import StopSignals

    logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="%(message)s")

    async def main(lose_wakeup: bool) -> None:
        stop = asyncio.Event()
        signals = StopSignals(asyncio.get_running_loop(), stop)
        signals.install()
        if lose_wakeup:
            signal.set_wakeup_fd(-1)  # the signal number no longer reaches the loop
        await asyncio.sleep(0.3)
        started = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)
        try:
            await asyncio.wait_for(stop.wait(), 10)
        except asyncio.TimeoutError:
            print("not stopped")
        else:
            print(f"stopped after {time.monotonic() - started:.2f} s")
        signals.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main(sys.argv[1] == "lose"))
    """
)


@pytest.mark.parametrize("wakeup", ["kept", "lose"])
def test_a_stop_signal_the_loop_misses_still_stops_it(wakeup: str) -> None:
    result = subprocess.run([sys.executable, "-c", _FALLBACK, wakeup], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stopped after" in result.stdout, result.stdout + result.stderr
    warned = "SIGTERM reached this worker but not its event loop's wake-up; stopping anyway" in result.stdout
    assert warned == (wakeup == "lose"), result.stdout
