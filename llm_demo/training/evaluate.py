"""Evaluation of the family on held-out data: greedy answers to chat-template prompts, perplexity, DPO reward accuracy,
the reward model's pairwise accuracy, and each stage's mean reward-model score and sampled KL to SFT.

Run alone: `.venv/bin/python -m llm_demo.training eval --out runs/tinygpt` (writes eval.json and eval_samples.jsonl).
"""
import json
import math
from pathlib import Path

from llm_demo.training import common as C
from llm_demo.training import world as W
from llm_demo.training.data import read_jsonl
from llm_demo.training.tokenizer import END, END_OF_TEXT, ROLES

STAGE = "eval"


def load(path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def generate_answer(model, tokenizer, prompt: str, max_new_tokens: int) -> dict:
    """Greedy answer to one user prompt, one prompt at a time (no padding, so results do not depend on batching).

    format_ok: the answer is non-empty, stays in the assistant turn (no role token) and ends with <|end|>."""
    import torch

    ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                        return_dict=True, return_tensors="pt")
    room = model.config.n_positions - ids["input_ids"].shape[1]  # learned positions end at n_positions
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=max(1, min(max_new_tokens, room)), do_sample=False)
    new = out[0, ids["input_ids"].shape[1]:].tolist()
    end_id = tokenizer.convert_tokens_to_ids(END)
    role_ids = {tokenizer.convert_tokens_to_ids(f"<|{r}|>") for r in ROLES}
    body = new[:-1] if new and new[-1] == end_id else new
    format_ok = bool(new) and new[-1] == end_id and len(body) > 0 and not role_ids & set(body)
    return {"answer": tokenizer.decode(body, skip_special_tokens=True).strip(), "format_ok": format_ok,
            "new_tokens": len(new)}


def score(row: dict, gen: dict) -> dict:
    """One sample of eval_samples.jsonl: the prompt, the answer and the three per-answer judgements."""
    correct = W.is_correct(gen["answer"], row["check"]) if row["check"] else None
    return {"prompt": row["prompt"], "kind": row["kind"], "check": row["check"], "answer": gen["answer"],
            "format_ok": gen["format_ok"], "correct": correct, "preferred": W.is_polite(gen["answer"])}


def rates(samples: list[dict]) -> dict:
    checkable = [s["correct"] for s in samples if s["correct"] is not None]
    return {"format_compliance": round(sum(s["format_ok"] for s in samples) / len(samples), 4),
            "task_accuracy": round(sum(checkable) / len(checkable), 4) if checkable else 0.0,
            "preferred_rate": round(sum(s["preferred"] for s in samples) / len(samples), 4)}


def token_windows(tokenizer, texts: list[str], context: int, max_tokens: int) -> list[list[int]]:
    """The first max_tokens tokens of the documents (joined by <|endoftext|>), cut into windows of `context`."""
    stream = [i for ids in tokenizer([t + END_OF_TEXT for t in texts], verbose=False)["input_ids"] for i in ids]
    stream = stream[:max_tokens]
    return [w for w in (stream[i:i + context] for i in range(0, len(stream), context)) if len(w) >= 2]


def window_loss(model, window: list[int]) -> float:
    """Mean next-token loss (nats) over one window: len(window) - 1 predictions (the model shifts labels itself)."""
    import torch

    with torch.no_grad():
        ids = torch.tensor([window])  # [1, len]
        return model(ids, labels=ids).loss.item()


def perplexity(model, tokenizer, texts: list[str], context: int, max_tokens: int) -> float:
    """exp(mean next-token loss), weighted by predictions, over the held-out windows."""
    windows = token_windows(tokenizer, texts, context, max_tokens)
    total = sum(window_loss(model, w) * (len(w) - 1) for w in windows)
    return math.exp(total / sum(len(w) - 1 for w in windows))


def completion_logp(model, tokenizer, prompt: str, answer: str) -> float:
    """log p(answer + <|end|> | chat prompt), summed over the answer's tokens."""
    import torch

    user = [{"role": "user", "content": prompt}]
    p = tokenizer.apply_chat_template(user, add_generation_prompt=True, return_dict=True)["input_ids"]
    turn = [{"role": "assistant", "content": answer}]
    full = tokenizer.apply_chat_template(user + turn, return_dict=True)["input_ids"]
    ids = torch.tensor([full[:model.config.n_positions]])  # keep_start truncation, as in DPO training
    with torch.no_grad():
        logps = torch.log_softmax(model(ids).logits[0, :-1].float(), -1)  # [len-1, vocab]: predicts tokens 1..len-1
    targets = ids[0, 1:]
    return logps[len(p) - 1:].gather(1, targets[len(p) - 1:, None]).sum().item()


def reward_accuracy(policy, reference, tokenizer, pairs: list[dict], beta: float) -> float:
    """Share of pairs where DPO's implicit reward beta * (log pi - log pi_ref) ranks chosen strictly above rejected."""
    wins = 0
    for pair in pairs:
        r = {k: beta * (completion_logp(policy, tokenizer, pair["prompt"], pair[k])
                        - completion_logp(reference, tokenizer, pair["prompt"], pair[k]))
             for k in ("chosen", "rejected")}
        wins += r["chosen"] > r["rejected"]
    return wins / len(pairs)


