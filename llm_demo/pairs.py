"""DPO preference pairs as JSONL, one `{"prompt": str, "chosen": str, "rejected": str}` per line.

The Compare tab exports votes in this format and `python -m llm_demo.training dpo --extra-pairs FILE` reads it.
Pure Python (no torch), so the UI can validate a file before training on it.
"""
import json
from pathlib import Path

PAIR_KEYS = ("prompt", "chosen", "rejected")
# DPO's beta scales the implicit reward beta * log(pi/pi_ref): 0.1 is the DPO paper's common setting (Rafailov et
# al. 2023, sec. 6) and TRL DPOConfig's default. Our trio trains with it; Compare uses it for a family that records
# none. Small enough that the policy may move far from the SFT model.
DPO_BETA = 0.1


def validate_pair(obj, lineno: int) -> dict:
    """Return the pair with exactly its three keys, or raise ValueError naming the line and the problem."""
    if not isinstance(obj, dict):
        raise ValueError(f"line {lineno}: expected a JSON object with {', '.join(PAIR_KEYS)}, got {type(obj).__name__}")
    missing = [k for k in PAIR_KEYS if k not in obj]
    if missing:
        raise ValueError(f"line {lineno}: missing key(s) {', '.join(missing)}")
    for key in PAIR_KEYS:
        if not isinstance(obj[key], str) or not obj[key].strip():
            raise ValueError(f"line {lineno}: {key!r} must be a non-empty string")
    if obj["chosen"] == obj["rejected"]:
        raise ValueError(f"line {lineno}: 'chosen' and 'rejected' are identical, so there is no preference to learn")
    return {k: obj[k] for k in PAIR_KEYS}


def parse_pairs(lines) -> list[dict]:
    """Parse JSONL lines (blank lines are skipped); line numbers in errors start at 1."""
    pairs = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {lineno}: not valid JSON ({exc.msg})") from None
        pairs.append(validate_pair(obj, lineno))
    return pairs


def load_pairs_jsonl(path: str | Path) -> list[dict]:
    """Read and validate a preference-pairs file; errors say `FILE line N: ...`."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            pairs = parse_pairs(f)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    except ValueError as exc:
        raise ValueError(f"{path} {exc}") from None
    if not pairs:
        raise ValueError(f"{path}: no preference pairs in the file")
    return pairs


def pair_to_jsonl_line(prompt: str, chosen: str, rejected: str) -> str:
    """One line of the file (with its newline), validated: what an exporter appends per vote."""
    return json.dumps(validate_pair({"prompt": prompt, "chosen": chosen, "rejected": rejected}, 1),
                      ensure_ascii=False) + "\n"


def write_pairs_jsonl(pairs: list[dict], path: Path) -> Path:
    """Write pairs ({prompt, chosen, rejected} each) as the file, every line validated; the one writer for the
    Compare tab's votes and the class arena's export."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [pair_to_jsonl_line(p["prompt"], p["chosen"], p["rejected"]) for p in pairs]   # all checked first
    path.write_text("".join(lines), encoding="utf-8")
    return path
