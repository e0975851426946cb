"""Every GGUF weight format llama.cpp can serve SmolLM2 from, on this machine: `python -m llm_demo.bench formats
[--streams 1,8,30] [--tokens 32] [--runs 2] [--prompts 6]`.

Each format is made from the shipped Q4_1 file as the app makes it (gguf_formats.convert, cached in
LLM_DEMO_CACHE_DIR), loaded as the app loads it (LlamaModel: plain CPU kernels, llama.cpp's threads) and timed
through LlamaModel.feed with no sampler and no streaming (llm_demo.bench.capacity.llama_speed): the class's chat
prompts (bench load's message, one per student) prefilled together, then --tokens greedy decode steps of every
stream. Decode tokens/s in total at each stream count, prefill tokens/s at the largest; the formats are interleaved
over --runs and each one's best is kept, so a busy spell costs every format alike. Then greedy agreement with the
shipped file: --prompts questions answered greedily (32 tokens) by each format, alone; a prompt agrees when every
token is the same. The table gguf_formats.MEASURED is this benchmark's output.
Last line: fastest_30=<fmt> served=<fmt> decode_30_x=<x> prefill_30_x=<x> single_x=<x> agree=<k>/<n>
(the served format's speeds over the shipped Q4_1 file's, same run; agree: the served format vs the shipped file).
"""
import argparse
import os

from llm_demo import config, engine, gguf_formats, llamacpp, models
from llm_demo.bench.capacity import llama_speed
from llm_demo.bench.load import MESSAGE
from llm_demo.sampling import SamplingConfig

QUESTIONS = ["What is the capital of France?", "Say hello.", "Name three fruits.", "What is 12 times 7?",
             "Write one sentence about the sea.", "Why is the sky blue?", "Give me a tip for learning to code.",
             "What do bees make?"]


def load(fmt: str, slots: int) -> llamacpp.LlamaModel:
    spec = models.get_spec(models.DEFAULT_CHAT_MODEL)
    src = models.gguf_path(spec)
    path = src if fmt == gguf_formats.SHIPPED else gguf_formats.convert(src, fmt, llamacpp.n_threads())
    return llamacpp.LlamaModel(spec, path, models.load_tokenizer(spec.name), slots=slots)


def greedy(lm, questions: list[str], tokens: int) -> list[list[int]]:
    cfg = SamplingConfig(temperature=0, max_new_tokens=tokens)
    out = []
    for q in questions:
        prompt = models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": q}])
        out.append([p.token_id for p in engine.stream(lm, prompt, cfg, ignore_eos=True)])
    return out


