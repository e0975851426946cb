"""The Scaling tab's planner for one input, without Gradio: every law's plan, its table, the four planner plots and
inference-aware sizing. ui/scaling_tab.py shows it; `python -m llm_demo.bench scaling` times it."""
from llm_demo import scaling
from llm_demo import scaling_plots as plots

PLAN_FROM = ("budget", "gpus", "n")   # plan from a compute budget, a GPU fleet's hours, or a model size N
DEFAULTS = dict(plan_from="budget", budget="1e21", gpu="H100", custom_tflops=500, n_gpus=8, hours=720, mfu=0.4,
                price=2.5, n_params="1B", law="chinchilla-3", inference_tokens="2e12")   # the tab opens on these


def given(plan_from: str, hardware: scaling.Hardware, budget, hours, n_params) -> dict:
    """What scaling.plan() is given for this planner mode: {compute_flops} or {n_params}."""
    if plan_from not in PLAN_FROM:
        raise ValueError(f"Unknown planner mode {plan_from!r}: plan from one of {', '.join(PLAN_FROM)}.")
    if plan_from == "n":
        return dict(n_params=n_params)
    return dict(compute_flops=budget if plan_from == "budget" else hardware.budget(hours))


def plan_views(plan_from, budget, gpu, custom_tflops, n_gpus, hours, mfu, price, n_params, law,
               inference_tokens) -> dict:
    """{summary, table, isoflop, contour, laws, models, inference_md, inference_plot} for one planner input; the
    plots and the inference sizing follow `law`'s plan. Bad input is refused with its sentence (ValueError)."""
    hardware = scaling.Hardware(gpu, n_gpus, mfu, custom_tflops, price)
    scaling.get_law(law, parametric=True)
    asked = given(plan_from, hardware, budget, hours, n_params)
    rows = scaling.plan(hardware, **asked)
    mine = next(r for r in rows if r.law == law)
    inference = scaling.inference_aware(mine.compute, inference_tokens, law)
    return dict(summary=plots.budget_markdown(rows, hardware, law, scaling.refusals(**asked)),
                table=plots.plan_table(rows),
                isoflop=plots.isoflop_figure(law, mine.compute), contour=plots.contour_figure(law, mine.compute),
                laws=plots.laws_figure(rows),
                models=plots.models_figure((f"your plan ({law})", mine.n_params, mine.n_tokens),
                                           plots.read_model_point()),
                inference_md=plots.inference_markdown(law, inference),
                inference_plot=plots.inference_figure(law, inference))
