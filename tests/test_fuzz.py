"""Fuzzing: every public API endpoint's handler, called directly with random, huge, NaN/inf/negative and
wrongly typed inputs, either answers or refuses with a sentence (a gr.Error), never with a crash or a traceback.

The endpoints are read from the built app (demo.fns), so a new endpoint is fuzzed without editing this file.
Inputs are what a client can make reach a handler through Gradio's preprocessing: any string (huge ones too) for
a textbox, any float (NaN and negatives included; Gradio refuses only values outside a slider's range) for
numbers, null for boxes left empty, any JSON value for a checkbox (Gradio passes it through), a valid choice
for dropdowns and radios (Gradio refuses others itself: see the API tests at the end), chat histories in
Gradio's message format, and the app's own values for gr.State. Wrong JSON types sent to the real API are
refused by Gradio before our code runs; the API tests check that those refusals are sentences too.
"""
import copy
import inspect
import math
import re
import types

import gradio as gr
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HUGE = "Le chat 🙂 tokenization " * 20_000                      # ~480k characters, over every text cap
NASTY = ["", " ", "\x00", "\ud800", "../../etc/passwd", "/etc/passwd", "custom:/etc", "custom:gpt2",
         "openai-community/gpt2", "<script>alert(1)</script>", "{{7*7}}", "__import__('os')", "nan", "-inf",
         "1e400", "1e21", "-5", "7B", "0x10", "🙂" * 50, "a\nb\tc", "tinygpt", "gpt2", "['x', 1]", "None"]
JSON_ANY = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                                  st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20)),
                        lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                st.dictionaries(st.text(max_size=5), inner, max_size=2)),
                        max_leaves=6)
TEXT = st.one_of(st.none(), st.text(max_size=200), st.sampled_from(NASTY), st.just(HUGE))
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**15, 10**15),
                   st.sampled_from([0, -1, 0.5, 1e308, -1e-308, float("nan"), float("inf"), float("-inf")]))
PARTS = st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=20)}), max_size=2)
MESSAGES = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]),
                                           "content": st.one_of(PARTS, st.text(max_size=30))}), max_size=4)
# Generation length: mostly tiny (fast), else refused values; never a long valid run.
MAX_NEW = st.one_of(st.integers(1, 4), st.integers(-10**9, 0), st.integers(10**4, 10**12),
                    st.sampled_from([float("nan"), 2.5, None]))
BARE = re.compile(r"^\w*(Error|Exception)\b")


def assert_clear(message, where):
    text = str(message or "").strip()
    assert len(text) >= 12 and " " in text, f"{where}: refusal is not a sentence: {text!r}"
    assert len(text) <= 1000, f"{where}: a {len(text):,}-character refusal is a wall, not a message: {text[:80]!r}…"
    assert "Traceback" not in text and not BARE.match(text), f"{where}: refusal is a raw exception: {text!r}"
    assert not text.startswith("Something went wrong"), f"{where}: an unexpected exception reached the user: {text!r}"


def _choices(block):
    return [c[1] if isinstance(c, (tuple, list)) else c for c in (block.choices or [])]


def numbers_for(block):
    """Gradio refuses numbers outside a slider's or number box's bounds (NaN compares false, so it gets through)
    and rounds precision-0 boxes to int (so NaN/inf can't reach those)."""
    lo, hi = getattr(block, "minimum", None), getattr(block, "maximum", None)
    if "max new tokens" in (block.label or "").lower():
        inner = MAX_NEW.filter(lambda x: not isinstance(x, (int, float)) or not (x < lo or x > hi))
    elif lo is not None and hi is not None:
        inner = st.one_of(st.floats(lo, hi), st.integers(math.ceil(lo), math.floor(hi)), st.sampled_from([lo, hi]),
                          st.just(float("nan")))
    else:
        inner = FLOATS
    if getattr(block, "precision", None) == 0:
        inner = inner.filter(lambda x: not isinstance(x, float) or math.isfinite(x))
    return st.one_of(st.none(), inner) if isinstance(block, gr.Number) else inner


def strategy_for(block):
    """What a client can make reach the handler for one input component (or what the app stores, for gr.State)."""
    if isinstance(block, gr.State):
        return st.just(copy.deepcopy(block.value))
    if isinstance(block, (gr.Slider, gr.Number)):
        return numbers_for(block)
    if isinstance(block, gr.Dropdown) and block.allow_custom_value:
        return TEXT
    if isinstance(block, (gr.Dropdown, gr.Radio)):
        return st.one_of(st.none(), st.sampled_from(_choices(block)))
    if isinstance(block, gr.CheckboxGroup):
        return st.lists(st.sampled_from(_choices(block)), max_size=4)
    if isinstance(block, gr.Checkbox):
        return JSON_ANY
    if isinstance(block, gr.Chatbot):
        return MESSAGES
    if isinstance(block, gr.Textbox):
        return TEXT
    return JSON_ANY


