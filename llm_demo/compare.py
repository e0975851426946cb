"""Compare core (no Gradio): one prompt through a family's base, SFT, RLHF and DPO stages, streamed side by side,
then cross-scored; votes exported as DPO pairs. The Compare tab is a thin layer over this.

Run from Python: `list(compare.stream_columns("tinygpt", "What colour is Tom's cat?", SamplingConfig()))`.
"""
import hashlib
import json
import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from llm_demo import TINYGPT_DIR, batching, engine, models
from llm_demo.sampling import SamplingConfig
from llm_demo.pairs import DPO_BETA, write_pairs_jsonl

log = logging.getLogger("llm_demo")
SLOTS = ("base", "sft", "rlhf", "dpo")     # the four columns, in pipeline order (RLHF and DPO both start from SFT)
SLOT_TITLES = {"base": "Base (pretrained)", "sft": "SFT", "rlhf": "RLHF (RLOO)", "dpo": "DPO", "instruct": "Instruct",
               "dpo-class": "DPO on the class's votes"}
STAGE_NAMES = {"base": "base", "sft": "SFT", "rlhf": "RLHF", "dpo": "DPO"}   # a stage in a sentence
# Lineups that are not one family's base/SFT/DPO: (slot, model) per column. The class's own DPO stage answers next
# to the shipped one (the stage exists once `python -m llm_demo.training dpo --from-class-db` has run).
LINEUPS = {"tinygpt-class": (("sft", "tinygpt-sft"), ("dpo", "tinygpt-dpo"), ("dpo-class", models.CLASS_STAGE))}
# What each family says its instruct model went through (the middle column's title when there is no SFT stage).
INSTRUCT_RECIPES = {
    "smollm2-135m": "SFT + DPO",              # Allal et al. 2025, SmolLM2, Sec. 6: SFT on SmolTalk, then DPO
    "qwen2.5-0.5b": "SFT, DPO, then online RL (GRPO)",  # Qwen2.5 Technical Report 2024, Sec. 4 (post-training)
}
# DPO beta a family published, with its source and whether its DPO was length-normalised (the implicit reward
# then uses per-token mean log-probabilities).
PUBLISHED_BETA = {
    # open-instruct's docs/olmo2.md, "Preference Tuning (DPO)", 1B: dpo_tune_cache.py on OLMo-2-0425-1B-SFT with
    # --dpo_loss_type dpo_norm --dpo_beta 5 (dpo_norm: the log-ratios use per-token mean log-probabilities).
    "olmo2-1b": (5.0, "OLMo 2 1B's DPO recipe: β = 5, length-normalised DPO (dpo_loss_type dpo_norm; allenai/open-instruct, "
                 "docs/olmo2.md, Preference Tuning, 1B: OLMo-2-0425-1B-SFT → -DPO)", True),
}
# How long a column keeps the cores per turn, after a first round of one token each: every switch to another
# model reloads its weights into the CPU caches (the trio's three ~10 MB models do not fit a 32 MiB L3 together),
# a cost that grows with slower memory. Four tokens per turn cost 1% on one 2-core machine and 22-25% on another
# of the same kind (issue 17); a turn of TURN_S bounds that cost by the switch time over the turn's length, whatever
# the model's speed. `python -m llm_demo.bench compare --turn-ms 0` measures one token per turn for comparison.
TURN_S = 0.05
# The Compare tab's starting settings: greedy and no top-p, so the columns differ by their training, not by a draw.
DEFAULT_SETTINGS = SamplingConfig(temperature=0, top_p=1.0, max_new_tokens=64)
DEFAULT_BETA = DPO_BETA   # used when a family records none (its source: llm_demo/pairs.py)
NO_PROMPT = "Type a prompt first: nothing was run."
UNFINISHED = "Wait until every column has finished: votes on unfinished answers are refused."


@dataclass
class Column:
    slot: str
    model: str = ""          # registry name, "" when the family has no such stage
    title: str = ""
    prompt: str = ""         # the exact string the model received
    prompt_tokens: int = 0
    text: str = ""
    error: str = ""          # why the column is greyed (missing stage, failed load, bad settings)
    done: bool = False
    finish_reason: str = ""
    n_tokens: int = 0
    first_token_s: float | None = None
    takes_messages: bool = False   # a server's model (backend.Backend.takes_messages): it answers one whole answer
                                   # per turn and returns no log-probabilities to score


