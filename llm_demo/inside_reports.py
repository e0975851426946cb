"""The Inside tab's sentences and tables from its measurements (no Gradio, no figures: those are inside_plots.py):
what the causality test, the embedding neighbours, the MiniGPT check and the KV-cache run found."""
import pandas as pd

from llm_demo import count, inside
from llm_demo.inside_plots import show


def causality_markdown(c: inside.Causality) -> str:
    """What changing the last word did: the shared prefix's attention rows and logit-lens guesses, compared."""
    verdict = ("identical: bit for bit" if c.max_attn_diff == 0 else
               f"different by at most {c.max_attn_diff:.2g} (float rounding)")
    return (f"“…{show(''.join(c.after.tokens[c.shared:]))}” instead of "
            f"“…{show(''.join(c.before.tokens[c.shared:]))}”. The first **{count(c.shared, 'token')}** are shared: "
            f"their attention rows in all {count(c.before.n_layers, 'layer')} × {count(c.before.n_heads, 'head')} are "
            f"**{verdict}**, and so are their logit-lens guesses "
            f"({'the same' if c.same_lens_guesses else 'NOT the same'}; "
            + ("probabilities identical" if c.max_lens_prob_diff == 0 else
               f"probabilities differ by at most {c.max_lens_prob_diff:.2g}") + "). Only the rows from the changed "
            "word on (red) move.")


def neighbours_table(rows) -> pd.DataFrame:
    """inside.neighbours' rows (token, id, cosine) as shown: tokens made visible, cosines to 3 decimals."""
    return pd.DataFrame(rows, columns=["token", "id", "cosine"]).assign(
        token=lambda d: d["token"].map(show), cosine=lambda d: d["cosine"].round(3))


def minigpt_markdown(r) -> str:
    """minigpt.check's result: the largest logit difference, the argmax agreement, parameters and times."""
    ok = "≤ 1e-4: the same model" if r.max_abs_diff <= 1e-4 else "ABOVE 1e-4: the mapping is wrong"
    return (f"On {count(r.n_tokens, 'token')}, the largest difference between the seed's MiniGPT's logits and the "
            f"transformers model's is **{r.max_abs_diff:.2g}** (the logits reach ±{r.max_abs_logit:.1f}): "
            f"{ok}. Same top next token at every position: **{'yes' if r.same_argmax else 'no'}**. "
            f"Parameters: MiniGPT {r.params_minigpt:,}, transformers {r.params_transformers:,}. Time: "
            f"MiniGPT {r.ms_minigpt:.1f} ms, transformers {r.ms_transformers:.1f} ms.")


def kv_table(steps, seed) -> pd.DataFrame:
    """One row per generated token: the cache's shape and bytes, and each step's time with and without it."""
    return pd.DataFrame([{"step": s.n, "token": show(s.token), "cache shape": " × ".join(map(str, s.cache_shape)),
                          "cache bytes": f"{s.cache_bytes:,}", "ms with cache": round(s.ms, 1),
                          "ms, seed's loop": round(seed.ms[s.n], 1) if s.n < len(seed.ms) else None}
                         for s in steps])


def kv_markdown(steps, seed) -> str:
    """The KV-cache run in one paragraph: the tokens, whether the seed's loop drew the same, the two times."""
    cached_ms, seed_ms = sum(s.ms for s in steps[1:]), sum(seed.ms[1:len(steps)])
    return (f"{count(len(steps), 'token')}: “{show(''.join(s.token for s in steps))}”. Same tokens from the seed's "
            f"loop: **{'yes' if seed.same_tokens else 'no'}**. After the prompt, the steps took **{cached_ms:.0f} ms** "
            f"with the cache and **{seed_ms:.0f} ms** recomputing everything. The cache ends at "
            f"{steps[-1].cache_bytes:,} bytes.")
