"""The batch sampler (sampling.sample_rows): every row draws what it draws alone, the draw follows the final
distribution, the filters keep what transformers' processors keep, and the sampler view shows the numbers the
previous per-row implementation showed (llm_demo/bench/sampler.py keeps it as legacy_next_token)."""
import math
import random
import threading

import pytest
import torch

from llm_demo.bench.sampler import legacy_next_token
from llm_demo.sampling import NonFiniteLogits, SamplingConfig, _Chunked, next_token, sample_rows

VOCAB = 3072     # 48 chunks of 64: the two-stage top-k; 1000 (no chunks) takes torch.topk whole


def mixed_settings(n: int, rng: random.Random) -> list[SamplingConfig]:
    """n settings drawn from everything a row may ask: greedy, top-k on/off/1/above the vocabulary, top-p
    on/off/tiny, penalties above and below 1, tiny and large temperatures."""
    out = []
    for i in range(n):
        out.append(SamplingConfig(
            temperature=rng.choice([0, 0, 0.7, 1.0, 1.3, 0.05, 1e-6]),
            top_k=rng.choice([0, 1, 5, 50, 50, VOCAB, VOCAB + 7]),
            top_p=rng.choice([1.0, 0.9, 0.9, 0.5, 0.01]),
            repetition_penalty=rng.choice([1.0, 1.0, 1.3, 0.8]),
            seed=rng.randrange(2**63)))
    return out


def rows(n: int, seed: int = 0, vocab: int = VOCAB, bf16: bool = False):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, vocab, generator=g) * 3
    if bf16:                 # a bf16 model's scores: many exact ties
        logits = logits.bfloat16()
    hist = [torch.randint(0, vocab, (1, int(torch.randint(1, 40, (1,), generator=g))), generator=g)
            for _ in range(n)]
    return logits, hist


def assert_same_info(a, b, what):
    assert a.token_id == b.token_id, f"{what}: token {a.token_id} != {b.token_id}"
    assert a.candidates == b.candidates, f"{what}: candidates differ"
    assert [(s.name, s.kept) for s in a.stages] == [(s.name, s.kept) for s in b.stages], f"{what}: stages differ"
    for sa, sb in zip(a.stages, b.stages):
        assert sa.probs == pytest.approx(sb.probs, rel=1e-12, abs=1e-15), f"{what}: {sa.name} probs differ"
    for f in ("prob", "entropy", "entropy_final"):
        assert getattr(a, f) == pytest.approx(getattr(b, f), rel=1e-12, abs=1e-15), f"{what}: {f} differs"
    assert a.logprobs == pytest.approx(b.logprobs, rel=1e-12, abs=1e-15), f"{what}: logprobs differ"


@pytest.mark.parametrize("n", [1, 8, 32])
@pytest.mark.parametrize("bf16,vocab", [(False, VOCAB), (True, VOCAB), (True, 1000)])
def test_batched_rows_draw_and_show_what_each_row_does_alone(n, bf16, vocab):
    rng = random.Random(n * 2 + bf16)
    logits, hist = rows(n, seed=n, bf16=bf16, vocab=vocab)
    cfgs = mixed_settings(n, rng)
    steps = [rng.randrange(500) for _ in range(n)]
    inspect = [rng.choice([0, 5, 10, 12]) for _ in range(n)]
    batched = sample_rows(logits, hist, cfgs, steps, inspect)
    for i in range(n):
        tok, info = next_token(logits[i], hist[i], cfgs[i], steps[i], inspect[i])
        assert batched[i][0] == tok, f"row {i} of {n} ({cfgs[i]}): batched drew {batched[i][0]}, alone {tok}"
        assert_same_info(batched[i][1], info, f"row {i} of {n}")
        if not inspect[i]:
            assert info.stages == [] and info.candidates == [], "a row with inspect=0 must compute no view"
    order = list(range(n))
    rng.shuffle(order)                          # another batch composition: the same rows in another order
    shuffled = sample_rows(logits[order], [hist[i] for i in order], [cfgs[i] for i in order],
                           [steps[i] for i in order], [inspect[i] for i in order])
    for k, i in enumerate(order):
        assert shuffled[k][0] == batched[i][0], f"row {i} drew differently at place {k} of a shuffled batch"


