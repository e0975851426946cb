"""Scaling laws tab: a Chinchilla compute-optimal planner, an architecture calculator and emergence, honestly.

Handlers are thin adapters: the math is llm_demo/scaling.py, the figures llm_demo/scaling_plots.py.
"""
import gradio as gr

from llm_demo import scaling, scaling_planner
from llm_demo import scaling_plots as plots
from llm_demo.ui.common import by_name, friendly, one, ordered
from llm_demo.ui.scaling_measured import build_measured_section

MODE_FLOPS, MODE_GPU, MODE_N = "compute budget (FLOPs)", "GPUs × hours", "model size N"
MODES = {MODE_FLOPS: "budget", MODE_GPU: "gpus", MODE_N: "n"}     # the radio's labels -> scaling_planner.PLAN_FROM
PLAN_DEFAULTS = {"mode": {key: mode for mode, key in MODES.items()}[scaling_planner.DEFAULTS["plan_from"]],
                 **{k: v for k, v in scaling_planner.DEFAULTS.items() if k != "plan_from"}}
# The public API's output order, by name (tests/test_ui_wiring.py checks the built app against it).
API_OUTPUTS = {"scaling_plan": ("summary", "table", "isoflop", "contour", "laws", "models", "inference_md",
                                "inference_plot")}
EMERGENCE_MAX_K = 40          # the answer-length slider's end, and the most update_emergence accepts
GPT2_SMALL = scaling.GPT2_SMALL

INTRO = """Training compute is about **C = 6·N·D** FLOPs for a model of N parameters trained on D tokens (2 for
the forward pass, 4 for the backward, per parameter per token). For a fixed C, a bigger model sees fewer tokens:
**which split gives the lowest loss?** Hoffmann et al. 2022 (“Chinchilla”) answered it three ways and found N and D
should grow together, about 20 tokens per parameter; Kaplan et al. 2020 had said to spend most of the extra compute on
parameters. Pick a budget (or a GPU fleet, or a model size) and every law below answers at once."""

LAWS_HELP = """**The laws** (each a pure function in `llm_demo/scaling.py`, constants cited next to them):
`chinchilla-1` and `chinchilla-2` are power laws fitted here to the paper's Table 3 and Table A3 (Approaches 1 and 2);
`chinchilla-3` is the parametric fit L(N, D) = E + A/N^α + B/D^β (Approach 3), minimised in closed form;
`epoch-2024` is Besiroglu et al.'s refit of that same formula on the paper's own data, which agrees with Approaches
1–2 on ~20 tokens per parameter where the original Approach 3 drifts from ~30 at 1e21 FLOPs to 60+ at 1e24;
`tokens-20` is the rule of thumb;
`kaplan-2020` (N ∝ C^0.73) is shown for contrast: it puts far fewer tokens into each parameter.
Predicted losses are in nats per token on the papers' data set, not on yours."""

MINIGPT = """**Why the seed's MiniGPT is not “~124M”.** GPT-2 small (vocabulary 50,257, d_model 768, 12 layers,
12 heads, context 1,024) has **{tied:,}** parameters, because its output head *is* the token embedding matrix
(tied weights). The seed's MiniGPT builds the same blocks (its `nn.MultiheadAttention` has the same weights and biases
as GPT-2's attention) but gives the output layer its own `nn.Linear(d_model, vocab, bias=False)`, another
50,257 × 768 = {head:,} parameters: it has **{untied:,}** (~{untied_m:.0f}M) while its comment says ~124M. Untick
“tied” above to see it. Tying saves parameters, not compute: the logits cost the same FLOPs either way."""

EMERGENCE_CLAIM = """**The claim.** The seed text says abilities such as few-shot learning, chain-of-thought and
multi-step reasoning appear suddenly at certain scale thresholds, not gradually. It echoes Wei et al. 2022,
“Emergent Abilities of Large Language Models”, which plotted task scores that sit near zero and then jump."""

