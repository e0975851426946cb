"""Benchmark the Chat tab's answer: `python -m llm_demo.bench chat [--model NAME] [--tokens 64] [--runs 3]`.

Time to first token through the chat turn the Chat tab streams (llm_demo/turns.py: history, the answer's frames
with the sampler view's records, the Stop-able live state), tokens/s, and that turn's total time over the engine's
alone for the same prompt and settings (greedy, so both produce the same tokens). Median over runs.
Last line: ttft_ms=<ms> tokens_per_s=<x> ui_overhead=<ratio>.
"""
import argparse
import statistics
import time

from llm_demo import chat, engine, models, turns
from llm_demo.sampling import SamplingConfig

MESSAGE = "Tell me a fun fact about octopuses."


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m llm_demo.bench chat", description=__doc__)
    ap.add_argument("--model", default=models.DEFAULT_CHAT_MODEL, help="registry name of the chat model")
    ap.add_argument("--tokens", type=int, default=64, help="max new tokens per answer")
    ap.add_argument("--runs", type=int, default=3, help="timed runs (the median is reported)")
    args = ap.parse_args(argv)
    lm = models.load(args.model)
    cfg = SamplingConfig(temperature=0, max_new_tokens=args.tokens)
    shown_cfg = SamplingConfig(0, 50, 0.9, 1.0, args.tokens, 0)    # the Chat tab's knobs at greedy: the same tokens
    prompt = models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": MESSAGE}])
    engine.generate(lm, prompt, SamplingConfig(temperature=0, max_new_tokens=4))      # warm-up

    eng, hand, ttfts, tps = [], [], [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        text, _ = engine.generate(lm, prompt, cfg)
        eng.append(time.perf_counter() - t0)

        t0, first, out = time.perf_counter(), None, None
        _, shown = turns.user_turn(MESSAGE, [])
        frames = turns.answer_frames(shown, args.model, "", shown_cfg)
        for out in turns.follow(chat.Live(shown), frames):
            answered = out.chatbot[-1]["role"] == "assistant"          # frames before the first text have none
            first = first if first is not None or not answered else time.perf_counter() - t0
        hand.append(time.perf_counter() - t0)
        ttfts.append(first)
        n = len(out.steps)
        tps.append(n / hand[-1])
        assert out.chatbot[-1]["content"] == text, \
            f"chat turn and engine disagree: the comparison would be unfair ({out.chatbot[-1]['content']!r}, {text!r})"
    e, h = statistics.median(eng), statistics.median(hand)
    print(f"model={args.model} tokens={n} engine_s={e:.3f} handler_s={h:.3f} runs={args.runs}")
    print(f"ttft_ms={statistics.median(ttfts) * 1000:.0f} tokens_per_s={statistics.median(tps):.1f} "
          f"ui_overhead={h / e:.2f}")
    return 0
