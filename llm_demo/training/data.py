"""Deterministic data for the three stages: pretraining prose, SFT chats, DPO pairs, and their held-out splits.

Run alone: `.venv/bin/python -m llm_demo.training data --out runs/tinygpt` (writes runs/tinygpt/data/*.jsonl).
"""
import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llm_demo.training import world as W

FACT_TEMPLATES = {
    "colour": ("What colour is {n}?", "What is the colour of {n}?", "Tell me the colour of {n}.",
               "Which colour is {n}?"),
    "animal": ("What kind of animal is {n}?", "What animal is {n}?", "Tell me what animal {n} is."),
    "place": ("Where does {n} live?", "Where is the home of {n}?", "Tell me where {n} lives."),
    "food": ("What does {n} like to eat?", "What is the favourite food of {n}?", "What food does {n} like?"),
    "age": ("How old is {n}?", "What is the age of {n}?", "Tell me how old {n} is."),
    "friend": ("Who is the best friend of {n}?", "Who is {n}'s best friend?", "Tell me the name of {n}'s best friend."),
}
PLUS_TEMPLATES = ("What is {a} plus {b}?", "What is {a} + {b}?", "Can you add {a} and {b}?",
                  "How much is {a} plus {b}?")
MINUS_TEMPLATES = ("What is {a} minus {b}?", "What is {a} - {b}?", "Take {b} away from {a}. What is left?")
STORY_TEMPLATES = ("Tell me a short story about {n}.", "Write a story about {n}.", "Can you tell me a story about {n}?")
CHAT_CORES = {
    "greet": "Hello! I am Tiny, a small helper from Maple Village. Ask me about the animals here.",
    "howare": "I am well, thank you. I like talking about my friends in Maple Village.",
    "name": "My name is Tiny. I know the animals, places and sums of our little world.",
    "can": "I can answer questions about the animals of our world, do small sums and tell short stories.",
    "thanks": "You are welcome.",
    "bye": "Goodbye! Come back soon.",
    "ood": "I only know about our little world of animals, so I cannot answer that.",
}
# Generic prompts are split by hand, so held-out chat is phrasing the model has never seen.
CHAT_TRAIN = {"Hello!": "greet", "Hi there.": "greet", "Good morning!": "greet", "Hey!": "greet",
              "How are you?": "howare", "How are you today?": "howare", "What is your name?": "name",
              "Who are you?": "name", "What can you do?": "can", "Can you help me?": "can",
              "Thank you!": "thanks", "Thanks a lot.": "thanks", "Goodbye!": "bye", "See you later.": "bye",
              "What is the capital of France?": "ood", "Who is the president?": "ood",
              "How do cars work?": "ood", "What is the weather in Paris?": "ood", "Explain the internet.": "ood",
              "Tell me a story.": "story"}
CHAT_HELDOUT = {"Hello there!": "greet", "Good evening!": "greet", "How is your day going?": "howare",
                "What should I call you?": "name", "What do you know about?": "can", "Thanks!": "thanks",
                "Bye for now.": "bye", "What is the tallest mountain in the world?": "ood",
                "Can you write computer code?": "ood", "What is the capital of Japan?": "ood"}
KIND_WEIGHTS = {"fact": 0.4, "sum": 0.3, "story": 0.15, "chat": 0.15}
EVAL_COUNTS = {"fact": 40, "sum": 30, "story": 12, "chat": 10}  # held-out prompts the eval generates for


@dataclass
class DataConfig:
    seed: int = field(default=0, metadata={"help": "seed of every generator"})
    corpus_mb: float = field(default=5.2, metadata={"help": "megabytes of pretraining prose (train split)"})
    sft_n: int = field(default=6000, metadata={"help": "SFT conversations (train split)"})
    dpo_n: int = field(default=2400, metadata={"help": "DPO preference pairs (train split)"})
    dpo_heldout_n: int = field(default=200, metadata={"help": "held-out DPO pairs for the reward accuracy"})
    sft_polite_share: float = field(default=0.3, metadata={
        "help": "share of SFT answers written politely; the rest are rude, so SFT leaves room for DPO"})
    pretrain_heldout_every: int = field(default=50, metadata={"help": "1 in N documents goes to held-out"})
    prompt_heldout_every: int = field(default=10, metadata={"help": "1 in N question prompts goes to held-out"})