def test_the_draw_is_a_function_of_seed_and_position():
    logits, hist = rows(1, seed=3)
    cfg = SamplingConfig(temperature=1.5, top_k=0, top_p=1.0, seed=11)
    draws = [next_token(logits[0], hist[0], cfg, step)[0] for step in range(40)]
    again = [next_token(logits[0], hist[0], cfg, step)[0] for step in range(40)]
    assert draws == again, "the same (seed, step) must draw the same token"
    assert len(set(draws)) > 20, f"40 positions of a flat distribution drew only {len(set(draws))} distinct tokens"
    other = [next_token(logits[0], hist[0], SamplingConfig(temperature=1.5, top_k=0, top_p=1.0, seed=12), s)[0]
             for s in range(40)]
    assert other != draws, "another seed must draw other tokens"


def reference_info(logits, hist, cfg, inspect, token):
    return legacy_next_token(logits, hist, cfg, None, inspect, force=None if cfg.greedy else token)[1]


@pytest.mark.parametrize("seed", range(4))
def test_view_shows_the_previous_implementations_numbers(seed):
    """Same scores, settings and chosen token: the legacy view (transformers' processors, full-vocabulary
    tensors) and the compact one agree on every field (float32 against float64 arithmetic: to ~1e-6)."""
    rng = random.Random(100 + seed)
    n = 24
    logits, hist = rows(n, seed=100 + seed)
    cfgs = mixed_settings(n, rng)
    inspect = [rng.choice([1, 5, 10, 12]) for _ in range(n)]
    got = sample_rows(logits, hist, cfgs, list(range(n)), inspect)
    for i, (tok, info) in enumerate(got):
        ref = reference_info(logits[i], hist[i], cfgs[i], inspect[i], tok)
        what = f"row {i} ({cfgs[i]})"
        assert ref.token_id == tok, f"{what}: greedy picked {tok}, the legacy argmax {ref.token_id}"
        final_ref = ref.stages[-1].probs[ref.candidates.index(tok)]
        assert final_ref > 0 and ref.prob > 0, f"{what}: drew {tok}, which the legacy filters removed"
        assert info.candidates == ref.candidates, f"{what}: candidates {info.candidates} != {ref.candidates}"
        assert [(s.name, s.kept) for s in info.stages] == [(s.name, s.kept) for s in ref.stages], \
            f"{what}: stages/kept {[(s.name, s.kept) for s in info.stages]} != {[(s.name, s.kept) for s in ref.stages]}"
        for a, b in zip(info.stages, ref.stages):
            assert a.probs == pytest.approx(b.probs, abs=2e-6, rel=1e-5), f"{what}: {a.name}"
        assert info.prob == pytest.approx(ref.prob, abs=2e-6, rel=1e-5), f"{what}: prob"
        assert info.logprobs == pytest.approx(ref.logprobs, abs=5e-6, rel=1e-6), f"{what}: logprobs"
        assert info.entropy == pytest.approx(ref.entropy, abs=5e-6), f"{what}: entropy"
        assert info.entropy_final == pytest.approx(ref.entropy_final, abs=5e-6), f"{what}: entropy_final"


def test_view_with_the_chats_vocabulary_matches_too():
    """SmolLM2's vocabulary size and the Chat tab's defaults (inspect=10). Over 49,152 scores the legacy float32
    entropy is itself off by a few 1e-6 nats: both are held to a float64 computation too."""
    logits, hist = rows(4, seed=7, vocab=49152)
    cfgs = [SamplingConfig(seed=s) for s in range(3)] + [SamplingConfig(repetition_penalty=1.2, top_k=0)]
    for i, (tok, info) in enumerate(sample_rows(logits, hist, cfgs, [5] * 4, [10] * 4)):
        ref = reference_info(logits[i], hist[i], cfgs[i], 10, tok)
        assert info.candidates == ref.candidates and [s.kept for s in info.stages] == [s.kept for s in ref.stages]
        for a, b in zip(info.stages, ref.stages):
            assert a.probs == pytest.approx(b.probs, abs=2e-6, rel=1e-5), a.name
        assert (info.entropy, info.entropy_final, info.prob) == pytest.approx(
            (ref.entropy, ref.entropy_final, ref.prob), abs=2e-5)
        logp = torch.log_softmax(logits[i].double(), -1)
        exact = float(-(logp.exp() * logp).sum())
        assert abs(info.entropy - exact) < 1e-6, f"entropy {info.entropy} vs float64 {exact}"


