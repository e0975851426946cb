"""Scaling laws: the papers' tables, closed form vs numeric optimum, parameter counts vs transformers, bad input."""
import json
import math

import numpy as np
import pytest

from llm_demo import scaling
from llm_demo import scaling_plots as plots
from llm_demo.scaling import compute_optimal, count_params, predicted_loss

GOPHER_BUDGET = 5.76e23  # Gopher's and Chinchilla's training compute, Hoffmann et al. 2022


# ---------------------------------------------------------------- the laws against the papers
@pytest.mark.parametrize("law,table", [("chinchilla-1", scaling.CHINCHILLA_TABLE_3),
                                       ("chinchilla-2", scaling.CHINCHILLA_TABLE_A3)])
def test_power_laws_reproduce_the_papers_tables_within_10_percent(law, table):
    for n_paper, c, d_paper in table:
        n, d = compute_optimal(c, law)
        assert abs(n / n_paper - 1) < 0.10, f"{law} at C={c:.3g}: N={n:.3g}, paper {n_paper:.3g}"
        assert abs(d / d_paper - 1) < 0.10, f"{law} at C={c:.3g}: D={d:.3g}, paper {d_paper:.3g}"
        assert math.isclose(6 * n * d, c, rel_tol=1e-9), "every law must spend exactly C = 6ND"


def test_exponents_match_the_papers_table_2():
    # Hoffmann et al. 2022 Table 2: N_opt ∝ C^a with a = 0.50, 0.49, 0.46 for Approaches 1, 2, 3.
    for law, a in (("chinchilla-1", 0.50), ("chinchilla-2", 0.49), ("chinchilla-3", 0.46)):
        assert abs(scaling.LAWS[law].b - a) < 0.01, f"{law}: exponent {scaling.LAWS[law].b:.3f}, paper {a}"
    # Kaplan et al. 2020 (Sec. 6.1, Fig. 14) anchor their law in PF-days: 1.3e9 parameters at one PF-day, that is
    # 1e15 FLOP/s for 86,400 s. This checks our FLOP conversion, not the exponent we copied.
    n, d = compute_optimal(1e15 * 86_400, "kaplan-2020")
    assert math.isclose(n, 1.3e9, rel_tol=1e-9) and math.isclose(6 * n * d, 8.64e19, rel_tol=1e-12), (n, d)


@pytest.mark.parametrize("c", [1e20, 1e21, 1e22, 1e23, 1e24])
def test_laws_agree_on_about_20_tokens_per_parameter(c):
    for law in ("chinchilla-1", "chinchilla-2", "epoch-2024", "tokens-20"):
        n, d = compute_optimal(c, law)
        assert 15 <= d / n <= 30, f"{law} at C={c:.0e}: {d / n:.1f} tokens/param, expected about 20"


def test_laws_differ_where_the_papers_say_they_do():
    # Besiroglu et al. 2024: the published Approach 3 fit drifts far above 20 tokens/param as C grows.
    ratios = [(lambda nd: nd[1] / nd[0])(compute_optimal(c, "chinchilla-3")) for c in (1e21, 1e23, 1e25)]
    assert ratios == sorted(ratios) and ratios[-1] > 60, f"chinchilla-3 tokens/param {ratios}"
    # Hoffmann et al. 2022: Approach 3 predicts smaller models than Approach 1 at Gopher's budget.
    assert compute_optimal(GOPHER_BUDGET, "chinchilla-3")[0] < 0.8 * compute_optimal(GOPHER_BUDGET, "chinchilla-1")[0]
    # Kaplan et al. 2020's allocation: far bigger models on far fewer tokens than Chinchilla's.
    n_k, d_k = compute_optimal(GOPHER_BUDGET, "kaplan-2020")
    assert n_k > 5 * compute_optimal(GOPHER_BUDGET, "chinchilla-1")[0] and d_k / n_k < 1, (n_k, d_k)


@pytest.mark.parametrize("law", list(scaling.PARAMETRIC) + ["rounded"])
@pytest.mark.parametrize("c", [1e18, 1e21, GOPHER_BUDGET, 1e26])
def test_closed_form_matches_numeric_minimisation(law, c):
    model = scaling.CHINCHILLA_3_ROUNDED if law == "rounded" else scaling.PARAMETRIC[law]
    n_closed, d_closed = model.optimum(c)
    n = n_closed * np.logspace(-3, 3, 600_001)  # a 1e-5-decade grid around the answer
    n_numeric = n[np.argmin(model.loss(n, c / (6 * n)))]
    assert abs(n_numeric / n_closed - 1) < 1e-4, f"{law} at C={c:.3g}: closed {n_closed:.6g}, numeric {n_numeric:.6g}"
    assert math.isclose(6 * n_closed * d_closed, c, rel_tol=1e-12)


