"""The whole pipeline on the micro preset (every stage, seconds), and the CLI's answers to bad input.

Run: `.venv/bin/python -m pytest -q tests/test_training.py`
"""
import json

import pytest

from llm_demo.training import common as C
from llm_demo.training.__main__ import main


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    """One micro run of `all` shared by the tests below (about 20 s on a busy 2-core machine)."""
    out = tmp_path_factory.mktemp("tinygpt")
    assert main(["all", "--preset", "micro", "--out", str(out), "--threads", "1"]) == 0
    return out


def test_every_stage_writes_a_loadable_checkpoint(micro):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for stage, folder in C.MODEL_STAGES.items():
        path = micro / folder
        for name in ("model.safetensors", "config.json", "tokenizer.json", "README.md", "training_log.csv",
                     "training_log.json", "summary.json", "chat_template.jinja"):
            assert (path / name).exists(), f"{stage}: {name} is missing in {path}"
        model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
        assert model.config.model_type == "gpt2" and model.config.tie_word_embeddings, f"{stage}: not a tied GPT-2"
        assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr(), f"{stage}: head not tied"
        ids = tok.apply_chat_template([{"role": "user", "content": "Hello!"}], add_generation_prompt=True,
                                      return_dict=True, return_tensors="pt")
        out = model.generate(**ids, max_new_tokens=4, do_sample=False)
        assert out.shape[1] > ids["input_ids"].shape[1], f"{stage}: generate() produced nothing"
        stops = model.generation_config.eos_token_id
        assert tok.eos_token_id in stops, f"{stage}: generate() would not stop at <|end|>"
        summary = json.loads((path / "summary.json").read_text())
        assert summary["steps"] > 0 and summary["tokens_seen"] > 0, f"{stage}: no training recorded: {summary}"
    assert torch.isfinite(torch.tensor(json.loads((micro / "base" / "summary.json").read_text())["final_train_loss"]))


def test_each_stage_changes_the_parameters(micro):
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    from llm_demo.training.pretrain import build_model

    set_seed(0)  # the pretrain stage seeds the same way before building the model: this is its initialization
    init = build_model(AutoTokenizer.from_pretrained(micro / "tokenizer"), C.PRESETS["micro"]).state_dict()
    states = {"init": init, **{f: AutoModelForCausalLM.from_pretrained(micro / f).state_dict()
                               for f in ("base", "sft", "rlhf", "dpo")}}
    # each stage against the checkpoint it starts from (RLHF and DPO both start from SFT)
    for a, b in (("init", "base"), ("base", "sft"), ("sft", "rlhf"), ("sft", "dpo")):
        changed = [k for k in states[b] if k in states[a] and not (states[a][k] == states[b][k]).all()]
        assert changed, f"{b} has exactly the parameters of {a}: that stage did not train"


def test_eval_json_has_the_issue_shape(micro):
    result = json.loads((micro / "eval.json").read_text())
    assert set(result) == {"stages", "dpo_reward_accuracy", "reward_model_accuracy"}, f"top-level keys: {set(result)}"
    assert set(result["stages"]) == set(C.MODEL_STAGES.values()), "eval.json must have exactly the family's stages"
    for stage, m in result["stages"].items():
        # the chat stages also carry the reward model's mean score and their KL to SFT (base answers are no chat turns)
        extra = {"reward_model_score", "kl_to_sft"} if stage != "base" else set()
        assert set(m) == {"format_compliance", "task_accuracy", "preferred_rate", "heldout_perplexity"} | extra, stage
        assert all(0 <= m[k] <= 1 for k in ("format_compliance", "task_accuracy", "preferred_rate")), (stage, m)
        assert m["heldout_perplexity"] > 1, f"{stage}: a perplexity below 1 is impossible"
    assert 0 <= result["dpo_reward_accuracy"] <= 1 and 0 <= result["reward_model_accuracy"] <= 1
    assert result["stages"]["sft"]["kl_to_sft"] == 0, "SFT is its own reference"
    dpo_log = (micro / "dpo" / "training_log.csv").read_text().splitlines()[0]
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
        assert key in dpo_log, f"DPO log lacks {key}"


def test_rerun_keeps_finished_stages(micro, capsys):
    before = (micro / "sft" / "model.safetensors").stat().st_mtime_ns
    assert main(["sft", "--preset", "micro", "--out", str(micro)]) == 0
    assert (micro / "sft" / "model.safetensors").stat().st_mtime_ns == before, "a finished checkpoint was overwritten"
    assert "pass --force" in capsys.readouterr().out, "skipping must tell how to rebuild"


def test_promote_refuses_to_overwrite_without_force(micro, tmp_path):
    dst = tmp_path / "shipped"
    assert main(["promote", "--out", str(micro), "--to", str(dst)]) == 0
    assert (dst / "dpo" / "model.safetensors").exists() and (dst / "eval.json").exists(), "promote copied nothing"
    with pytest.raises(SystemExit, match="pass --force"):
        main(["promote", "--out", str(micro), "--to", str(dst)])


def test_extra_pairs_are_validated_with_line_numbers(micro, tmp_path):
    bad = tmp_path / "votes.jsonl"
    bad.write_text('{"prompt": "Hi", "chosen": "Hello!", "rejected": "Ugh."}\n{"prompt": "Hi"}\n')
    with pytest.raises(SystemExit, match="line 2: missing key"):
        main(["dpo", "--preset", "micro", "--out", str(micro), "--extra-pairs", str(bad)])
    with pytest.raises(SystemExit, match="no such file"):
        main(["dpo", "--preset", "micro", "--out", str(micro), "--extra-pairs", str(tmp_path / "nope.jsonl")])
    with pytest.raises(SystemExit, match="only applies to the dpo stage"):
        main(["sft", "--out", str(micro), "--extra-pairs", str(bad)])


def test_dpo_trains_on_extra_pairs(micro, tmp_path):
    votes = tmp_path / "votes.jsonl"
    votes.write_text('{"prompt": "Hi", "chosen": "Hello! Nice to meet you.", "rejected": "Ugh. What?"}\n')
    out = tmp_path / "copy"
    for folder in ("data", "tokenizer", "base", "sft"):  # reuse the micro run up to SFT
        __import__("shutil").copytree(micro / folder, out / folder)
    assert main(["dpo", "--preset", "micro", "--out", str(out), "--extra-pairs", str(votes)]) == 0
    summary = json.loads((out / "dpo" / "summary.json").read_text())
    assert "1 from votes.jsonl" in summary["data"], f"the extra pair was not counted: {summary['data']}"


def test_bad_flags_get_clear_messages(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["finetune"])
    assert exc.value.code == 2 and "invalid choice: 'finetune'" in capsys.readouterr().err, "unknown stage"
    with pytest.raises(SystemExit, match=r"missing .*base.*run `python -m llm_demo.training pretrain"):
        main(["sft", "--out", str(tmp_path / "empty")])
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(SystemExit, match="not writable"):
        main(["data", "--out", str(blocker / "sub")])
    with pytest.raises(SystemExit, match="multiple of --n-head"):
        main(["pretrain", "--n-embd", "100", "--n-head", "3", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="must not be negative"):
        main(["data", "--sft-n", "-5", "--out", str(tmp_path)])