def call(fn, args):
    """Run a handler as Gradio would (exhausting a generator), filling gr.Request parameters: the updates it sent."""
    params = list(inspect.signature(fn).parameters.values())
    extra = [types.SimpleNamespace(session_hash="fuzz-session") for p in params[len(args):]
             if p.annotation is gr.Request]
    out = fn(*args, *extra)
    if not inspect.isgenerator(out):
        return [out]
    updates = [update for _, update in zip(range(2000), out)]
    out.close()
    return updates


def build_offline():
    """The real app, built once with hub models marked offline (no network probe)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    try:
        import app
        return app.build_app()
    finally:
        mp.undo()


DEMO = build_offline()


@pytest.fixture(scope="module")
def demo():
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")        # handlers asked for hub models refuse at once instead of probing
    yield DEMO
    mp.undo()


def public_endpoints():
    return sorted(f.api_name for f in DEMO.fns.values() if f.fn is not None and f.api_visibility == "public")


ENDPOINTS = public_endpoints()


def test_the_fuzzer_sees_every_tab():
    for name in ("tokenize", "chat", "temperature_sweep", "compare", "compare_vote", "compare_download",
                 "scaling_plan", "scaling_emergence"):
        assert name in ENDPOINTS, f"/{name} is not a public endpoint any more: {ENDPOINTS}"


@pytest.mark.parametrize("api_name", ENDPOINTS)
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_every_endpoint_answers_or_refuses_with_a_sentence(demo, api_name, data):
    fn = next(f for f in demo.fns.values() if f.api_name == api_name)
    args = [data.draw(strategy_for(block), label=getattr(block, "label", None) or type(block).__name__)
            for block in fn.inputs]
    try:
        updates = call(fn.fn, args)
    except gr.Error as err:
        assert_clear(err.message, f"/{api_name}")
        return
    assert not fn.outputs or any(u is not None for u in updates), \
        f"/{api_name} neither answered nor refused: no update for its {len(fn.outputs)} outputs from {args!r:.200}"


# ---------------------------------------------------------------- the real API, wrong types included

API_CALLS = [
    ("/tokenize", (HUGE, "gpt2", "", False, False), None),
    ("/tokenize", ("hi", "no-such-tokenizer", "", False, False), "not in the list of choices"),
    ("/tokenize", ("hi", "gpt2", "../../etc/passwd", False, False), "tokenizer"),
    ("/bpe_trace", (["a", 1], "gpt2", ""), None),                       # Gradio turns the list into text
    ("/scaling_emergence", ("abc",), "Expected a `float`"),
    ("/scaling_plan", ("compute budget (FLOPs)", "1e400", "H100", 500, -3, 720, 0.4, 2.5, "1B", "chinchilla-3",
                       "2e12"), "GPUs"),
    ("/chat", ("hi", "not a list", "smollm2-135m-instruct", "", 0.5, 50, 0.9, 1.0, 4, 0), "valid list"),
    ("/chat", ("hi", [], "smollm2-135m-instruct", "", 0.5, 50, 0.9, 1.0, 4, 10**30), "Seed"),
    ("/compare", ({"a": 1}, "hi", "", 0, 50, 1.0, 1.0, 4, 0), "not in the list of choices"),
    ("/compare_tokenizers", ("hi", [], False, False), "at least one"),
]


@pytest.mark.parametrize("endpoint,args,refusal", API_CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(API_CALLS)])
def test_real_api_calls_with_wrong_inputs_answer_or_refuse_with_a_sentence(app_url, endpoint, args, refusal):
    from gradio_client import Client
    client = Client(app_url, verbose=False)
    try:
        client.predict(*args, api_name=endpoint)
        assert refusal is None, f"{endpoint} accepted {args!r:.80}, expected a refusal mentioning {refusal!r}"
    except Exception as exc:  # noqa: BLE001 - gradio_client's AppError or the server's validation error
        assert refusal is not None and refusal.lower() in str(exc).lower(), f"{endpoint}: {exc}"
        assert_clear(str(exc), endpoint)
    assert client.predict("still there?", "gpt2", "", False, False, api_name="/tokenize"), "the app stopped serving"
    client.close()