def _bucket(text: str, every: int) -> bool:
    """Held-out membership by content hash: identical text always lands in the same split, so splits never overlap."""
    return int(hashlib.md5(text.encode()).hexdigest()[:8], 16) % every == 0


def all_prompts() -> list[tuple[str, str, dict]]:
    """Every (prompt, kind, meta) the SFT/DPO data can ask, in a fixed order."""
    out = []
    for c in W.WORLD:
        for attr, templates in FACT_TEMPLATES.items():
            out += [(t.format(n=c.name), "fact", {"name": c.name, "attr": attr}) for t in templates]
        out += [(t.format(n=c.name), "story", {"hero": c.name}) for t in STORY_TEMPLATES]
    for a in range(11):
        for b in range(11):
            out += [(t.format(a=a, b=b), "sum", {"a": a, "b": b, "op": "plus"}) for t in PLUS_TEMPLATES]
    for a in range(21):
        for b in range(min(a, 10) + 1):
            out += [(t.format(a=a, b=b), "sum", {"a": a, "b": b, "op": "minus"}) for t in MINUS_TEMPLATES]
    for table in (CHAT_TRAIN, CHAT_HELDOUT):
        out += [(p, "story" if k == "story" else "chat", {"intent": k, "hero": None}) for p, k in table.items()]
    return out


def is_heldout(prompt: str, cfg: DataConfig) -> bool:
    if prompt in CHAT_HELDOUT:
        return True
    return prompt not in CHAT_TRAIN and _bucket(prompt, cfg.prompt_heldout_every)


def core_answer(rng: random.Random, kind: str, meta: dict) -> tuple[str, dict | None]:
    """The content of an answer (tone added later) and how to check it (None: not checkable)."""
    if kind == "fact":
        c, attr = W.BY_NAME[meta["name"]], meta["attr"]
        text = {"colour": f"{c.name} is {c.colour}.", "animal": f"{c.name} is a {c.animal}.",
                "place": f"{c.name} lives in {c.place}.", "food": f"{c.name} likes to eat {c.food}.",
                "age": f"{c.name} is {c.age} years old.", "friend": f"The best friend of {c.name} is {c.friend}."}[attr]
        kind_map = {"age": "number", "friend": "name"}
        expected = c.age if attr == "age" else getattr(c, attr)
        return text, {"kind": kind_map.get(attr, attr), "expected": expected, "subject": c.name}
    if kind == "sum":
        a, b = meta["a"], meta["b"]
        r = a + b if meta["op"] == "plus" else a - b
        return f"{a} {meta['op']} {b} is {r}.", {"kind": "number", "expected": r}
    if kind == "story":
        return "Here is a story. " + W.story(rng, meta.get("hero"), sentences=rng.randint(2, 3)), None
    return CHAT_CORES[meta["intent"]], None


def _pools(cfg: DataConfig) -> tuple[dict, dict]:
    train, held = {k: [] for k in KIND_WEIGHTS}, {k: [] for k in KIND_WEIGHTS}
    for item in all_prompts():
        (held if is_heldout(item[0], cfg) else train)[item[1]].append(item)
    return train, held


def _sample(rng: random.Random, pools: dict) -> tuple[str, str, dict]:
    kinds = list(KIND_WEIGHTS)
    return rng.choice(pools[rng.choices(kinds, [KIND_WEIGHTS[k] for k in kinds])[0]])


