"""Sampling, small and inspectable: the one function that picks the next token of every stream of a batch in one
pass of tensor operations, and reports how it did (the Chat tab's sampler view).

Order and rules as transformers' logits processors (RepetitionPenalty, Temperature, TopK, TopP; tests/
test_sampler_batch.py checks them against those): repetition penalty -> temperature -> top-k -> top-p -> draw.
The draw is an inverse CDF: u = draw_uniform(seed, step) picks the token where the cumulative probability of the
final distribution, in a fixed order (score descending, then id ascending), first exceeds u. A row's token is a
pure function of its scores, settings, seed and position: the same alone or in any batch.
The same numbers that sample fill the view, so the plot cannot disagree with what was drawn.
"""
import math
import threading
from dataclasses import dataclass, field

import torch

from llm_demo import config

ALIGN = 16   # compact rows are padded to a multiple of this, so exp() takes the same (vector) path in any batch
_work = threading.local()    # per thread: the [B, V] work tensors kept between calls (see _scratch)


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = 0.7      # 0 = greedy (argmax); the seed's code divides by it, we never do
    top_k: int = 50               # 0 = off
    top_p: float = 0.9            # 1 = off
    repetition_penalty: float = 1.0  # 1 = off (CTRL paper, Keskar et al. 2019)
    max_new_tokens: int = 128
    seed: int = 0
    stop: tuple[str, ...] = ()

    def __post_init__(self):
        """Checked once, where the settings enter (a request, a script): a SamplingConfig that exists is valid, so
        the chat, compare and engine code it is passed down to never check it again. Raises ValueError with a
        sentence a student understands; never clamps silently."""
        def num(x, what):
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise ValueError(f"{what} must be a number, got {x!r}.")
            if not math.isfinite(x):
                raise ValueError(f"{what} must be a finite number, got {x!r}.")
            return x
        if num(self.temperature, "Temperature") < 0:
            raise ValueError(f"Temperature must be 0 (greedy) or positive, got {self.temperature}.")
        if not 0 < num(self.top_p, "Top-p") <= 1:
            raise ValueError(f"Top-p must be in (0, 1] (1 switches it off), got {self.top_p}.")
        if num(self.top_k, "Top-k") < 0 or int(self.top_k) != self.top_k:
            raise ValueError(f"Top-k must be a whole number >= 0 (0 switches it off), got {self.top_k}.")
        if num(self.repetition_penalty, "Repetition penalty") <= 0:
            raise ValueError(f"Repetition penalty must be positive (1 switches it off), got {self.repetition_penalty}.")
        cap = config.MAX_NEW_TOKENS_CAP
        if int(num(self.max_new_tokens, "Max new tokens")) != self.max_new_tokens or not 1 <= self.max_new_tokens <= cap:
            raise ValueError(f"Max new tokens must be a whole number from 1 to {cap}, got {self.max_new_tokens}.")
        if int(num(self.seed, "Seed")) != self.seed or not 0 <= self.seed < 2**63:
            raise ValueError(f"Seed must be a whole number from 0 to 2^63-1, got {self.seed}.")
        if not all(isinstance(s, str) for s in self.stop):
            raise ValueError("Stop strings must be text.")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class StageView:
    """One filter's distribution over the inspected candidates."""
    name: str
    probs: list[float]     # probability of each candidate (same order as StepInfo.candidates)
    kept: int              # how many tokens of the whole vocabulary still have probability > 0


@dataclass
class StepInfo:
    token_id: int
    prob: float                          # probability of the chosen token in the final distribution
    candidates: list[int] = field(default_factory=list)   # top-N by raw probability (+ the chosen token)
    stages: list[StageView] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)   # each candidate's log-probability under the model (T=1)
    entropy: float = 0.0         # entropy of the model's own distribution (raw softmax, T=1), in nats
    entropy_final: float = 0.0   # entropy of the distribution the draw used (after every filter), in nats


def step_seed(seed: int, step: int) -> int:
    """The random number for answer token number `step` (0-based) of a stream seeded with `seed` (splitmix64).

    Each draw depends on (seed, step) alone instead of consuming one long random sequence, so the draw for token
    k+1 does not depend on how tokens 1..k were obtained: a stream continued after k given tokens (a branch, a
    step-mode session, a prefix replayed on another engine, another batch) draws exactly as the stream that
    generated them.
    """
    z = (int(seed) * 0x9E3779B97F4A7C15 + (int(step) + 1) * 0xBF58476D1CE4E5B9) % 2**64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
    return (z ^ (z >> 31)) >> 1                  # 63 bits (it seeded a torch.Generator, whose seeds are < 2^63)


