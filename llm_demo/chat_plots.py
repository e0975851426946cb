"""The Chat tab's figures (Plotly), apart from the math they draw: one sampling step (chat.step_record), an answer's
per-token measures (branching.answer_measures) and step mode's next-token chart.
"""
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from llm_demo import count
from llm_demo.branching import answer_measures


def sampler_figure(step: dict) -> go.Figure:
    """Grouped bars: each candidate's probability after each stage of the sampler; the sampled one marked."""
    labels = [repr(c)[1:-1] or "∅" for c in step["candidates"]]
    labels = [f"▶ {lab}" if i == step["chosen"] else lab for i, lab in enumerate(labels)]
    fig = go.Figure()
    for stage in step["stages"]:
        fig.add_bar(name=f"{stage['name']} ({stage['kept']} kept)", x=labels, y=stage["probs"])
    # two short lines: a title does not wrap by itself, and one long line is cut on a phone (390 px)
    title = (f"You put {step['token']!r} here (a branch);<br>the sampler gave it probability {step['prob']:.3f}"
             if step.get("forced") else f"Sampled {step['token']!r}<br>with probability {step['prob']:.3f}")
    fig.update_layout(barmode="group", height=380, margin=dict(l=40, r=10, t=60, b=40), title=title,
                      yaxis_title="probability", legend=dict(orientation="h", y=-0.25))
    return fig


def measures_figure(steps: list[dict]) -> go.Figure:
    """Per step: the entropy of the model's distribution and of the sampler's, and the chosen token's -log p."""
    m = answer_measures(steps)
    x = list(range(1, m["n"] + 1))
    labels = [repr(s["token"])[1:-1] for s in steps]
    fig = go.Figure()
    fig.add_scatter(x=x, y=m["entropy"], name="entropy of the model's distribution (T=1)", mode="lines+markers",
                    text=labels)
    fig.add_scatter(x=x, y=m["entropy_final"], name="entropy after temperature / top-k / top-p",
                    mode="lines+markers", text=labels)
    fig.add_bar(x=x, y=[-lp for lp in m["logprobs"]], name="surprise of the chosen token (−log p)", opacity=0.4,
                text=labels)
    fig.update_layout(height=300, margin=dict(l=40, r=10, t=40, b=40), xaxis_title="token #", yaxis_title="nats",
                      title=f"Perplexity {m['perplexity']:.2f} · total log p {m['total_logprob']:.2f}",
                      legend=dict(orientation="h", y=-0.3))
    return fig


def next_token_figure(step: dict) -> go.Figure:
    """Step mode's chart: each candidate's probability under the model and after the sampler's filters; ★ marks the
    most likely token after the filters (what greedy decoding would take)."""
    final, raw = step["stages"][-1]["probs"], step["stages"][0]["probs"]
    top = max(range(len(final)), key=final.__getitem__)
    labels = [f"{i}: {repr(c)[1:-1] or '∅'}" for i, c in enumerate(step["candidates"])]
    labels[top] = "★ " + labels[top]
    fig = go.Figure()
    fig.add_bar(name="the model (T=1)", x=labels, y=raw)
    fig.add_bar(name=f"after temperature / top-k / top-p ({count(step['stages'][-1]['kept'], 'token')} kept)", x=labels,
                y=final)
    fig.update_layout(barmode="group", height=340, margin=dict(l=40, r=10, t=40, b=40), yaxis_title="probability",
                      title="Your turn: which token comes next?", legend=dict(orientation="h", y=-0.3))
    return fig


def temperature_figure(rows: list["temperature_study.Row"], title: str = "") -> go.Figure:
    """Diversity and repetition (left axis) and mean log-probability per token (right axis) against temperature."""
    x = [f"T={row.temperature:g}<br><i>{row.seed_says}</i>" for row in rows]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(x=x, y=[row.distinct2 for row in rows], name="distinct-2 across samples", mode="lines+markers")
    fig.add_scatter(x=x, y=[row.repetition for row in rows], name="repetition inside a sample (rep-4)",
                    mode="lines+markers")
    fig.add_scatter(x=x, y=[row.mean_logprob for row in rows], name="mean log p per token (model, T=1)",
                    mode="lines+markers", line=dict(dash="dot"), secondary_y=True)
    fig.update_yaxes(title_text="share (0–1)", range=[0, 1.05], secondary_y=False)
    fig.update_yaxes(title_text="nats per token", secondary_y=True)
    fig.update_layout(height=420, margin=dict(l=50, r=50, t=60, b=40), title=title or "The seed's temperature table, measured",
                      legend=dict(orientation="h", y=-0.35))
    return fig
