"""The floor under the load test's model latency on this machine: `python -m llm_demo.bench capacity [--users 30]
[--tokens 32] [--runs 3]`.

Each round of `bench load` sends every student's chat (the default model, --tokens new tokens) and Compare run
(three columns, --tokens each) at once. However the server schedules them, the request at the 95th percentile cannot
finish before the machine has done the work of the k = ceil(0.95 * 2 * users) requests that finish first, and at
best those are the k cheapest. This measures that work with every advantage given to the server:
  chats:    llama.cpp's own speed through LlamaModel.feed, best of --runs, with no sampler, no streaming and no web
            server: the students' prompts prefilled in full batches, then decode steps of a full batch of streams
            (argmax); prompt tokens that every student's prompt shares are counted once (a perfect prefix cache).
            Two arrangements: the new one (issue 24), the whole class as one batch (up to NEW_WIDTH streams) on the
            weights llama.cpp serves (gguf_formats: BF16 on CPUs with native bf16), and the old one, 8-stream waves
            on the shipped Q4_1 file, printed for comparison (old_*);
  compares: the round's Compare runs through this engine in this process, as many at once as the app allows, no
            web server (the columns are small transformers models, not llama.cpp).
Nothing else runs: not the load generator (which shares the 2 cores in `bench load`), not the cheap requests.
The line before the last runs the whole round as the app runs it (each student's chat through chat.stream_reply,
sampler view included, then their Compare run; config.MODEL_CONCURRENCY_LIMIT at a time) in this process, without
Gradio, HTTP or clients: what `bench load` measures, less the web layer.
Last line: chat_work_s=<s> compare_work_s=<s> p95_model_floor_ms=<ms> old_chat_work_s=<s> old_p95_model_floor_ms=<ms>
"""
import argparse
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from llm_demo import chat, compare, config, engine, llamacpp, models
from llm_demo.bench.load import MESSAGE, PROMPTS, p95, p95_rank
from llm_demo.sampling import SamplingConfig


OLD_WIDTH = 8     # streams per batch before issue 24 (config.MODEL_CONCURRENCY_LIMIT's default then; raw-llama-round.py)
# The new arrangement's batch: issue 24 asks the engine to admit at least 32 streams on 2 cores, so a class of 30 is
# one batch; a larger class runs in waves of this many (each slot holds a KV cache: ~60 MB for SmolLM2 here).
NEW_WIDTH = max(config.MAX_BATCH_SIZE, 32)


def shared_prefix(seqs: list[list[int]]) -> int:
    """How many leading tokens every sequence has in common."""
    n = min(map(len, seqs))
    for i in range(n):
        if len({s[i] for s in seqs}) > 1:
            return i
    return n


def llama_speed(lm, prompts: list[list[int]], steps: int) -> tuple[float, float]:
    """(prefill tokens/s, decode tokens/s) of one full batch of streams on llama.cpp: the prompts in one feed() call
    (which fills llama.cpp's batches), then `steps` decode steps with every stream's argmax token."""
    seqs = [lm.acquire() for _ in prompts]
    try:
        with engine.FORWARD_LOCK:
            t0 = time.perf_counter()
            rows = lm.feed([(s, 0, ids, 1) for s, ids in zip(seqs, prompts)])
            prefill_s = time.perf_counter() - t0
            pos = [len(ids) for ids in prompts]
            t0 = time.perf_counter()
            for _ in range(steps):
                segs = [(s, p, [int(np.argmax(r[-1]))], 1) for s, p, r in zip(seqs, pos, rows)]
                rows = lm.feed(segs)
                pos = [p + 1 for p in pos]
            decode_s = time.perf_counter() - t0
    finally:
        for s in seqs:
            lm.release(s)
    return sum(map(len, prompts)) / prefill_s, steps * len(prompts) / decode_s


def compare_run(uid: int, tokens: int) -> None:
    """Student uid's Compare run in `bench load` (its prompt and settings), to the end; a failed column raises."""
    cfg = SamplingConfig(temperature=0, top_k=50, top_p=1.0, max_new_tokens=tokens, seed=uid)
    for cols in compare.stream_columns(models.DEFAULT_FAMILY, PROMPTS[uid % len(PROMPTS)], cfg):
        pass
    failed = [c.error for c in cols if c.error]
    if failed:
        raise RuntimeError(f"a Compare column failed: {failed[0]}")


def compare_round(users: int, tokens: int) -> float:
    """Seconds for the round's Compare runs through the engine, config.MODEL_CONCURRENCY_LIMIT at a time."""
    compare_run(0, tokens)                                    # loads the three models
    t0 = time.perf_counter()
    with ThreadPoolExecutor(config.MODEL_CONCURRENCY_LIMIT) as pool:
        list(pool.map(lambda uid: compare_run(uid, tokens), range(users)))
    return time.perf_counter() - t0


