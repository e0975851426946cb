"""A Hugging Face Space's build, from scratch: a new virtual environment gets requirements.txt plus what a Gradio
Space adds, in one pip command as the Space runs it (gradio[oauth,mcp] at the front matter's sdk_version, uvicorn,
websockets, spaces), and nothing else; the app starts with SPACE_ID set and the default chat model answers.
Reuses pip's cache (llama-cpp-python's compiled wheel among it), so it takes minutes, not the first compile. pip runs
with --no-compile (the Space's own pip also writes every package's bytecode): that changes nothing pip resolves or
installs, the app compiles what it imports, and the test takes 72 s instead of 123."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
from gradio_client import Client

from conftest import answer_text
from llm_demo import models
from llm_demo.bench.launch import AppDidNotStart, start_app, stop_app

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def test_a_space_built_from_requirements_alone_answers_with_the_default_chat_model(tmp_path):
    sdk = re.search(r"^sdk_version:\s*(\S+)", (ROOT / "README.md").read_text().split("---")[1], re.M).group(1)
    venv = tmp_path / "space-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    build = subprocess.run([py, "-m", "pip", "install", "-q", "--no-compile", "-r", str(ROOT / "requirements.txt"),
                            f"gradio[oauth,mcp]=={sdk}", "uvicorn", "websockets", "spaces"],
                           capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, f"the Space's pip install failed:\n{build.stderr[-3000:]}"
    try:
        proc, url = start_app(tmp_path / "space-app.log", argv=[py, "app.py"], timeout_s=60,
                              env={"SPACE_ID": "llm-lab/ci-check", "LLM_DEMO_CACHE_DIR": str(tmp_path / "cache")})
    except AppDidNotStart as exc:
        pytest.fail(f"the app built like a Space did not start: {exc}")
    try:
        out = Client(url, verbose=False).predict("Say hello.", [], models.DEFAULT_CHAT_MODEL, "", 0, 50, 0.9, 1.0, 8, 0,
                                                 "", api_name="/chat")
        text = answer_text(out[1][-1])
        assert out[1][-1]["role"] == "assistant" and text.strip(), f"the default chat model gave no answer: {out[1]}"
        assert "tokens/s" in out[2], f"no stats line: {out[2]!r}"
    finally:
        stop_app(proc)
