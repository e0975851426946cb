"""Arena math: votes -> comparisons, Bradley-Terry recovers known strengths, win rates, length check, DPO pairs."""
import math
import random

import pytest

from llm_demo import arena, arena_plots
from llm_demo.arena_store import VoteRow

ORDER = ["base", "sft", "dpo"]


def vote(best, worst=None, texts=("a b", "c d e", "f"), models=("m-base", "m-sft", "m-dpo"), prompt="p", errors=()):
    cols = {slot: {"model": m, "text": t, "error": "broken" if slot in errors else ""}
            for slot, m, t in zip(ORDER, models, texts)}
    return VoteRow(0, "run", prompt, ORDER, cols, best, worst)


def test_one_vote_states_the_right_comparisons():
    got = {(c.winner, c.loser, c.weight) for c in arena.comparisons(vote("B"))}
    assert got == {("m-sft", "m-base", 1.0), ("m-sft", "m-dpo", 1.0)}, got
    full = {(c.winner, c.loser) for c in arena.comparisons(vote("B", "A"))}
    assert full == {("m-sft", "m-base"), ("m-sft", "m-dpo"), ("m-dpo", "m-base")}, "a ranking adds middle > worst"
    tie = arena.comparisons(vote("tie"))
    win = arena.comparisons(vote("B"))[0].weight
    each_pair = {}
    for c in tie:
        each_pair.setdefault(frozenset((c.winner, c.loser)), []).append(c.weight)
    assert len(tie) == 6 and len(each_pair) == 3, f"a tie compares every pair both ways: {tie}"
    assert all(len(w) == 2 and w[0] == w[1] and math.isclose(sum(w), win) for w in each_pair.values()), \
        f"a tie is half a win each way (a win weighs {win}): {each_pair}"
    assert arena.comparisons(vote("all bad")) == [], "'all bad' prefers nothing"
    broken = {(c.winner, c.loser) for c in arena.comparisons(vote("A", errors=("sft",)))}
    assert broken == {("m-base", "m-dpo")}, "a greyed column takes no part"


def test_a_four_answer_ranking_puts_best_over_all_and_every_middle_over_the_worst():
    order = ["base", "sft", "rlhf", "dpo"]
    cols = {s: {"model": f"m-{s}", "text": f"answer {s}", "error": ""} for s in order}
    got = {(c.winner, c.loser) for c in arena.comparisons(VoteRow(0, "run", "p", order, cols, "D", "A"))}
    assert got == {("m-dpo", "m-base"), ("m-dpo", "m-sft"), ("m-dpo", "m-rlhf"),
                   ("m-sft", "m-base"), ("m-rlhf", "m-base")}, got
    assert len(arena.comparisons(VoteRow(0, "run", "p", order, cols, "tie", None))) == 12, "a tie: 6 pairs, both ways"


def simulated_pairwise_votes(true, n, seed):
    """Each vote sees two of the three models (the third column greyed) and the winner is drawn from BT."""
    rng, names = random.Random(seed), list(true)
    out = []
    for _ in range(n):
        a, b = rng.sample(range(3), 2)
        missing = ({0, 1, 2} - {a, b}).pop()
        p_a = 1 / (1 + math.exp(true[names[b]] - true[names[a]]))
        winner = a if rng.random() < p_a else b
        out.append(vote("ABC"[winner], models=tuple(names), errors=(ORDER[missing],)))
    return out


def test_bradley_terry_recovers_known_strengths_within_the_bootstrap_interval():
    """95% intervals: over 10 simulated classes the true strength must fall inside at least 8 times per model
    (a correct interval misses 2 or more times in 10 with probability about 8%; 3 or more about 1%)."""
    true = {"m-base": -1.0, "m-sft": 0.2, "m-dpo": 0.8}          # mean 0, the scale the fit reports
    inside = {m: 0 for m in true}
    for seed in range(10):
        board = arena.leaderboard(simulated_pairwise_votes(true, 300, seed), n_boot=100, seed=seed)
        assert board.models == ["m-dpo", "m-sft", "m-base"], (seed, board.strength)
        for m, s in true.items():
            lo, hi = board.interval[m]
            inside[m] += lo <= s <= hi
            assert lo <= board.strength[m] <= hi, f"{m}: the estimate is outside its own interval"
            assert hi - lo < 0.9, f"{m}: 300 votes should pin the strength down better than ({lo:.2f}, {hi:.2f})"
    assert all(n >= 8 for n in inside.values()), f"true strengths inside the interval, of 10 classes: {inside}"


def test_few_votes_give_wide_intervals_and_a_model_that_never_won_stays_finite():
    board = arena.leaderboard([vote("C"), vote("C"), vote("B")], n_boot=100)
    assert all(math.isfinite(s) for s in board.strength.values()), board.strength
    widths = [hi - lo for lo, hi in board.interval.values()]
    assert max(widths) > 1.0, f"three votes cannot rank the leaders tightly: {widths}"


def test_win_rates_and_counts():
    board = arena.leaderboard([vote("C"), vote("C"), vote("A"), vote("tie")], n_boot=20)
    assert arena.win_rate(board, "m-dpo", "m-base") == pytest.approx(2.5 / 4), "2 wins + half a tie of 4 meetings"
    assert arena.win_rate(board, "m-base", "m-dpo") == pytest.approx(1.5 / 4)
    assert board.votes == 4 and board.tie_votes == 1 and board.appearances["m-sft"] == 4
    text = arena_plots.table_markdown(board)
    assert "| 1 | `m-dpo`" in text and "4 votes" in text, text
    arena_plots.strengths_figure(board)
    heat = arena_plots.win_matrix_figure(board)
    assert heat.data[0].text[0][1], "each cell says how many comparisons its rate is from"


def test_length_check_spots_votes_that_reward_length():
    long_wins = [vote("B", texts=("short", "a much longer answer with many words", "tiny"))] * 5
    check = arena.leaderboard(long_wins, n_boot=10).length
    assert check["chosen_words"] > check["rejected_words"] and check["longer_won"] == 1.0, check
    assert "length" in check["sentence"] and "may partly reward length" in check["sentence"], check["sentence"]
    short_wins = arena.length_check(arena.comparisons(vote("C", texts=("long long long", "long long", "x"))))
    assert "do not reward length" in short_wins["sentence"], short_wins


def test_dpo_pairs_come_from_strict_preferences_with_the_runs_prompt():
    pairs = arena.dpo_pairs([vote("B", "A", prompt="What is your name?"), vote("tie"), vote("all bad")])
    assert {(p["chosen"], p["rejected"]) for p in pairs} == {("c d e", "a b"), ("c d e", "f"), ("f", "a b")}, pairs
    assert all(p["prompt"] == "What is your name?" for p in pairs)
    same = arena.dpo_pairs([vote("A", texts=("same", "same", "other"))])
    assert ("same", "same") not in {(p["chosen"], p["rejected"]) for p in same}, "identical answers teach nothing"