def test_rounded_constants_shift_the_optimum_and_the_unrounded_are_used():
    for c in (1e19, 1e21, 1e23, 1e25):
        n_u, _ = compute_optimal(c)
        n_r, _ = scaling.CHINCHILLA_3_ROUNDED.optimum(c)
        assert 0.15 < 1 - n_r / n_u < 0.40, f"C={c:.0e}: rounding shifts N by {1 - n_r / n_u:.0%}"
    assert compute_optimal(1e21) == scaling.CHINCHILLA_3.optimum(1e21), "the default law must be chinchilla-3 unrounded"
    law, printed = scaling.CHINCHILLA_3, scaling.CHINCHILLA_3_ROUNDED
    for name in ("E", "A", "B", "alpha", "beta"):      # the unrounded set must round to the paper's printed one
        digits = 2 if name in ("E", "alpha", "beta") else 1
        assert round(getattr(law, name), digits) == getattr(printed, name), (name, getattr(law, name))


def test_predicted_loss_and_tokens_for_params():
    loss = predicted_loss(70e9, 1.4e12)
    assert scaling.CHINCHILLA_3.E < loss < predicted_loss(7e9, 1.4e12) < predicted_loss(7e9, 1e11), loss
    assert predicted_loss(70e9, 1.4e12, "epoch-2024") > 1.8172
    assert abs(scaling.tokens_for_params(1e9, "tokens-20") - 20e9) < 1
    with pytest.raises(ValueError, match="predicts sizes, not a loss"):
        predicted_loss(1e9, 2e10, law="kaplan-2020")
    with pytest.raises(ValueError, match="Unknown scaling law"):
        compute_optimal(1e21, law="chinchilla-4")


# ---------------------------------------------------------------- the planner
def test_gpu_hours_become_flops_time_and_cost():
    hw = scaling.Hardware("A100", n_gpus=2, mfu=0.5, price_per_gpu_hour=3)
    one = scaling.Hardware("A100", n_gpus=1, mfu=0.5, price_per_gpu_hour=3)
    assert math.isclose(hw.budget(10), 10 * hw.budget(1)) and math.isclose(hw.budget(1), 2 * one.budget(1)), \
        "the budget grows in proportion to hours and to GPUs"
    assert math.isclose(scaling.Hardware("A100", 1, 1.0).budget(1), 2 * one.budget(1)), "and to the MFU"
    assert 1e17 < one.budget(1) < 1e18, f"an A100 hour at 50% MFU is ~5.6e17 FLOPs (312 TFLOP/s), got {one.budget(1):.3g}"
    rows = scaling.plan(hw, compute_flops=hw.budget(10))
    answering = {n: law for n, law in scaling.LAWS.items() if not scaling.refusal(law, hw.budget(10))}
    assert [r.law for r in rows] == list(answering), "every law but a measured one far from its budgets"
    assert all(math.isclose(r.hours, 10) and math.isclose(r.cost, 60) for r in rows), rows
    assert [r.loss is not None for r in rows] == [law.has_loss for law in answering.values()]
    same = scaling.Hardware("custom", 2, 0.5, price_per_gpu_hour=3, custom_tflops=scaling.GPU_PEAK_TFLOPS["A100"])
    assert math.isclose(same.budget(10), hw.budget(10)), "a custom GPU with an A100's peak must budget as an A100"


def test_model_size_mode_gives_each_laws_data():
    rows = scaling.plan(scaling.Hardware(), n_params="1B")
    for r in rows:
        assert math.isclose(r.n_params, 1e9, rel_tol=1e-9), r
        assert math.isclose(r.n_tokens, scaling.tokens_for_params(1e9, r.law), rel_tol=1e-9), r
    assert {r.law: round(r.n_tokens / r.n_params) for r in rows}["tokens-20"] == 20


