"""The shipped trio in assets/models/tinygpt: it loads, generates, meets the issue's targets, and its eval.json is
reproducible: re-computing the metrics on a small sample of the held-out set agrees with the file.

Run: `.venv/bin/python -m pytest -q tests/test_training_shipped.py`
"""
import json
import math

import pytest

from llm_demo.training import common as C
from llm_demo.training import data as D
from llm_demo.training import evaluate as E
from llm_demo.training.__main__ import SHIP_LIMIT_MB

SHIPPED = C.SHIPPED
SAMPLE = 8  # generated answers re-computed per stage (about 10 s in all)


@pytest.fixture(scope="module")
def trio():
    return {folder: E.load(SHIPPED / folder) for folder in C.MODEL_STAGES.values()}


@pytest.fixture(scope="module")
def eval_file():
    return json.loads((SHIPPED / "eval.json").read_text())


@pytest.fixture(scope="module")
def samples():
    return [json.loads(line) for line in (SHIPPED / "eval_samples.jsonl").read_text().splitlines()]


def test_folder_fits_the_size_cap():
    mb = sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file()) / 1e6
    assert mb <= SHIP_LIMIT_MB, f"assets/models/tinygpt is {mb:.1f} MB, over the {SHIP_LIMIT_MB} MB that promote enforces"


def test_chat_models_answer_and_stop(trio):
    for folder in ("sft", "dpo"):
        model, tok = trio[folder]
        for prompt in ("Hello!", "What is the capital of France?", "Tell me a short story about Pip."):
            gen = E.generate_answer(model, tok, prompt, max_new_tokens=120)
            assert gen["format_ok"] and gen["answer"], f"{folder} did not answer {prompt!r} and stop: {gen}"


def test_base_continues_prose(trio):
    model, tok = trio["base"]
    ids = tok("Once upon a time, Pip", return_tensors="pt")
    text = tok.decode(model.generate(**ids, max_new_tokens=20, do_sample=False)[0], skip_special_tokens=True)
    assert len(text.split()) > 8, f"the base model should keep writing prose: {text!r}"


def test_eval_meets_the_targets(eval_file):
    s = eval_file["stages"]
    assert s["sft"]["format_compliance"] >= 0.9, f"SFT must follow the chat format: {s['sft']}"
    assert s["base"]["format_compliance"] <= 0.2, f"base should not know the chat format: {s['base']}"
    assert s["dpo"]["preferred_rate"] >= s["sft"]["preferred_rate"] + 0.2, "DPO must raise the preferred trait by 0.2"
    assert eval_file["dpo_reward_accuracy"] >= 0.8, f"reward accuracy {eval_file['dpo_reward_accuracy']} < 0.8"


def test_eval_json_is_the_mean_of_its_samples(eval_file, samples):
    for folder in C.MODEL_STAGES.values():
        rows = [r for r in samples if r["stage"] == folder]
        expected = E.rates(rows)
        got = {k: eval_file["stages"][folder][k] for k in expected}
        assert got == expected, f"{folder}: eval.json {got} != rates of eval_samples.jsonl {expected}"


def test_recomputed_answers_agree_with_the_file(trio, samples):
    # Greedy decoding of the same weights is deterministic; only a different CPU's float summation order can flip
    # an argmax, and only where two logits tie to ~1e-6. So we allow one disagreement in SAMPLE answers per stage.
    new_tokens = C.PRESETS["full"].eval_new_tokens
    for folder, (model, tok) in trio.items():
        rows = [r for r in samples if r["stage"] == folder]
        picked = rows[::max(1, len(rows) // SAMPLE)][:SAMPLE]  # spread over the kinds (facts, sums, stories, chat)
        differ = []
        for row in picked:
            fresh = E.score(row, E.generate_answer(model, tok, row["prompt"], new_tokens))
            if any(fresh[k] != row[k] for k in ("format_ok", "correct", "preferred")):
                differ.append((row["prompt"], row["answer"], fresh["answer"]))
        assert len(differ) <= 1, f"{folder}: re-generated answers disagree with eval_samples.jsonl: {differ}"


def test_recomputed_reward_accuracy_and_perplexity(trio, eval_file):
    manifest = json.loads((SHIPPED / "data_manifest.json").read_text())
    cfg = D.DataConfig(**manifest["config"])
    pairs = D.dpo_pairs(cfg, cfg.dpo_heldout_n, heldout=True)[:20]  # the first 20 of the very pairs eval.json used
    beta = json.loads((SHIPPED / "dpo" / "summary.json").read_text())["dpo_beta"]
    acc = E.reward_accuracy(trio["dpo"][0], trio["sft"][0], trio["dpo"][1], pairs, beta)
    # A subset of the same computation: it can only differ by sampling. With the file's accuracy p over 200 pairs,
    # 20 pairs have a standard error sqrt(p(1-p)/20) (0.09 at p = 0.8); three of them, plus one pair of slack.
    p = eval_file["dpo_reward_accuracy"]
    assert abs(acc - p) <= 3 * math.sqrt(p * (1 - p) / 20) + 1 / 20, f"20-pair accuracy {acc} vs file {p}"
    # Perplexity: every 8th of the file's held-out windows. The file's value is the (prediction-weighted) mean
    # loss over all windows; a systematic sample estimates it without bias, with a standard error we measure from
    # the sample itself (windows differ a lot: made-up names and house numbers are hard to predict). Four standard
    # errors (+0.02 nats of float slack) is a false alarm less than once in 10,000 runs.
    full = C.PRESETS["full"]
    windows = E.token_windows(trio["base"][1], D.pretraining(cfg)[1], full.context, full.eval_ppl_tokens)[::8]
    for folder, (model, _) in trio.items():
        losses = [E.window_loss(model, w) for w in windows]
        mean = sum(losses) / len(losses)
        se = math.sqrt(sum((x - mean) ** 2 for x in losses) / (len(losses) - 1) / len(losses))
        file_nll = math.log(eval_file["stages"][folder]["heldout_perplexity"])
        assert abs(mean - file_nll) <= 4 * se + 0.02, (
            f"{folder}: sampled loss {mean:.3f} +- {se:.3f} nats vs the file's {file_nll:.3f} (perplexity)")
