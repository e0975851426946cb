"""llm_demo.tokenization: offline tiktoken encodings equal tiktoken's own, GPT-2's known splits, round trips."""
import gzip
import hashlib
import re

import pytest
import tiktoken
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from llm_demo import tiktoken_offline
from llm_demo import tokenization as T
from llm_demo.token_facts import PRESETS

OPENAI = ["r50k_base", "cl100k_base", "o200k_base"]
TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"  # tiktoken_ext/openai_public.py


@pytest.fixture(scope="module")
def tiktoken_own(tmp_path_factory):
    """tiktoken.get_encoding(name), built entirely by tiktoken (its constructor, its loader, its hash check),
    offline: its download cache is pre-filled with our gunzipped files under tiktoken's cache keys."""
    cache = tmp_path_factory.mktemp("tiktoken-cache")
    for name in OPENAI:
        data = gzip.decompress((T.RANKS_DIR / f"{name}.tiktoken.gz").read_bytes())
        (cache / hashlib.sha1(TIKTOKEN_URL.format(name).encode()).hexdigest()).write_bytes(data)
    mp = pytest.MonkeyPatch()
    mp.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    for name in OPENAI:
        tiktoken.registry.ENCODINGS.pop(name, None)
    try:
        yield {name: tiktoken.get_encoding(name) for name in OPENAI}
    finally:
        for name in OPENAI:
            tiktoken.registry.ENCODINGS.pop(name, None)
        mp.undo()


@pytest.mark.parametrize("name", OPENAI)
def test_offline_encoding_is_tiktokens_own(tiktoken_own, name):
    ours, theirs = T.load_tiktoken_offline(name), tiktoken_own[name]
    assert ours._pat_str == theirs._pat_str, f"{name}: split pattern differs from tiktoken's"
    assert ours._special_tokens == theirs._special_tokens, f"{name}: special tokens differ"
    assert ours._mergeable_ranks == theirs._mergeable_ranks, f"{name}: ranks differ"
    for text in [*PRESETS.values(), "<|endoftext|> and <|fim_prefix|>", "  \t\n\n x"]:
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text), f"{name} differs on {text!r}"
        assert ours.encode(text, allowed_special="all") == theirs.encode(text, allowed_special="all"), name


@pytest.mark.parametrize("name", OPENAI)
def test_shipped_files_match_provenance_hashes(name):
    data = gzip.decompress((T.RANKS_DIR / f"{name}.tiktoken.gz").read_bytes())
    digest = hashlib.sha256(data).hexdigest()
    provenance = (T.RANKS_DIR / "PROVENANCE.md").read_text()
    assert re.search(rf"\| {name}\.tiktoken\.gz \|.*\| {digest} \|", provenance), \
        f"{name}: sha256 {digest} is not the one PROVENANCE.md records"


def test_corrupted_rank_file_is_refused(tmp_path, monkeypatch):
    good = gzip.decompress((T.RANKS_DIR / "r50k_base.tiktoken.gz").read_bytes())
    (tmp_path / "r50k_base.tiktoken.gz").write_bytes(gzip.compress(good.replace(b" 50000\n", b" 50001\n")))
    monkeypatch.setattr(tiktoken_offline, "RANKS_DIR", tmp_path)
    with pytest.raises(ValueError, match="sha256"):
        T.load_tiktoken_offline("r50k_base")


def test_gpt2_known_splits():
    tokens = T.tokenize("Hello, world!", "gpt2")
    assert [t.text for t in tokens] == ["Hello", ",", " world", "!"], f"got {[t.text for t in tokens]}"
    assert [t.id for t in tokens] == [15496, 11, 995, 0], "GPT-2's published ids for 'Hello, world!'"
    fox = T.tokenize("The quick brown fox jumps over the lazy dog.", "gpt2")
    assert len(fox) == 10, f"the fox sentence is 9 words + '.' = 10 GPT-2 tokens, got {len(fox)}"
    rare = [t.text for t in T.tokenize("supercalifragilisticexpialidocious", "gpt2")]
    assert len(rare) > 3 and "".join(rare) == "supercalifragilisticexpialidocious", f"rare word split: {rare}"


