"""The seed's temperature table, measured (llm_demo/temperature_study.py), on the tiny model."""
import pytest

from llm_demo import chat, chat_plots, temperature_study as ts


def test_diversity_and_repetition_measures_on_hand_made_samples():
    assert ts.distinct_n([[1, 2, 3], [1, 2, 3]]) == 2 / 4, "two identical samples: 2 distinct bigrams of 4"
    assert ts.distinct_n([[1, 2, 3], [4, 5, 6]]) == 1.0
    assert ts.seq_rep([7, 8, 9, 10] * 3) == 1 - 4 / 9, "a loop of 4 tokens repeats 5 of its 9 4-grams"
    assert ts.seq_rep([1, 2, 3, 4, 5, 6]) == 0.0 and ts.seq_rep([1, 2]) == 0.0


def test_the_table_is_deterministic_for_fixed_seeds_and_reports_progress(tiny_chat):
    seen = []
    a = ts.run(tiny_chat, "Hello cat", samples=3, max_new_tokens=10, progress=lambda f, m: seen.append(f))
    b = ts.run(tiny_chat, "Hello cat", samples=3, max_new_tokens=10)
    assert [r.samples for r in a] == [r.samples for r in b], "the same seeds must give the same samples"
    assert [(r.distinct2, r.repetition, r.mean_logprob) for r in a] == [(r.distinct2, r.repetition, r.mean_logprob)
                                                                      for r in b]
    assert [r.temperature for r in a] == list(chat.SEED_TEMPERATURE_NOTES), "rows follow the seed's table"
    assert seen and seen == sorted(seen) and 0 < seen[-1] <= 1, f"progress must grow to at most 1: {seen}"
    assert len(set(a[0].samples)) == 1, "T=0 is greedy: every seed must give the same text"
    assert len(set(a[-1].samples)) > 1, "T=1.5 with a random model should give different samples"
    assert a[0].verdict.startswith("Supported") and all(r.verdict for r in a), [r.verdict for r in a]
    assert all(r.mean_logprob < 0 and 0 <= r.distinct2 <= 1 and sum(r.stopped_by.values()) == 3 for r in a)
    c = ts.run(tiny_chat, "Hello cat", samples=3, max_new_tokens=10, seed=50)
    assert c[-1].samples != a[-1].samples, "another base seed should change the sampled rows"


def test_samples_equal_the_chat_answers_with_the_same_seed(tiny_chat):
    """The lock-step batch draws as a single chat answer does (same seed, same position, same settings)."""
    rows = ts.run(tiny_chat, "Hello cat", samples=2, max_new_tokens=8, top_k=0, top_p=1.0)
    cfg = chat.SamplingConfig(temperature=1.5, top_k=0, top_p=1.0, max_new_tokens=8, seed=1)
    reply = list(chat.stream_reply(tiny_chat, [{"role": "user", "content": "Hello cat"}], "", cfg, inspect=0))[-1]
    assert rows[-1].samples[1] == reply.text, (rows[-1].samples[1], reply.text)


@pytest.mark.parametrize("kw,words", [(dict(samples=0), "Samples"), (dict(samples=17), "Samples"),
                                      (dict(max_new_tokens=500), "Max new tokens"), (dict(samples=2.5), "Samples"),
                                      (dict(top_p=0), "Top-p")])
def test_bad_sizes_are_refused_with_a_sentence(tiny_chat, kw, words):
    with pytest.raises(ValueError, match=words):
        ts.run(tiny_chat, "Hello cat", **kw)


def test_figure_has_the_three_measures_and_the_seeds_words(tiny_chat):
    rows = ts.run(tiny_chat, "Hello cat", samples=2, max_new_tokens=6)
    fig = chat_plots.temperature_figure(rows)
    assert [d.name for d in fig.data] == ["distinct-2 across samples", "repetition inside a sample (rep-4)",
                                         "mean log p per token (model, T=1)"]
    assert "conservative, factual" in fig.data[0].x[1] and len(fig.data[0].x) == 5
