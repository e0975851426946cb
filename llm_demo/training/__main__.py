"""One command for the whole miniature pipeline, or any stage alone; finished stages are kept, so re-runs resume.

Run: `.venv/bin/python -m llm_demo.training all --out runs/tinygpt`, then
`.venv/bin/python -m llm_demo.training promote --out runs/tinygpt --force` to ship it to assets/models/tinygpt.
"""
import argparse
import dataclasses
import importlib
import json
import shutil
import sys
import time
from pathlib import Path

from llm_demo.training import common as C

COMMANDS = ("all",) + C.STAGES + ("ppo", "promote", "sweep")
MODULES = {"data": "data", "tokenizer": "tokenizer", "pretrain": "pretrain", "sft": "sft", "reward": "reward",
           "rlhf": "rlhf", "hack": "hack", "dpo": "dpo", "eval": "evaluate"}
SHIP_LIMIT_MB = 60  # issue 25's cap on assets/models/tinygpt (tests import it)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m llm_demo.training", description=__doc__.splitlines()[0])
    p.add_argument("stage", choices=COMMANDS, metavar="STAGE",
                   help=f"what to run: {', '.join(COMMANDS)} (all = data..eval in order; rlhf = RLOO against the "
                        "reward model, ppo an alias: TRL 1.16 has no PPO; hack = the KL-off run's curves; promote "
                        "copies the trained family into assets/models/tinygpt; sweep = the IsoFLOP sweep, see sweep.py)")
    # ---- where things go ----
    io = p.add_argument_group("output")
    io.add_argument("--out", type=Path, default=None,
                    help="output dir (default: runs/tinygpt; runs/sweep for sweep; with --from-class-db, the class folder that the app's "
                         "registry reads, LLM_DEMO_CLASS_DATA_DIR or ~/.local/share/llm_lab)")
    io.add_argument("--force", action="store_true",
                    help="rebuild finished stages / overwrite the shipped trio (never done without it)")
    io.add_argument("--to", type=Path, default=C.SHIPPED, help="promote: destination (default: assets/models/tinygpt)")
    io.add_argument("--ship", action="store_true", help="sweep: copy its results to assets/scaling when it finishes")
    # ---- size dial ----
    size = p.add_argument_group("size (a preset, then optional per-field overrides)")
    size.add_argument("--preset", choices=sorted(C.PRESETS), default="full",
                      help="full: the shipped trio (about 20 min on 2 busy cores); micro: every stage in seconds")
    size.add_argument("--seed", type=int, default=0, help="seed of the data generators and of training")
    size.add_argument("--threads", type=int, default=None,
                      help="torch CPU threads (default: torch's choice). On a busy 2-core machine 1 is fastest: "
                           "we measured 2,351 tokens/s with 1 thread vs 756 with 2 for the full model")
    for f in dataclasses.fields(C.Preset):
        size.add_argument("--" + f.name.replace("_", "-"), type=f.type, default=None, help=f.metadata["help"])
    # ---- DPO ----
    dpo = p.add_argument_group("dpo")
    dpo.add_argument("--extra-pairs", type=Path, default=None, metavar="FILE",
                     help="JSONL of extra preference pairs ({prompt, chosen, rejected} per line), e.g. the Compare "
                          "tab's votes, added to the DPO training data")
    dpo.add_argument("--from-class-db", type=Path, default=None, metavar="DB",
                     help="a DPO round on the class arena's votes in this SQLite file (plus the shipped pairs), from "
                          "the SFT stage; saved as <out>/dpo-class, the registry's tinygpt-dpo-class")
    dpo.add_argument("--class-mix", type=float, default=1.0, metavar="R",
                     help="with --from-class-db: shipped pairs mixed in per class pair (default 1: half and half; "
                          "0: the class's pairs only)")
    return p


def resolve_preset(args) -> C.Preset:
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(C.Preset)
                 if getattr(args, f.name) is not None}
    for name, value in overrides.items():
        if isinstance(value, (int, float)) and value < 0:
            raise SystemExit(f"error: --{name.replace('_', '-')} must not be negative (got {value})")
    preset = dataclasses.replace(C.PRESETS[args.preset], **overrides)
    if preset.n_embd % preset.n_head:
        raise SystemExit(f"error: --n-embd ({preset.n_embd}) must be a multiple of --n-head ({preset.n_head})")
    if preset.vocab_size < 300:
        raise SystemExit("error: --vocab-size must be at least 300 (256 bytes + special tokens + some merges)")
    return preset