def draw_uniform(seed: int, step: int) -> float:
    """The draw's u in [0, 1): the top 53 bits of step_seed, exactly a float64."""
    return (step_seed(seed, step) >> 10) * 2.0**-53


class NonFiniteLogits(ValueError):
    """Some rows' scores have no usable maximum (NaN, +inf, or every score -inf); `rows` says which."""
    def __init__(self, rows: list[int]):
        self.rows = rows
        which = "this token" if rows == [0] else f"rows {rows} of the batch"
        super().__init__(f"The model's scores for {which} hold NaN or infinity (or no finite score at all), so no "
                         "token can be drawn: the model's weights or its input are broken.")


def next_token(logits: torch.Tensor, input_ids: torch.Tensor, cfg: SamplingConfig, step: int = 0,
               inspect: int = 0) -> tuple[int, StepInfo]:
    """Pick the next token from one row of logits (shape [vocab]); input_ids [1, seq] feed the repetition penalty;
    `step` is the answer position the draw is seeded with (with cfg.seed). inspect=N also returns the top-N
    candidates' probabilities after each stage. The one-row case of sample_rows."""
    return sample_rows(logits.unsqueeze(0), [input_ids], [cfg], [step], [inspect])[0]


@torch.no_grad()
def sample_rows(logits: torch.Tensor, histories: list[torch.Tensor], cfgs: list[SamplingConfig],
                steps: list[int], inspect: list[int]) -> list[tuple[int, StepInfo]]:
    """The next token of every row of logits [B, vocab] (any float dtype, CPU), in one batched pass.

    Row i uses histories[i] ([1, seq] ids, for the repetition penalty), cfgs[i], the draw of (cfgs[i].seed,
    steps[i]), and inspect[i] > 0 fills its StepInfo with the sampler view of its top-inspect[i] candidates
    (rows with 0 compute no view: StepInfo(token, 0.0)). Raises NonFiniteLogits naming rows with no usable scores.
    """
    n_rows, vocab = logits.shape
    if not len(histories) == len(cfgs) == len(steps) == len(inspect) == n_rows:
        raise ValueError(f"sample_rows got {n_rows} rows of logits but {len(histories)} histories, {len(cfgs)} "
                         f"settings, {len(steps)} steps and {len(inspect)} inspect counts.")
    x = logits if logits.dtype == torch.float32 and logits.is_contiguous() else \
        _scratch("x", logits.shape).copy_(logits)                 # [B, V] the model's own scores (T = 1)
    xp = _Chunked(_penalise(x, histories, cfgs))                  # [B, V] after the repetition penalty
    top = xp.max()                                                # [B]; NaN propagates
    bad = (~torch.isfinite(top)).nonzero()[:, 0].tolist()
    if bad:
        raise NonFiniteLogits(bad)
    chosen = [0] * n_rows
    greedy = [i for i, c in enumerate(cfgs) if c.greedy]
    if greedy:   # temperature -> 0 moves all probability to the argmax (the first one on ties)
        for i, t in zip(greedy, xp.argmax(greedy).tolist()):
            chosen[i] = t
    drawn = {}                                                    # row -> (its group's _Draw, its row in it)
    narrow = [i for i, c in enumerate(cfgs) if not c.greedy and 0 < c.top_k < vocab]
    wide = [i for i, c in enumerate(cfgs) if not c.greedy and not 0 < c.top_k < vocab]
    for group in (narrow, wide):
        if not group:
            continue
        scale = _Scale(top[group], torch.tensor([cfgs[i].temperature for i in group], dtype=torch.float32))
        if group is narrow:   # temperature keeps the order: top-k on the scores, the temperature on the window
            vals, ids, n_keep = _top(xp, group, [int(cfgs[i].top_k) for i in group], scale, finite=True)
        else:                                                     # top-k off: every finite score is kept
            vals, ids = scale(xp.rows(group)).sort(dim=-1, descending=True, stable=True)
            n_keep = torch.searchsorted(-vals, torch.full((len(group), 1), math.inf))[:, 0]   # -inf sort last
        d = _draw(vals, ids, n_keep, [cfgs[i].top_p for i in group],
                  [draw_uniform(cfgs[i].seed, steps[i]) for i in group])
        d.scale = scale
        for k, i in enumerate(group):
            chosen[i] = d.chosen[k]
            drawn[i] = (d, k)
    out = [(chosen[i], StepInfo(chosen[i], 0.0)) for i in range(n_rows)]
    looked = [i for i in range(n_rows) if inspect[i] > 0]
    if looked:
        _views([out[i][1] for i in looked], looked, _Chunked(x) if xp.t is not x else xp, xp, cfgs, drawn, inspect)
    return out


