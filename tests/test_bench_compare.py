"""`bench compare` times the moment every column shows its first result. A column may end before drawing a token
(TinyGPT's base model drew its end token first at seed 0 once the RLHF column joined), and the bench then crashed
on a missing time ("'<' not supported between NoneType")."""
from llm_demo import compare
from llm_demo.bench import compare as bench_compare
from llm_demo.compare import Column
from llm_demo.sampling import SamplingConfig


def test_a_column_that_ends_without_a_token_counts_as_shown(monkeypatch):
    def fake_stream(family, prompt, cfg):
        cols = [Column("base"), Column("sft")]
        yield cols
        cols[0].done, cols[0].finish_reason = True, "end of turn"      # ended with no token
        yield cols
        cols[1].n_tokens = 1
        yield cols
        cols[1].done = True
        yield cols
    monkeypatch.setattr(compare, "stream_columns", fake_stream)
    first, whole, cols = bench_compare.side_by_side("tinygpt", SamplingConfig(max_new_tokens=4))
    assert first is not None and 0 <= first <= whole, (first, whole)
    assert [c.n_tokens for c in cols] == [0, 1]


def test_the_default_family_gives_a_first_token_time():
    """The real trio at the bench's settings (seed 0): a time, whatever each stage draws first."""
    cfg = SamplingConfig(temperature=0.7, top_k=50, top_p=0.9, max_new_tokens=8, seed=0)
    first, whole, cols = bench_compare.side_by_side("tinygpt", cfg)
    assert first is not None and first <= whole and all(c.done for c in cols), [(c.slot, c.done) for c in cols]
