"""The Scaling tab's "Measured on this laptop" section: our own IsoFLOP sweep and its fitted exponents.

UI only: the figures and text come from llm_demo/sweep_plots.py, the numbers from llm_demo/scaling_fit.py.
"""
import gradio as gr

from llm_demo import sweep_plots

INTRO = """### Measured on this laptop
The laws above were fitted by others on hundreds of GPU runs. Here is the same experiment in miniature, run on
this project's 2-core CPU machine: at each of a few fixed budgets C, GPT-2-shaped models of several sizes each
train on C / (6·N) bytes of the trio's prose; the size with the lowest held-out loss is the compute-optimal one.
Fitting how that size grows with C, the three ways Hoffmann et al. 2022 did, gives our own exponents."""

HONEST = """**Why this miniature differs from the paper.** *Range:* Chinchilla's runs span 70M–16B parameters and
6e18–3e21 FLOPs; ours span a few thousand to a few hundred thousand parameters and a single decade of budgets
around 1e11 FLOPs, so each exponent rests on three points and its interval is wide. *Steps, not only tokens:* a
budget this small gives a big model only a hundred or so optimizer steps, so the small models win partly because
they take more steps; the paper's models all trained for thousands. *Embeddings:* N counts every parameter (as
the paper did), and in models this small the byte embedding and position table are a large share of N; Kaplan et
al. 2020 left them out, and Pearce & Song 2024 showed that this choice alone moves small-scale exponents.
*Data:* no byte is repeated (the generator writes fresh prose), but the prose is simple, templated English about
24 animals, far easier than MassiveText, so loss falls quickly and the floor E is low. *Tokens:* bytes, not the
trio's 4,096-token BPE: with it, the embedding table was most of every model we could afford and the smallest model
tried won at every budget (README). Read the exponents as *this* world's, measured honestly, not as a check of the
paper's."""


def build_measured_section():
    with gr.Column(elem_id="scaling-measured"):
        gr.Markdown(INTRO)
        try:
            shown = sweep_plots.measured_section()
        except FileNotFoundError as exc:
            gr.Markdown(f"*No shipped sweep ({exc.filename}): run `python -m llm_demo.training sweep --ship`.*")
            return
        gr.Markdown(shown["run_md"], elem_id="scaling-measured-run")
        with gr.Row():
            gr.Plot(shown["isoflop"], elem_id="scaling-measured-isoflop")
            gr.Plot(shown["optimum"], elem_id="scaling-measured-optimum")
        gr.Markdown(shown["fits_md"], elem_id="scaling-measured-fits")
        gr.Markdown(HONEST, elem_id="scaling-measured-honest")
        gr.Markdown("The planner above lists this fit as `tinygpt-measured` for budgets within 10× of the measured "
                    "ones, and says why it stays silent elsewhere.")