def check_class_round(args) -> None:
    if args.from_class_db is None:
        return
    if args.stage != "dpo":
        raise SystemExit("error: --from-class-db only applies to the dpo stage")
    if args.extra_pairs is not None:
        raise SystemExit("error: choose --from-class-db or --extra-pairs, not both")
    if not (0 <= args.class_mix <= 100):
        raise SystemExit(f"error: --class-mix must be between 0 and 100 shipped pairs per class pair "
                         f"(got {args.class_mix})")


def check_extra_pairs(args) -> None:
    if args.extra_pairs is None:
        return
    if args.stage not in ("dpo", "all"):
        raise SystemExit("error: --extra-pairs only applies to the dpo stage (or all)")
    if not args.extra_pairs.is_file():
        raise SystemExit(f"error: --extra-pairs {args.extra_pairs}: no such file")
    from llm_demo.pairs import load_pairs_jsonl
    try:
        print(f"extra pairs: {len(load_pairs_jsonl(args.extra_pairs))} valid lines in {args.extra_pairs}")
    except ValueError as exc:
        raise SystemExit(f"error: --extra-pairs {exc}") from None


def promote(src: Path, dst: Path, force: bool) -> None:
    """Copy the model folders, eval files and data manifest (not the data or checkpoints) to the shipped folder."""
    for stage in (*C.MODEL_STAGES, "reward"):
        C.require(C.stage_dir(src, stage), stage, src)
    if not (C.stage_dir(src, "hack") / "summary.json").exists():
        raise SystemExit(f"error: {C.stage_dir(src, 'hack')} is missing; run the hack stage first")
    if not (src / "eval.json").exists():
        raise SystemExit(f"error: {src / 'eval.json'} is missing; run the eval stage first")
    if dst.exists() and any(dst.iterdir()) and not force:
        raise SystemExit(f"error: {dst} already holds a trio; pass --force to overwrite it")
    C.check_writable(dst)
    for folder in (*C.MODEL_STAGES.values(), *C.AUX_FOLDERS.values()):
        shutil.rmtree(dst / folder, ignore_errors=True)
        shutil.copytree(src / folder, dst / folder, ignore=shutil.ignore_patterns("checkpoints"))
    for name in ("eval.json", "eval_samples.jsonl"):
        shutil.copy2(src / name, dst / name)
    shutil.copy2(src / "data" / "manifest.json", dst / "data_manifest.json")
    mb = sum(f.stat().st_size for f in dst.rglob("*") if f.is_file()) / 1e6
    print(f"promoted {src} -> {dst} ({mb:.1f} MB)")
    if mb > SHIP_LIMIT_MB:
        raise SystemExit(f"error: {dst} is {mb:.1f} MB, over the {SHIP_LIMIT_MB} MB limit; train a smaller preset")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.stage == "ppo":
        print("note: TRL 1.16.0 (pinned) has no PPO trainer; the rlhf stage trains with RLOO instead (see rlhf.py)")
        args.stage = "rlhf"
    preset = resolve_preset(args)
    check_extra_pairs(args)
    check_class_round(args)
    if args.out is None:
        from llm_demo import config
        args.out = (config.CLASS_DATA_DIR if args.from_class_db
                    else Path("runs/sweep" if args.stage == "sweep" else "runs/tinygpt"))
    if args.stage == "promote":
        promote(args.out, args.to, args.force)
        return 0
    C.check_writable(args.out)
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f"error: --threads must be at least 1 (got {args.threads})")
        import torch
        torch.set_num_threads(args.threads)
    if args.stage == "sweep":
        from llm_demo.training import sweep
        return sweep.main(args.out, args.preset, args.seed, args.force, sweep.SHIPPED_SWEEP if args.ship else None)
    stages = C.STAGES if args.stage == "all" else (args.stage,)
    timings = {}
    for stage in stages:
        module = importlib.import_module(f"llm_demo.training.{MODULES[stage]}")
        kwargs = {"extra_pairs": args.extra_pairs} if stage == "dpo" else {}
        if args.from_class_db:
            module = importlib.import_module("llm_demo.training.dpo_class")
            kwargs = {"db": args.from_class_db, "mix": args.class_mix}
        print(f"== {stage} ==", flush=True)
        start = time.time()
        module.run(args.out, preset, args.seed, args.force, **kwargs)
        timings[stage] = round(time.time() - start, 1)
    print("wall seconds per stage:", json.dumps(timings))
    if args.from_class_db:
        from llm_demo import config
        where = ("the app lists it as tinygpt-dpo-class" if args.out.resolve() == config.CLASS_DATA_DIR.resolve()
                 else f"start the app with LLM_DEMO_CLASS_DATA_DIR={args.out} to list it as tinygpt-dpo-class")
        print(f"saved {C.stage_dir(args.out, 'dpo-class')}: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