def test_inference_aware_sizing_trains_a_smaller_model_longer():
    none = scaling.inference_aware(1e22, 0)
    assert none.n_opt == none.n_chinchilla and none.saved_fraction == 0
    ip = scaling.inference_aware(1e22, "1e13")
    law = scaling.CHINCHILLA_3
    assert ip.n_opt < 0.7 * ip.n_chinchilla and ip.d_opt > ip.d_chinchilla, ip
    assert math.isclose(law.loss(ip.n_opt, ip.d_opt), ip.loss, rel_tol=1e-9), "must reach the same loss"
    assert 0.1 < ip.saved_fraction < 1, ip.saved_fraction
    for n in (ip.n_opt * 1.05, ip.n_opt / 1.05):  # and it is a minimum
        assert ip.total(n, law.tokens_for_loss(n, ip.loss)) > ip.total(ip.n_opt, ip.d_opt)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("budget,says", [
    (0, "greater than zero"), (-1e21, "greater than zero"), (float("nan"), "finite"), (float("inf"), "finite"),
    ("inf", "finite"), (1e36, "beyond 1e35"), ("1e40", "beyond 1e35"), ("lots", "not a number"), ("", "missing"),
    (None, "missing")])
def test_bad_budgets_are_refused_with_a_sentence(budget, says):
    with pytest.raises(ValueError, match=says):
        compute_optimal(budget)


@pytest.mark.parametrize("mfu", [0, -0.1, 1.01, 40, float("nan"), "x", None])
def test_mfu_outside_zero_one_is_refused(mfu):
    with pytest.raises(ValueError, match=r"fraction in \(0, 1\]"):
        scaling.Hardware("H100", 8, mfu)


@pytest.mark.parametrize("kwargs,says", [
    (dict(gpu="V100"), "Unknown GPU"), (dict(gpu="custom"), "custom GPU"), (dict(n_gpus=0), "greater than zero"),
    (dict(n_gpus=1.5), "whole number"), (dict(price_per_gpu_hour=-2), "zero or more")])
def test_bad_hardware_is_refused(kwargs, says):
    with pytest.raises(ValueError, match=says):
        scaling.Hardware(**kwargs)


def test_other_bad_planner_inputs():
    with pytest.raises(ValueError, match="beyond 1e15"):
        scaling.plan(scaling.Hardware(), n_params=1e16)
    with pytest.raises(ValueError, match="beyond 1e35"):
        scaling.Hardware().budget(1e30)
    with pytest.raises(ValueError, match="zero or more"):
        scaling.inference_aware(1e21, -5)


def test_number_parsing_accepts_what_people_type():
    assert scaling.parse_number("3.5e23", "x") == 3.5e23
    assert scaling.parse_number(" 1,000,000 ", "x") == 1e6
    assert scaling.parse_number("7B", "x") == 7e9 and scaling.parse_number("124M", "x") == 124e6


# ---------------------------------------------------------------- parameter counts vs transformers
def _hf_count(device, **cfg):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    with torch.device(device):
        return GPT2LMHeadModel(GPT2Config(**cfg)).num_parameters()


@pytest.mark.parametrize("tied", [True, False])
def test_count_params_matches_gpt2lmheadmodel_on_a_tiny_config(tied):
    cfg = dict(vocab_size=97, n_embd=32, n_layer=3, n_head=4, n_positions=64, tie_word_embeddings=tied)
    ours = count_params(vocab_size=97, d_model=32, n_layers=3, context_length=64, tied_embeddings=tied, n_heads=4)
    assert ours == _hf_count("cpu", **cfg), f"tied={tied}"
    assert count_params(97, 32, 3, 64, tied, d_ff=48) == _hf_count("cpu", **cfg, n_inner=48), "custom MLP width"


def test_gpt2_small_is_124m_tied_and_the_seeds_untied_minigpt_is_163m():
    gpt2 = dict(vocab_size=50257, n_embd=768, n_layer=12, n_head=12, n_positions=1024)
    assert count_params(50257, 768, 12, 1024) == 124_439_808 == _hf_count("meta", **gpt2)
    untied = count_params(50257, 768, 12, 1024, tied_embeddings=False)
    assert untied == 163_037_184 == _hf_count("meta", **gpt2, tie_word_embeddings=False)
    assert untied - 124_439_808 == 50257 * 768, "the whole difference is the untied output head"