def plan_columns(family: str) -> list[Column]:
    """Which model fills each column; a stage the family lacks or that can't load is greyed with the reason."""
    if family in LINEUPS:
        return [_lineup_column(slot, name) for slot, name in LINEUPS[family]]
    stages = models.family_stages(family)
    cols = []
    for slot in SLOTS:
        name = stages.get(slot) or (stages.get("instruct") if slot == "sft" else "")
        instruct = name and name == stages.get("instruct")
        title = (f"{SLOT_TITLES['instruct']} ({INSTRUCT_RECIPES[family]})" if instruct and family in INSTRUCT_RECIPES
                 else SLOT_TITLES["instruct" if instruct else slot])
        col = Column(slot, name, title)
        if not name:
            stage = STAGE_NAMES.get(slot, slot)
            col.error = (f"This family publishes no separate {stage} checkpoint: its instruct model "
                         f"({INSTRUCT_RECIPES.get(family, 'all its post-training stages')}) is in the middle column."
                         if "instruct" in stages
                         else f"This family has no {stage} stage.")
            col.done = True
        else:
            ok, reason = models.availability(name)
            if not ok:
                col.error, col.done = reason, True
        cols.append(col)
    return cols


def _lineup_column(slot: str, name: str) -> Column:
    col = Column(slot, name, SLOT_TITLES[slot])
    if name == models.CLASS_STAGE and models.class_stage_spec() is None:
        col.error, col.done = ("The class's DPO stage is not trained yet: the teacher runs "
                               "`python -m llm_demo.training dpo --from-class-db <database>`."), True
        return col
    ok, reason = models.availability(name)
    if not ok:
        col.error, col.done = reason, True
    return col


@dataclass
class Run:
    """One compare run as the server recorded it. Scores and votes read the prompt and the answers from here, never
    from the page's boxes as they are later (a prompt edited after the run must not be paired with its answers)."""
    family: str
    prompt: str
    system: str = ""
    settings: dict = field(default_factory=dict)   # the SamplingConfig fields, seed included
    cols: list = field(default_factory=list)       # list[Column], updated while streaming
    order: list = field(default_factory=list)      # blind runs: the slots shown as A, B, C
    run_id: str = ""                               # the class database's id ("" when the run is not stored)
    stopped: bool = False                          # Stop pressed before every column finished: never voted on

    @property
    def finished(self) -> bool:
        return bool(self.cols) and not self.stopped and all(c.done for c in self.cols)


def has_prompt(prompt) -> bool:
    """Whether there is a prompt to run (an API caller can send anything, a person an empty box)."""
    return isinstance(prompt, str) and bool(prompt.strip())


def stream_columns(family: str, prompt: str, cfg: SamplingConfig, system: str = "") -> Iterator[list[Column]]:
    """The columns take turns (round robin in this thread), so they fill at the same time and the whole run costs
    what running them one after another would. One failing column never stops the others."""
    if not has_prompt(prompt):
        raise ValueError(NO_PROMPT)
    cols = plan_columns(family)
    streams = {}
    t0 = time.perf_counter()
    for col in cols:
        if col.done:
            continue
        try:
            lm = models.load(col.model)
            messages = [{"role": "user", "content": prompt}]
            if lm.takes_messages:               # the server builds the prompt string from the messages
                col.takes_messages = True
                col.prompt = lm.shown_prompt(messages, system, cfg)
                streams[col.slot] = lm.stream_messages(messages, system, cfg)
                continue
            col.prompt = models.build_prompt(lm.spec, lm.tokenizer, messages, system)
            col.prompt_tokens = len(engine.encode_prompt(lm, col.prompt))
            streams[col.slot] = batching.stream(lm, col.prompt, cfg)
        except Exception as exc:  # noqa: BLE001
            col.error, col.done = column_error(exc), True
    yield cols
    first_round = True                          # one token each, so every column starts at once
    while streams:
        # Remote columns take turns one whole answer at a time: a server that serves one request at a time (llama.cpp's)
        # would otherwise make the second column wait for the first, which waits for us to read it.
        remote_turn = next((c.slot for c in cols if c.slot in streams and c.takes_messages), None)
        for col in cols:
            if col.takes_messages and col.slot != remote_turn:
                continue
            turn_end = time.perf_counter() + (0 if first_round else TURN_S)
            while True:
                gen = streams.get(col.slot)
                if gen is None:
                    break
                try:
                    piece = next(gen)
                except Exception as exc:  # noqa: BLE001 - one column's failure is its own (a fault is logged)
                    col.error, col.done = column_error(exc), True
                    del streams[col.slot]
                    break
                col.text += piece.text
                col.n_tokens = piece.n_tokens
                col.first_token_s = col.first_token_s or time.perf_counter() - t0
                if piece.done:
                    col.done, col.finish_reason = True, piece.finish_reason
                    del streams[col.slot]
                if time.perf_counter() >= turn_end:
                    break
        yield cols
        first_round = False


