"""Benchmark the streaming engine: `python -m llm_demo.bench generation [--model NAME] [--tokens 256]`.

Same model, prompt, sampling settings and token count through (a) a loop in the style of the seed's
generate_text (no KV cache: the whole sequence is recomputed every step), (b) transformers generate(),
(c) our streaming engine. Last line: engine_vs_hf=<c/b> engine_vs_seed=<c/a> ttft_ms=<ms>.
"""
import argparse
import time

import torch

from llm_demo import engine, models
from llm_demo.sampling import SamplingConfig

# A one-token story opener for a base model: our tinygpt has 256 positions, so 1 + 256 new tokens is what fits.
PROMPT = "Once"


def seed_style_loop(lm, ids: list[int], cfg: SamplingConfig, n: int) -> int:
    """The seed's approach, re-expressed: full forward pass per token, filters on raw logits, no cache."""
    seq = torch.tensor([ids])
    gen = torch.Generator().manual_seed(cfg.seed)
    with torch.inference_mode():
        for _ in range(n):
            logits = lm.model(seq).logits[:, -1, :] / cfg.temperature
            kth = torch.topk(logits, cfg.top_k).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
            sorted_logits, order = torch.sort(logits, descending=True)
            probs = torch.softmax(sorted_logits, -1)
            sorted_logits[(probs.cumsum(-1) - probs) >= cfg.top_p] = float("-inf")
            logits = torch.full_like(logits, float("-inf")).scatter(1, order, sorted_logits)
            nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)
            seq = torch.cat([seq, nxt], dim=1)
    return seq.shape[1] - len(ids)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m llm_demo.bench generation", description=__doc__)
    ap.add_argument("--model", default="tinygpt-base",
                    help="registry name of the model to time (the seed-style loop makes big models take minutes: "
                         "SmolLM2 needs several minutes for 256 tokens without a KV cache)")
    ap.add_argument("--tokens", type=int, default=256, help="new tokens per run")
    args = ap.parse_args(argv)
    lm = models.load(args.model)
    prompt = models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": PROMPT}])
    ids = engine.encode_prompt(lm, prompt)
    if len(ids) + args.tokens > lm.context_length + 1:
        raise SystemExit(f"{args.model} has {lm.context_length} positions: a {len(ids)}-token prompt leaves room for "
                         f"{lm.context_length + 1 - len(ids)} new tokens, not {args.tokens}. Lower --tokens.")
    cfg = SamplingConfig(temperature=0.7, top_k=50, top_p=0.9, max_new_tokens=args.tokens, seed=0)
    print(f"model={args.model} prompt_tokens={len(ids)} new_tokens={args.tokens} threads={torch.get_num_threads()}")

    engine.generate(lm, prompt, SamplingConfig(max_new_tokens=8), ignore_eos=True)   # warm-up
    t0 = time.perf_counter()
    ttft = None
    n_engine = 0
    for piece in engine.stream(lm, prompt, cfg, ignore_eos=True):
        ttft = ttft if ttft is not None else time.perf_counter() - t0
        n_engine = piece.n_tokens
    engine_tps = n_engine / (time.perf_counter() - t0)
    print(f"(c) engine:          {engine_tps:7.1f} tok/s  ({n_engine} tokens, ttft {ttft * 1000:.0f} ms)")

    x = torch.tensor([ids])
    torch.manual_seed(0)
    t0 = time.perf_counter()
    out = lm.model.generate(x, attention_mask=torch.ones_like(x), do_sample=True, temperature=cfg.temperature,
                            top_k=cfg.top_k, top_p=cfg.top_p, max_new_tokens=args.tokens,
                            min_new_tokens=args.tokens, pad_token_id=lm.tokenizer.eos_token_id)
    hf_tps = (out.shape[1] - len(ids)) / (time.perf_counter() - t0)
    print(f"(b) HF generate():   {hf_tps:7.1f} tok/s  ({out.shape[1] - len(ids)} tokens)")

    t0 = time.perf_counter()
    n_seed = seed_style_loop(lm, ids, cfg, args.tokens)
    seed_tps = n_seed / (time.perf_counter() - t0)
    print(f"(a) seed-style loop: {seed_tps:7.1f} tok/s  ({n_seed} tokens, no KV cache)")
    print(f"engine_vs_hf={engine_tps / hf_tps:.2f} engine_vs_seed={engine_tps / seed_tps:.2f} ttft_ms={ttft * 1000:.0f}")
    return 0
