"""A real `prefect server` on loopback, for the deployment tests and the benchmark's
long-lived-server scenarios (bench/run_bench.py imports it)."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


class ServerDidNotStart(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def prefect_server(home: Path, env: dict | None = None, timeout_s: float = 180) -> Iterator[dict]:
    """Start `prefect server` with its database under `home` (kept, so a second start sees the
    first one's runs); yield `env` plus PREFECT_HOME and PREFECT_API_URL pointing at it; stop it
    on exit. Its log is `home/server.log`."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**(os.environ if env is None else env), "PREFECT_HOME": str(home),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
           "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
    env.pop("PREFECT_LOGGING_SETTINGS_PATH", None)
    with open(home / "server.log", "a") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start",
                                 "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ServerDidNotStart((home / "server.log").read_text()[-2000:])
                time.sleep(0.5)
            yield env
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
