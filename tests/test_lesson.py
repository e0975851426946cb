"""The lesson (llm_demo/lesson.py): the seed's order, numbers from the core functions (not copied text), verdicts
where the seed is wrong, and a Show me link per section that the link parser accepts whole."""
from urllib.parse import parse_qsl

import pytest

from llm_demo import lesson, links, scaling
from llm_demo.tokenization import analyse


@pytest.fixture(scope="module")
def sections():
    return lesson.sections()


def text_of(section) -> str:
    return " ".join([section.claim, *section.shows, section.verdict])


def test_sections_follow_the_seed_order(sections):
    assert [s.key for s in sections] == ["large", "architecture", "tokenization", "pipeline", "sampling", "scaling",
                                         "takeaways"], [s.key for s in sections]
    for s in sections:
        assert s.claim and s.shows and s.kind in (lesson.HOLDS, lesson.SIMPLIFIED, lesson.WRONG), s
        assert s.kind == lesson.HOLDS or s.verdict, f"{s.key}: a simplified or wrong claim needs a verdict"


@pytest.mark.parametrize("i", range(7))
def test_each_show_me_link_opens_its_tab_with_every_value(sections, i):
    s = sections[i]
    link = links.parse(parse_qsl(s.link.lstrip("?"), keep_blank_values=True))
    assert link.tab == s.tab and link.values == s.values and not link.ignored, f"{s.key}: {s.link} -> {link}"
    assert s.values, f"{s.key}: Show me fills nothing"


def test_the_seed_fox_sentence_count_is_measured(sections):
    fox = analyse(lesson.FOX, "gpt2").stats
    assert fox.tokens == 10 and fox.words == 9, f"GPT-2 splits the fox sentence into {fox.tokens} tokens"
    assert f"**{fox.tokens} GPT-2 tokens** for {fox.words} words" in text_of(sections[2]), sections[2].shows


def test_minigpt_count_is_called_wrong_with_the_real_number(sections):
    arch = sections[1]
    untied = scaling.count_params(**scaling.GPT2_SMALL, tied_embeddings=False)
    assert untied == 163_037_184, untied
    assert arch.kind == lesson.WRONG and f"{untied:,}" in text_of(arch) and "124" in arch.verdict, arch


def test_temperature_zero_division_is_shown_failing(sections):
    samp = sections[4]
    text = text_of(samp)
    assert samp.kind == lesson.WRONG and "nan" in text and "multinomial" in text and "fails" in text, samp.shows
    assert "argmax: token 0" in text, "our sampler's T = 0 pick is not shown"
    assert samp.values["temperature"] == 0, "Show me should open the Chat tab at T = 0"


def test_numbers_come_from_the_core_functions_not_copied_text(monkeypatch):
    """Change what a core function answers and the lesson's text changes with it."""
    real = scaling.count_params
    monkeypatch.setattr(scaling, "count_params", lambda *a, **kw: real(*a, **kw) + 1)
    arch = lesson.architecture()
    assert "163,037,185" in text_of(arch), arch.shows
    monkeypatch.setattr(lesson, "FOX", "one two three")
    assert "**3 GPT-2 tokens** for 3 words" in text_of(lesson.tokenization()), "fox count is not measured live"


def test_chinchilla_ratio_is_computed_per_law(sections):
    text = text_of(sections[5])
    rows = {r.law: r for r in scaling.plan(scaling.Hardware(), compute_flops=1e21)}
    c1 = rows["chinchilla-1"].n_tokens / rows["chinchilla-1"].n_params
    assert f"chinchilla-1 {c1:.0f}" in text and 15 < c1 < 25, (c1, text)


def test_takeaways_use_the_numbers_above(sections):
    take, tok = sections[-1], sections[2]
    assert f"{tok.facts['prose_wpt']:.2f} words per GPT-2 token" in text_of(take), take.shows
    assert len(take.shows) == 5, "the seed lists five takeaways"