def pretraining(cfg: DataConfig) -> tuple[list[str], list[str]]:
    """(train, held-out) documents; train holds at least cfg.corpus_mb megabytes."""
    rng, train, held, size = random.Random(f"{cfg.seed}-pretrain"), [], [], 0
    while size < cfg.corpus_mb * 1e6:
        doc = W.document(rng)
        if _bucket(doc, cfg.pretrain_heldout_every):
            held.append(doc)
        else:
            train.append(doc)
            size += len(doc.encode()) + 1
    return train, held


def sft(cfg: DataConfig) -> list[dict]:
    """Prompt-completion chats (TRL's conversational format); a share of answers is rude on purpose."""
    rng, (train, _) = random.Random(f"{cfg.seed}-sft"), _pools(cfg)
    rows = []
    for _ in range(cfg.sft_n):
        prompt, kind, meta = _sample(rng, train)
        answer = W.with_tone(rng, core_answer(rng, kind, meta)[0], polite=rng.random() < cfg.sft_polite_share)
        rows.append({"prompt": [{"role": "user", "content": prompt}],
                     "completion": [{"role": "assistant", "content": answer}]})
    return rows


def dpo_pairs(cfg: DataConfig, n: int, heldout: bool) -> list[dict]:
    """Same prompt, same facts; chosen is polite, rejected is rude (the one trait they differ in)."""
    rng, (train, held) = random.Random(f"{cfg.seed}-dpo-{heldout}"), _pools(cfg)
    rows = []
    for _ in range(n):
        prompt, kind, meta = _sample(rng, held if heldout else train)
        core = core_answer(rng, kind, meta)[0]
        rows.append({"prompt": prompt, "chosen": W.with_tone(rng, core, True),
                     "rejected": W.with_tone(rng, core, False)})
    return rows


def eval_prompts(cfg: DataConfig) -> list[dict]:
    """Held-out prompts for generation, with how to check each (check is None for stories and chat)."""
    rng, (_, held) = random.Random(f"{cfg.seed}-eval"), _pools(cfg)
    rows = []
    for kind, count in EVAL_COUNTS.items():
        for prompt, k, meta in rng.sample(held[kind], min(count, len(held[kind]))):
            rows.append({"prompt": prompt, "kind": k, "check": core_answer(random.Random(0), k, meta)[1]})
    return rows


def write_jsonl(path: Path, rows: list) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def build(cfg: DataConfig, data_dir: Path) -> dict:
    """Write every split to data_dir and return the manifest (also written as manifest.json)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pre_train, pre_held = pretraining(cfg)
    files = {
        "pretrain_train.jsonl": [{"text": d} for d in pre_train],
        "pretrain_heldout.jsonl": [{"text": d} for d in pre_held],
        "sft_train.jsonl": sft(cfg),
        "dpo_train.jsonl": dpo_pairs(cfg, cfg.dpo_n, heldout=False),
        "dpo_heldout.jsonl": dpo_pairs(cfg, cfg.dpo_heldout_n, heldout=True),
        "eval_prompts.jsonl": eval_prompts(cfg),
    }
    for name, rows in files.items():
        write_jsonl(data_dir / name, rows)
    manifest = {"config": asdict(cfg), "rows": {k: len(v) for k, v in files.items()},
                "pretrain_train_bytes": sum(len(d.encode()) + 1 for d in pre_train)}
    (data_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def run(out: Path, preset, seed: int, force: bool = False) -> dict | None:
    """The data stage: skipped when the same config was already written (a changed size or seed rebuilds it)."""
    cfg = DataConfig(seed=seed, corpus_mb=preset.corpus_mb, sft_n=preset.sft_n, dpo_n=preset.dpo_n,
                     dpo_heldout_n=preset.dpo_heldout_n)
    manifest = out / "data" / "manifest.json"
    same = manifest.exists() and json.loads(manifest.read_text())["config"] == asdict(cfg)
    if same and not force:
        print(f"[skip] {out / 'data'} already holds this configuration; pass --force to rebuild it")
        return None
    result = build(cfg, out / "data")
    print(json.dumps(result["rows"]), f"pretraining bytes: {result['pretrain_train_bytes']:,}")
    return result
