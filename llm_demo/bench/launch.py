"""Start a server as a subprocess on a free loopback port, wait until it answers, stop it: the one launcher the
browser tests, the fault tests and the benchmarks (load, arena, coldstart) share. Not a benchmark itself.

    proc, url = start_app(Path("/tmp/app.log"), timeout_s=60)    # `python app.py`, offline, as a user starts it
    ...
    stop_app(proc)
"""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from llm_demo import ROOT


class AppDidNotStart(RuntimeError):
    """The process exited, or did not answer in time; the message holds the end of its log."""


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv: list[str], log: Path, ready_url: str, *, env: dict | None = None, timeout_s: float = 120,
          headers: dict | None = None, poll_s: float = 0.3) -> subprocess.Popen:
    """Run argv from the repository root with stdout and stderr in `log`; return once a GET of ready_url succeeds
    (2xx). Raises AppDidNotStart (the process killed) if it exits first or timeout_s passes."""
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(urllib.request.Request(ready_url, headers=headers or {}), timeout=2)
            return proc
        except OSError:               # refused, timed out, or an HTTP error status (HTTPError is an OSError)
            code = proc.poll()
            if code is not None or time.monotonic() > deadline:
                if code is None:
                    proc.kill()
                    proc.wait()
                why = f"exited with code {code}" if code is not None else f"no answer within {timeout_s:g} s"
                tail = Path(log).read_text(errors="replace")[-3000:]
                raise AppDidNotStart(f"{' '.join(map(str, argv))[:120]}: {why} at {ready_url}; end of {log}:\n{tail}") \
                    from None
            time.sleep(poll_s)


def start_app(log: Path, *, env: dict | None = None, argv: list[str] | None = None, timeout_s: float = 120,
              poll_s: float = 0.3) -> tuple[subprocess.Popen, str]:
    """`python app.py` (or argv, a script that launches the app) on a free loopback port, offline unless
    HF_HUB_OFFLINE says otherwise, analytics off; `env` adds to this process's environment. Returns (process, url)."""
    port = free_port()
    full_env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), **(env or {}),
                "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    url = f"http://127.0.0.1:{port}/"
    proc = start(argv or [sys.executable, "app.py"], log, url, env=full_env, timeout_s=timeout_s, poll_s=poll_s)
    return proc, url


def stop_app(proc: subprocess.Popen) -> None:
    """End a process started here: terminate, then kill if it has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
