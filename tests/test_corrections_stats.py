"""Issue 27, items 2-8: what the lab stated that was wrong or misleading (sweep units and intervals, temperature
verdicts, DPO implicit reward, the Lesson's polite rate, Inside wording, the arena's counting rules)."""
import pytest

from test_arena import vote

from llm_demo import arena, arena_plots


# ---------------------------------------------------------------- item 8: the arena says how it counts
def test_leaderboard_shows_the_tie_weight_and_the_prior_where_it_is_shown(monkeypatch):
    board = arena.leaderboard([vote("A"), vote("tie"), vote("all bad")], n_boot=20)
    md = arena_plots.table_markdown(board)
    assert f"{arena.TIE_WEIGHT:g} win each way" in md, f"the tie weight is not shown with the leaderboard: {md}"
    assert f"{arena.PRIOR_WINS:g} of a pseudo-win" in md, f"the pseudo-win prior is not shown: {md}"
    assert "both bad" in md and "plain tie" in md, f"the LMSYS comparison must say it holds for plain ties only: {md}"
    monkeypatch.setattr(arena, "PRIOR_WINS", 0.5)
    assert "0.5 of a pseudo-win" in arena_plots.table_markdown(board), "the note must read the constant, not restate it"


# ---------------------------------------------------------------- item 7: the Inside tab's wording, per model
def _described(kind: str, **extra):
    """A tiny config of that family described on the meta device (shapes only, no weights, no download)."""
    import torch
    import transformers
    from llm_demo import architecture
    config_cls, model_cls = {"olmo2": ("Olmo2Config", "Olmo2ForCausalLM"),
                             "qwen2": ("Qwen2Config", "Qwen2ForCausalLM"),
                             "llama": ("LlamaConfig", "LlamaForCausalLM")}[kind]
    cfg = getattr(transformers, config_cls)(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                            num_attention_heads=4, num_key_value_heads=2, **extra)
    with torch.device("meta"):
        model = getattr(transformers, model_cls)(cfg)
    return architecture.describe(cfg, model, kind)


def test_block_diagram_draws_each_models_own_norm_placement():
    from llm_demo import inside_plots
    olmo, llama = _described("olmo2"), _described("llama")
    assert (olmo.norm_placement, llama.norm_placement) == ("output", "pre"), (olmo.norm_placement,
                                                                              llama.norm_placement)
    olmo_html, llama_html = inside_plots.architecture_html(olmo), inside_plots.architecture_html(llama)
    assert "x = x + norm(attention(x))" in olmo_html and "pre-norm" not in olmo_html, \
        "OLMo-2 normalises each sublayer's output: the diagram must not say pre-norm"
    assert "x = x + attention(norm(x))" in llama_html and "pre-norm" in llama_html, "Llama is pre-norm"


def test_biases_row_names_qwens_qkv_biases_and_positions_row_names_the_trained_context():
    from llm_demo import architecture
    qwen, llama = _described("qwen2", max_position_embeddings=8192), _described("llama", max_position_embeddings=8192)
    assert set(qwen.bias_layers) == {"q_proj", "k_proj", "v_proj"}, f"Qwen2 keeps q/k/v biases: {qwen.bias_layers}"
    rows = {r["part"]: r for r in architecture.modern_changes(llama, qwen)}
    assert "q_proj" in rows["biases"]["modern"] and "Qwen2.5 keeps" in rows["biases"]["why"], rows["biases"]
    assert "8,192 tokens" in rows["positions"]["why"] and "rescaled" in rows["positions"]["why"], \
        f"RoPE models degrade past their trained context; say it with the config's number: {rows['positions']}"
    olmo_rows = {r["part"]: r for r in architecture.modern_changes(llama, _described("olmo2"))}
    assert rows["norm placement"]["seed"].startswith("before") and \
        olmo_rows["norm placement"]["modern"].startswith("after"), "the norm placement row reads the config"


def test_kv_text_does_not_claim_a_flat_step_time():
    from llm_demo.ui import inside_tab
    assert "stays flat" not in inside_tab.KV and "grows only slowly" in inside_tab.KV, inside_tab.KV


