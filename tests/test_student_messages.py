"""What a student reads: sentences about what to do in the app, never an environment variable or a config name
(those go to the server log and docs/deploy.md for the host)."""
import logging
import re

import pytest

from llm_demo import config, llamacpp, models, tokenization

HOST_WORDS = re.compile(r"LLM_DEMO_|HF_HUB_OFFLINE|config\.[A-Z_]{3,}|make setup|\b[A-Z]{3,}_[A-Z_]{3,}\b")


def _refusal(fn) -> str:
    with pytest.raises(ValueError) as err:
        fn()
    return str(err.value)


def _check(message: str, caplog, env_var: str | None):
    assert not HOST_WORDS.search(message), f"a student reads a host's setting: {message!r}"
    if env_var:
        assert env_var in caplog.text, f"the server log must tell the host about {env_var}: {caplog.text!r}"


def test_switched_off_features_tell_the_student_what_to_do_and_the_host_log_names_the_setting(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="llm_demo")
    monkeypatch.setattr(config, "ALLOW_CUSTOM_MODELS", False)
    msg = _refusal(lambda: models.get_spec("custom:someone/model"))
    assert "pick one of the listed models" in msg, msg
    _check(msg, caplog, "LLM_DEMO_ALLOW_CUSTOM_MODELS")

    monkeypatch.setattr(config, "ALLOW_HUB_TOKENIZERS", False)
    msg = _refusal(lambda: tokenization.get_tokenizer("someone/tokenizer"))
    assert "pick one of the listed tokenizers" in msg, msg
    _check(msg, caplog, "LLM_DEMO_ALLOW_HUB_TOKENIZERS")

    monkeypatch.setattr(config, "OPENAI_BASE_URL", "")
    msg = _refusal(lambda: models.get_spec("remote:some-model"))
    _check(msg, caplog, "LLM_DEMO_OPENAI_BASE_URL")


def test_the_text_cap_and_offline_notes_name_no_setting(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="llm_demo")
    text, notes = tokenization.prepare_text("x" * 60, max_chars=50)
    assert len(text) == 50 and notes, notes
    _check(notes[0], caplog, "LLM_DEMO_MAX_TEXT_CHARS")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ok, reason = models.hub_reachable()
    assert not ok and "offline" in reason, reason
    _check(reason, caplog, None)


@pytest.mark.parametrize("switched_on,importable", [(False, (True, "")), (True, (False, "ImportError: no llama_cpp"))])
def test_the_chat_tabs_backend_line_names_no_setting(monkeypatch, caplog, switched_on, importable):
    caplog.set_level(logging.INFO, logger="llm_demo")
    monkeypatch.setattr(config, "LLAMA_CPP", switched_on)
    monkeypatch.setattr(llamacpp, "importable", lambda: importable)
    monkeypatch.setattr(llamacpp, "_note", [])
    note = models.llamacpp_note()
    assert "transformers" in note, note
    _check(note, caplog, "LLM_DEMO_LLAMA_CPP" if not switched_on else "make setup")


# ---------------------------------------------------------------- "1 token", not "1 tokens"
def test_count_says_one_token_and_two_tokens():
    from llm_demo import count
    assert (count(1, "token"), count(2, "vote"), count(0, "sample"), count(1200, "layer")) == \
        ("1 token", "2 votes", "0 samples", "1,200 layers")


def test_views_with_a_count_of_one_use_the_singular():
    from llm_demo import arena, arena_plots, branching, bpe_trace, compare, compare_views, token_view
    one = tokenization.analyse("hi", "gpt2")
    assert len(one.tokens) == 1, "the example needs a one-token text"
    shown = {
        "tokenizer view": token_view.render_comparison([one]),
        "BPE trace": bpe_trace.render_trace(bpe_trace.trace_word("a", "gpt2")),
        "leaderboard": arena_plots.table_markdown(arena.Leaderboard(votes=1)),
        "compare column": compare_views.column_views([compare.Column("base", "m", "Base", "p", 1, "x", done=True,
                                                                     finish_reason="max new tokens", n_tokens=1)]),
        "answer measures": branching.measures_text([{"logprobs": [-0.5], "chosen": 0, "entropy": 0.1,
                                                     "entropy_final": 0.0, "prob": 1.0}]),
    }
    for where, text in shown.items():
        bad = re.findall(r"\b1 (?:tokens|votes|samples|layers|heads|bytes|merges|prompt tokens)\b", str(text))
        assert not bad, f"{where} says {bad}: {str(text)[:300]}"
        assert re.search(r"\b1 (?:token|vote|byte)\b", str(text)), f"{where} shows no count of one: {str(text)[:300]}"


def test_the_limits_line_reads_right_with_one_slot(monkeypatch):
    monkeypatch.setattr(config, "MODEL_CONCURRENCY_LIMIT", 1)
    line = config.limits_markdown()
    assert "up to 1;" in line and "1 answers" not in line, line
