"""Benchmark the streaming engine: `python -m llm_demo.bench generation [--model NAME] [--tokens 128]`.

Same model, prompt, sampling settings and token count through (a) a loop in the style of the seed's
generate_text (no KV cache: the whole sequence is recomputed every step), (b) transformers generate() in fp32,
(c) our engine as the Chat tab uses it (batching.stream: llama.cpp for GGUF models, transformers otherwise).
Last line: engine_vs_hf_fp32=<c/b> tokens_per_s=<c> ttft_ms=<ms>; the line before it adds engine_vs_seed=<c/a>.
"""
import argparse
import time

import torch

from llm_demo import batching, engine, models
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


def llama_eval_loop(lm, ids: list[int], n: int) -> float:
    """Tokens/s of llama-cpp-python's own loop on the same GGUF (Llama.eval + argmax of the last logits row), the
    reference for what our engine adds on the llama.cpp backend."""
    import llama_cpp
    import numpy as np

    from llm_demo import llamacpp
    llm = llama_cpp.Llama(model_path=str(lm.path), n_ctx=len(ids) + n + 1, n_threads=llamacpp.n_threads(),
                          verbose=False)
    try:
        llm.eval(ids)
        t0 = time.perf_counter()
        for _ in range(n):
            row = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),))
            llm.eval([int(row.argmax())])
        return n / (time.perf_counter() - t0)
    finally:
        llm.close()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m llm_demo.bench generation", description=__doc__)
    ap.add_argument("--model", default="tinygpt-base",
                    help="registry name of the model to time (the seed-style loop makes big models take minutes: "
                         "SmolLM2 needs several minutes for 256 tokens without a KV cache)")
    ap.add_argument("--tokens", type=int, default=128, help="new tokens per run")
    ap.add_argument("--no-seed-loop", action="store_true", help="skip (a), the slow loop without a KV cache")
    args = ap.parse_args(argv)
    lm = models.load(args.model)
    # The reference: generate() on a real float32 copy of the same weights (GGUF: dequantised), whatever LLM_DEMO_DTYPE
    # the engine runs in (on a transformers engine lm is that dtype; on llama.cpp its own kernels).
    hf = models.load(args.model, backend="transformers", dtype="float32")
    prompt = models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": PROMPT}])
    ids = engine.encode_prompt(lm, prompt)
    if len(ids) + args.tokens > lm.context_length + 1:
        raise SystemExit(f"{args.model} has {lm.context_length} positions: a {len(ids)}-token prompt leaves room for "
                         f"{lm.context_length + 1 - len(ids)} new tokens, not {args.tokens}. Lower --tokens.")
    cfg = SamplingConfig(temperature=0.7, top_k=50, top_p=0.9, max_new_tokens=args.tokens, seed=0)
    dtype = str(next(lm.model.parameters()).dtype).removeprefix("torch.") if lm.backend == "transformers" else "gguf"
    print(f"model={args.model} backend={lm.backend} dtype={dtype} prompt_tokens={len(ids)} new_tokens={args.tokens} "
          f"threads={torch.get_num_threads()}")

    engine.generate(lm, prompt, SamplingConfig(max_new_tokens=8), ignore_eos=True)   # warm-up
    t0 = time.perf_counter()
    ttft = None
    n_engine = 0
    for piece in batching.stream(lm, prompt, cfg, ignore_eos=True):
        ttft = ttft if ttft is not None else time.perf_counter() - t0
        n_engine = piece.n_tokens
    engine_tps = n_engine / (time.perf_counter() - t0)
    print(f"(c) engine:          {engine_tps:7.1f} tok/s  ({n_engine} tokens, ttft {ttft * 1000:.0f} ms)")

    if lm.backend == "llama.cpp":
        raw_tps = llama_eval_loop(lm, ids, args.tokens)
        print(f"(d) llama.cpp's own Llama.eval loop, greedy: {raw_tps:7.1f} tok/s  (engine / this: "
              f"{engine_tps / raw_tps:.2f}; the engine's cost over llama.cpp is our sampler and its Python loop)")

    x = torch.tensor([ids])
    torch.manual_seed(0)
    t0 = time.perf_counter()
    out = hf.model.generate(x, attention_mask=torch.ones_like(x), do_sample=True, temperature=cfg.temperature,
                            top_k=cfg.top_k, top_p=cfg.top_p, max_new_tokens=args.tokens,
                            min_new_tokens=args.tokens, pad_token_id=hf.tokenizer.eos_token_id)
    hf_tps = (out.shape[1] - len(ids)) / (time.perf_counter() - t0)
    print(f"(b) HF generate() fp32: {hf_tps:7.1f} tok/s  ({out.shape[1] - len(ids)} tokens)")

    if not args.no_seed_loop:
        t0 = time.perf_counter()
        n_seed = seed_style_loop(hf, ids, cfg, args.tokens)
        seed_tps = n_seed / (time.perf_counter() - t0)
        print(f"(a) seed-style loop: {seed_tps:7.1f} tok/s  ({n_seed} tokens, no KV cache)")
        print(f"engine_vs_hf={engine_tps / hf_tps:.2f} engine_vs_seed={engine_tps / seed_tps:.2f}")
    print(f"engine_vs_hf_fp32={engine_tps / hf_tps:.2f} tokens_per_s={engine_tps:.1f} ttft_ms={ttft * 1000:.0f}")
    return 0