def test_flops_per_token_and_architecture_checks():
    tied, untied = (scaling.flops_per_token(50257, 768, 12, 1024, t) for t in (True, False))
    assert tied["6N"] == 6 * 124_439_808 and tied["kaplan"] == untied["kaplan"], "tying saves parameters, not FLOPs"
    with pytest.raises(ValueError, match="divisible"):
        count_params(1000, 100, 2, 64, n_heads=3)
    with pytest.raises(ValueError, match="whole number"):
        count_params(1000.5, 64, 2, 64)


# ---------------------------------------------------------------- our tinygpt on the (N, D) plane
def _write_config(path, **extra):
    path.mkdir(parents=True, exist_ok=True)
    cfg = dict(vocab_size=4096, n_embd=128, n_layer=4, n_positions=256, tie_word_embeddings=True, **extra)
    (path / "config.json").write_text(json.dumps(cfg))
    return count_params(4096, 128, 4, 256)


def test_tinygpt_point_is_read_from_its_files_or_left_out(tmp_path):
    missing = plots.read_model_point(tmp_path / "nowhere")
    assert missing.n_params is None and "no config.json" in missing.note
    fig = plots.models_figure(("plan", 1e9, 2e10), missing)
    assert "tinygpt not shown" in fig.layout.annotations[0].text, "a missing point must say so on the plot"

    n = _write_config(tmp_path / "a")
    (tmp_path / "a" / "README.md").write_text("| tokens seen | 12.5M |\n")  # a card is prose, not a source
    point = plots.read_model_point(tmp_path / "a")
    assert (point.n_params, point.tokens) == (n, None) and "no summary.json" in point.note, point
    (tmp_path / "a" / "summary.json").write_text(json.dumps({"stage": "pretrain", "steps": 3}))
    point = plots.read_model_point(tmp_path / "a")
    assert point.tokens is None and "tokens_seen" in point.note, f"a summary without the count must say so: {point}"
    (tmp_path / "a" / "summary.json").write_text(json.dumps({"stage": "pretrain", "tokens_seen": 52_428_800}))
    point = plots.read_model_point(tmp_path / "a")
    assert (point.n_params, point.tokens) == (n, 52_428_800) and "summary.json" in point.note, point
    fig = plots.models_figure(("plan", 1e9, 2e10), point)
    assert any(t.name == "our tinygpt" and t.x[0] == n for t in fig.data)


def test_shipped_tinygpt_point_is_its_training_summary():
    point = plots.read_model_point()
    summary = json.loads((plots.TINYGPT_DIR / "summary.json").read_text())
    assert point.tokens == summary["tokens_seen"], f"tokens seen {point.tokens} vs the summary's {summary['tokens_seen']}"
    # The planner counts N its own way (6·N·D convention); it must agree with what training counted.
    assert point.n_params == summary["parameters"], f"N {point.n_params} vs the trainer's {summary['parameters']}"


def test_every_known_model_names_where_its_numbers_are_printed():
    for family, size, n, d, source in plots.KNOWN_MODELS:
        assert any(where in source for where in ("Table", "model card", "abstract")), \
            f"{family} {size}: {source!r} names no table, model card or abstract"
        assert 1 < d / n < 20_000, f"{family} {size}: {d / n:.0f} tokens per parameter is not a real training run"


# ---------------------------------------------------------------- figures and emergence
def test_every_planner_figure_is_built_from_the_plan():
    rows = scaling.plan(scaling.Hardware(price_per_gpu_hour=2), compute_flops=3.5e23)
    table = plots.plan_table(rows)
    answering = [n for n, law in scaling.LAWS.items() if not scaling.refusal(law, 3.5e23)]
    assert list(table["law"]) == answering and set(table["C"]) == {"3.5e23"}
    iso = plots.isoflop_figure("chinchilla-3", 3.5e23)
    assert sum(t.mode == "lines" for t in iso.data) >= 5 and any(t.name == "C = 3.5e23" for t in iso.data)
    laws = plots.laws_figure(rows)
    assert {t.name for t in laws.data} >= set(scaling.LAWS)
    contour = plots.contour_figure("epoch-2024", 3.5e23)
    assert contour.data[0].type == "contour"
    ip = scaling.inference_aware(3.5e23, 1e13)
    assert "smaller model" in plots.inference_markdown("chinchilla-3", ip)
    assert plots.inference_figure("chinchilla-3", ip).data


