"""Inside tab benchmark: the whole tab update (one eager forward pass with attention weights and hidden states,
the architecture card, the attention heatmap, every head of a layer, the logit lens, and the figures turned into
the JSON Gradio sends) for a 32-token prompt, on TinyGPT base and on SmolLM2-135M-Instruct.

Run: `python -m llm_demo.bench inside [--repeats 5] [--tokens 32] [--threads N]`. Goals: <= 300 ms (TinyGPT),
<= 1500 ms (SmolLM2). Model loading is not timed. Also printed: what eager attention costs against the default
kernel (SDPA) for the same pass. The last line is `update_ms_tinygpt=<ms> update_ms_smollm2=<ms>` (medians).
"""
import argparse
import os

import torch

from llm_demo import engine, inside, models
from llm_demo import inside_plots as plots
from llm_demo.bench.tokenizer import median_ms

MODELS = {"tinygpt": "tinygpt-base", "smollm2": models.DEFAULT_CHAT_MODEL}
GOALS_MS = {"tinygpt": 300, "smollm2": 1500}
WORLD = ("One foggy morning, Tess the green rabbit walked to the Old Mill. Tess felt happy and sang a little song. "
         "Leo the yellow duck came to help, and Leo counted the leaves: there were seven of them. Leo and Tess "
         "played a game by the Quiet Lake until the sun went down, and then they walked home along Cherry Road.")


def prompt_of(lm, n_tokens: int) -> str:
    """A text from the trio's world that is exactly n_tokens tokens for this model's tokenizer."""
    ids = lm.tokenizer(WORLD, add_special_tokens=False)["input_ids"]
    if len(ids) < n_tokens:
        raise SystemExit(f"the benchmark text is only {len(ids)} tokens for {lm.spec.label}")
    for k in range(n_tokens, n_tokens + 4):          # decoding then re-encoding can merge across the cut
        text = lm.tokenizer.decode(ids[:k])
        if len(lm.tokenizer(text, add_special_tokens=False)["input_ids"]) == n_tokens:
            return text
    raise SystemExit(f"no {n_tokens}-token cut of the benchmark text for {lm.spec.label}")


def update(name: str, text: str) -> int:
    """One whole tab update from scratch, like a visitor pressing "Look inside" on a new text."""
    inside.clear_cache()
    v = plots.update_views(name, text, 1, 0)
    return sum(len(f.to_json()) for f in (v.attention, v.heads, v.lens)) + len(v.arch_html)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m llm_demo.bench inside", description=__doc__)
    p.add_argument("--repeats", type=int, default=5, help="timed updates per model; the median is reported")
    p.add_argument("--tokens", type=int, default=32, help="prompt length in tokens")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    results = {}
    for key, name in MODELS.items():
        lm = inside._torch_model(name)                # loading is not timed
        text = prompt_of(lm, args.tokens)
        n_bytes = update(name, text)                  # warm-up
        ms = median_ms(lambda: update(name, text), args.repeats)
        ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
        eager = median_ms(lambda: inside.eager_forward(lm, ids), args.repeats)
        sdpa = median_ms(lambda: engine.forward(lm, input_ids=torch.tensor([ids], device=lm.device)), args.repeats)
        results[key] = ms
        print(f"{lm.spec.label}: {len(ids)} tokens, whole update {ms:.1f} ms (median of {args.repeats}), "
              f"{n_bytes:,} bytes of figures and card; goal <= {GOALS_MS[key]} ms: "
              + ("met" if ms <= GOALS_MS[key] else "NOT met"))
        print(f"  forward pass alone: eager with weights {eager:.1f} ms, default kernel {sdpa:.1f} ms "
              f"(eager costs {eager / sdpa:.2f}x)")
    load1, load5, _ = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"load average {load1:.2f} (1 min) {load5:.2f} (5 min)")
    print(f"update_ms_tinygpt={results['tinygpt']:.1f} update_ms_smollm2={results['smollm2']:.1f}")
    return 0
