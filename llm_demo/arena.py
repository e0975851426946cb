"""The class arena's math (no Gradio, no database): votes -> pairwise comparisons -> Bradley-Terry strengths with
bootstrap intervals, the win-rate matrix, a length check, and DPO pairs. Votes come from arena_store.VoteRow.

Try it: `leaderboard(ArenaStore(path).votes())`.
"""
from dataclasses import dataclass, field

import numpy as np

from llm_demo.arena_store import LABELS

# A vote names a best answer (and maybe a worst one, which the others beat), "tie" or "all bad".
# A plain tie counts half a win to each side, as LMSYS's Chatbot Arena does (Chiang et al. 2024, "Chatbot Arena",
# sec. 5). LMSYS also counts its "tie (bothbad)" vote as such a tie (FastChat's elo_analysis.py pools "tie" and
# "tie (bothbad)"); we do not: "all bad" says nothing about which is better, so it is counted but adds no comparison.
TIE_WEIGHT = 0.5
# Bradley-Terry needs every model to win something: one pseudo-tie per pair (a quarter win each way) keeps a model
# that never won at a finite strength. It is a prior worth half a vote per pair; with many votes it vanishes.
PRIOR_WINS = 0.25


@dataclass
class Comparison:
    winner: str          # model name
    loser: str
    weight: float        # 1 for a preference, TIE_WEIGHT for each direction of a tie
    prompt: str = ""
    chosen: str = ""     # the winner's answer text
    rejected: str = ""


def answers(vote) -> dict:
    """label -> (model, text) for the answers of the vote's run that exist."""
    out = {}
    for label, slot in zip(LABELS, vote.order):
        col = vote.columns.get(slot, {})
        if not col.get("error") and col.get("text", "").strip():
            out[label] = (col["model"], col["text"])
    return out


def comparisons(vote) -> list[Comparison]:
    """The pairwise preferences one vote states."""
    ans = answers(vote)
    if vote.best == "all bad" or len(ans) < 2:
        return []
    if vote.best == "tie":
        labels = list(ans)
        return [Comparison(ans[a][0], ans[b][0], TIE_WEIGHT) for a in labels for b in labels if a != b]
    if vote.best not in ans:
        return []
    out = []
    ranked = [vote.best] + [x for x in ans if x not in (vote.best, vote.worst)] + ([vote.worst] if vote.worst else [])
    # best beats everyone; with a worst answer named, the middle one beats the worst too
    pairs = [(vote.best, x) for x in ans if x != vote.best]
    if vote.worst:  # every answer between best and worst beats the worst
        pairs += [(m, vote.worst) for m in ranked[1:-1]]
    for w, l in pairs:
        out.append(Comparison(ans[w][0], ans[l][0], 1.0, vote.prompt, ans[w][1], ans[l][1]))
    return out


def win_counts(comps: list[Comparison]) -> dict:
    """{(winner, loser): total weight}."""
    wins = {}
    for c in comps:
        wins[c.winner, c.loser] = wins.get((c.winner, c.loser), 0.0) + c.weight
    return wins


def bradley_terry(wins: dict, models: list[str], iters: int = 500) -> dict:
    """Strengths s (log scale, mean 0) with P(i beats j) = 1 / (1 + exp(s_j - s_i)), by Hunter's (2004) MM
    updates p_i <- W_i / sum_j n_ij / (p_i + p_j), with PRIOR_WINS added to every pair."""
    w = np.array([[wins.get((i, j), 0.0) for j in models] for i in models])
    return dict(zip(models, _bt(w, iters).tolist()))


def _bt(w: np.ndarray, iters: int = 1000) -> np.ndarray:
    """w[..., i, j] = wins of i over j ([..., m, m], a batch of resamples at once); returns log strengths with
    mean 0 ([..., m])."""
    m = w.shape[-1]
    w = w + PRIOR_WINS * (1 - np.eye(m))
    n, won = w + np.swapaxes(w, -1, -2), w.sum(-1)      # n[i, j]: comparisons of i and j; won[i]: i's wins
    p = np.ones(w.shape[:-1])
    for _ in range(iters):
        new = won / (n / (p[..., :, None] + p[..., None, :])).sum(-1)
        new /= np.exp(np.log(new).mean(-1, keepdims=True))
        done = np.abs(new - p).max() < 1e-9
        p = new
        if done:
            break
    return np.log(p)


