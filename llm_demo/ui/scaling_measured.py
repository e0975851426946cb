"""The Scaling tab's "Measured on this laptop" section: our own IsoFLOP sweep and its fitted exponents.

UI only: the figures and text come from llm_demo/sweep_plots.py, the numbers from llm_demo/scaling_fit.py.
"""
import gradio as gr

from llm_demo import scaling, sweep_plots
from llm_demo.training.sweep import bytes_per_bpe_token

INTRO = """### Measured on this laptop
The laws above were fitted by others on hundreds of GPU runs. Here is the same experiment in miniature, run on
this project's 2-core CPU machine: at each of a few fixed budgets C, GPT-2-shaped models of several sizes each
train on C / (6·N) bytes of the trio's prose; the size with the lowest held-out loss is the compute-optimal one.
Fitting how that size grows with C, the three ways Hoffmann et al. 2022 did, gives our own exponents."""

def build_measured_section():
    with gr.Column(elem_id="scaling-measured"):
        gr.Markdown(INTRO)
        try:
            shown = sweep_plots.measured_section(bytes_per_bpe_token())
        except FileNotFoundError as exc:
            gr.Markdown(f"*No shipped sweep ({exc.filename}): run `python -m llm_demo.training sweep --ship`.*")
            return
        gr.Markdown(shown["run_md"], elem_id="scaling-measured-run")
        with gr.Row():
            gr.Plot(shown["isoflop"], elem_id="scaling-measured-isoflop", min_width=300)   # stacked on a phone
            gr.Plot(shown["optimum"], elem_id="scaling-measured-optimum", min_width=300)
        gr.Markdown(shown["fits_md"], elem_id="scaling-measured-fits")
        gr.Markdown(shown["honest_md"], elem_id="scaling-measured-honest")
        law = scaling.LAWS.get("tinygpt-measured")
        where = (f"for budgets from {scaling.sci(law.c_lo / law.reach)} to {scaling.sci(law.c_hi * law.reach)} FLOPs "
                 "(the measured ones: it shows no interval, so it does not extrapolate)" if law else "when shipped")
        gr.Markdown(f"The planner above lists this fit as `tinygpt-measured` {where}, and says why it stays "
                    "silent elsewhere.")
