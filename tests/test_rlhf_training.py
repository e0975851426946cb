"""The reward model and RLHF (RLOO) stages on the micro preset: the pipeline through both, a byte-identical rerun of
`all`, and their refusals (before SFT, bad pairs, a NaN reward). Trains: in the training tier.

Run: `.venv/bin/python -m pytest -q tests/test_rlhf_training.py`
"""
import json
import math
import shutil

import pytest

from llm_demo.training import common as C
from llm_demo.training import rlhf_curves as RC
from llm_demo.training.__main__ import main

MICRO = ["--preset", "micro", "--threads", "1"]


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    out = tmp_path_factory.mktemp("micro")
    assert main(["all", "--out", str(out), *MICRO]) == 0
    return out


def test_micro_pipeline_runs_reward_rlhf_and_hack(micro):
    for folder in ("reward", "rlhf"):
        assert C.is_complete(micro / folder), f"{folder} should hold weights and a summary"
    rl = json.loads((micro / "rlhf" / "summary.json").read_text())
    assert rl["algorithm"] == "RLOO" and rl["steps"] == C.PRESETS["micro"].rlhf_steps, rl
    for run in ("rlhf", "rlhf-hack"):
        rows = RC.read_csv(micro / run / "curves.csv")
        assert [r["step"] for r in rows][0] == 0 and len(rows) >= 2, f"{run}: curves from step 0 on: {rows}"
        assert all(math.isfinite(r["reward_model_score"]) for r in rows), rows
    assert not (micro / "rlhf-hack" / "model.safetensors").exists(), "the KL-off run ships curves, not weights"
    ev = json.loads((micro / "eval.json").read_text())
    assert "rlhf" in ev["stages"] and 0 <= ev["reward_model_accuracy"] <= 1, ev
    assert {"reward_model_score", "kl_to_sft"} <= set(ev["stages"]["rlhf"]), ev["stages"]["rlhf"]


# What a rerun may change: wall-clock times (summary.json, the model cards, the trainer's logs carry them).
TIMED = {"summary.json", "README.md", "training_log.csv", "training_log.json"}


def test_all_reruns_byte_identical_with_one_thread(micro, tmp_path):
    """Issue 25, item 5: `all` with the same seed and --threads 1 writes the same bytes, the two new stages included."""
    again = tmp_path / "again"
    assert main(["all", "--out", str(again), *MICRO]) == 0
    files = sorted(p.relative_to(micro) for p in micro.rglob("*") if p.is_file() and p.name not in TIMED)
    assert sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file() and p.name not in TIMED) == files
    for need in ("reward/model.safetensors", "rlhf/model.safetensors", "rlhf/curves.csv", "rlhf-hack/curves.csv",
                 "rlhf-hack/samples.jsonl", "eval.json"):
        assert any(str(f) == need for f in files), f"{need} is not written by `all`"
    differ = [str(f) for f in files if (micro / f).read_bytes() != (again / f).read_bytes()]
    assert not differ, f"same seed, one thread, different bytes: {differ}"


def test_ppo_alias_names_rloo(micro, capsys):
    main(["ppo", "--out", str(micro), *MICRO])  # complete: skipped, but the note says what runs
    assert "RLOO" in capsys.readouterr().out, "asking for ppo must say that RLOO is what trains"


def test_reward_and_rlhf_refuse_before_sft(tmp_path):
    for stage in ("reward", "rlhf"):
        with pytest.raises(SystemExit, match="sft"):
            main([stage, "--out", str(tmp_path), *MICRO])
    assert not (tmp_path / "reward").exists() and not (tmp_path / "rlhf").exists(), "nothing half-written"


def test_bad_preference_line_is_one_sentence(micro, tmp_path):
    out = tmp_path / "run"
    (out / "data").mkdir(parents=True)
    (out / "data" / "dpo_train.jsonl").write_text('{"prompt": "hi", "chosen": "a"}\n')
    shutil.copytree(micro / "sft", out / "sft")
    with pytest.raises(SystemExit, match="line 1: missing key"):
        main(["reward", "--out", str(out), *MICRO])
    assert not C.is_complete(out / "reward"), "a bad pairs file must not leave a reward model behind"


def test_nan_reward_stops_the_run():
    cb = RC.make_callback(None, None, None, [], 1, 1, 1, 0)
    with pytest.raises(RC.NonFinite, match="reward"):
        cb.on_log(None, type("S", (), {"global_step": 3})(), None, logs={"reward": float("nan"), "kl": 0.1})


def test_a_run_whose_kl_becomes_nan_stops_with_one_sentence_and_ships_nothing(micro, tmp_path, monkeypatch):
    out = tmp_path / "run"
    for folder in ("data", "sft", "reward"):
        shutil.copytree(micro / folder, out / folder)
    real, calls = RC.judge, []

    def judge(*args, **kw):               # the held-out KL turns NaN at the second curve point (after training steps)
        calls.append(1)
        point, rows = real(*args, **kw)
        if len(calls) > 1:
            raise RC.NonFinite(f"the held-out reward-model score or KL became {point['reward_model_score']}/nan")
        return point, rows
    monkeypatch.setattr(RC, "judge", judge)
    with pytest.raises(SystemExit, match="diverged") as exc:
        main(["rlhf", "--out", str(out), *MICRO])
    assert "\n" not in str(exc.value) and len(calls) == 2, (str(exc.value), calls)
    assert not C.is_complete(out / "rlhf") and not (out / "checkpoints" / "rlhf").exists(), "nothing half-written"
