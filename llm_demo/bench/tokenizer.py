"""Tokenizer tab benchmark: tokenize 100 KB of mixed text with GPT-2 and build the tab's display for it.

Run: `python -m llm_demo.bench tokenizer [--kb 100] [--repeats 5]`. Goal: render_100kb_ms <= 500.
The last line is `render_100kb_ms=<ms> overhead_vs_tiktoken=<ratio>` (median time of the whole
analyse + render path, divided by the median time of tiktoken's bare encode of the same text).
"""
import argparse
import statistics
import time

from llm_demo.token_facts import PRESETS
from llm_demo.token_view import DISPLAY_TOKEN_CAP, render_view
from llm_demo.tokenization import analyse, get_tokenizer


def mixed_text(n_bytes: int) -> str:
    """Every preset (prose, code, six languages, emoji, numbers) in turn until the UTF-8 size reaches n_bytes."""
    pieces, size = [], 0
    while size < n_bytes:
        for text in PRESETS.values():
            pieces.append(text + "\n\n")
            size += len(text.encode("utf-8")) + 2
    text = "".join(pieces)
    return text.encode("utf-8")[:n_bytes].decode("utf-8", errors="ignore")


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m llm_demo.bench tokenizer", description=__doc__)
    p.add_argument("--kb", type=int, default=100, help="size of the mixed text in kilobytes (1 KB = 1,000 bytes)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs; the median is reported")
    args = p.parse_args(argv)

    text = mixed_text(args.kb * 1000)
    enc = get_tokenizer("gpt2").enc  # loads the encoding once, outside the timings
    render = lambda: render_view(analyse(text, "gpt2"))  # noqa: E731
    html = render()  # warm-up
    a = analyse(text, "gpt2")
    render_ms = median_ms(render, args.repeats)
    tiktoken_ms = median_ms(lambda: enc.encode_ordinary(text), args.repeats)

    print(f"text: {len(text):,} characters, {len(text.encode('utf-8')):,} bytes, {a.stats.tokens:,} GPT-2 tokens")
    print(f"display: {min(a.stats.tokens, DISPLAY_TOKEN_CAP):,} tokens drawn "
          f"({max(0, a.stats.tokens - DISPLAY_TOKEN_CAP):,} not drawn), {len(html):,} characters of HTML")
    print(f"tiktoken encode_ordinary alone: {tiktoken_ms:.1f} ms (median of {args.repeats})")
    print(f"analyse + render_view: {render_ms:.1f} ms (median of {args.repeats}); goal <= 500 ms: "
          + ("met" if render_ms <= 500 else "NOT met"))
    print(f"render_{args.kb}kb_ms={render_ms:.1f} overhead_vs_tiktoken={render_ms / tiktoken_ms:.2f}")
    return 0
