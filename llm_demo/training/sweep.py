"""IsoFLOP sweep: GPT-2-shaped models of the trio's family trained at fixed compute budgets C = 6·N·D, in miniature.

Run: `.venv/bin/python -m llm_demo.training sweep --out runs/sweep --threads 1` (resumes; `--preset micro` in
seconds), then `... sweep --out runs/sweep --ship` copies the results to assets/scaling (fits: scaling_fit.py).
"""
import csv
import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from llm_demo import ROOT
from llm_demo.training import common as C

SHIPPED_SWEEP = ROOT / "assets" / "scaling"
# Tokens are bytes (0-255) plus one end-of-document token, not the trio's 4,096-token BPE: with that vocabulary the
# embedding table is most of every model this sweep can afford, and its first run found the loss-optimal model
# at 1e11-3e11 FLOPs to be the smallest tried (54k parameters, 91% of them embeddings). See docs/tabs.md.
VOCAB, END_OF_DOC = 257, 256
CSV_COLUMNS = ("budget_flops", "n_params", "tokens", "final_loss", "n_params_non_embedding", "n_embd", "n_layer",
               "n_head", "steps", "run_id")


@dataclass(frozen=True)
class SweepPreset:
    budgets: tuple[float, ...]  # FLOPs, C = 6·N·D with N = every parameter (the tied embedding counted once)
    ladder: tuple[tuple[int, int], ...]  # (n_embd, n_layer), smallest first; heads of 32 dims (at least one)
    first_centre: int  # ladder index at the centre of the first budget's window of sizes
    width: int = 5  # sizes per budget before the window grows toward a minimum found at its edge
    context: int = 256  # the trio's context
    batch_size: int = 4  # sequences per step; small, so the smallest budgets still take tens of steps
    lr: float = 3e-3  # one recipe for every size: AdamW, 5% warm-up, cosine to 10% over the run's own length
    heldout_blocks: int = 64  # the same held-out blocks score every run
    curve_points: int = 25  # logged points per loss curve


SWEEP_PRESETS = {
    # About 35-45 minutes of one busy core; every run sees each token once (the generator writes enough prose).
    "full": SweepPreset(budgets=(2e10, 6e10, 2e11),
                        ladder=((4, 1), (8, 1), (12, 1), (16, 1), (24, 1), (32, 1), (32, 2), (48, 2), (64, 2),
                                (64, 3), (96, 3)),
                        first_centre=3),
    # The whole pipeline in well under two minutes: tiny budgets, tiny models, short context.
    "micro": SweepPreset(budgets=(1e8, 2e8, 4e8), ladder=((8, 1), (16, 1), (24, 1), (32, 1), (48, 1), (64, 1)),
                         first_centre=2, context=32, batch_size=8, heldout_blocks=16, curve_points=8),
}