def column_error(exc: Exception) -> str:
    """A column's refusal (ValueError) as its sentence; any other exception is a fault: logged with its traceback
    and shown as one, never as if the settings were wrong."""
    if isinstance(exc, ValueError):
        return str(exc)
    log.error("a Compare column failed", exc_info=exc)
    return f"Something went wrong in this column ({type(exc).__name__}); the other columns carry on."


def family_beta(family: str) -> tuple[float, str, bool]:
    """The DPO beta the family was trained with, where that number comes from, and whether its DPO was
    length-normalised."""
    if family == "tinygpt":
        summary = TINYGPT_DIR / "dpo" / "summary.json"
        if summary.exists():
            beta = json.loads(summary.read_text()).get("dpo_beta")
            if beta is not None:
                return float(beta), "assets/models/tinygpt/dpo/summary.json", False
    if family in PUBLISHED_BETA:
        return PUBLISHED_BETA[family]
    return DEFAULT_BETA, "TRL's default (this family publishes no separate DPO stage or beta)", False


def family_sft_weight(family: str) -> float:
    """The weight of the SFT term our DPO stage adds to its loss (training/dpo.py: loss_type ["sigmoid", "sft"]);
    0 for families whose DPO we did not train."""
    summary = TINYGPT_DIR / "dpo" / "summary.json"
    if family == "tinygpt" and summary.exists():
        return float(json.loads(summary.read_text()).get("dpo_sft_weight") or 0.0)
    return 0.0


@dataclass
class Scores:
    """mean_logprob[answer slot][scorer slot], and the DPO implicit reward of each answer."""
    mean_logprob: dict = field(default_factory=dict)
    total_logprob: dict = field(default_factory=dict)
    dpo_reward: dict = field(default_factory=dict)
    rm_score: dict = field(default_factory=dict)      # answer slot -> the trio's reward model's score
    rm_note: str = ""                                 # what judged them, or why some answers have no score
    beta: float = DEFAULT_BETA
    beta_source: str = ""
    length_normalised: bool = False      # reward from per-token means (the family's DPO was length-normalised)
    sft_weight: float = 0.0              # weight of an SFT term added to the DPO loss (the trio's 1.0): then
                                         # β·log-ratio is the implicit reward only approximately


def score_columns(family: str, prompt: str, cols: list[Column], system: str = "") -> Scores:
    """Score every finished answer under every available stage; reward = beta * (log pi_DPO - log pi_SFT), with
    per-token mean log-probabilities when the family's DPO was length-normalised."""
    # A remote server returns no log-probabilities for a given text, so its models neither score nor get scored here.
    scorers = {c.slot: c.model for c in cols if c.model and not c.error and not c.takes_messages}
    beta, source, normalised = family_beta(family)
    out = Scores(beta=beta, beta_source=source, length_normalised=normalised, sft_weight=family_sft_weight(family))
    for ans in cols:
        if ans.error or not ans.text or not scorers:
            continue
        out.mean_logprob[ans.slot], out.total_logprob[ans.slot], turn = {}, {}, {}
        for slot, name in scorers.items():
            lm = models.load(name)
            p = models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": prompt}], system)
            # Scored as a finished turn, with the end-of-turn token DPO trained on (TRL's DPO scores the chat
            # template's completion, "<|end|>" included: training/evaluate.completion_logp does the same). The
            # per-token columns leave that token out (how natural the words look); the reward keeps it.
            s = engine.score(lm, p, ans.text, append_eos=True)
            ended = len(s.logprobs) > 1 and lm.tokenizer.eos_token_id is not None
            words = s.logprobs[:-1] if ended else s.logprobs
            out.mean_logprob[ans.slot][slot], out.total_logprob[ans.slot][slot] = sum(words) / len(words), sum(words)
            turn[slot] = s.mean if normalised else s.total
        if "dpo" in turn and "sft" in turn:
            out.dpo_reward[ans.slot] = beta * (turn["dpo"] - turn["sft"])
    out.rm_score, out.rm_note = reward_scores(family, prompt, cols)
    return out