def evaluate_stage(model_dir: Path, ref_dir: Path, prompts: list[dict], pairs: list[dict], beta: float,
                   new_tokens: int) -> tuple[dict, list[dict]]:
    """One extra stage (the class's DPO round) judged like the trio: the three rates on held-out prompts and the
    DPO reward accuracy against its reference on held-out pairs. Perplexity is left out (it needs the corpus)."""
    from tqdm import tqdm

    model, tokenizer = load(model_dir)
    rows = [score(r, generate_answer(model, tokenizer, r["prompt"], new_tokens))
            for r in tqdm(prompts, desc=f"eval {model_dir.name}")]
    acc = reward_accuracy(model, load(ref_dir)[0], tokenizer, pairs, beta)
    return {**rates(rows), "dpo_reward_accuracy": round(acc, 4)}, rows


def sampled_kl(policy, sft, tokenizer, prompt: str, new_tokens: int) -> float:
    """One-sample estimate of KL(policy || SFT) over a whole answer, in nats: sample y ~ policy (temperature 1, no
    top-k/top-p, as RLOO samples), then sum over its tokens of log pi(y_t) - log pi_sft(y_t) (Schulman 2020,
    "Approximating KL divergence", k1). Its mean over prompts is unbiased; single samples can be negative."""
    import torch

    ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                        return_dict=True, return_tensors="pt")["input_ids"]  # [1, p]
    room = max(1, min(new_tokens, policy.config.n_positions - ids.shape[1]))
    full = policy.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=room, do_sample=True,
                           temperature=1.0, top_k=0, top_p=1.0)  # [1, p + n]
    targets = full[0, ids.shape[1]:]  # [n]
    logps = [torch.log_softmax(m(full).logits[0, ids.shape[1] - 1:-1].float(), -1)
             .gather(1, targets[:, None]).sum().item() for m in (policy, sft)]
    return logps[0] - logps[1]


def reward_and_kl(model, sft, rm, tokenizer, rows: list[dict], new_tokens: int, seed: int) -> dict:
    """Mean reward-model score of a stage's greedy answers, and its sampled KL to SFT (nats per answer; 0 for SFT)."""
    import torch

    from llm_demo import reward as R

    with torch.no_grad():
        scores = [rm(torch.tensor([R.chat_ids(tokenizer, r["prompt"], r["answer"])[:rm.config.n_positions]]))
                  .logits[0, 0].item() for r in rows]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            kl = 0.0 if model is sft else sum(sampled_kl(model, sft, tokenizer, r["prompt"], new_tokens)
                                              for r in rows) / len(rows)
    return {"reward_model_score": round(sum(scores) / len(scores), 4), "kl_to_sft": round(kl, 4)}


def run(out: Path, preset: C.Preset, seed: int, force: bool = False) -> dict:
    from tqdm import tqdm

    from llm_demo import reward as R

    for stage in (*C.MODEL_STAGES, "reward"):
        C.require(C.stage_dir(out, stage), stage, out)
    rm = R.load(C.stage_dir(out, "reward"))[0]
    prompts = read_jsonl(out / "data" / "eval_prompts.jsonl")
    prompts = prompts[:preset.eval_prompts] if preset.eval_prompts else prompts
    heldout_text = [r["text"] for r in read_jsonl(out / "data" / "pretrain_heldout.jsonl")]
    stages, samples, models = {}, [], {}
    for stage, folder in C.MODEL_STAGES.items():
        model, tokenizer = models[folder] = load(C.stage_dir(out, stage))
        rows = [dict(score(r, generate_answer(model, tokenizer, r["prompt"], preset.eval_new_tokens)), stage=folder)
                for r in tqdm(prompts, desc=f"eval {folder}")]
        samples += rows
        ctx = model.config.n_positions
        stages[folder] = {**rates(rows), "heldout_perplexity": round(
            perplexity(model, tokenizer, heldout_text, ctx, preset.eval_ppl_tokens), 3)}
    sft = models["sft"][0]
    for folder in ("sft", "rlhf", "dpo"):  # the chat stages (base answers are not chat turns)
        rows = [s for s in samples if s["stage"] == folder]
        stages[folder].update(reward_and_kl(models[folder][0], sft, rm, models[folder][1], rows,
                                            preset.rlhf_new_tokens, seed))
    beta = json.loads((C.stage_dir(out, "dpo") / "summary.json").read_text())["dpo_beta"]
    pairs = read_jsonl(out / "data" / "dpo_heldout.jsonl")
    acc = reward_accuracy(models["dpo"][0], models["sft"][0], models["dpo"][1], pairs, beta)
    rm_acc = R.pairwise_accuracy(rm, models["sft"][1], pairs)
    result = {"stages": stages, "dpo_reward_accuracy": round(acc, 4), "reward_model_accuracy": round(rm_acc, 4)}
    (out / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    with open(out / "eval_samples.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)
    for stage, folder in C.MODEL_STAGES.items():
        extra = {"dpo_reward_accuracy": result["dpo_reward_accuracy"]} if folder == "dpo" else {}
        metrics = dict(stages[folder], **extra)
        C.write_model_card(C.stage_dir(out, stage), metrics)
    C.write_model_card(C.stage_dir(out, "reward"), {"heldout_pair_accuracy": result["reward_model_accuracy"]})
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    C.run_stage_alone(STAGE)