def common(a: list[int], b: list[int]) -> int:
    """How many leading tokens two answers share."""
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m llm_demo.bench formats", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", default="1,8,30", help="stream counts to time, comma-separated (1-64 each)")
    ap.add_argument("--tokens", type=int, default=32, help="greedy decode steps per stream count")
    ap.add_argument("--runs", type=int, default=2, help="interleaved runs over the formats; the best is kept")
    ap.add_argument("--prompts", type=int, default=6, help=f"questions for greedy agreement (0-{len(QUESTIONS)})")
    ap.add_argument("--formats", default=",".join(gguf_formats.FTYPES), help="formats to measure, comma-separated")
    args = ap.parse_args(argv)
    try:
        streams = sorted({int(x) for x in args.streams.split(",")})
    except ValueError:
        ap.error(f"--streams must be integers separated by commas, not {args.streams!r}")
    fmts = [f.strip().lower() for f in args.formats.split(",")]
    bad = [f for f in fmts if f not in gguf_formats.FTYPES]
    if bad or gguf_formats.SHIPPED not in fmts:
        ap.error(f"--formats: choose among {', '.join(gguf_formats.FTYPES)}, including {gguf_formats.SHIPPED} "
                 f"(the ratios are to it); not {', '.join(bad) or 'without it'}")
    if not all(1 <= n <= 64 for n in streams) or not 1 <= args.tokens <= 256 or not 1 <= args.runs <= 10 \
            or not 0 <= args.prompts <= len(QUESTIONS):
        ap.error(f"--streams 1-64 each, --tokens 1-256, --runs 1-10, --prompts 0-{len(QUESTIONS)}")
    ok, why = llamacpp.importable()
    if not ok or not models.availability(models.DEFAULT_CHAT_MODEL)[0]:
        print(f"llama.cpp or the SmolLM2 GGUF is missing here: {why or models.availability(models.DEFAULT_CHAT_MODEL)[1]}")
        return 1
    print(f"machine: {os.cpu_count()} CPUs, native bf16: {models.cpu_has_bf16()}, llama.cpp threads "
          f"{llamacpp.n_threads()}, load average {os.getloadavg()[0]:.2f} (1 min) at start")
    tok = models.load_tokenizer(models.DEFAULT_CHAT_MODEL)
    spec = models.get_spec(models.DEFAULT_CHAT_MODEL)
    prompts = [tok(models.build_prompt(spec, tok, [{"role": "user", "content": f"{MESSAGE} (student {u})"}]),
                   add_special_tokens=False)["input_ids"] for u in range(max(streams))]      # a chat template
    best = {f: {} for f in fmts}                     # fmt -> {("decode", n) | ("prefill", n): tokens/s}
    answers, sizes = {}, {}
    for run in range(args.runs):
        for fmt in fmts:
            lm = load(fmt, max(streams))
            sizes[fmt] = lm.n_bytes
            try:
                llama_speed(lm, prompts[:2], 2)           # untimed: the compute graph, the weights' pages
                for n in streams:
                    p, d = llama_speed(lm, prompts[:n], args.tokens)
                    for key, v in ((("prefill", n), p), (("decode", n), d)):
                        best[fmt][key] = max(best[fmt].get(key, 0.0), v)
                if run == 0 and args.prompts:
                    answers[fmt] = greedy(lm, QUESTIONS[:args.prompts], 32)
            finally:
                lm.close()
            print(f"  run {run + 1} {gguf_formats.label(fmt)}: decode " +
                  " / ".join(f"{best[fmt][('decode', n)]:.0f}" for n in streams) + ", prefill " +
                  " / ".join(f"{best[fmt][('prefill', n)]:.0f}" for n in streams) +
                  f" (best so far), load average {os.getloadavg()[0]:.2f}", flush=True)
        print(f"run {run + 1}/{args.runs} done, load average {os.getloadavg()[0]:.2f}")
    top = max(streams)
    for fmt in fmts:
        pairs = list(zip(answers.get(fmt, []), answers.get(gguf_formats.SHIPPED, [])))
        same = sum(a == b for a, b in pairs)
        lead = [common(a, b) for a, b in pairs]
        agree = (f"; greedy answers equal to the shipped file's: {same}/{len(pairs)}, first difference at token "
                 f"{', '.join(str(k) if k < len(a) else '-' for k, (a, _) in zip(lead, pairs))}" if pairs else "")
        print(f"{gguf_formats.label(fmt):5} {sizes[fmt] / 1e6:4.0f} MB: decode tok/s " +
              " / ".join(f"{best[fmt][('decode', n)]:.0f}" for n in streams) +
              f" at {' / '.join(map(str, streams))} streams; prefill tok/s " +
              " / ".join(f"{best[fmt][('prefill', n)]:.0f}" for n in streams) + agree)
    served, _ = gguf_formats.choose(models.cpu_has_bf16())
    served = served if served in fmts else gguf_formats.SHIPPED
    fastest = max(fmts, key=lambda f: best[f][("decode", top)])
    ref, got = best[gguf_formats.SHIPPED], best[served]
    same = sum(a == b for a, b in zip(answers.get(served, []), answers.get(gguf_formats.SHIPPED, [])))
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) at the end; served here ({config.GGUF_FORMAT}): {served}")
    print(f"fastest_{top}={fastest} served={served} decode_{top}_x={got[('decode', top)] / ref[('decode', top)]:.2f} "
          f"prefill_{top}_x={got[('prefill', top)] / ref[('prefill', top)]:.2f} "
          f"single_x={got[('decode', min(streams))] / ref[('decode', min(streams))]:.2f} agree={same}/{args.prompts}")
    return 0
