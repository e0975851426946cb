"""Issue 24's reference, llama-cpp-python alone: `python -m llm_demo.bench ref_round [--script PATH]`.

Runs the shared script (default ../shared/tools/raw-llama-round.py next to the repository; none of this project's
code) unchanged, in this process, after llamacpp.plain_kernels(): on CPUs with AMX, llama.cpp's "extra buffer types"
segfault in the first llama_decode (issue 23), and the script loads its model with llama_cpp.Llama, which reads
the defaults plain_kernels() changes. The script times the load test's chat work the old way (the shipped Q4_1 file,
8-stream waves, 30 prompts prefilled, 32 greedy tokens each) and one stream alone (128 greedy tokens).
Last line (the script's): prompt_tokens=<n> ref_single_tok_s=<tok/s> ref_chat_s=<s>
"""
import argparse
import os
import runpy
from pathlib import Path

from llm_demo import llamacpp

SCRIPT = Path(__file__).resolve().parents[3] / "shared" / "tools" / "raw-llama-round.py"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m llm_demo.bench ref_round", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--script", type=Path, default=SCRIPT, help="the reference script to run (default: %(default)s)")
    args = ap.parse_args(argv)
    if not args.script.is_file():
        print(f"{args.script} is not a file: pass --script PATH to the reference script")
        return 1
    ok, why = llamacpp.importable()            # importable() calls plain_kernels() once llama_cpp imports
    if not ok:
        print(f"llama_cpp is not importable here: {why}")
        return 1
    llamacpp.plain_kernels()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min) at start; {args.script}")
    runpy.run_path(str(args.script), run_name="__main__")
    return 0