def n_head(n_embd: int) -> int:
    return max(1, n_embd // 32) if n_embd % 32 == 0 or n_embd < 32 else 1


def run_id(budget: float, shape: tuple[int, int]) -> str:
    return f"c{budget:g}".replace("+", "") + f"-d{shape[0]}-l{shape[1]}"


# ---------------------------------------------------------------- data: the trio's prose, tokenized once
def prepare_data(out: Path, preset: SweepPreset, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Byte stream (train) and held-out blocks [heldout_blocks, context] of the trio's generated prose, cached in
    out/data. The generator writes enough that the smallest model at the largest budget reads each byte once."""
    from llm_demo.training.data import DataConfig, pretraining

    n_min = min(param_count(shape, preset.context) for shape in preset.ladder)
    need = int(max(preset.budgets) / (6 * n_min)) + preset.heldout_blocks * preset.context
    key = {"seed": seed, "tokens_needed": need, "context": preset.context, "heldout_blocks": preset.heldout_blocks}
    folder = out / "data"
    if (folder / "data.json").exists() and json.loads((folder / "data.json").read_text())["key"] == key:
        info = json.loads((folder / "data.json").read_text())
        return np.load(folder / "train.npy"), np.load(folder / "heldout.npy"), info
    # 1 document in 50 is held out (data.py): the held-out blocks need ~50x their size in prose, twice that to be safe
    corpus_mb = max(need, 120 * preset.heldout_blocks * preset.context) * 1.05 / 1e6
    train_docs, held_docs = pretraining(DataConfig(seed=seed, corpus_mb=corpus_mb))
    train, held = to_tokens(train_docs), to_tokens(held_docs)
    if len(train) < need or len(held) < preset.heldout_blocks * preset.context:
        raise SystemExit(f"error: generated {len(train):,} train / {len(held):,} held-out tokens, fewer than the "
                         f"sweep needs ({need:,}); raise the margin in prepare_data")
    held = held[:preset.heldout_blocks * preset.context].reshape(preset.heldout_blocks, preset.context)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "train.npy", train)
    np.save(folder / "heldout.npy", held)
    info = {"key": key, "train_tokens": len(train), "heldout_tokens": int(held.size), "documents": len(train_docs),
            "tokens": "UTF-8 bytes + one end-of-document token (vocabulary 257)"}
    (folder / "data.json").write_text(json.dumps(info, indent=1))
    return train, held, info


def bytes_per_bpe_token(corpus_mb: float = 1.0, seed: int = 0) -> float:
    """UTF-8 bytes per token of the trio's 4,096-token BPE on the sweep's generator's prose (seed 0): what turns
    the sweep's bytes per parameter into Chinchilla's unit, tokens. The 1 MB default gives 4.13; the full 15 MB the
    shipped sweep read gives 4.12 (tests/test_corrections_stats.py checks they agree)."""
    from transformers import AutoTokenizer

    from llm_demo import TINYGPT_DIR
    from llm_demo.training.data import DataConfig, pretraining

    docs, _ = pretraining(DataConfig(seed=seed, corpus_mb=corpus_mb))
    tok = AutoTokenizer.from_pretrained(TINYGPT_DIR / "base")
    return sum(len(d.encode()) for d in docs) / sum(map(len, tok(docs, add_special_tokens=False)["input_ids"]))


def to_tokens(docs: list[str]) -> np.ndarray:
    """Documents as one stream of UTF-8 bytes, each followed by END_OF_DOC (the prose never contains NUL)."""
    stream = np.frombuffer(("\0".join(docs) + "\0").encode(), dtype=np.uint8).astype(np.uint16)
    stream[stream == 0] = END_OF_DOC
    return stream


# ---------------------------------------------------------------- one run
def build_model(shape: tuple[int, int], context: int):
    """The trio's architecture (pretrain.build_model) at another width and depth."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=VOCAB, n_positions=context, n_embd=shape[0], n_layer=shape[1],
                        n_head=n_head(shape[0]), activation_function="gelu", resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0, tie_word_embeddings=True, bos_token_id=END_OF_DOC, eos_token_id=END_OF_DOC)
    return GPT2LMHeadModel(config)


def param_count(shape: tuple[int, int], context: int) -> int:
    from llm_demo.scaling import count_params
    return count_params(VOCAB, shape[0], shape[1], context, n_heads=n_head(shape[0]))


def lr_at(step: int, steps: int, peak: float) -> float:
    """Linear warm-up over 5% of the run, then cosine from peak to peak/10 at the run's last step (Chinchilla
    matched the cosine cycle to each run's length, Hoffmann et al. 2022 Sec. 3.1 / Fig. A1)."""
    import math
    warm = max(1, steps // 20)
    if step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(1, steps - warm - 1)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train_run(budget: float, shape: tuple[int, int], preset: SweepPreset, train: np.ndarray, held: np.ndarray,
              seed: int) -> dict:
    """Train one model on D = C / (6·N) tokens read in order, score it on the held-out blocks."""
    import torch

    torch.manual_seed(seed)
    model = build_model(shape, preset.context)
    n = model.num_parameters()
    per_step = preset.batch_size * preset.context
    steps = max(1, round(budget / (6 * n) / per_step))
    if steps * per_step > len(train):
        raise SystemExit(f"error: run {run_id(budget, shape)} needs {steps * per_step:,} tokens, the stream has "
                         f"{len(train):,}")
    x = torch.from_numpy(train[:steps * per_step].astype(np.int64)).view(steps, preset.batch_size, preset.context)
    decay = [p for name, p in model.named_parameters() if p.dim() >= 2]
    rest = [p for name, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=preset.lr, betas=(0.9, 0.95))
    every = max(1, steps // preset.curve_points)
    curve, acc, start = [], [], time.time()
    model.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, preset.lr)
        loss = model(input_ids=x[step], labels=x[step]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        acc.append(loss.item())
        if (step + 1) % every == 0 or step + 1 == steps:
            curve.append({"step": step + 1, "tokens": (step + 1) * per_step,
                          "train_loss": round(sum(acc) / len(acc), 5)})
            acc = []
    train_s = time.time() - start
    model.eval()
    with torch.no_grad():  # mean token loss over the held-out blocks, 8 at a time
        h = torch.from_numpy(held.astype(np.int64))
        final = sum(model(input_ids=h[i:i + 8], labels=h[i:i + 8]).loss.item() * len(h[i:i + 8])
                    for i in range(0, len(h), 8)) / len(h)
    embeddings = model.transformer.wte.weight.numel() + model.transformer.wpe.weight.numel()
    return {"run_id": run_id(budget, shape), "budget_flops": budget, "n_params": n,
            "n_params_non_embedding": n - embeddings, "tokens": steps * per_step, "final_loss": round(final, 6),
            "n_embd": shape[0], "n_layer": shape[1], "n_head": n_head(shape[0]), "steps": steps,
            "batch_size": preset.batch_size, "context": preset.context, "lr": preset.lr, "seed": seed,
            "curve": curve, "train_seconds": round(train_s, 1), "seconds": round(time.time() - start, 1),
            "load_average": round(os.getloadavg()[0], 2)}


# ---------------------------------------------------------------- the sweep: windows of sizes per budget
def window(centre: int, preset: SweepPreset, floor: int = 0) -> list[int]:
    """`width` ladder indices centred on `centre`, none below `floor` unless the ladder ends first."""
    lo = max(0, min(max(floor, centre - preset.width // 2), len(preset.ladder) - preset.width))
    return list(range(lo, min(len(preset.ladder), lo + preset.width)))


def sweep(out: Path, preset: SweepPreset, seed: int, force: bool = False) -> list[dict]:
    """Every budget's window of sizes; a window whose lowest loss sits at its edge grows one size that way (until
    the ladder ends), so each IsoFLOP curve has a minimum inside it. The next budget's window is centred where
    N_opt ∝ C^0.5 would put its optimum and starts no lower than this budget's optimum (N_opt does not shrink as
    C grows). Finished runs (out/runs/*.json) are kept."""
    train, held, data = prepare_data(out, preset, seed)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    results, centre, floor = [], preset.first_centre, 0
    for k, budget in enumerate(preset.budgets):
        tried, by_index = set(window(centre, preset, floor)), {}
        while True:
            for i in sorted(tried - set(by_index)):
                by_index[i] = _run_or_load(runs_dir, budget, preset.ladder[i], preset, train, held, seed, force)
            best = min(by_index, key=lambda i: by_index[i]["final_loss"])
            if best == min(tried) and best > 0:
                tried.add(best - 1)
            elif best == max(tried) and best < len(preset.ladder) - 1:
                tried.add(best + 1)
            else:
                break
        results += [by_index[i] for i in sorted(by_index)]
        write_results(out, preset, seed, results, data)  # after every budget, so a stopped sweep still shows some
        if k + 1 < len(preset.budgets):  # next window: centred where N_opt ∝ C^0.5 would put the optimum
            target = by_index[best]["n_params"] * (preset.budgets[k + 1] / budget) ** 0.5
            sizes = [param_count(s, preset.context) for s in preset.ladder]
            centre, floor = min(range(len(sizes)), key=lambda i: abs(np.log(sizes[i] / target))), best
    return results


def _run_or_load(runs_dir: Path, budget, shape, preset, train, held, seed, force) -> dict:
    path = runs_dir / f"{run_id(budget, shape)}.json"
    if path.exists() and not force:
        saved = json.loads(path.read_text())
        if saved.get("config") == _run_config(preset, seed):
            print(f"[skip] {path.name}: finished (loss {saved['final_loss']:.4f})", flush=True)
            return saved
    print(f"[run] {path.stem} ...", end=" ", flush=True)
    result = {**train_run(budget, shape, preset, train, held, seed), "config": _run_config(preset, seed)}
    print(f"N={result['n_params']:,} D={result['tokens']:,} steps={result['steps']} "
          f"loss={result['final_loss']:.4f} ({result['seconds']} s)", flush=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)  # written whole or not at all: an interrupted run leaves nothing to mistake for finished
    return result


def _run_config(preset: SweepPreset, seed: int) -> dict:
    keep = ("context", "batch_size", "lr", "heldout_blocks", "curve_points")
    return {"seed": seed, **{k: v for k, v in asdict(preset).items() if k in keep}}


def write_results(out: Path, preset: SweepPreset, seed: int, results: list[dict], data: dict) -> None:
    """sweep.csv (the numbers the fits use; byte-identical for the same seed and --threads 1), curves.csv and
    metadata.json (every run's config, seed, versions, timings: the only file that changes between reruns)."""
    import torch
    import transformers

    with open(out / "sweep.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows([[_fmt(r[c]) for c in CSV_COLUMNS] for r in results])
    with open(out / "curves.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("run_id", "step", "tokens", "train_loss"))
        writer.writerows([(r["run_id"], p["step"], p["tokens"], p["train_loss"]) for r in results for p in r["curve"]])
    meta = {"command": "python -m llm_demo.training sweep", "seed": seed, "preset": asdict(preset),
            "flops_convention": "C = 6·N·D, N = all parameters (tied token embedding counted once, positions "
                                "included), D = training tokens",
            "data": data,
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "transformers": transformers.__version__, "numpy": np.__version__},
            "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                        "platform": platform.platform()},
            "wall_seconds_runs": round(sum(r["seconds"] for r in results), 1),
            "runs": [{k: v for k, v in r.items() if k != "curve"} for r in results]}
    (out / "metadata.json").write_text(json.dumps(meta, indent=1))


def _fmt(value) -> str:
    return f"{value:g}".replace("+", "") if isinstance(value, float) and value >= 1e6 else str(value)


def ship(out: Path, dst: Path = SHIPPED_SWEEP) -> None:
    """Copy the sweep's three result files (not the data or run folders) to assets/scaling, and write fits.json:
    the three approaches' fits with bootstrap intervals (scaling_fit.fit_all), which the Scaling tab shows."""
    from llm_demo.scaling_fit import fit_all, read_sweep

    for name in ("sweep.csv", "curves.csv", "metadata.json"):
        if not (out / name).exists():
            raise SystemExit(f"error: {out / name} is missing; run the sweep first")
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("sweep.csv", "curves.csv", "metadata.json"):
        shutil.copy2(out / name, dst / name)
    (dst / "fits.json").write_text(json.dumps(fit_all(read_sweep(dst / "sweep.csv")), indent=1))
    print(f"shipped {out} -> {dst} (with fits.json)")


def main(out: Path, preset_name: str, seed: int, force: bool, ship_to: Path | None = None) -> int:
    if preset_name not in SWEEP_PRESETS:
        raise SystemExit(f"error: the sweep has presets {', '.join(SWEEP_PRESETS)}, not {preset_name!r}")
    C.check_writable(out)
    start = time.time()
    results = sweep(out, SWEEP_PRESETS[preset_name], seed, force)
    meta = json.loads((out / "metadata.json").read_text())
    meta["wall_seconds_this_call"] = round(time.time() - start, 1)
    (out / "metadata.json").write_text(json.dumps(meta, indent=1))
    print(f"{len(results)} runs, {meta['wall_seconds_runs']} s of training+eval in all, "
          f"{meta['wall_seconds_this_call']} s this call -> {out / 'sweep.csv'}")
    if ship_to is not None:
        ship(out, ship_to)
    return 0
