"""Dispatch `python -m llm_demo.bench NAME [flags]` to llm_demo/bench/NAME.py's main(argv)."""
import importlib
import sys

NAMES = ("generation", "tokenizer", "chat", "compare", "scaling", "load", "arena", "inside", "coldstart",
         "branching", "capacity", "sampler", "batch", "formats", "ref_round")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in NAMES:
        print(f"usage: python -m llm_demo.bench {{{'|'.join(NAMES)}}} [flags]", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(f"llm_demo.bench.{argv[0]}")
    except ModuleNotFoundError as exc:
        if exc.name == f"llm_demo.bench.{argv[0]}":
            print(f"benchmark {argv[0]!r} is not written yet", file=sys.stderr)
            return 2
        raise
    return module.main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