# ---------------------------------------------------------------- item 5: the DPO implicit reward, scored as trained
def test_compare_reward_scores_the_end_of_turn_token_as_dpo_training_and_its_eval_do():
    """The trio's DPO (TRL) trained on answer + <|end|>; training/evaluate.completion_logp scores the same. The
    Compare tab's reward must equal β·(log π_DPO − log π_SFT) of that very sequence, not of the bare words."""
    import math
    from llm_demo import compare, models
    from llm_demo.training import evaluate
    prompt = "What does Ivy like to eat?"
    cols = [compare.Column(slot, model=f"tinygpt-{slot}", text=text, done=True)
            for slot, text in (("base", "Ivy likes apples."), ("sft", "Ivy likes to eat fish, thank you!"),
                               ("dpo", "Ivy eats."))]
    s = compare.score_columns("tinygpt", prompt, cols)
    sft, dpo = models.load("tinygpt-sft"), models.load("tinygpt-dpo")
    for col in cols:
        want = s.beta * (evaluate.completion_logp(dpo.model, dpo.tokenizer, prompt, col.text)
                         - evaluate.completion_logp(sft.model, sft.tokenizer, prompt, col.text))
        assert math.isclose(s.dpo_reward[col.slot], want, rel_tol=1e-4, abs_tol=1e-5), \
            f"{col.slot}: tab reward {s.dpo_reward[col.slot]:.5f} vs the reward DPO trained on {want:.5f}"
    assert s.sft_weight > 0, "the trio's DPO loss has an SFT term (summary.json dpo_sft_weight)"


def test_compare_wording_says_only_same_prompt_differences_mean_something_and_cites_olmo_0425():
    from llm_demo import compare
    from llm_demo.ui import compare_tab
    assert "positive means" not in compare_tab.SCORES and "same prompt" in compare_tab.SCORES, compare_tab.SCORES
    beta, source, normalised = compare.family_beta("olmo2-1b")
    assert (beta, normalised) == (5.0, True) and "0425-1B" in source and "1124-7B" not in source, source


# ---------------------------------------------------------------- items 2-3: the sweep's units and intervals
def test_sweep_text_says_bytes_shows_intervals_and_drops_the_untested_steps_claim():
    from llm_demo import sweep_plots
    fits = sweep_plots.load_fits()
    md = sweep_plots.per_param_markdown(fits, 4.12)
    iv = fits["approach1"]["intervals"]["tokens_per_param"]
    assert f"[{iv['lo'][-1]:.0f}, {iv['hi'][-1]:.0f}] bytes" in md, f"A1's interval must stand next to the claim: {md}"
    assert "bytes per parameter" in md and "4.12 bytes" in md, md
    assert "win partly because" not in sweep_plots.honest_markdown(fits), "the steps claim was never tested"
    table = sweep_plots.fits_markdown(fits)
    assert "conditional on a minimum" in table, "A2's interval drops refused resamples"
    assert "bytes / param at" in table and "tokens / param" not in table, f"the fits' table counts bytes: {table}"


def test_steps_and_tokens_cannot_be_told_apart_in_the_shipped_sweep():
    """The reason the text gives for not testing 'small models win because they take more steps'."""
    import csv
    from llm_demo.scaling_fit import SWEEP_CSV
    rows = list(csv.DictReader(open(SWEEP_CSV)))
    ratios = {float(r["tokens"]) / float(r["steps"]) for r in rows}
    assert len(ratios) == 1, f"tokens per step differs between runs ({ratios}): steps could be tested, say so"


@pytest.mark.slow      # generates and tokenizes the sweep's whole 15 MB of prose
def test_bytes_per_token_of_the_trios_bpe_on_the_sweeps_prose():
    from llm_demo.training import sweep
    one_mb, full = sweep.bytes_per_bpe_token(1.0), sweep.bytes_per_bpe_token(15.2)
    assert 3 < full < 5 and abs(one_mb - full) / full < 0.01, (one_mb, full)


def test_approach3_interval_resamples_runs_and_is_wider_than_residual_resampling():
    import numpy as np
    from llm_demo import scaling_fit as F
    runs = F.read_sweep()
    fits = F.fit_all(runs)
    three = fits["approach3"]
    assert three["method"] == "runs resampled", three.get("method")
    predicted = three["E"] + three["A"] / runs[:, 1] ** three["alpha"] + three["B"] / runs[:, 2] ** three["beta"]
    resid = F.bootstrap(None, runs, predicted, 5, 200, 0, ("a",), log=True,
                        fit_many=lambda r, losses: F.approach3_many(r, losses, three["theta"]))["intervals"]["a"]
    case = three["intervals"]["a"]
    assert case["hi"] - case["lo"] > resid["hi"] - resid["lo"], f"runs resampled {case} vs residuals {resid}"
    assert case["lo"] <= three["a"] <= case["hi"], (case, three["a"])


