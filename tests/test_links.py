"""Links to any state (llm_demo/links.py): documented keys parse, bad values are named and dropped, build and
parse round-trip, and nothing in a query can name a path, a hub id or code."""
import random
from urllib.parse import parse_qsl

import pytest

from llm_demo import config, links


def query(q: str):
    """The (key, value) pairs a browser query string decodes to, as the page hands them over."""
    return parse_qsl(q.lstrip("?"), keep_blank_values=True)


def test_the_documented_tokenizer_link():
    link = links.parse(query("?tab=tokenizer&tokenizer=cl100k_base&text=Hello%20world"))
    assert (link.tab, link.values) == ("tokenizer", {"tokenizer": "cl100k_base", "text": "Hello world"}), link
    assert link.ignored == [] and link.sentence() == "", link.sentence()


def test_chat_link_values_are_numbers_in_the_sliders_ranges():
    link = links.parse(query("?tab=chat&model=tinygpt-sft&temperature=0&top_k=40&top_p=0.95&seed=7&prompt=Hi"))
    assert link.values == {"model": "tinygpt-sft", "temperature": 0.0, "top_k": 40, "top_p": 0.95, "seed": 7,
                           "prompt": "Hi"}, link.values
    assert isinstance(link.values["top_k"], int) and isinstance(link.values["seed"], int), "whole numbers stay ints"


ROUND_TRIPS = {
    "tokenizer": {"tokenizer": "o200k_base", "text": "a & b = c? 100% #1 +x\nnew line, émoji 🍕, 中文"},
    "chat": {"model": "smollm2-135m-instruct", "temperature": 0.35, "top_k": 0, "top_p": 1.0, "seed": 2**40,
             "prompt": "Write a haiku about tokens & bytes."},
    "compare": {"family": "tinygpt", "prompt": "What does Ivy like to eat?"},
    "scaling": {"budget": "3.5e23", "tied": False, "k": 12},
    "inside": {"model": "tinygpt-base", "text": "Tom has a red ball."},
}


@pytest.mark.parametrize("tab", ROUND_TRIPS)
def test_build_then_parse_gives_the_same_values(tab):
    q = links.build(tab, ROUND_TRIPS[tab])
    link = links.parse(query(q))
    assert link.tab == tab and link.values == ROUND_TRIPS[tab], f"{q} came back as {link}"
    assert not link.ignored, link.sentence()


def test_scaling_round_trips_each_planner_mode():
    for values in ({"gpus": 64, "hours": 240.5, "gpu": "A100"}, {"n": "7B"}, {"budget": "1e21"}):
        link = links.parse(query(links.build("scaling", values)))
        assert link.values == values and links.plan_from(link.values) == links.plan_from(values), link


def test_projector_flag_with_or_without_a_tab():
    assert links.parse(query("?projector=1")).projector is True
    assert links.parse(query("?tab=chat&projector=0")).projector is False
    assert links.build("lesson", {}, projector=True) == "?tab=lesson&projector=1"
    bad = links.parse(query("?projector=maybe"))
    assert bad.projector is None and "projector" in bad.sentence(), bad


@pytest.mark.parametrize("q, named", [
    ("?tab=nope&text=hi", "tab='nope'"),
    ("?tab=tokenizer&tokenizer=klingon&text=hi", "tokenizer='klingon'"),
    ("?tab=chat&temperature=9", "temperature='9'"),
    ("?tab=chat&temperature=nan", "temperature='nan'"),
    ("?tab=chat&top_k=2.5", "top_k='2.5'"),
    ("?tab=chat&top_p=0", "top_p='0'"),
    ("?tab=chat&seed=-1", "seed='-1'"),
    ("?tab=chat&model=custom:/etc", "model='custom:/etc'"),
    ("?tab=compare&family=gpt5", "family='gpt5'"),
    ("?tab=scaling&budget=1e99", "budget='1e99'"),
    ("?tab=scaling&n=lots", "n='lots'"),
    ("?tab=scaling&gpu=custom", "gpu='custom'"),
    ("?tab=chat&temprature=0", "temprature='0'"),
    ("?text=hi", "no tab="),
    ("?tab=chat&seed=1&seed=2", "a second 'seed'"),
])
def test_bad_values_are_dropped_and_named_in_one_sentence(q, named):
    link = links.parse(query(q))
    sentence = link.sentence()
    assert named in sentence, f"{q}: the sentence does not name {named!r}: {sentence!r}"
    assert sentence.startswith("Ignored from the link") and sentence.endswith(".") and len(sentence) < 400, \
        f"not one short sentence: {sentence!r}"
    bad_key = named.split("=")[0].strip("'").removeprefix("a second ")
    if bad_key in links.FIELDS.get(link.tab or "", {}) and "second" not in named:
        assert bad_key not in link.values, f"{q}: the bad value was kept: {link.values}"


def test_good_values_survive_next_to_bad_ones():
    link = links.parse(query("?tab=chat&temperature=9&top_k=20&prompt=Hello"))
    assert link.values == {"top_k": 20, "prompt": "Hello"}, link.values