def engine_round(users: int, tokens: int) -> tuple[float, float]:
    """(wall seconds, p95 ms) of the load test's model requests run in this process: every student at once, a chat
    and then a Compare run each, config.MODEL_CONCURRENCY_LIMIT requests at a time; a request's time includes its
    wait for a slot, as in `bench load`."""
    slots = threading.Semaphore(config.MODEL_CONCURRENCY_LIMIT)

    def student(uid: int) -> list[float]:
        times = []
        t0 = time.perf_counter()
        with slots:
            cfg = SamplingConfig(temperature=0.7, top_k=50, top_p=0.9, max_new_tokens=tokens, seed=uid)
            reply = None
            for reply in chat.stream_reply(models.DEFAULT_CHAT_MODEL,
                                           [{"role": "user", "content": f"{MESSAGE} (student {uid})"}], "", cfg):
                pass
            if reply is None or not reply.finish_reason:
                raise RuntimeError(f"student {uid}'s chat answer did not finish")
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with slots:
            compare_run(uid, tokens)
        times.append(time.perf_counter() - t0)
        return times

    t0 = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        times = [t for got in pool.map(student, range(users)) for t in got]
    return time.perf_counter() - t0, p95(times) * 1000


def floor_s(users: int, chat_each: float, chat_shared: float, compare_each: float) -> float:
    """The least work the machine must do before the request at the 95th percentile of 2 * users model requests
    (one chat and one Compare run per student) can finish: the k cheapest requests, the shared prefill once."""
    k = p95_rank(2 * users)
    chats = max(0, k - users) if compare_each <= chat_each else min(users, k)
    return chats * chat_each + (k - chats) * compare_each + (chat_shared if chats else 0.0)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m llm_demo.bench capacity", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=30, help="students in the round (1-200), as in bench load")
    ap.add_argument("--tokens", type=int, default=32, help="new tokens per chat answer and Compare column")
    ap.add_argument("--runs", type=int, default=3, help="llama.cpp speed runs; the fastest is kept")
    args = ap.parse_args(argv)
    if not 1 <= args.users <= 200 or not 1 <= args.tokens <= config.MAX_NEW_TOKENS_CAP or not 1 <= args.runs <= 10:
        ap.error(f"--users must be 1-200, --tokens 1-{config.MAX_NEW_TOKENS_CAP} and --runs 1-10")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min) at start")
    lm = models.load(models.DEFAULT_CHAT_MODEL)
    if lm.backend != "llama.cpp":
        print(f"{lm.spec.label} runs on {lm.backend} here: this floor is measured on llama.cpp only")
        return 1
    prompts = [engine.encode_prompt(lm, models.build_prompt(
        lm.spec, lm.tokenizer, [{"role": "user", "content": f"{MESSAGE} (student {uid})"}])) for uid in range(args.users)]
    shared = shared_prefix(prompts) if args.users > 1 else 0
    print(f"prompts {len(prompts[0])} tokens, {shared} shared by every student")
    # The new arrangement: the whole class as one batch, on the weights llama.cpp serves; the old one: 8-stream waves
    # on the shipped file. Each on its own context with a slot per stream of its batch.
    arrangements = (("whole class as one batch", lm.path, min(args.users, NEW_WIDTH)),
                    ("old: waves", models.gguf_path(lm.spec), min(args.users, OLD_WIDTH)))
    costs = []
    for what, path, width in arrangements:
        costs.append(chat_costs(llamacpp.LlamaModel(lm.spec, path, lm.tokenizer, slots=width), prompts, shared,
                                args.tokens, args.runs, what))
    compare_s = compare_round(args.users, args.tokens)
    compare_each = compare_s / args.users
    (chat_each, chat_shared), (old_each, old_shared) = costs
    chat_work, old_work = chat_shared + args.users * chat_each, old_shared + args.users * old_each
    floor = floor_s(args.users, chat_each, chat_shared, compare_each)
    old_floor = floor_s(args.users, old_each, old_shared, compare_each)
    print(f"per request: chat {chat_each * 1000:.0f} ms of llama.cpp time (old: {old_each * 1000:.0f}), Compare run "
          f"{compare_each * 1000:.0f} ms of this engine's time; the request at the 95th percentile waits for "
          f"{p95_rank(2 * args.users)} of {2 * args.users}")
    wall, p95_ms = engine_round(args.users, args.tokens)
    print(f"the whole round through the engine in this process, no web layer: wall_s={wall:.1f} p95_model_ms={p95_ms:.0f}")
    print(f"chat_work_s={chat_work:.1f} compare_work_s={compare_s:.1f} p95_model_floor_ms={floor * 1000:.0f} "
          f"old_chat_work_s={old_work:.1f} old_p95_model_floor_ms={old_floor * 1000:.0f}")
    return 0


def chat_costs(lm, prompts, shared: int, tokens: int, runs: int, what: str) -> tuple[float, float]:
    """(seconds of llama.cpp time per student's chat, seconds for the prefix every prompt shares) on lm, whose
    slots are the batch width: the class's prompts in waves of that width, best of `runs`. Closes lm."""
    width = lm.n_slots
    try:
        prefill_tok_s, decode_tok_s = 0.0, 0.0
        for _ in range(runs):
            p, d = llama_speed(lm, prompts[:width], tokens)
            prefill_tok_s, decode_tok_s = max(prefill_tok_s, p), max(decode_tok_s, d)
    finally:
        lm.close()
    own = sum(len(ids) - shared for ids in prompts) / len(prompts)       # prompt tokens a student does not share
    print(f"{what}: llama.cpp, {lm.weights} weights, {width} streams, best of {runs}: "
          f"prefill_tok_s={prefill_tok_s:.0f} decode_tok_s={decode_tok_s:.0f}")
    return own / prefill_tok_s + tokens / decode_tok_s, shared / prefill_tok_s