def bootstrap(votes: list, models: list[str], n: int = 200, seed: int = 0, level: float = 0.95) -> dict:
    """{model: (low, high)}: percentile intervals of the strengths over n resamples of whole votes."""
    index = {m: k for k, m in enumerate(models)}
    per_vote = np.zeros((len(votes), len(models), len(models)))      # [votes, m, m]: each vote's own wins
    for v, vote in enumerate(votes):
        for c in comparisons(vote):
            per_vote[v, index[c.winner], index[c.loser]] += c.weight
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(votes), np.full(len(votes), 1 / len(votes)), size=n)   # [n, votes]
    samples = _bt(np.einsum("bv,vij->bij", counts, per_vote))                            # [n, m]
    lo, hi = np.quantile(samples, [(1 - level) / 2, 1 - (1 - level) / 2], axis=0)
    return {m: (float(lo[k]), float(hi[k])) for m, k in index.items()}


@dataclass
class Leaderboard:
    models: list = field(default_factory=list)       # best first
    strength: dict = field(default_factory=dict)     # model -> Bradley-Terry strength (log scale, mean 0)
    interval: dict = field(default_factory=dict)     # model -> (low, high), 95% bootstrap
    wins: dict = field(default_factory=dict)         # (winner, loser) -> weight
    votes: int = 0
    tie_votes: int = 0
    all_bad_votes: int = 0
    appearances: dict = field(default_factory=dict)  # model -> votes it was part of
    length: dict = field(default_factory=dict)       # see length_check


def leaderboard(votes: list, n_boot: int = 200, seed: int = 0) -> Leaderboard:
    board = Leaderboard(votes=len(votes), tie_votes=sum(v.best == "tie" for v in votes),
                        all_bad_votes=sum(v.best == "all bad" for v in votes))
    for v in votes:
        for model, _ in answers(v).values():
            board.appearances[model] = board.appearances.get(model, 0) + 1
    comps = [c for v in votes for c in comparisons(v)]
    models = sorted(board.appearances)
    if len(models) < 2 or not comps:
        return board
    board.wins = win_counts(comps)
    board.strength = bradley_terry(board.wins, models)
    board.interval = bootstrap(votes, models, n_boot, seed)
    board.models = sorted(models, key=lambda m: -board.strength[m])
    board.length = length_check(comps)
    return board


def counting_note() -> str:
    """How votes become the comparisons the leaderboard is fitted to: shown next to it (one fact, one place)."""
    return (f"How votes are counted: a preferred answer is 1 win over each answer below it; a tie is "
            f"{TIE_WEIGHT:g} win each way between every pair of its answers (as LMSYS's Chatbot Arena counts a plain "
            f"tie); 'all bad' adds no comparison (LMSYS counts its 'both bad' as a tie; we leave it out). Before any "
            f"vote, each pair of models gets {PRIOR_WINS:g} of a pseudo-win each way (a prior worth "
            f"{2 * PRIOR_WINS:g} of a vote per pair, so a model that never won keeps a finite strength); with many "
            f"votes it fades.")


def win_rate(board: Leaderboard, a: str, b: str) -> float | None:
    """Share of a-vs-b comparisons that a won (ties count half); None when they never met."""
    won, lost = board.wins.get((a, b), 0.0), board.wins.get((b, a), 0.0)
    return won / (won + lost) if won + lost else None


def length_check(comps: list[Comparison]) -> dict:
    """Mean length in words of preferred vs rejected answers over the strict preferences, and one sentence."""
    strict = [c for c in comps if c.weight == 1.0]
    if not strict:
        return {}
    chosen = sum(len(c.chosen.split()) for c in strict) / len(strict)
    rejected = sum(len(c.rejected.split()) for c in strict) / len(strict)
    longer = sum(len(c.chosen.split()) > len(c.rejected.split()) for c in strict) / len(strict)
    # Length bias: people and reward models tend to prefer longer answers whatever their quality (Singhal et al.
    # 2023, "A Long Way to Go: Investigating Length Correlations in RLHF"; Dubois et al. 2024, length-controlled
    # AlpacaEval). A DPO round on such votes learns "be longer" as much as "be better".
    if longer >= 0.65:
        verdict = ("the longer answer won most comparisons, so these votes may partly reward length: a DPO round on "
                   "them can learn to write more rather than better")
    elif longer <= 0.35:
        verdict = "the shorter answer won most comparisons, so these votes do not reward length"
    else:
        verdict = "the longer answer won about as often as the shorter one, so no length bias shows here"
    return {"chosen_words": chosen, "rejected_words": rejected, "longer_won": longer, "n": len(strict),
            "sentence": f"Preferred answers average {chosen:.1f} words, rejected ones {rejected:.1f}; {verdict}."}


def dpo_pairs(votes: list) -> list[dict]:
    """The votes as DPO pairs: every strict preference whose two answers differ (ties and "all bad" give none)."""
    out = []
    for v in votes:
        for c in comparisons(v):
            if c.weight == 1.0 and c.chosen.strip() != c.rejected.strip():
                out.append({"prompt": c.prompt, "chosen": c.chosen, "rejected": c.rejected})
    return out