def test_measured_law_stops_at_its_measured_budgets():
    import pytest
    from llm_demo import scaling
    law = scaling.LAWS["tinygpt-measured"]
    with pytest.raises(ValueError, match="measured on budgets"):
        scaling.compute_optimal(law.c_hi * 2, "tinygpt-measured")
    with pytest.raises(ValueError, match="measured on budgets"):
        scaling.compute_optimal(law.c_lo / 2, "tinygpt-measured")
    assert scaling.compute_optimal(law.c_lo, "tinygpt-measured")[0] > 0


# ---------------------------------------------------------------- item 6: the Lesson's polite rate
def test_lesson_says_greedy_and_shows_the_sampled_rate_beside_it():
    from llm_demo import lesson
    sec = lesson.pipeline_section()
    text = " ".join(sec.shows)
    m = lesson.load_sampled_eval()
    assert m is not None and m["command"].startswith("python -m llm_demo.training.sampled_eval"), m
    assert "greedy" in text and f"{m['stages']['sft']['rate']:.0%}" in text, text
    assert m["stages"]["sft"]["samples"] >= 100, "a sampled rate needs enough samples to mean something"
    take = " ".join(lesson.takeaways(lesson.sections()[:-1]).shows)
    assert "illustrative" in take and "greedy" in take, take


def test_sampled_polite_rate_counts_and_its_interval_hold():
    from llm_demo.training import sampled_eval
    # 24 tokens an answer (the eval's 96 take longer): what is checked is the counting and the interval
    r = sampled_eval.polite_rate("tinygpt-sft", sampled_eval.eval_prompts()[:3], 2, max_new_tokens=24)
    assert r["samples"] == 6 and 0 <= r["polite"] <= 6 and r["interval_95"][0] <= r["rate"] <= r["interval_95"][1], r
    assert sampled_eval.wilson(0, 10)[0] == 0 and sampled_eval.wilson(10, 10)[1] == 1.0


# ---------------------------------------------------------------- item 4: temperature verdicts that could fail
def _rows(spec):
    """Hand-made rows: spec[T] = (list of token-id samples, log p per token) for the five seed temperatures."""
    from llm_demo import temperature_study as ts
    return [ts.Row(t, "", samples=[str(x) for x in ids], ids=ids, logps=[[lp] * len(x) for x in ids])
            for t, (ids, lp) in spec.items()]


def _fresh(k, start):  # k samples of 12 distinct tokens each, none shared
    return [list(range(start + 12 * i, start + 12 * (i + 1))) for i in range(k)]


def test_a_looping_low_temperature_is_not_called_conservative():
    from llm_demo import temperature_study as ts
    loop = [[1, 2, 3, 4] * 3 for _ in range(6)]                      # every T=0.3 sample is the same 4-token loop
    rows = _rows({0.0: ([[9] * 12] * 6, -0.1), 0.3: (loop, -0.2), 0.7: (_fresh(6, 100), -1.0),
                  1.0: (_fresh(6, 200), -2.0), 1.5: (_fresh(6, 300), -4.0)})
    ts.judge(rows)
    assert rows[1].verdict.startswith("Not supported") and "rep-4" in rows[1].verdict, rows[1].verdict


def test_a_difference_inside_the_noise_is_not_resolved_and_a_clear_one_is_supported():
    import random
    from llm_demo import temperature_study as ts
    rng = random.Random(0)
    noisy = lambda: [[rng.randrange(20) for _ in range(12)] for _ in range(6)]   # the same distribution at every T
    rows = _rows({t: (noisy(), -1.0) for t in (0.0, 0.3, 0.7, 1.0, 1.5)})
    ts.judge(rows)
    assert rows[3].verdict.startswith(("Not resolved", "Not supported")) and "[" in rows[3].verdict, rows[3].verdict
    assert not rows[3].verdict.startswith("Supported"), "no difference must never be called support"
    clear = _rows({0.0: ([[9] * 12] * 6, -0.1), 0.3: ([[5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17]] * 6, -0.5),
                   0.7: (_fresh(6, 100), -1.0), 1.0: ([[k % 30 for k in x] for x in _fresh(6, 0)], -2.0),
                   1.5: (_fresh(6, 300), -4.0)})
    ts.judge(clear)
    assert clear[4].verdict.startswith("Supported"), clear[4].verdict
    assert clear[1].verdict.startswith("Supported"), clear[1].verdict


def test_one_sample_is_refused_with_a_sentence(tiny_chat):
    import pytest
    from llm_demo import temperature_study as ts
    with pytest.raises(ValueError, match="no noise"):
        ts.run(tiny_chat, "Hello cat", samples=1, max_new_tokens=4)