class _Scale:
    """The temperature stage as a map on scores: (score - row max) / T (shifted so the max is 0: softmax is
    shift-invariant, and a tiny temperature then gives -inf, never NaN). Non-decreasing, so it keeps the order."""
    def __init__(self, top: torch.Tensor, temperature: torch.Tensor):
        self.top, self.temperature = top[:, None], temperature[:, None]             # [R, 1] each

    def __call__(self, scores: torch.Tensor) -> torch.Tensor:
        return (scores - self.top) / self.temperature


CHUNK = 64   # scores per chunk for the two-stage top-k and argmax (SmolLM2's 49,152 = 768 chunks)


class _Chunked:
    """A [B, V] score tensor with each chunk's maximum: a row's W highest scores lie in its W chunks with the
    highest maxima, so top-k and argmax read the row once (for the maxima) and then W chunks, instead of
    selecting among all V scores. Vocabularies that do not split into chunks take torch.topk/argmax whole."""
    def __init__(self, t: torch.Tensor):
        self.t = t
        n, vocab = t.shape
        self.c = CHUNK if vocab % CHUNK == 0 and vocab >= 8 * CHUNK else 0
        self.maxima = t.view(n, vocab // self.c, self.c).amax(-1) if self.c else None        # [B, V / c]

    def max(self) -> torch.Tensor:
        return self.maxima.amax(-1) if self.c else self.t.amax(-1)

    def rows(self, rows: list[int]) -> torch.Tensor:
        return _sel(self.t, rows, self.t.shape[0])

    def _chunks(self, rows: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
        """Chunks which [R, W] of rows [R]: their scores [R, W * c]."""
        n_chunks = self.t.shape[1] // self.c
        flat = (rows[:, None] * n_chunks + which).reshape(-1)
        return self.t.view(-1, self.c).index_select(0, flat).view(len(rows), -1)

    def argmax(self, rows: list[int]) -> torch.Tensor:
        """The first id holding each row's maximum (as torch.argmax): the first chunk holding it, then within."""
        if not self.c:
            return self.rows(rows).argmax(-1)
        r = torch.tensor(rows)
        which = _sel(self.maxima, rows, len(self.maxima)).argmax(-1)[:, None]        # [R, 1]
        return which[:, 0] * self.c + self._chunks(r, which).argmax(-1)

    def window(self, rows: list[int], width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows' `width` highest scores, descending (ties at the edge in any order), and their ids [R, width]:
        no score outside a row's window is above any score inside it."""
        if not self.c or width * self.c >= self.t.shape[1]:
            return self.rows(rows).topk(width, -1)
        r = torch.tensor(rows)
        which = _sel(self.maxima, rows, len(self.maxima)).topk(width, -1).indices   # [R, width] chunk numbers
        vals, at = self._chunks(r, which).topk(width, -1)
        return vals, which.gather(1, at // self.c) * self.c + at % self.c


def _sel(t: torch.Tensor, rows: list[int], n: int) -> torch.Tensor:
    """t's rows `rows` (t itself when that is all n rows in order: no copy)."""
    return t if rows == list(range(n)) else t.index_select(0, torch.tensor(rows))


def _penalise(x: torch.Tensor, histories: list[torch.Tensor], cfgs: list[SamplingConfig]) -> torch.Tensor:
    """The CTRL repetition penalty (transformers' RepetitionPenaltyLogitsProcessor): each token of the row's
    history has its score divided by the penalty if positive, multiplied if negative. x itself when no row has one."""
    vocab = x.shape[1]
    rows, hist = [], []
    for i, c in enumerate(cfgs):
        if c.repetition_penalty == 1.0:
            continue
        h = histories[i].reshape(-1)
        h = h[(h >= 0) & (h < vocab)]               # ids past the output layer cannot be generated: no penalty
        if len(h):
            rows.append(i)
            hist.append(h)
    if not rows:
        return x
    width = max(len(h) for h in hist)                # pad with the row's own first id: it is penalised once anyway
    idx = torch.stack([torch.cat([h, h[:1].expand(width - len(h))]) for h in hist])          # [P, L]
    flat = (torch.tensor(rows)[:, None] * vocab + idx).reshape(-1)
    pen = torch.tensor([cfgs[i].repetition_penalty for i in rows], dtype=torch.float32)[:, None]
    score = x.view(-1).index_select(0, flat).view(len(rows), width)
    score = torch.where(score < 0, score * pen, score / pen)
    xp = _scratch("xp", x.shape).copy_(x)
    return xp.view(-1).index_copy_(0, flat, score.reshape(-1)).view(x.shape)   # repeated ids carry equal values


def _top(scores: _Chunked, rows: list[int], ks: list[int], f=None, finite: bool = False):
    """For rows `rows`, each one's ks[r] highest scores (after f, a non-decreasing map) with every tie of the
    ks[r]-th one (transformers' top-k rule), in the fixed order (score descending, id ascending): vals, ids [R, W],
    and n [R], how many of them are >= the ks[r]-th (and finite, if `finite`). W > every n, so the window holds
    every tie of the cut; entries past n follow in the same order."""
    vocab = scores.t.shape[1]
    cut = torch.tensor(ks)[:, None] - 1
    width = min(max(ks) + 1, vocab)
    while True:
        vals, ids = scores.window(rows, width)
        if f is not None:
            vals = f(vals)
        keep = vals >= vals.gather(1, cut)
        n = (keep & torch.isfinite(vals)).sum(-1) if finite else keep.sum(-1)
        if width == vocab or int(n.max()) < width:   # some score in every window is out: none outside is in
            break
        width = min(4 * width, vocab)
    ids, order = ids.sort(dim=-1, stable=True)     # topk orders ties as it likes: fix the order
    vals, order = vals.gather(1, order).sort(dim=-1, descending=True, stable=True)
    return vals, ids.gather(1, order), n


@dataclass
class _Draw:
    """One group's compact record: the kept scores in the fixed order and what the draw made of them."""
    vals: torch.Tensor      # [R, W] float32 scores after temperature (max 0), -inf past the kept ones
    ids: torch.Tensor       # [R, W] their vocabulary ids
    n_keep: torch.Tensor    # [R] kept by top-k
    n_final: torch.Tensor   # [R] kept by top-p too (a prefix of the fixed order)
    e: torch.Tensor         # [R, W] float64 exp(vals): unnormalised probabilities
    cum: torch.Tensor       # [R, W] float64 their running sums
    chosen: list[int]
    pos: torch.Tensor       # [R] the chosen token's place in the order
    scale: _Scale | None = None   # the group's temperature stage


def _draw(vals: torch.Tensor, ids: torch.Tensor, n_keep: torch.Tensor, top_p: list[float], u: list[float]) -> _Draw:
    """Top-p and the inverse-CDF draw on compact rows (the kept scores, descending). Running sums are sequential,
    so a row's numbers do not depend on the other rows or on its padding."""
    n, width = vals.shape
    pad = -width % ALIGN
    if pad:
        vals = torch.cat([vals, vals.new_full((n, pad), -math.inf)], 1)
        ids = torch.cat([ids, ids.new_zeros((n, pad))], 1)
    e = vals.double().exp()                                       # the first is exp(0) = 1; -inf gives 0
    cum = e.cumsum(-1)
    at = torch.arange(vals.shape[1])
    z_keep = cum.gather(1, n_keep[:, None] - 1)                   # [R, 1]
    before = torch.cat([cum.new_zeros((n, 1)), cum[:, :-1]], 1)   # mass strictly before each token
    p = torch.tensor(top_p, dtype=torch.float64)[:, None]
    # top-p keeps the smallest prefix reaching p (a token stays while the mass before it is < p); p = 1 is off
    keep = (at < n_keep[:, None]) & ((before < p * z_keep) | (p >= 1))
    n_final = keep.sum(-1)
    z_final = cum.gather(1, n_final[:, None] - 1)                 # [R, 1]
    target = torch.tensor(u, dtype=torch.float64)[:, None] * z_final
    pos = torch.minimum(torch.searchsorted(cum, target, right=True)[:, 0], n_final - 1)
    chosen = ids.gather(1, pos[:, None])[:, 0].tolist()
    return _Draw(vals, ids, n_keep, n_final, e, cum, chosen, pos)


def _views(infos: list[StepInfo], looked: list[int], x: _Chunked, xp: _Chunked, cfgs: list[SamplingConfig],
           drawn: dict, inspect: list[int]) -> None:
    """Fill the sampler view of rows `looked`: the top-inspect candidates by raw probability (and the chosen token),
    each one's probability after every stage and under the model, how many tokens each stage kept, both entropies.

    Whole-vocabulary work is a few passes per stage for the looked rows together (its log-normaliser, its finite
    count, the raw entropy); the filtered stages and the final entropy come from the draw's compact record."""
    n_rows, vocab = x.t.shape
    top = _sel(x.max(), looked, n_rows)
    shifted = torch.sub(x.rows(looked), top[:, None], out=_scratch("shifted", (len(looked), vocab)))   # max 0
    lo = shifted.amin(-1)
    e = torch.exp(shifted, out=_scratch("e", shifted.shape))
    z = e.sum(-1).double()
    log_z, finite = top.double() + z.log(), _n_finite(shifted, lo)
    entropy = (z.log() - e.mul_(shifted).nansum(-1).double() / z).tolist()     # -inf * 0 = NaN: nansum drops it
    top_ids = _top(x, looked, [min(inspect[i], vocab) for i in looked])[1]
    cands = []
    for r, (info, i) in enumerate(zip(infos, looked)):
        c = top_ids[r, :inspect[i]].tolist()
        cands.append(c + ([info.token_id] if info.token_id not in c else []))
        info.candidates = cands[-1]
    width = max(map(len, cands))
    idx = torch.tensor([c + c[:1] * (width - len(c)) for c in cands])                      # [L, C]
    logp = (shifted.gather(1, idx).double() - (log_z - top.double())[:, None]).tolist()
    stages = {i: [StageView("raw softmax (T=1)", [math.exp(v) for v in lp[:len(c)]], k)]
              for i, lp, c, k in zip(looked, logp, cands, finite.tolist())}
    for r, (info, i) in enumerate(zip(infos, looked)):
        info.logprobs = logp[r][:len(cands[r])]
        info.entropy = float(entropy[r])
    pen = [r for r, i in enumerate(looked) if cfgs[i].repetition_penalty != 1.0]
    if pen:
        p_top = _sel(xp.max(), [looked[r] for r in pen], n_rows)
        xr = torch.sub(xp.rows([looked[r] for r in pen]), p_top[:, None], out=_scratch("e", (len(pen), vocab)))
        xr_c = xr.gather(1, idx[pen]).double()
        log_z_p, fin = _whole(xr)
        probs = (xr_c - log_z_p[:, None]).exp().tolist()
        for r, pr, k in zip(pen, probs, fin.tolist()):
            stages[looked[r]].append(StageView("after repetition penalty", pr[:len(cands[r])], k))
    for r, (info, i) in enumerate(zip(infos, looked)):
        if cfgs[i].greedy:      # all the probability on the chosen token from the temperature stage on
            one = [float(t == info.token_id) for t in cands[r]]
            stages[i] += [StageView(name, one, 1) for name in ("after temperature", "after top-k", "after top-p")]
            info.prob, info.entropy_final = 1.0, 0.0
    groups = {}
    for r, i in enumerate(looked):
        if i in drawn:
            groups.setdefault(id(drawn[i][0]), (drawn[i][0], []))[1].append(r)
    for d, rs in groups.values():
        ks = torch.tensor([drawn[looked[r]][1] for r in rs])
        temp = d.scale.temperature[ks]
        if any(cfgs[looked[r]].repetition_penalty != 1.0 for r in rs):
            y = torch.sub(xp.rows([looked[r] for r in rs]), d.scale.top[ks], out=_scratch("e", (len(rs), vocab)))
            y, y_lo = y.div_(temp), None
        else:                   # no penalty: the temperature divides the raw shifted scores (min / T is y's min)
            y_lo = lo[rs] / temp[:, 0]
            y = torch.div(_sel(shifted, rs, len(looked)), temp, out=_scratch("e", (len(rs), vocab)))
        _compact_view(d, ks, y, y_lo, idx[rs], [infos[r] for r in rs], [stages[looked[r]] for r in rs])
    for info, i in zip(infos, looked):
        info.stages = stages[i]


def _compact_view(d: _Draw, ks: torch.Tensor, y: torch.Tensor, y_lo: torch.Tensor | None, idx: torch.Tensor,
                  infos: list[StepInfo], stages: list[list]) -> None:
    """The temperature, top-k and top-p stages of rows ks of group d, whose scores after temperature are y [R, V]
    (max 0; y_lo their minima if known), for candidates idx [R, C]."""
    y_c = y.gather(1, idx).double()                                    # [R, C]
    lz_t, fin_t = _whole(y, y_lo)
    vals, ids, cum = d.vals[ks].double(), d.ids[ks], d.cum[ks]
    n_keep, n_final = d.n_keep[ks], d.n_final[ks]
    at_k, at_f = (n_keep - 1)[:, None], (n_final - 1)[:, None]
    z_k, z_f = cum.gather(1, at_k), cum.gather(1, at_f)                # [R, 1]
    in_k = torch.isfinite(y_c) & (y_c >= vals.gather(1, at_k))         # top-k keeps every score >= its last
    v_f, id_f = vals.gather(1, at_f), ids.gather(1, at_f)
    in_f = (y_c > v_f) | ((y_c == v_f) & (idx <= id_f))                # top-p keeps a prefix of the fixed order
    p_t = (y_c - lz_t[:, None]).exp()
    p_k = torch.where(in_k, (y_c - z_k.log()).exp(), 0.0)
    p_f = torch.where(in_f, (y_c - z_f.log()).exp(), 0.0)
    e = d.e[ks]
    keep = torch.arange(e.shape[1]) < n_final[:, None]
    s_f = torch.where(keep & (e > 0), e * vals, 0.0).sum(-1, keepdim=True)
    h_f = (z_f.log() - s_f / z_f)[:, 0].tolist()
    prob = (e.gather(1, d.pos[ks][:, None]) / z_f)[:, 0].tolist()
    for r, info in enumerate(infos):
        c = len(info.candidates)
        stages[r] += [StageView("after temperature", p_t[r, :c].tolist(), int(fin_t[r])),
                      StageView("after top-k", p_k[r, :c].tolist(), int(n_keep[r])),
                      StageView("after top-p", p_f[r, :c].tolist(), int(n_final[r]))]
        info.prob, info.entropy_final = prob[r], h_f[r]


def _whole(shifted: torch.Tensor, lo: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One stage over the whole vocabulary, rows of shifted [R, V] (scores less each row's max, so the max is 0):
    the log-sum-exp of shifted [R] (float64) and how many scores are finite [R] (lo: the rows' minima, if known).
    Overwrites shifted with its exp. Reductions only: on this CPU a comparison over the vocabulary costs about
    ten of them."""
    finite = _n_finite(shifted, lo)
    return shifted.exp_().sum(-1).double().log(), finite


def _n_finite(t: torch.Tensor, lo: torch.Tensor | None = None) -> torch.Tensor:
    """How many scores of each row of t [R, V] are finite, given that none is NaN or +inf (sample_rows checks);
    lo: the rows' minima, if known."""
    lo = t.amin(-1) if lo is None else lo
    n = torch.full((t.shape[0],), t.shape[1])
    for r in (lo == -math.inf).nonzero()[:, 0].tolist():                 # rows holding a -inf: count them
        n[r] = int((t[r] > -math.inf).sum())
    return n


def _scratch(slot: str, shape) -> torch.Tensor:
    """A float32 work tensor of `shape` that this thread keeps between calls (its contents are garbage): fresh
    memory costs a page fault per 4 KB on first write, measured here as much as the arithmetic on it. The slots
    "x", "xp", "shifted" hold a call's [B, V] scores; "e" is reused stage after stage of the view."""
    n = math.prod(shape)
    buf = getattr(_work, slot, None)
    if buf is None or buf.numel() < n:
        with torch.inference_mode(False):      # a normal tensor: written in and out of inference mode alike
            buf = torch.empty(n)
        setattr(_work, slot, buf)
    return buf[:n].view(shape)
