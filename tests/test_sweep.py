"""The IsoFLOP sweep: the micro preset end to end (resume, same CSV again), the shipped results, and the Scaling
tab's measured numbers recomputed from the shipped CSV."""
import csv
import json

import numpy as np
import pytest

from llm_demo import scaling, scaling_fit, sweep_plots
from llm_demo.training import sweep
from llm_demo.training.__main__ import main

REQUIRED = ("budget_flops", "n_params", "tokens", "final_loss")


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def one_thread():
    import torch
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_micro_sweep_runs_end_to_end_resumes_and_repeats_its_csv(tmp_path, capsys, one_thread):
    out = tmp_path / "sweep"
    assert main(["sweep", "--preset", "micro", "--out", str(out), "--threads", "1"]) == 0
    first = (out / "sweep.csv").read_bytes()
    rows = _rows(out / "sweep.csv")
    assert set(REQUIRED) <= set(rows[0]), f"columns: {list(rows[0])}"
    budgets = {r["budget_flops"] for r in rows}
    assert len(budgets) >= 3 and all(sum(r["budget_flops"] == b for r in rows) >= 5 for b in budgets), rows
    for r in rows:  # every run spends its budget: 6·N·D within one step's worth of tokens
        c, n, d = float(r["budget_flops"]), int(r["n_params"]), int(r["tokens"])
        step = sweep.SWEEP_PRESETS["micro"].batch_size * sweep.SWEEP_PRESETS["micro"].context
        assert abs(6 * n * d - c) <= 6 * n * step / 2 + 1, f"{r['run_id']}: 6ND = {6 * n * d:.3g}, C = {c:g}"
    curves = _rows(out / "curves.csv")
    assert {c["run_id"] for c in curves} == {r["run_id"] for r in rows}, "a loss curve for every run"
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["seed"] == 0 and meta["versions"]["torch"] and meta["wall_seconds_runs"] > 0, meta.keys()
    assert len(meta["runs"]) == len(rows) and all("n_embd" in r and "lr" in r for r in meta["runs"])

    kept = sorted((out / "runs").glob("*.json"))
    removed = [kept[0], kept[-1]]  # one run of the first budget, one of the last: they must come back the same
    untouched = kept[1].stat().st_mtime_ns
    for path in removed:
        path.unlink()
    capsys.readouterr()
    assert main(["sweep", "--preset", "micro", "--out", str(out), "--threads", "1"]) == 0
    log = capsys.readouterr().out
    assert log.count("[skip]") == len(kept) - 2 and log.count("[run]") == 2, log
    assert kept[1].stat().st_mtime_ns == untouched, "a finished run was retrained"
    assert (out / "sweep.csv").read_bytes() == first, "same seed, --threads 1: the CSV must repeat byte for byte"


def test_sweep_refuses_an_unknown_preset(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--preset", "huge", "--out", str(tmp_path)])
    assert "invalid choice: 'huge'" in capsys.readouterr().err


def test_shipped_sweep_spans_the_optimum_at_every_budget():
    rows = _rows(scaling_fit.SWEEP_CSV)
    assert set(REQUIRED) <= set(rows[0]), f"columns: {list(rows[0])}"
    runs = scaling_fit.read_sweep()
    budgets = np.unique(runs[:, 0])
    assert len(budgets) >= 3, f"{len(budgets)} budgets"
    for c in budgets:
        at = runs[runs[:, 0] == c]
        assert len(at) >= 5, f"C = {c:g}: {len(at)} sizes"
        sizes = at[np.argsort(at[:, 1])]
        best = int(np.argmin(sizes[:, 3]))
        assert 0 < best < len(sizes) - 1, f"C = {c:g}: the lowest loss is at an edge of the sizes tried"
    curves = _rows(scaling_fit.SWEEP_CSV.parent / "curves.csv")
    assert {c["run_id"] for c in curves} == {r["run_id"] for r in rows}
    meta = json.loads((scaling_fit.SWEEP_CSV.parent / "metadata.json").read_text())
    assert meta["preset"] == json.loads(json.dumps(sweep.SWEEP_PRESETS["full"].__dict__)), \
        "assets/scaling must come from the default preset"


def test_tab_numbers_are_recomputed_from_the_shipped_csv():
    shipped = sweep_plots.load_fits()
    fresh = scaling_fit.fit_all(scaling_fit.read_sweep())
    for key in ("approach1", "approach2", "approach3"):
        for name in ("a", "b", "tokens_per_param"):
            assert np.allclose(fresh[key][name], shipped[key][name], rtol=1e-6), f"{key} {name}"
            for end in ("lo", "hi"):
                assert np.allclose(fresh[key]["intervals"][name][end], shipped[key]["intervals"][name][end],
                                   rtol=1e-4), f"{key} {name} interval {end}"
    assert sweep_plots.fits_markdown(shipped) == sweep_plots.fits_markdown(fresh), "the tab shows what the CSV gives"
    law = scaling.LAWS["tinygpt-measured"]  # the planner's law is Approach 2 on the same CSV
    assert np.isclose(law.b, fresh["approach2"]["a"]) and np.isclose(law.k, fresh["approach2"]["k_n"])


def test_measured_law_answers_near_its_budgets_and_refuses_far_ones():
    law = scaling.LAWS["tinygpt-measured"]
    n, d = scaling.compute_optimal(law.c_hi, "tinygpt-measured")
    assert np.isclose(6 * n * d, law.c_hi)
    with pytest.raises(ValueError, match="measured on budgets"):
        scaling.compute_optimal(1e21, "tinygpt-measured")
    rows = scaling.plan(scaling.Hardware(), compute_flops=1e21)
    assert "tinygpt-measured" not in [r.law for r in rows], "the law must stay out of the table at 1e21"
    assert any("tinygpt-measured" in why for why in scaling.refusals(compute_flops=1e21))
    rows = scaling.plan(scaling.Hardware(), compute_flops=law.c_lo)
    assert "tinygpt-measured" in [r.law for r in rows] and not scaling.refusals(compute_flops=law.c_lo)