def reward_scores(family: str, prompt: str, cols: list[Column]) -> tuple[dict, str]:
    """The trio's reward model's score of every finished answer, and a note: for another family, that it is the
    trio's reward model judging their text (tokenized with the trio's tokenizer); for a refused answer, why."""
    from llm_demo import reward

    if not reward.available():
        return {}, "No reward-model scores: assets/models/tinygpt/reward is missing."
    scores, refused = {}, []
    for ans in cols:
        if ans.error or not ans.text:
            continue
        try:
            scores[ans.slot] = reward.score(prompt, ans.text)
        except ValueError as exc:
            refused.append(f"{SLOT_TITLES.get(ans.slot, ans.slot)}: {exc}")
    note = ("Reward model: the TinyGPT trio's own (trained on its preference pairs)." if family.startswith("tinygpt")
            else "Reward model: the TinyGPT trio's, judging this family's text through the trio's tokenizer "
                 "(it never saw such text, so read its scores as a curiosity).")
    return scores, " ".join([note] + refused)


# The scores table's columns, in the order scores_table fills its rows.
SCORE_HEADERS = ("answer from", *(f"under {STAGE_NAMES[s]}" for s in SLOTS), "DPO reward", "reward model")


def scores_table(scores: Scores) -> list[list]:
    """Rows for a table (SCORE_HEADERS): answer, mean log-prob under each stage, DPO implicit reward, reward-model
    score."""
    rows = []
    for ans, per in scores.mean_logprob.items():
        row = [SLOT_TITLES.get(ans, ans)] + [round(per[s], 3) if s in per else None for s in SLOTS]
        rewards = (scores.dpo_reward.get(ans), scores.rm_score.get(ans))
        rows.append(row + [round(r, 3) if r is not None and math.isfinite(r) else None for r in rewards])
    return rows


# ---------------------------------------------------------------- votes -> DPO pairs


def make_vote(run: Run, better: str, worse: str, busy: bool = False) -> dict:
    """One vote as a DPO pair of the run's own prompt and answers; refused (ValueError) while the run is still
    streaming (`busy`), and unless both answers are finished and different."""
    if busy:
        raise ValueError(UNFINISHED)
    if not isinstance(run, Run) or not run.cols:
        raise ValueError("Run a prompt first, then vote.")
    if run.stopped:
        raise ValueError("This run was stopped before every column finished: its answers are unfinished, so votes "
                         "on it are refused. Run the prompt again to vote.")
    by_slot = {c.slot: c for c in run.cols}
    if better == worse:
        raise ValueError("Pick two different columns: one better, one worse.")
    for slot in (better, worse):
        col = by_slot.get(slot)
        if col is None or col.error:
            raise ValueError(f"The {slot} column has no answer to vote on.")
        if not col.done:
            raise ValueError(UNFINISHED)
        if not col.text.strip():
            raise ValueError(f"The {slot} answer is empty: there is nothing to prefer or reject.")
    return {"prompt": run.prompt, "chosen": by_slot[better].text, "rejected": by_slot[worse].text}


def votes_dir(session: str) -> Path:
    """A browser session's own folder for its votes file, under the system temp dir. The folder is named by a
    hash of the session id, so no text from a request ever becomes part of a path."""
    if not isinstance(session, str) or not session:
        raise ValueError("This page has no session id, so its votes cannot be saved: reload the page.")
    return Path(tempfile.gettempdir()) / "llm_lab_votes" / hashlib.sha256(session.encode()).hexdigest()[:32]


def forget_votes(session: str) -> None:
    """Delete a session's votes folder (when its tab closes)."""
    if isinstance(session, str) and session:
        shutil.rmtree(votes_dir(session), ignore_errors=True)


def write_votes_jsonl(votes: list[dict], folder: Path) -> Path:
    """The session's votes as DPO-format JSONL (prompt, chosen, rejected), for
    `python -m llm_demo.training dpo --extra-pairs FILE`."""
    if not votes:
        raise ValueError("No votes yet: mark which answer is better first.")
    return write_pairs_jsonl(votes, folder / "llm_lab_preferences.jsonl")
