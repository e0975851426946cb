"""A class's chat round in this process, through the engine loop: `python -m llm_demo.bench batch [--users 30]
[--tokens 32] [--caps 8,32]`.

Every student sends a chat message at once (batching.stream on the default chat model, greedy, --tokens new tokens
each) and the round is timed with the batch cap set to each of --caps: cap 8 is the old arrangement's waves of 8,
cap >= users is one batch. Only batching.stream and the engine's max_rows are used, so the same file times an older
tree (`PYTHONPATH=/path/to/old python llm_demo/bench/batch.py`). Last line per cap:
cap=<n> wall_s=<s> p95_ms=<ms> first_token_p95_ms=<ms> tokens_per_s=<total> max_rows=<n>
"""
import argparse
import os
import threading
import time

from llm_demo import batching, models
from llm_demo.sampling import SamplingConfig

MESSAGE = "Explain in two sentences why the sky is blue"


def p95(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]


def round_once(lm, users: int, tokens: int) -> tuple[float, list[float], list[float], int]:
    """(wall seconds, per-student seconds, per-student first-token seconds, tokens) for one round."""
    prompts = [models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": f"{MESSAGE} (student {u})"}])
               for u in range(users)]
    cfg = SamplingConfig(temperature=0, max_new_tokens=tokens)
    done, first, counts = [0.0] * users, [0.0] * users, [0] * users
    barrier = threading.Barrier(users + 1)

    def student(u: int) -> None:
        barrier.wait()
        t0 = time.perf_counter()
        for piece in batching.stream(lm, prompts[u], cfg, ignore_eos=True):
            first[u] = first[u] or time.perf_counter() - t0
            counts[u] = piece.n_tokens
        done[u] = time.perf_counter() - t0

    threads = [threading.Thread(target=student, args=(u,)) for u in range(users)]
    [t.start() for t in threads]
    barrier.wait()
    t0 = time.perf_counter()
    [t.join() for t in threads]
    return time.perf_counter() - t0, done, first, sum(counts)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m llm_demo.bench batch", description=__doc__)
    ap.add_argument("--users", type=int, default=30, help="students sending a chat message at once")
    ap.add_argument("--tokens", type=int, default=32, help="new tokens per answer (greedy, end of turn ignored)")
    ap.add_argument("--caps", default="8,32", help="batch caps to time, comma-separated")
    args = ap.parse_args(argv)
    caps = [int(c) for c in args.caps.split(",") if c.strip()]
    lm = models.load(models.DEFAULT_CHAT_MODEL)
    eng = batching.batcher_for(lm)
    print(f"model={lm.spec.name} backend={lm.backend} users={args.users} tokens={args.tokens} "
          f"engine={type(eng).__name__} cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f}")
    round_once(lm, 2, 4)                                                  # warm-up
    for cap in caps:
        eng.max_rows = cap
        if hasattr(eng, "stats"):
            eng.stats = type(eng.stats)()
        wall, each, first, n = round_once(lm, args.users, args.tokens)
        print(f"cap={cap} wall_s={wall:.2f} p95_ms={p95(each) * 1000:.0f} first_token_p95_ms={p95(first) * 1000:.0f} "
              f"tokens_per_s={n / wall:.1f} max_rows={getattr(eng.stats, 'max_rows', '?')} "
              f"load={os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