def test_special_token_text_is_plain_unless_allowed():
    plain = T.tokenize("a<|endoftext|>b", "gpt2")
    assert len(plain) > 3 and not any(t.special for t in plain), "typed <|endoftext|> must stay plain text"
    special = T.tokenize("a<|endoftext|>b", "gpt2", allow_special=True)
    assert [t.id for t in special if t.special] == [50256], f"got {special}"


def test_partial_utf8_tokens_show_bytes():
    tokens = T.tokenize("你", "gpt2")  # GPT-2 has no token for this character: it takes 2 byte tokens
    assert len(tokens) == 2 and "".join(t.text for t in tokens) == "<0xE4><0xBD><0xA0>", \
        f"partial characters should read as <0x..> bytes, got {[t.text for t in tokens]}"


def test_lone_surrogates_refused_by_api_and_replaced_with_a_note_in_the_tab():
    with pytest.raises(ValueError, match="surrogate"):
        T.tokenize("a\ud800b", "gpt2")
    a = T.analyse("a\ud800b", "gpt2")
    assert a.text == "a\ufffdb" and any("surrogate" in n for n in a.notes), f"{a.text!r} {a.notes}"


def test_one_megabyte_is_capped_with_a_message_and_counts_stay_exact():
    big = "word " * 200_000  # 1,000,000 characters
    a = T.analyse(big, "gpt2")
    assert len(a.text) == T.config.MAX_TEXT_CHARS, "the text must be capped at config.MAX_TEXT_CHARS"
    assert any("Only the first" in n for n in a.notes), f"the cap must be announced: {a.notes}"
    assert a.stats.tokens == len(a.tokens) == len(T.get_tokenizer("gpt2").encode(a.text)), "counts must be exact"


def test_empty_text():
    a = T.analyse("", "gpt2")
    assert a.tokens == [] and a.stats.tokens == 0 and a.stats.tokens_per_word == 0.0, f"{a}"
    assert T.tokenize("", "o200k_base") == []


def test_unknown_names_and_offline_hub_ids_fail_fast_with_a_sentence(monkeypatch):
    with pytest.raises(ValueError, match="Unknown tokenizer"):
        T.get_tokenizer("../../etc/passwd")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="offline"):
        T.get_tokenizer("openai-community/gpt2")


def test_hub_ids_load_tokenizer_files_only_and_explain_failures(monkeypatch):
    """Online path without a network: the probe says online, the download fails; the user gets one sentence."""
    from transformers import AutoTokenizer

    from llm_demo import models
    calls = []

    def fake_from_pretrained(repo_id, **kw):
        calls.append((repo_id, kw))
        raise OSError("openai-community/nope is not a valid model identifier")
    monkeypatch.setattr(models, "hub_reachable", lambda: (True, ""))
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", fake_from_pretrained)
    with pytest.raises(ValueError, match="Could not load a tokenizer from 'openai-community/nope'"):
        T.get_tokenizer("openai-community/nope")
    assert calls == [("openai-community/nope", {"trust_remote_code": False})], f"unexpected call {calls}"
    assert "openai-community/nope" not in T._cache, "a failed load must not be cached"


def test_unavailable_options_say_why():
    for o in T.tokenizer_options():
        assert o.available or o.reason, f"{o.name} is unavailable without a reason"
        if not o.available and o.name not in T.TIKTOKEN_NAMES:
            with pytest.raises(ValueError):
                T.get_tokenizer(o.name)


# ---------------------------------------------------------------- round trips, every tokenizer

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|fim_prefix|>", "<|endofprompt|>"]
texts = st.lists(st.one_of(st.text(max_size=40), st.sampled_from(SPECIALS), st.sampled_from(list(PRESETS.values()))),
                 max_size=4).map("".join)


def available_names() -> list[str]:
    return [o.name for o in T.tokenizer_options() if o.available]


@pytest.fixture(scope="module")
def tiny_bpe(tmp_path_factory):
    """Our trio's tokenizer recipe (llm_demo.training.tokenizer.train_bpe) on a tiny corpus, saved and reloaded
    the way models.load_tokenizer does: the Hugging Face code path without the trained trio or a download."""
    from transformers import AutoTokenizer

    from llm_demo.training.tokenizer import train_bpe
    folder = tmp_path_factory.mktemp("tiny-bpe")
    train_bpe(iter(list(PRESETS.values()) * 20), vocab_size=400).save_pretrained(folder)
    tk = T.HFTokenizer("tiny-bpe", AutoTokenizer.from_pretrained(folder), "tiny BPE")
    T._cache["tiny-bpe"] = tk  # so name-based helpers (analyse, trace_word, chat_overhead) can find it
    yield tk
    T._cache.pop("tiny-bpe", None)


