"""Cold start: `python -m llm_demo.bench coldstart [--launches 2]`.

Launches app.py (as `make run` does) on a free loopback port, asks the Chat tab one question through its API as
soon as the page answers, and times launch -> first token of the answer. The first launch fills the caches (the
SmolLM2 tokenizer read out of the GGUF, Python's bytecode); the last launch is the one reported.
Last line: first_token_after_launch_s=<s>
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

from llm_demo import models
from llm_demo.bench.launch import start_app, stop_app

QUESTION = "What is the capital of France?"


def first_answer_text(outputs) -> str:
    """The assistant text in the latest streamed output of /chat (the chatbot is the list of message dicts)."""
    for out in reversed(outputs):
        for value in (out if isinstance(out, (list, tuple)) else [out]):
            if isinstance(value, list) and value and isinstance(value[-1], dict) and value[-1].get("role") == "assistant":
                return str(value[-1].get("content") or "")
    return ""


def one_launch(timeout_s: float) -> tuple[float, float, float]:
    """(seconds to the page answering, to the API client being connected, to the first token) for one launch."""
    from gradio_client import Client
    log = Path(tempfile.gettempdir()) / f"llm_lab_coldstart_{os.getpid()}.log"
    t0 = time.perf_counter()
    proc, url = start_app(log, timeout_s=timeout_s, poll_s=0.05)
    try:
        served = time.perf_counter() - t0
        client = Client(url, verbose=False)
        connected = time.perf_counter() - t0
        job = client.submit(QUESTION, [], models.DEFAULT_CHAT_MODEL, "", 0, 50, 0.9, 1.0, 16, 0, "", api_name="/chat")
        while not first_answer_text(job.outputs()):
            if job.done() or time.perf_counter() - t0 > timeout_s:
                raise SystemExit(f"no token within {timeout_s} s (job done: {job.done()}); see {log}")
            time.sleep(0.02)
        first = time.perf_counter() - t0
        job.result(timeout=timeout_s)
        client.close()
        return served, connected, first
    finally:
        stop_app(proc)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m llm_demo.bench coldstart", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--launches", type=int, default=2, help="launches in a row; the last one is reported (1-5)")
    ap.add_argument("--timeout-s", type=float, default=180, help="give up on a launch after this many seconds")
    args = ap.parse_args(argv)
    if not 1 <= args.launches <= 5:
        ap.error("--launches must be 1-5")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min) at start")
    first = None
    for i in range(1, args.launches + 1):
        served, connected, first = one_launch(args.timeout_s)
        print(f"launch {i}: page answers after {served:.1f} s, client connected after {connected:.1f} s, "
              f"first token after {first:.1f} s")
    print(f"machine: load average {os.getloadavg()[0]:.2f} (1 min) at the end")
    print(f"first_token_after_launch_s={first:.1f}")
    return 0
