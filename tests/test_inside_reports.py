"""llm_demo/inside_reports.py on the shipped TinyGPT (2.6M parameters, no downloads): the Inside tab's sentences and
tables say what the measurements found (the same checks tests/test_inside_api.py makes through the app)."""
from llm_demo import inside, inside_reports, kv_cache, minigpt

TEXT = "Tess the green rabbit hops to the river and"


def test_the_causality_sentence_reports_the_shared_rows():
    c = inside.causality("tinygpt-base", TEXT, "dance")
    md = inside_reports.causality_markdown(c)
    assert "dance" in md and f"**{c.shared} tokens**" in md, md
    assert ("identical: bit for bit" in md) == (c.max_attn_diff == 0), (c.max_attn_diff, md)


def test_the_causality_sentence_says_identical_for_no_difference_and_the_size_of_one():
    """Issue 27 item 20: a zero difference read "probabilities differ by at most 0"."""
    import dataclasses
    c = inside.causality("tinygpt-base", TEXT, "dance")
    same = inside_reports.causality_markdown(dataclasses.replace(c, max_attn_diff=0.0, max_lens_prob_diff=0.0))
    assert "at most 0" not in same and "probabilities identical" in same and "bit for bit" in same, same
    moved = inside_reports.causality_markdown(dataclasses.replace(c, max_attn_diff=3e-7, max_lens_prob_diff=2e-6))
    assert "probabilities differ by at most 2e-06" in moved and "at most 3e-07" in moved, moved


def test_the_kv_report_has_a_row_per_token_and_the_seeds_agreement():
    steps, seed = kv_cache.kv_steps("tinygpt-base", "One foggy morning,", 3)
    table, md = inside_reports.kv_table(steps, seed), inside_reports.kv_markdown(steps, seed)
    assert len(table) == len(steps) == 3 and list(table["step"]) == [s.n for s in steps], table
    assert f"**{'yes' if seed.same_tokens else 'no'}**" in md and f"{steps[-1].cache_bytes:,} bytes" in md, md


def test_the_minigpt_sentence_follows_the_measured_difference():
    r = minigpt.check("tinygpt-base", TEXT)
    md = inside_reports.minigpt_markdown(r)
    assert ("≤ 1e-4: the same model" in md) == (r.max_abs_diff <= 1e-4), md
    assert f"{r.params_minigpt:,}" in md, md


def test_the_neighbours_table_rounds_and_shows_tokens():
    shown, rows = inside.neighbours("tinygpt-base", "rabbit")
    table = inside_reports.neighbours_table(rows)
    assert list(table.columns) == ["token", "id", "cosine"] and len(table) == len(rows) > 0, table
    assert all(round(c, 3) == c for c in table["cosine"]), table["cosine"]