def test_query_values_never_name_a_path_or_a_hub_id():
    for name in ("../../etc/passwd", "/tmp", "openai-community/gpt2", "gpt2/../x", "__import__('os')"):
        for q in (f"?tab=tokenizer&tokenizer={name}", f"?tab=chat&model={name}", f"?tab=inside&model={name}"):
            link = links.parse([tuple(p.split("=", 1)) for p in q.lstrip("?").split("&")])
            assert "tokenizer" not in link.values and "model" not in link.values, f"{q} was accepted: {link}"


def test_text_is_capped_like_typed_text(monkeypatch):
    monkeypatch.setattr(config, "MAX_TEXT_CHARS", 50)
    link = links.parse([("tab", "tokenizer"), ("text", "x" * 51)])
    assert "text" not in link.values and "longer than 50 characters" in link.sentence(), link
    assert len(link.sentence()) < 300, "the sentence repeats the whole value"
    assert links.parse([("tab", "tokenizer"), ("text", "x" * 50)]).values["text"] == "x" * 50


def test_a_flood_of_keys_is_cut_and_said():
    link = links.parse([("tab", "chat")] + [(f"k{i}", "v") for i in range(500)])
    assert f"after the first {links.MAX_PAIRS} keys" in link.sentence(), link.sentence()[:200]


def test_planner_takes_the_first_mode_given():
    link = links.parse(query("?tab=scaling&n=7B&budget=1e21"))
    assert link.values == {"budget": "1e21"} and "n=7B" in link.sentence(), link


def test_gradio_own_keys_are_not_ours_to_report():
    assert links.parse(query("?__theme=dark&view=api")).ignored == []


def test_parse_never_raises_on_random_queries():
    rng = random.Random(0)
    alphabet = "ab=&%?#/\\.\x00 é🍕-_0123456789eE+"
    keys = ["tab", "text", "model", "temperature", "top_k", "budget", "n", "tied", "projector", "k", "gpus"]
    for _ in range(300):
        pairs = [(rng.choice(keys + ["".join(rng.choices(alphabet, k=4))]),
                  "".join(rng.choices(alphabet, k=rng.randint(0, 12)))) for _ in range(rng.randint(0, 6))]
        if rng.random() < 0.7:
            pairs.insert(0, ("tab", rng.choice(links.TABS)))
        link = links.parse(pairs)
        assert link.tab in (None, *links.TABS), link
        assert set(link.values) <= set(links.FIELDS.get(link.tab or "", {})), link


def test_build_refuses_keys_of_another_tab():
    with pytest.raises(ValueError, match="temperature"):
        links.build("tokenizer", {"temperature": 1})
    with pytest.raises(ValueError, match="Unknown tab"):
        links.build("nope", {})


# Issue 27 items 10 and 17 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["a" * 50_000, "नमस्ते दुनिया " * 600, "🍕" * 3_000])
def test_a_long_text_link_is_cut_to_fit_and_says_so(text):
    q, note = links.build_fitting("tokenizer", {"tokenizer": "gpt2", "text": text})
    assert len(q) <= links.MAX_LINK_CHARS < links.SERVER_MAX_URL, f"a {len(q):,}-character link would not open"
    back = links.parse(query(q)).values["text"]
    assert text.startswith(back) and 0 < len(back) < len(text), "the link must carry a prefix of the text"
    assert f"first {len(back):,} of {len(text):,} characters" in note and note.endswith("."), note
    longer = links.build("tokenizer", {"tokenizer": "gpt2", "text": text[:len(back) + 1]})
    assert len(longer) > links.MAX_LINK_CHARS, "the cut must keep as much text as fits"


def test_a_short_link_is_not_cut():
    assert links.build_fitting("tokenizer", {"text": "Hello"}) == (links.build("tokenizer", {"text": "Hello"}), "")


def test_chat_and_scaling_links_carry_system_prompt_max_new_rep_mfu_and_price():
    chat = {"model": "tinygpt-sft", "system": "Be brief.", "max_new": 300, "rep": 1.3, "prompt": "Hi"}
    assert links.parse(query(links.build("chat", chat))).values == chat
    plan = {"budget": "3.6e21", "mfu": 0.5, "price": 1.75}
    assert links.parse(query(links.build("scaling", plan))).values == plan, "a 50% MFU plan reopened at 40%"
    assert "max_new" in links.parse(query("?tab=chat&max_new=100000")).sentence(), "out of range is named"


def test_a_scaling_links_mfu_range_is_what_the_planner_accepts():
    """A link's MFU the planner then refuses would open the tab onto a refusal: the link names it instead."""
    from llm_demo import scaling
    for mfu in (scaling.MIN_MFU, 1.0):
        assert links.parse(query(f"?tab=scaling&mfu={mfu}")).values["mfu"] == scaling.check_mfu(mfu), mfu
    below = scaling.MIN_MFU / 2
    with pytest.raises(ValueError):
        scaling.check_mfu(below)
    link = links.parse(query(f"?tab=scaling&mfu={below}"))
    assert "mfu" not in link.values and f"from {scaling.MIN_MFU:g} to 1" in link.sentence(), link.sentence()