def chi_square(counts: list[int], probs: list[float]) -> float:
    total = sum(counts)
    return sum((c - total * p) ** 2 / (total * p) for c, p in zip(counts, probs))


def test_draws_follow_the_final_distribution():
    """20,000 draws over a 6-token vocabulary (T 0.8, top-k 5, top-p 0.95: tokens 4 and 5 filtered out) against
    the expected final probabilities. Chi-square with 3 degrees of freedom: 30 is exceeded by chance with
    probability ~1e-6; the same draws scored against a distribution 10% flatter land far above it, so the bound
    tells a right draw from a slightly wrong one."""
    logits = torch.tensor([2.0, 1.5, 1.0, 0.2, -1.0, -3.0])
    cfg = dict(temperature=0.8, top_k=5, top_p=0.95)
    p = torch.softmax(logits / 0.8, -1)
    keep = 1 + int((p.cumsum(0)[:-1] < 0.95).sum())            # the smallest prefix reaching 0.95
    assert keep == 4, "the test's own settings should leave 4 tokens"
    final = (p[:keep] / p[:keep].sum()).tolist()
    n, counts = 20_000, [0] * 6
    for start in range(0, n, 2000):
        cfgs = [SamplingConfig(seed=start + i, **cfg) for i in range(2000)]
        for tok, _ in sample_rows(logits.expand(2000, -1), [torch.tensor([[0]])] * 2000, cfgs,
                                  [7] * 2000, [0] * 2000):
            counts[tok] += 1
    assert counts[4] == counts[5] == 0, f"filtered tokens were drawn: {counts}"
    stat = chi_square(counts[:keep], final)
    assert stat < 30, f"draws {counts} do not follow {final}: chi-square {stat:.1f}"
    assert chi_square(counts[:keep], (p[:keep] / p[:keep].sum() * 0.9 + 0.025).tolist()) > 30, \
        "the test cannot tell a 10% flattened distribution from the right one"


def test_ties_at_the_top_k_cut_are_all_kept_and_drawn_in_a_fixed_order():
    logits = torch.tensor([3.0, 2.0, 2.0, 2.0, 1.0, 0.0] + [-5.0] * 10)
    for p in (1.0, 0.999):
        cfg = SamplingConfig(temperature=1.0, top_k=2, top_p=p, seed=1)
        ref = legacy_next_token(logits, torch.tensor([[0]]), cfg, torch.Generator().manual_seed(0), 16)[1]
        tok, info = next_token(logits, torch.tensor([[0]]), cfg, 0, 16)
        assert [s.kept for s in info.stages] == [s.kept for s in ref.stages], f"p={p}"
        assert info.stages[3].kept == 4, "top-k 2 with three tied second scores keeps 4 tokens (transformers' rule)"
    drawn = {next_token(logits, torch.tensor([[0]]), SamplingConfig(temperature=1.0, top_k=2, top_p=1.0, seed=s), 0)[0]
             for s in range(300)}
    assert drawn == {0, 1, 2, 3}, f"every kept tie can be drawn and nothing else: {drawn}"


@pytest.mark.parametrize("vocab", [400, 512])
def test_edge_settings(vocab):
    logits, hist = rows(1, seed=5, vocab=vocab)
    x, h = logits[0], hist[0]
    top = int(x.argmax())
    for s in range(20):           # k = 1, a tiny temperature, a tiny top-p: always the argmax
        for cfg in (SamplingConfig(top_k=1, seed=s), SamplingConfig(temperature=1e-6, top_k=0, top_p=1.0, seed=s),
                    SamplingConfig(temperature=1e-30, seed=s), SamplingConfig(top_k=0, top_p=1e-9, seed=s)):
            tok, info = next_token(x, h, cfg, s, 5)
            assert tok == top and info.prob == pytest.approx(1.0), f"{cfg} drew {tok}, not the argmax {top}"
            assert all(math.isfinite(v) for st in info.stages for v in st.probs), f"{cfg}: NaN in the view"
            assert math.isfinite(info.entropy_final), cfg
    for s in range(10):           # k >= vocabulary is top-k off
        a = next_token(x, h, SamplingConfig(top_k=0, seed=s), s, 5)
        for k in (vocab, vocab + 1, 10**6):
            b = next_token(x, h, SamplingConfig(top_k=k, seed=s), s, 5)
            assert a[0] == b[0] and a[1].stages == b[1].stages, f"top_k={k} differs from top_k=0"
    p1 = next_token(x, h, SamplingConfig(top_k=30, top_p=1.0), 0, 5)[1]
    assert p1.stages[-1].kept == p1.stages[-2].kept == 30, "top-p = 1 keeps what top-k kept"


