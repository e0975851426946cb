"""Issue 27, items 2-8: what the lab stated that was wrong or misleading (sweep units and intervals, temperature
verdicts, DPO implicit reward, the Lesson's polite rate, Inside wording, the arena's counting rules)."""
from test_arena import vote

from llm_demo import arena, arena_plots


# ---------------------------------------------------------------- item 8: the arena says how it counts
def test_leaderboard_shows_the_tie_weight_and_the_prior_where_it_is_shown(monkeypatch):
    board = arena.leaderboard([vote("A"), vote("tie"), vote("all bad")], n_boot=20)
    md = arena_plots.table_markdown(board)
    assert f"{arena.TIE_WEIGHT:g} win each way" in md, f"the tie weight is not shown with the leaderboard: {md}"
    assert f"{arena.PRIOR_WINS:g} of a pseudo-win" in md, f"the pseudo-win prior is not shown: {md}"
    assert "both bad" in md and "plain tie" in md, f"the LMSYS comparison must say it holds for plain ties only: {md}"
    monkeypatch.setattr(arena, "PRIOR_WINS", 0.5)
    assert "0.5 of a pseudo-win" in arena_plots.table_markdown(board), "the note must read the constant, not restate it"
