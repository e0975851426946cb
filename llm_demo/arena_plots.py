"""Plotly figures and a Markdown table for the class arena's leaderboard (arena.Leaderboard in, figures out)."""
import math

from llm_demo.arena import Leaderboard, counting_note, win_rate
from llm_demo import count


def strengths_figure(board: Leaderboard):
    """Bradley-Terry strengths with their 95% bootstrap intervals, best on top."""
    import plotly.graph_objects as go

    models = board.models[::-1]
    s = [board.strength[m] for m in models]
    lo = [board.strength[m] - board.interval[m][0] for m in models]
    hi = [board.interval[m][1] - board.strength[m] for m in models]
    fig = go.Figure(go.Scatter(x=s, y=models, mode="markers", marker=dict(size=12),
                               error_x=dict(type="data", array=hi, arrayminus=lo, thickness=2),
                               hovertemplate="%{y}: %{x:.2f}<extra></extra>"))
    fig.add_vline(x=0, line_dash="dot", line_color="grey")
    fig.update_layout(title="Bradley-Terry strength (log odds, mean 0) with 95% bootstrap interval",
                      xaxis_title="strength: a gap of 1 means the stronger wins 73% of the time",
                      height=120 + 50 * len(models), margin=dict(l=10, r=10, t=50, b=40))
    return fig


def win_matrix_figure(board: Leaderboard):
    """Row model's win rate against the column model (ties count half), with the number of comparisons."""
    import plotly.graph_objects as go

    ms = board.models
    z, text = [], []
    for a in ms:
        row, row_text = [], []
        for b in ms:
            rate = win_rate(board, a, b) if a != b else None
            n = board.wins.get((a, b), 0.0) + board.wins.get((b, a), 0.0)
            row.append(rate if rate is not None else math.nan)
            row_text.append(f"{rate:.0%} of {n:g}" if rate is not None else "")
        z.append(row)
        text.append(row_text)
    fig = go.Figure(go.Heatmap(z=z, x=ms, y=ms, text=text, texttemplate="%{text}", zmin=0, zmax=1,
                               colorscale="RdBu", colorbar=dict(title="win rate")))
    fig.update_layout(title="Win rate of the row against the column", xaxis_title="against",
                      yaxis=dict(autorange="reversed"), height=140 + 60 * len(ms), margin=dict(l=10, r=10, t=50, b=40))
    return fig


def table_markdown(board: Leaderboard) -> str:
    """The leaderboard as a Markdown table, with vote counts and the length check."""
    if not board.models:
        return (f"{count(board.votes, 'vote')} so far: the leaderboard appears once votes compare at least two models "
                "(ties and 'all bad' alone say nothing about which is better).")
    rows = ["| rank | model | strength | 95% interval | in votes |", "|---|---|---|---|---|"]
    for i, m in enumerate(board.models, 1):
        lo, hi = board.interval[m]
        rows.append(f"| {i} | `{m}` | {board.strength[m]:+.2f} | {lo:+.2f} … {hi:+.2f} | {board.appearances[m]} |")
    lines = ["\n".join(rows), "",
             f"**{count(board.votes, 'vote')}** ({count(board.tie_votes, 'tie')}, {board.all_bad_votes} 'all bad'). Two models whose "
             "intervals overlap are not clearly ranked yet: more votes narrow the intervals.", counting_note()]
    if board.length:
        lines.append(f"**Length check** ({count(board.length['n'], 'preference')}): {board.length['sentence']}")
    return "\n\n".join(lines)
