"""Security: no pickled weights, no remote code, no local paths or hub ids from the UI unless the deployer allows
them, no user text executed or used in a file path, and the deployment switches default the safe way."""
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import gradio as gr
import pytest

from conftest import ROOT
from llm_demo import compare, config, models, tokenization
from llm_demo.ui import compare_tab, tokenizer_tab

SOURCES = [ROOT / "app.py", *sorted((ROOT / "llm_demo").rglob("*.py"))]
DANGEROUS = {
    r"\bimport pickle\b|\bpickle\.load": "unpickling runs code",
    r"torch\.load\(": "torch.load unpickles (use safetensors)",
    r"(?<![.\w])(eval|exec)\(": "executes text",
    r"trust_remote_code\s*=\s*True": "runs a repository's code",
    r"shell\s*=\s*True|os\.system\(|os\.popen\(": "runs a shell",
    r"yaml\.load\(": "yaml.load can build objects",
}


def test_no_source_file_unpickles_executes_text_or_trusts_remote_code():
    found = []
    for path in SOURCES:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for pattern, why in DANGEROUS.items():
                if re.search(pattern, line) and not line.lstrip().startswith("#"):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {why}: {line.strip()}")
    assert not found, "\n".join(found)


def test_models_load_with_safetensors_only_and_never_remote_code(monkeypatch, tiny_dir, tmp_path):
    import transformers
    calls = []

    def spy(real):
        return lambda where, **kw: calls.append(kw) or real(where, **kw)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained",
                        spy(transformers.AutoModelForCausalLM.from_pretrained))
    spec = models.ModelSpec("tiny-sec", "tiny", "sft", "embedded", str(tiny_dir), "tiny sec")
    monkeypatch.setitem(models.REGISTRY, "tiny-sec", spec)
    models.ModelCache().get("tiny-sec")
    assert calls and all(kw.get("use_safetensors") is True and kw.get("trust_remote_code") is False for kw in calls), \
        calls
    (tmp_path / "config.json").write_text((tiny_dir / "config.json").read_text())
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04pickled")     # a pickle checkpoint, never opened
    monkeypatch.setitem(models.REGISTRY, "tiny-pickle",
                        models.ModelSpec("tiny-pickle", "tiny", "sft", "embedded", str(tmp_path), "tiny pickle"))
    with pytest.raises(ValueError, match="only safetensors or GGUF"):
        models.load("tiny-pickle")


def test_hub_ids_and_local_folders_from_the_ui_are_refused_unless_allowed(monkeypatch):
    monkeypatch.setattr(config, "ALLOW_CUSTOM_MODELS", False)
    for name in ("custom:/etc", "custom:someone/model", "/etc/passwd", "../assets/models/tinygpt/sft"):
        with pytest.raises(ValueError, match="switched off|Unknown model"):
            models.get_spec(name)
    monkeypatch.setattr(config, "ALLOW_HUB_TOKENIZERS", False)
    with pytest.raises(gr.Error, match="switched off on this deployment.*pick one of the listed tokenizers"):
        tokenizer_tab.inspect_text("hi", "gpt2", "someone/tokenizer", False, False)
    assert tokenizer_tab.inspect_text("hi", "gpt2", "", False, False)["view"], "listed tokenizers must still work"
    monkeypatch.setattr(config, "ALLOW_HUB_TOKENIZERS", True)
    for local in ("assets/tokenizers", "llm_demo/..", "/etc/passwd"):
        with pytest.raises(ValueError, match="local paths are never read|Unknown tokenizer"):
            tokenization.get_tokenizer(local)


def test_refused_tokenizer_names_leave_nothing_behind():
    before = (len(tokenization._cache), len(tokenization._name_locks))
    for i in range(50):
        with pytest.raises(ValueError):
            tokenization.get_tokenizer(f"no such tokenizer {i}")
    assert (len(tokenization._cache), len(tokenization._name_locks)) == before, "every refused name stayed in memory"


def test_the_ui_offers_no_free_text_model_choice(monkeypatch):
    """Model and family dropdowns accept only their listed choices (Gradio refuses anything else)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from llm_demo.ui.chat_tab import build_chat_tab
    with gr.Blocks() as demo:
        build_chat_tab()
        compare_tab.build_compare_tab()
    dropdowns = [b for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.label in ("Model", "Model family")]
    assert len(dropdowns) == 2 and not any(d.allow_custom_value for d in dropdowns), dropdowns


@pytest.mark.parametrize("env,custom,hub_tokenizers", [
    ({}, False, True),                                                   # a teacher's laptop
    ({"SPACE_ID": "teacher/llm-lab"}, False, False),                     # a public Space
    ({"SPACE_ID": "teacher/llm-lab", "LLM_DEMO_ALLOW_HUB_TOKENIZERS": "1"}, False, True),
    ({"LLM_DEMO_ALLOW_HUB_TOKENIZERS": "0", "LLM_DEMO_ALLOW_CUSTOM_MODELS": "1"}, True, False),
])
def test_deployment_switches_default_the_safe_way(env, custom, hub_tokenizers):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LLM_DEMO_") and k != "SPACE_ID"}
    code = "import json; from llm_demo import config as c; print(json.dumps([c.ALLOW_CUSTOM_MODELS, c.ALLOW_HUB_TOKENIZERS]))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True,
                         timeout=60)
    assert json.loads(out.stdout) == [custom, hub_tokenizers], (env, out.stdout, out.stderr)


@pytest.mark.parametrize("session", ["../../etc", "/tmp/x", "a/../../b", "x" * 500, "\x00", "ab12cd", "..", "~root"])
def test_a_session_id_never_becomes_part_of_a_path(session, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    folder = compare.votes_dir(session)
    root = tmp_path / "llm_lab_votes"
    assert folder.parent == root and re.fullmatch(r"[0-9a-f]{32}", folder.name), folder
    vote = {"prompt": "p", "chosen": "good", "rejected": "bad"}
    path = Path(compare_tab.download([vote], types.SimpleNamespace(session_hash=session)))
    assert path.parent == folder and path.read_text().strip(), path
    compare_tab.forget_session(types.SimpleNamespace(session_hash=session))
    assert not folder.exists() and root.exists(), "closing the tab must delete that session's folder only"


def test_two_sessions_never_share_a_votes_file(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    a = compare_tab.download([{"prompt": "p", "chosen": "A", "rejected": "x"}], types.SimpleNamespace(session_hash="a1"))
    b = compare_tab.download([{"prompt": "p", "chosen": "B", "rejected": "x"}], types.SimpleNamespace(session_hash="b2"))
    assert Path(a).parent != Path(b).parent and '"A"' in Path(a).read_text() and '"B"' in Path(b).read_text()
    compare_tab.forget_session(types.SimpleNamespace(session_hash="a1"))
    assert not Path(a).exists() and Path(b).exists(), "one tab closing deleted another session's votes"
    with pytest.raises(ValueError, match="session id"):
        compare.votes_dir("")