EMERGENCE_COUNTER = """**The best-known counterpoint.** Schaeffer, Miranda & Koyejo 2023, “Are Emergent Abilities of
Large Language Models a Mirage?” (NeurIPS 2023): most reported jumps use all-or-nothing metrics such as exact match.
Re-scoring the *same* model outputs with a continuous metric (token edit distance, Brier score) often turns the jump
into a smooth, predictable curve, and they could make “emergence” appear in vision models by the choice of metric
alone. It does not prove nothing ever changes fast with scale; it shows a sharp curve can come from the metric, so a
jump has to survive a continuous metric before it is called emergent."""


def _mode_visibility(mode: str) -> dict:
    """Show the one input the planner mode reads: {budget, hours, n_params}."""
    return dict(budget=gr.update(visible=mode == MODE_FLOPS), hours=gr.update(visible=mode == MODE_GPU),
                n_params=gr.update(visible=mode == MODE_N))


def _custom_visibility(gpu: str):
    """The custom TFLOP/s box shows only for the "custom" GPU."""
    return gr.update(visible=gpu == "custom")


@friendly
def update_plan(mode, budget, gpu, custom_tflops, n_gpus, hours, mfu, price, n_params, law, inference_tokens):
    """Every law's plan for one input, its table, the four planner plots and inference-aware sizing:
    {summary, table, isoflop, contour, laws, models, inference_md, inference_plot} (llm_demo/scaling_planner.py)."""
    if mode not in MODES:
        raise ValueError(f"Unknown planner mode {mode!r}: choose {MODE_FLOPS!r}, {MODE_GPU!r} or {MODE_N!r}.")
    return scaling_planner.plan_views(MODES[mode], budget, gpu, custom_tflops, n_gpus, hours, mfu, price, n_params,
                                      law, inference_tokens)


@friendly
def update_params(vocab_size, d_model, n_layers, n_heads, context_length, tied):
    return plots.params_markdown(vocab_size, d_model, n_layers, n_heads, context_length, tied)[0]


@friendly
def send_to_planner(vocab_size, d_model, n_layers, n_heads, context_length, tied):
    """Switch the planner to "model size N" with this architecture's count: {mode, budget, hours, n_params}."""
    total = plots.params_markdown(vocab_size, d_model, n_layers, n_heads, context_length, tied)[1]
    return {**_mode_visibility(MODE_N), "mode": gr.update(value=MODE_N),
            "n_params": gr.update(value=str(total), visible=True)}


@friendly
def update_emergence(k):
    k = scaling.parse_number(k, "The answer length k")
    if k != int(k) or not 1 <= k <= EMERGENCE_MAX_K:
        raise ValueError(f"The answer length k must be a whole number of tokens from 1 to {EMERGENCE_MAX_K} "
                         f"(got {k:g}).")
    return plots.emergence_figure(int(k))


# Cells break between words, never inside one (Gradio's wrapping table breaks anywhere by default), in the page's
# proportional font, so the nine columns fit ~700 px (an 820 px window) without a sideways scroll.
TABLE_CSS = """<style>#scaling-table .text { word-break: normal !important; overflow-wrap: normal !important;
  font-family: var(--font) !important; }</style>"""


def _caption(text: str):
    gr.Markdown(f"<small>{text}</small>")


