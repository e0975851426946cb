"""The Tokenizer tab's figure (Plotly): tokens and tokens per word for each tokenizer compared."""
from llm_demo.tokenization import Analysis


def comparison_figure(results: list[Analysis]):
    """Plotly bars of token count and tokens per word, one bar per tokenizer."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots
    labels = [a.tokenizer for a in results]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("tokens", "tokens per word"))
    counts = [a.stats.tokens for a in results]
    fig.add_trace(go.Bar(x=labels, y=counts, text=counts, marker_color="#5b6ee1", name="tokens"), row=1, col=1)
    tpw = [round(a.stats.tokens_per_word, 2) for a in results]
    fig.add_trace(go.Bar(x=labels, y=tpw, text=tpw, marker_color="#e1845b", name="tokens per word"), row=1, col=2)
    fig.update_layout(showlegend=False, height=360, margin=dict(l=40, r=20, t=40, b=40))
    return fig
