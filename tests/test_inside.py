"""Inside the model, core (no Gradio): attention, causality, logit lens, architecture card, embeddings, the seed's
MiniGPT and the KV-cache steps, on the shipped TinyGPT base and on a tiny random Llama (RoPE, RMSNorm, SwiGLU, GQA)."""
import numpy as np
import pytest
import torch

from llm_demo import architecture, engine, inside, kv_cache, minigpt, models

TINY = "tinygpt-base"
TEXT = inside.DEFAULT_TEXT
SHORT = "The cat sat on the mat with a red ball."   # the tiny test tokenizer's own words (few tokens)


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory, tiny_dir):
    """A random 2-layer Llama with 4 query heads sharing 2 key/value heads, and the tiny test tokenizer."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=88, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    return folder


@pytest.fixture
def llama(monkeypatch, llama_dir):
    spec = models.ModelSpec("tiny-llama", "tiny", "base", "embedded", str(llama_dir), "tiny Llama")
    monkeypatch.setattr(models, "REGISTRY", {**models.REGISTRY, "tiny-llama": spec})
    inside.clear_cache()
    yield "tiny-llama"
    inside.clear_cache()
    models.CACHE._models.pop("tiny-llama", None)


@pytest.mark.parametrize("which", [TINY, "llama"])
def test_attention_rows_sum_to_one_and_the_upper_triangle_is_exactly_zero(which, request):
    name = request.getfixturevalue("llama") if which == "llama" else which
    weights, tokens = inside.attention(name, TEXT)
    lm = models.load(name)
    L, H = lm.model.config.num_hidden_layers, lm.model.config.num_attention_heads
    assert weights.shape == (L, H, len(tokens), len(tokens)), f"shape {weights.shape}, {len(tokens)} tokens"
    assert np.allclose(weights.sum(-1), 1, atol=1e-5), f"row sums off by {np.abs(weights.sum(-1) - 1).max()}"
    upper = np.triu(np.ones(weights.shape[-2:], dtype=bool), k=1)
    assert (weights[..., upper] == 0).all(), f"a token attends to a later one: max {weights[..., upper].max()}"
    assert lm.model.config._attn_implementation != "eager", "the shared model was left on eager attention"


def test_eager_attention_is_put_back_even_when_the_pass_fails():
    lm = models.load(TINY)
    before = lm.model.config._attn_implementation
    with pytest.raises(Exception):
        inside.eager_forward(lm, [10 ** 9])                    # an id outside the vocabulary fails inside the pass
    assert lm.model.config._attn_implementation == before, "a failed inspection left the model on eager attention"
    assert not engine.FORWARD_LOCK.locked(), "a failed inspection left the forward lock held"


@pytest.mark.parametrize("which", [TINY, "llama"])
def test_changing_the_last_word_leaves_every_earlier_row_identical(which, request):
    name = request.getfixturevalue("llama") if which == "llama" else which
    c = inside.causality(name, SHORT, "dance")
    assert "dance" in "".join(c.after.tokens[c.shared:]), c.after.tokens
    assert 0 < c.shared < len(c.before.ids), f"shared prefix {c.shared} of {len(c.before.ids)}"
    assert c.max_attn_diff <= 1e-6, f"earlier rows moved by {c.max_attn_diff}"
    assert c.same_lens_guesses and c.max_lens_prob_diff <= 1e-5, "earlier positions' predictions moved"
    last = c.shared                                             # the changed word's own row must differ
    assert not np.allclose(c.before.attn[:, :, last, :last + 1], c.after.attn[:, :, last, :last + 1]), \
        "the changed token's row did not change: the check cannot fail"


@pytest.mark.parametrize("which", [TINY, "llama"])
def test_logit_lens_last_row_is_the_models_own_argmax(which, request):
    name = request.getfixturevalue("llama") if which == "llama" else which
    top_ids, top_probs, tokens = inside.logit_lens(name, TEXT)
    lm = models.load(name)
    ids = lm.tokenizer(TEXT, add_special_tokens=False)["input_ids"][:inside.MAX_TOKENS]
    logits = engine.forward(lm, input_ids=torch.tensor([ids])).logits[0]       # the default kernel, no lens
    assert top_ids.shape == top_probs.shape == (lm.model.config.num_hidden_layers, len(tokens))
    assert top_ids.dtype.kind == "i" and top_probs.dtype.kind == "f"
    assert (top_ids[-1] == logits.argmax(-1).numpy()).all(), "the lens' last row is not the model's output"
    probs = torch.softmax(logits, -1).max(-1).values.numpy()
    assert np.allclose(top_probs[-1], probs, atol=1e-4), "the last row's probabilities are not the model's"
    assert ((top_probs > 0) & (top_probs <= 1)).all()


def test_the_phone_lens_is_a_row_per_token_and_at_most_five_blocks_with_the_output_last():
    """The logit lens a phone draws (inside_plots.lens_phone_figure, carried in the figure's layout.meta): turned
    a quarter, every block of TinyGPT's 4, and of a 30-block model the first, the output and three between;
    each cell's probability is that block's, and a long guess is cut in the cell but whole in the hover."""
    from dataclasses import replace

    from llm_demo import inside_plots
    ins = inside.inspect(TINY, TEXT)
    fig = inside_plots.lens_figure(ins, lambda i: "·" + "x" * (i % 12))
    phone = fig.layout.meta["phone"]
    trace = phone["data"][0]
    T, L = len(ins.tokens), ins.n_layers
    assert len(trace["z"]) == T and len(trace["z"][0]) == L, "not a row per token and a column per block"
    assert np.allclose(np.array(trace["z"]).T, ins.top_probs, atol=1e-3), "the cells are not the lens' probabilities"
    assert phone["layout"]["xaxis"]["ticktext"][-1] == f"{L} = output"
    assert "meta" not in phone["layout"], "the phone figure would be replaced again, for ever"

    deep = replace(ins, top_ids=np.tile(ins.top_ids, (8, 1))[:30], top_probs=np.tile(ins.top_probs, (8, 1))[:30])
    phone = inside_plots.lens_phone_figure(deep, [["·" + "y" * 20] * T] * 30)
    ticks = phone["layout"]["xaxis"]["ticktext"]
    assert len(ticks) == inside_plots.PHONE_LENS_BLOCKS and ticks[0] == "block 1" and ticks[-1] == "30 = output", ticks
    assert "(5 of 30)" in phone["layout"]["title"]["text"], "the title does not say blocks were left out"
    cell, hover = phone["data"][0]["text"][0][0], phone["data"][0]["customdata"][0][0]
    assert len(cell) == inside_plots.PHONE_LENS_CHARS and cell.endswith("…") and "y" * 20 in hover, (cell, hover)


def test_text_over_the_cap_is_cut_with_a_message_and_bad_input_gets_one_sentence():
    long = " ".join(["the green rabbit"] * 60)
    ins = inside.inspect(TINY, long)
    assert len(ins.ids) == inside.MAX_TOKENS and "only its first 64" in ins.note, ins.note
    for bad in ("", "   ", None):
        with pytest.raises(ValueError, match="empty"):
            inside.inspect(TINY, bad)
    ins = inside.inspect(TINY, TEXT)
    with pytest.raises(ValueError, match="Layer 9 does not exist: this model has layers 1 to 4"):
        inside.check_layer_head(ins, 9, 0)
    with pytest.raises(ValueError, match="Head 7 does not exist"):
        inside.check_layer_head(ins, 1, 7)
    with pytest.raises(ValueError, match="whole number"):
        inside.check_layer_head(ins, 1.5, 0)
    with pytest.raises(ValueError, match="Unknown model"):
        inside.inspect("../../etc/passwd", TEXT)


def test_architecture_card_counts_every_parameter_once_and_reads_sizes_from_the_model():
    lm = models.load(TINY)
    a = architecture.architecture(TINY)
    total = sum(p.numel() for p in lm.model.parameters())
    assert a.total == total == sum(n for _, n in a.parts), f"card {a.total}, parts {a.parts}, model {total}"
    assert "other" not in dict(a.parts), f"unclassified parameters: {a.parts}"
    block = lm.model.transformer.h[0]
    assert a.d_ff == block.mlp.c_fc.weight.shape[1] and a.d_model == block.ln_1.weight.shape[0]
    assert dict(a.parts)["position embedding"] == lm.model.transformer.wpe.weight.numel()
    assert a.positions == "learned" and a.norm == "LayerNorm" and not a.gated_ffn and a.tied


def test_architecture_of_a_modern_decoder_and_what_it_changes(llama):
    lm = models.load(llama)
    a = architecture.architecture(llama)
    assert a.total == sum(p.numel() for p in lm.model.parameters())
    assert (a.positions, a.norm, a.ffn_name, a.n_kv_heads, a.n_heads) == ("RoPE", "RMSNorm", "SwiGLU", 2, 4)
    rows = {r["part"]: r for r in architecture.modern_changes(architecture.architecture(TINY), a)}
    assert "RoPE" in rows["positions"]["modern"] and "learned" in rows["positions"]["seed"]
    assert "4 query heads share 2 key/value heads" in rows["attention heads"]["modern"]
    assert "3 matrices" in rows["feed-forward"]["modern"] and "2 matrices" in rows["feed-forward"]["seed"]
    assert "2× smaller" in rows["attention heads"]["why"]
    sim, why = inside.position_similarity(llama)
    assert sim is None and "RoPE" in why


def test_position_similarity_and_token_neighbours():
    sim, why = inside.position_similarity(TINY)
    assert sim.shape == (256, 256) and not why and np.allclose(np.diag(sim), 1, atol=1e-5)
    shown, rows = inside.neighbours(TINY, "rabbit", k=5)
    assert shown == " rabbit" and len(rows) == 5 and all(r[0] != " rabbit" for r in rows)
    assert [r[2] for r in rows] == sorted((r[2] for r in rows), reverse=True), "neighbours not sorted"
    with pytest.raises(ValueError, match="tokens for this model"):
        inside.neighbours(TINY, "supercalifragilistic")
    with pytest.raises(ValueError, match="does not exist"):
        inside.neighbours(TINY, 10 ** 6)


def test_the_seeds_minigpt_with_the_trios_weights_gives_the_same_logits():
    r = minigpt.check(TINY, TEXT)
    assert r.max_abs_diff <= 1e-4, f"MiniGPT differs from transformers by {r.max_abs_diff}"
    assert r.same_argmax and r.params_minigpt == r.params_transformers, r
    mg = minigpt.minigpt_for(TINY)
    assert mg.head.weight is mg.token_emb.weight, "the head must be tied as in the trio"
    with torch.no_grad():                                      # a wrong mapping (untransposed) must be caught
        w = mg.blocks[0].attn.in_proj_weight
        saved = w.clone()
        w.copy_(w.reshape(-1, w.shape[1] // 2, 2).flip(-1).reshape(w.shape))
        try:
            assert minigpt.check(TINY, TEXT).max_abs_diff > 1e-3, "a broken MiniGPT passed the check"
        finally:
            w.copy_(saved)


def test_minigpt_refuses_a_model_it_cannot_hold(llama):
    with pytest.raises(ValueError, match="GPT-2 layout"):
        minigpt.check(llama, TEXT)


@pytest.mark.parametrize("which", [TINY, "llama"])
def test_kv_cache_grows_one_token_per_step_and_matches_the_seeds_loop(which, request):
    name = request.getfixturevalue("llama") if which == "llama" else which
    lm = models.load(name)
    steps, seed = kv_cache.kv_steps(name, "One foggy morning,", 6)
    n_prompt = len(lm.tokenizer.encode("One foggy morning,"))
    cfg = lm.model.config
    kv_heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    for s in steps:
        assert s.cache_shape == (cfg.num_hidden_layers, 2, kv_heads, n_prompt + s.n, head_dim), s
        assert s.cache_bytes == np.prod(s.cache_shape) * 4, s
    assert seed.same_tokens and seed.token_ids[:len(steps)] == [s.token_id for s in steps], (steps, seed)
    assert len(seed.ms) == len(seed.token_ids) and all(m > 0 for m in seed.ms)
    for bad, msg in ((0, "between 1 and"), (99, "between 1 and"), (2.5, "whole number"), ("x", "whole number")):
        with pytest.raises(ValueError, match=msg):
            kv_cache.kv_steps(name, "One foggy morning,", bad)