def build_scaling_tab():
    gr.Markdown("## Scaling laws")
    gr.Markdown(INTRO)
    d = PLAN_DEFAULTS
    first = update_plan(**d)  # the page opens on a computed plan, not on empty plots

    gr.Markdown("### Plan a training run")
    with gr.Row():
        with gr.Column():
            mode = gr.Radio([MODE_FLOPS, MODE_GPU, MODE_N], value=d["mode"], label="Plan from")
            budget = gr.Textbox(d["budget"], label="Compute budget (FLOPs)", info="like 1e21 or 3.5e23; Enter to plan",
                                elem_id="scaling-budget")
            hours = gr.Number(d["hours"], label="Training hours (wall-clock)", visible=False)
            n_params = gr.Textbox(d["n_params"], label="Model size N (parameters)", info="like 7e9 or 7B",
                                  visible=False)
            law = gr.Dropdown(list(scaling.PARAMETRIC), value=d["law"], label="Loss law for the plots")
        with gr.Column():
            gpu = gr.Dropdown([*scaling.GPU_PEAK_TFLOPS, "custom"], value=d["gpu"],
                              label="GPU (peak dense BF16: A100 312, H100/H200 989, L4 121; T4 65 FP16 TFLOP/s)")
            custom_tflops = gr.Number(d["custom_tflops"], label="Custom peak TFLOP/s", visible=False)
            with gr.Row():
                n_gpus = gr.Number(d["n_gpus"], label="GPUs", precision=0)
                mfu = gr.Number(d["mfu"], label="MFU, in (0, 1]", info="model FLOPs utilisation")
                price = gr.Number(d["price"], label="$ per GPU-hour (optional)")
    inference_tokens = gr.Textbox(d["inference_tokens"], label="Lifetime inference tokens (for inference-aware "
                                  "sizing below)", info="tokens the model will read and write once deployed")
    plan_button = gr.Button("Plan", variant="primary")
    summary = gr.Markdown(first["summary"], elem_id="scaling-summary")
    table = gr.Dataframe(first["table"], interactive=False, elem_id="scaling-table", wrap=True,
                         label="Every law at once: N parameters, D training tokens, D/N tokens per parameter, "
                               "C = 6·N·D FLOPs, predicted loss, training time, cost, source",
                         column_widths=plots.PLAN_COLUMN_WIDTHS)
    gr.HTML(TABLE_CSS, padding=False)
    gr.Markdown(LAWS_HELP)
    with gr.Row():
        with gr.Column():
            iso_plot = gr.Plot(first["isoflop"], elem_id="scaling-isoflop")
            _caption("Each curve spends one budget: moving right buys parameters with tokens, and the loss is "
                     "lowest at the star, the compute-optimal size.")
        with gr.Column():
            contour_plot = gr.Plot(first["contour"], elem_id="scaling-contour")
            _caption("Loss over every (N, D): the white frontier joins the best point of each dotted "
                     "equal-compute line.")
    with gr.Row():
        with gr.Column():
            laws_plot = gr.Plot(first["laws"], elem_id="scaling-laws")
            _caption("Approaches 1–2, Epoch's refit and the 20:1 rule agree on about 20 tokens per parameter; "
                     "Chinchilla's Approach 3 drifts to more tokens and Kaplan's to far bigger models "
                     "(crosses: the paper's Table 3).")
        with gr.Column():
            models_plot = gr.Plot(first["models"], elem_id="scaling-models")
            _caption("Published models against the 20:1 line (hover a point for its source): GPT-3 and Gopher sit "
                     "far below it, recent small models far above; our tinygpt comes from `assets/models/tinygpt`.")

    gr.Markdown("### Inference-aware sizing\nChinchilla minimises *training* compute. A model that will serve many "
                "tokens also pays 2·N FLOPs per token served, so Sardana & Frankle 2023 (“Beyond "
                "Chinchilla-Optimal”) minimise 6·N·D_train + 2·N·D_inference at the same predicted loss: "
                "a smaller model, trained longer.")
    inference_md = gr.Markdown(first["inference_md"], elem_id="scaling-inference")
    inference_plot = gr.Plot(first["inference_plot"], elem_id="scaling-inference-plot")
    _caption("Every point on the black curve reaches the same loss; the green star is the cheapest over the "
             "model's life, the red one the cheapest to train.")

    plan_inputs = [mode, budget, gpu, custom_tflops, n_gpus, hours, mfu, price, n_params, law, inference_tokens]
    planned = ordered(dict(summary=summary, table=table, isoflop=iso_plot, contour=contour_plot, laws=laws_plot,
                           models=models_plot, inference_md=inference_md, inference_plot=inference_plot),
                      API_OUTPUTS["scaling_plan"])
    plan_outputs = list(planned.values())
    shown = dict(budget=budget, hours=hours, n_params=n_params)
    mode.input(by_name(_mode_visibility, shown), mode, list(shown.values()), api_visibility="private")
    gpu.input(_custom_visibility, gpu, custom_tflops, api_visibility="private")
    gr.on([plan_button.click, mode.input, gpu.input, law.input] +
          [box.submit for box in (budget, hours, n_params, custom_tflops, n_gpus, mfu, price, inference_tokens)],
          by_name(update_plan, planned), plan_inputs, plan_outputs, api_name="scaling_plan")

    gr.Markdown("### Architecture calculator\nParameters of a GPT-2-style model (pre-norm, learned positions, "
                "4× MLP), counted part by part; the count matches `GPT2LMHeadModel` built from the same config.")
    with gr.Row():
        vocab = gr.Number(GPT2_SMALL["vocab_size"], label="vocabulary", precision=0)
        d_model = gr.Number(GPT2_SMALL["d_model"], label="d_model", precision=0)
        n_layers = gr.Number(GPT2_SMALL["n_layers"], label="layers", precision=0)
        n_heads = gr.Number(GPT2_SMALL["n_heads"], label="heads", precision=0)
        context = gr.Number(GPT2_SMALL["context_length"], label="context", precision=0)
        tied = gr.Checkbox(True, label="output head tied to the embedding")
    params_md = gr.Markdown(update_params(**GPT2_SMALL, tied=True), elem_id="scaling-params")
    send = gr.Button("Use this N in the planner")
    tied_n, untied_n = (scaling.count_params(**GPT2_SMALL, tied_embeddings=t) for t in (True, False))
    gr.Markdown(MINIGPT.format(tied=tied_n, untied=untied_n, head=untied_n - tied_n, untied_m=untied_n / 1e6))
    calc_inputs = [vocab, d_model, n_layers, n_heads, context, tied]
    # Enter or leaving a box (blur) recounts, so the total shown is always the N "Use this N" sends.
    gr.on([tied.input] + [ev for box in calc_inputs[:-1] for ev in (box.submit, box.blur)], update_params,
          calc_inputs, params_md, api_name="scaling_params", trigger_mode="always_last")
    to_planner = dict(mode=mode, **shown)
    send.click(by_name(send_to_planner, to_planner), calc_inputs, list(to_planner.values()),
               api_visibility="private").then(by_name(update_plan, planned), plan_inputs, plan_outputs,
                                              api_visibility="private")

    build_measured_section()

    gr.Markdown("### Emergent abilities, honestly")
    with gr.Row():
        gr.Markdown(EMERGENCE_CLAIM)
        gr.Markdown(EMERGENCE_COUNTER)
    k = gr.Slider(1, EMERGENCE_MAX_K, value=10, step=1, label="answer length k (tokens that must all be right)")
    emergence_plot = gr.Plot(update_emergence(10), elem_id="scaling-emergence")
    _caption("The mechanism with illustrative constants: per-token accuracy p rises smoothly with N, while exact "
             "match of a k-token answer (≈ p^k) stays near zero and then shoots up: same model, different metric.")
    k.change(update_emergence, k, emergence_plot, api_name="scaling_emergence")
    # For links and the lesson's Show me (llm_demo/ui/links_ui.py): inputs by link key, and the views to redraw.
    return {"mode": mode, "budget": budget, "gpus": n_gpus, "hours": hours, "gpu": gpu, "n": n_params, "tied": tied,
            "k": k, "mfu": mfu, "price": price, "views": [(by_name(update_plan, planned), plan_inputs, plan_outputs),
                              (one(update_params, params_md), calc_inputs, [params_md]),
                              (one(update_emergence, emergence_plot), [k], [emergence_plot]),
                              (by_name(_mode_visibility, shown), [mode], list(shown.values())),
                              (one(_custom_visibility, custom_tflops), [gpu], [custom_tflops])]}