def check_round_trip(tk, text: str, allow_special: bool):
    assume(not tk.missing_bytes.intersection(text.encode("utf-8")))  # see test_dropped_bytes_are_reported
    tokens = tk.tokens(text, allow_special)
    assert b"".join(t.bytes for t in tokens) == text.encode("utf-8"), f"{tk.label}: bytes don't join to {text!r}"
    assert tk.decode([t.id for t in tokens]) == text, f"{tk.label}: decode(encode(x)) != x for {text!r}"
    assert [t.id for t in tokens] == tk.encode(text, allow_special), f"{tk.label}: tokens() and encode() disagree"


@pytest.mark.parametrize("name", available_names())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts, allow_special=st.booleans())
def test_round_trip_every_shipped_tokenizer(name, text, allow_special):
    check_round_trip(T.get_tokenizer(name), text, allow_special)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts, allow_special=st.booleans())
def test_round_trip_hf_byte_level_adapter(tiny_bpe, text, allow_special):
    assert tiny_bpe.byte_level, "the tiny BPE should be recognised as byte-level"
    check_round_trip(tiny_bpe, text, allow_special)


@pytest.mark.parametrize("name", available_names())
def test_dropped_bytes_are_reported(name):
    """Some byte-level BPEs (SmolLM2's) lack tokens for a few bytes and drop them: the tab must say so."""
    tk, text = T.get_tokenizer(name), "a\x04\x06\x13b\U00040000"
    joined = b"".join(t.bytes for t in tk.tokens(text))
    notes = T.analyse(text, name).notes
    if tk.missing_bytes.intersection(text.encode("utf-8")):
        assert joined != text.encode("utf-8"), f"{tk.label}: expected the missing bytes to be dropped"
        assert any("drops them silently" in n for n in notes), f"{tk.label} must report dropped bytes: {notes}"
    else:
        assert joined == text.encode("utf-8") and not notes, f"{tk.label}: {joined!r} {notes}"


def test_trio_recipe_trace_and_chat_overhead(tiny_bpe):
    from llm_demo.bpe_trace import trace_word
    from llm_demo.token_facts import chat_overhead, parse_conversation
    for word in ["tokenization", " quick", "fox!", "Привет"]:
        trace = trace_word(word, "tiny-bpe")
        assert trace.matches, f"traced {trace.ids} != tokenizer's {trace.encoded} for {word!r}"
    msgs = parse_conversation("system: Be brief.\nuser: What is a token?")
    result = chat_overhead(msgs, "tiny-bpe")
    expected = len(tiny_bpe.tok.apply_chat_template(msgs, tokenize=True)["input_ids"])
    assert result.templated_tokens == expected and result.overhead > 0, f"{result} vs {expected}"


def test_offsets_fallback_for_normalising_tokenizers():
    """A WordPiece tokenizer that lowercases: bytes come from character offsets and still join back exactly."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["hello world, the quick brown fox"] * 10,
                            trainers.WordPieceTrainer(vocab_size=80, special_tokens=["[UNK]"]))
    tk = T.HFTokenizer("tiny-wp", PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]"), "tiny wp")
    assert not tk.byte_level, "WordPiece vocabularies are not byte-level"
    for text in ["Hello World,  the FOX!", "  你好 fox\n", ""]:
        tokens = tk.tokens(text)
        assert b"".join(t.bytes for t in tokens) == text.encode("utf-8"), f"{text!r}: {tokens}"


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base", "o200k_base"])
def test_decode_the_readme_documents_inverts_tokenize(name):
    assert T.decode([15496, 11, 995, 0], "gpt2") == "Hello, world!", "the README's example"
    text = "Tokens: ünïcode, 你好, and code()\n\tindented."
    ids = [t.id for t in T.tokenize(text, name)]
    assert T.decode(ids, name) == text, f"{name}: decode(tokenize(x)) != x"
