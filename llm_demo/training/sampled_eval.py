"""The trio's polite-answer rate when sampled (T = 1) rather than greedy: the held-out eval prompts, each answered
`--per-prompt` times by the chat engine, judged by world.is_polite like eval.json's greedy `preferred_rate`.

Run: `.venv/bin/python -m llm_demo.training.sampled_eval` (writes assets/models/tinygpt/eval_sampled.json, which
the Lesson shows next to the greedy rate; about a minute on two cores).
"""
import argparse
import json
import math
import sys
import time

from llm_demo import TINYGPT_DIR
from llm_demo.training import world as W

OUT = TINYGPT_DIR / "eval_sampled.json"
COMMAND = "python -m llm_demo.training.sampled_eval"
STAGES = ("sft", "dpo")


def eval_prompts() -> list[str]:
    """The held-out prompts eval.json was measured on (eval_samples.jsonl, in order, once each)."""
    rows = [json.loads(line) for line in (TINYGPT_DIR / "eval_samples.jsonl").read_text().splitlines() if line]
    return list(dict.fromkeys(r["prompt"] for r in rows))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for k successes in n (Wilson 1927): honest near 0% and 100%, unlike k/n ± 2·se."""
    p, d = k / n, 1 + z * z / n
    centre, half = (p + z * z / (2 * n)) / d, z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    # at k = 0 and k = n the bounds are exactly 0 and 1 (centre -/+ half); floating point may miss them by 1e-16
    return 0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half)


def polite_rate(model_name: str, prompts: list[str], per_prompt: int, temperature: float = 1.0,
                max_new_tokens: int = 96, seed: int = 0) -> dict:
    """Sample every prompt `per_prompt` times (seeds seed, seed+1, ...; no top-k/top-p) and count polite answers."""
    from llm_demo import engine, models
    from llm_demo.sampling import SamplingConfig

    lm = models.load(model_name)
    polite = 0
    for prompt in prompts:
        text = models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": prompt}])
        for s in range(per_prompt):
            cfg = SamplingConfig(temperature=temperature, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens,
                                 seed=seed + s)
            polite += W.is_polite(engine.generate(lm, text, cfg)[0])
    n = len(prompts) * per_prompt
    lo, hi = wilson(polite, n)
    return {"model": model_name, "polite": polite, "samples": n, "rate": polite / n, "interval_95": [lo, hi]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-prompt", type=int, default=2, help="samples per held-out prompt")
    ap.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (no top-k, no top-p)")
    ap.add_argument("--seed", type=int, default=0, help="first sampling seed")
    args = ap.parse_args(argv)
    prompts, start = eval_prompts(), time.time()
    result = {"command": COMMAND + (f" --per-prompt {args.per_prompt}" if args.per_prompt != 2 else ""),
              "temperature": args.temperature, "top_k": 0, "top_p": 1.0, "seed": args.seed,
              "prompts": len(prompts), "per_prompt": args.per_prompt,
              "judge": "training/world.is_polite (the same test as eval.json's greedy preferred_rate)",
              "stages": {st: polite_rate(f"tinygpt-{st}", prompts, args.per_prompt, args.temperature, seed=args.seed)
                         for st in STAGES}}
    result["seconds"] = round(time.time() - start, 1)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
