"""app.py as a process: a port already in use gives a one-line reason, not a traceback."""
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_port_in_use_prints_one_line_and_exits():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port))
        run = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=60)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode != 0, "app.py must exit when its port is taken"
    assert lines and "already in use" in lines[-1] and "Traceback" not in run.stderr, run.stderr[-2000:]