def test_minus_infinity_scores_are_never_drawn():
    logits = torch.full((50,), -math.inf)
    logits[[3, 17, 40]] = torch.tensor([0.5, 0.1, -0.2])
    seen = set()
    for s in range(200):
        for cfg in (SamplingConfig(top_k=0, top_p=1.0, temperature=2.0, seed=s),
                    SamplingConfig(top_k=10, top_p=1.0, temperature=2.0, seed=s)):
            tok, info = next_token(logits, torch.tensor([[3, 3]]), cfg, s, 4)
            seen.add(tok)
            assert [st.kept for st in info.stages][-2:] == [3, 3], "only the 3 finite scores are in play"
    assert seen == {3, 17, 40}, seen


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_rows_without_usable_scores_are_named(bad):
    logits = torch.randn(3, 20)
    logits[1, 4] = bad
    logits[2] = -math.inf
    cfgs = [SamplingConfig(), SamplingConfig(temperature=0), SamplingConfig()]
    with pytest.raises(NonFiniteLogits) as err:
        sample_rows(logits, [torch.tensor([[0]])] * 3, cfgs, [0] * 3, [0] * 3)
    assert err.value.rows == [1, 2], err.value.rows


def test_mismatched_arguments_are_refused():
    with pytest.raises(ValueError, match="2 rows of logits but 1 histories"):
        sample_rows(torch.randn(2, 10), [torch.tensor([[0]])], [SamplingConfig()] * 2, [0, 0], [0, 0])


@pytest.mark.parametrize("bf16", [False, True])
def test_two_stage_window_and_argmax_agree_with_torch(bf16):
    """_Chunked (the chunk maxima pick the chunks that must hold a row's top scores): its window holds a valid
    top-W (nothing outside above anything inside) and its argmax is torch's (the first of tied maxima)."""
    logits = rows(16, seed=9, vocab=4096, bf16=bf16)[0].float()
    logits[3, 100:200] = 9.0                      # one tie of 100 at the top, across chunks
    ch = _Chunked(logits)
    assert ch.c, "4,096 scores should split into chunks"
    assert ch.argmax(list(range(16))).tolist() == logits.argmax(-1).tolist()
    for width in (1, 7, 51, 300):
        vals, ids = ch.window(list(range(16)), width)
        assert torch.equal(logits.gather(1, ids), vals), "window ids and scores disagree"
        assert (vals[:, :-1] >= vals[:, 1:]).all(), "window not descending"
        outside = logits.scatter(1, ids, -math.inf)
        assert (outside.amax(-1) <= vals[:, -1]).all(), f"width {width}: a score outside the window is above it"
        assert torch.equal(vals, logits.topk(width, -1).values), f"width {width}: not the top scores"


def test_work_tensors_serve_calls_in_and_out_of_inference_mode():
    """The per-thread work tensors are kept between calls: in a new thread (so they are made fresh, under
    torch.inference_mode()), a call in inference mode, then one outside it, then one with gradients on share them
    without error and agree."""
    logits, hist = rows(4, seed=21, bf16=True)
    cfgs = [SamplingConfig(seed=i, repetition_penalty=1.2) for i in range(4)]
    got = []

    def run():
        try:
            with torch.inference_mode():
                got.append(sample_rows(logits, hist, cfgs, [1] * 4, [5] * 4))
            got.append(sample_rows(logits, hist, cfgs, [1] * 4, [5] * 4))
            got.append(sample_rows(logits.float().requires_grad_(), hist, cfgs, [1] * 4, [5] * 4))
        except Exception as exc:  # noqa: BLE001 - reported below
            got.append(exc)
    t = threading.Thread(target=run)
    t.start()
    t.join(60)
    assert len(got) == 3 and not any(isinstance(g, Exception) for g in got), got
    assert got[0] == got[1] == got[2], "the same call gave different results in and out of inference mode"
