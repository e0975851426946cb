"""A DPO round on the class's own votes: the SFT stage learns from the class arena's pairs plus the shipped pairs.

Run: `.venv/bin/python -m llm_demo.training dpo --from-class-db class_arena.sqlite3 [--class-mix 1.0]`. Saved as
<out>/dpo-class (default out: the deployment's class folder, config.CLASS_DATA_DIR), evaluated like the trio, and
listed by the registry as `tinygpt-dpo-class`, which the Compare tab's arena can put next to the shipped DPO stage.
"""
import json
import random
from pathlib import Path

from llm_demo.training import common as C
from llm_demo.training import data as D
from llm_demo.training import dpo
from llm_demo.training import evaluate as E

STAGE, PREVIOUS = "dpo-class", "sft"


def class_pairs(db: Path) -> list[dict]:
    """Every strict preference of the class's counted votes, as {prompt, chosen, rejected}."""
    from llm_demo import arena
    from llm_demo.arena_store import ArenaStore

    if not Path(db).is_file():
        raise SystemExit(f"error: --from-class-db {db}: no such file")
    try:
        pairs = arena.dpo_pairs(ArenaStore(db).votes())
    except ValueError as exc:
        raise SystemExit(f"error: --from-class-db {exc}") from None
    if not pairs:
        raise SystemExit(f"error: --from-class-db {db}: no preference pairs yet (ties and 'all bad' votes give "
                         "none); collect some votes first")
    return pairs


def sources(out: Path, preset: C.Preset, seed: int) -> tuple[Path, dict]:
    """The SFT checkpoint and the shipped data: a pipeline run's own in <out> when it has them, else the shipped
    trio's SFT and the same deterministic generators that made its data."""
    sft = C.stage_dir(out, PREVIOUS) if C.is_complete(C.stage_dir(out, PREVIOUS)) else C.SHIPPED / "sft"
    C.require(sft, PREVIOUS, out)
    folder = out / "data"
    if (folder / "dpo_train.jsonl").exists():
        data = {k: D.read_jsonl(folder / f"{k}.jsonl") for k in ("dpo_train", "dpo_heldout", "eval_prompts")}
    else:
        cfg = D.DataConfig(seed=seed, dpo_n=preset.dpo_n, dpo_heldout_n=preset.dpo_heldout_n)
        data = {"dpo_train": D.dpo_pairs(cfg, cfg.dpo_n, heldout=False),
                "dpo_heldout": D.dpo_pairs(cfg, cfg.dpo_heldout_n, heldout=True), "eval_prompts": D.eval_prompts(cfg)}
    return sft, data


def run(out: Path, preset: C.Preset, seed: int, force: bool = False, db: Path | None = None,
        mix: float = 1.0) -> dict | None:
    path = C.stage_dir(out, STAGE)
    if C.should_skip(path, force, C.is_complete(path)):
        return None
    votes = class_pairs(db)
    sft, data = sources(out, preset, seed)
    shipped = random.Random(seed).sample(data["dpo_train"], min(len(data["dpo_train"]), round(mix * len(votes))))
    print(f"class pairs: {len(votes)}, shipped pairs mixed in: {len(shipped)} (--class-mix {mix}), from {sft}")
    note = (f"{len(votes)} preference pairs from the class's votes ({Path(db).name}) plus {len(shipped)} shipped "
            f"pairs, starting from sft")
    summary = dpo.train(sft, dpo.to_dataset(votes + shipped), out, STAGE, preset, seed, note)
    prompts = data["eval_prompts"][:preset.eval_prompts] if preset.eval_prompts else data["eval_prompts"]
    metrics, samples = E.evaluate_stage(path, sft, prompts, data["dpo_heldout"], preset.dpo_beta,
                                        preset.eval_new_tokens)
    (path / "eval.json").write_text(json.dumps(metrics, indent=2) + "\n")
    with open(path / "eval_samples.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)
    C.write_model_card(path, metrics)
    shipped_eval = C.SHIPPED / "eval.json"
    if shipped_eval.exists():
        shipped_result = json.loads(shipped_eval.read_text())
        print("shipped dpo:", json.dumps({**shipped_result["stages"]["dpo"],
                                          "dpo_reward_accuracy": shipped_result.get("dpo_reward_accuracy")}))
    print("class dpo:  ", json.dumps(metrics))
    return {**summary, "eval": metrics}