def _every_figure():
    rows = scaling.plan(scaling.Hardware(price_per_gpu_hour=2), compute_flops=3.5e23)
    ip = scaling.inference_aware(3.5e23, 1e13)
    return {"isoflop": plots.isoflop_figure("chinchilla-3", 3.5e23),
            "contour": plots.contour_figure("epoch-2024", 3.5e23), "laws": plots.laws_figure(rows),
            "models": plots.models_figure(("plan", 1e9, 2e10), plots.read_model_point()),
            "models_without_tinygpt": plots.models_figure(("plan", 1e9, 2e10), plots.ModelPoint(None, None, "gone")),
            "inference": plots.inference_figure("chinchilla-3", ip), "emergence": plots.emergence_figure(10)}


def test_figures_built_without_plotlys_checks_are_the_checked_ones(monkeypatch):
    # The planner skips plotly's property checks for speed (scaling_plots.VALIDATE); built with them, every figure
    # must come out the same, and a misspelt property would raise here.
    fast = {name: json.loads(fig.to_json()) for name, fig in _every_figure().items()}
    monkeypatch.setattr(plots, "VALIDATE", True)
    checked = {name: json.loads(fig.to_json()) for name, fig in _every_figure().items()}
    for name in checked:
        assert fast[name] == checked[name], f"the {name} figure differs once plotly checks it"


def test_emergence_is_smooth_per_token_and_sharp_for_exact_match():
    n = np.logspace(7, 12, 200)
    p = scaling.per_token_accuracy(n)
    em = scaling.exact_match(n, 10)
    assert np.all(np.diff(p) > 0) and np.all(np.diff(em) > 0) and np.all(em < p), "both rise; exact match lags"
    # The same improvement looks sudden under exact match: it spends most of the range near zero.
    assert p[0] > 0.3 and em[np.searchsorted(n, 1e8)] < 0.05 and em[-1] > 0.7, (p[0], em[-1])
    fig = plots.emergence_figure(10)
    assert [t.name.split(" ")[0] for t in fig.data] == ["per-token", "exact"]


def test_planner_handler_names_every_output_and_send_to_planner_switches_mode():
    from llm_demo.ui import scaling_tab
    out = scaling_tab.update_plan(**scaling_tab.PLAN_DEFAULTS)
    answering = [law for law in scaling.LAWS.values() if not scaling.refusal(law, 1e21)]
    assert "chinchilla-3" in out["summary"] and len(out["table"]) == len(answering), out["table"]
    for name in ("isoflop", "contour", "laws", "models", "inference_plot"):
        assert out[name].data, f"the {name} figure is empty"
    switched = scaling_tab.send_to_planner(**scaling_tab.GPT2_SMALL, tied=True)
    assert switched["mode"]["value"] == scaling_tab.MODE_N, switched
    assert switched["budget"]["visible"] is False and switched["hours"]["visible"] is False
    assert switched["n_params"] == {"__type__": "update", "value": str(count_params(**scaling_tab.GPT2_SMALL)),
                                    "visible": True}, switched["n_params"]


# ---------------------------------------------------------------- nonsense inputs get a sentence (issue 17)
@pytest.mark.parametrize("call,says", [
    (lambda: scaling.plan(scaling.Hardware(), n_params=1), "below 1e5"),
    (lambda: scaling.plan(scaling.Hardware(), compute_flops=1e-5), "below 1e9"),
    (lambda: scaling.Hardware("H100", 8, 1e-300), "0.3-0.6"),
    (lambda: count_params(50257, 768, 1e300, 1024), "n_layers = 1e300 is beyond"),
    (lambda: scaling.plan(scaling.Hardware(), compute_flops=None), "compute budget is missing"),
    (lambda: scaling.Hardware().budget(1e30), "check the number of hours"),
    (lambda: scaling.Hardware().budget(1e-12), "check the number of hours"),
    (lambda: scaling.plan(scaling.Hardware(), compute_flops="7B"), "model-size suffix"),
])
def test_nonsense_planner_inputs_are_refused_naming_the_field(call, says):
    with pytest.raises(ValueError, match=says):
        call()


def test_the_emergence_limit_is_the_sliders():
    import gradio as gr
    from llm_demo.ui import scaling_tab
    assert scaling_tab.update_emergence(scaling_tab.EMERGENCE_MAX_K).data, "the slider's last value must plot"
    with pytest.raises(gr.Error, match=f"from 1 to {scaling_tab.EMERGENCE_MAX_K}"):
        scaling_tab.update_emergence(scaling_tab.EMERGENCE_MAX_K + 1)
