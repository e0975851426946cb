"""Scaling laws as pure functions: compute-optimal (N, D) for a FLOP budget, predicted loss, parameter counts.

Training compute is C = 6·N·D FLOPs throughout (N parameters, D tokens; Kaplan et al. 2020 Sec. 2.1).
Scripting: `from llm_demo.scaling import compute_optimal, predicted_loss, count_params` (see docs/api.md).
"""
import math
from dataclasses import dataclass, field

import numpy as np

MAX_FLOPS = 1e35  # beyond this a "budget" is a typo, not a plan (all compute ever spent is far below)
MIN_FLOPS = 1e9   # below this no law here says anything: the published ones were fitted on 6e18-3e21 FLOPs runs, our
                  # own tinygpt-measured on 2e10-2e11 (it answers only there)
MAX_PARAMS = 1e15  # a model size the planner accepts; every law's optimal budget for it stays below MAX_FLOPS
MIN_PARAMS = 1e5  # smaller than any language model worth planning (our tinygpt has 2.6M); budgets stay >= MIN_FLOPS
MIN_MFU = 0.01  # reported training runs reach about 0.3-0.6 MFU; below 1% is a typo, not a plan
# The architecture calculator's bounds, per field: far past any real model, before the numbers stop meaning anything.
ARCH_MAX = {"vocab_size": 10_000_000, "d_model": 1_000_000, "n_layers": 100_000, "context_length": 100_000_000,
            "n_heads": 100_000, "d_ff": 10_000_000}
PF_DAY = 8.64e19  # FLOPs in one petaflop/s-day, Kaplan et al. 2020's compute unit
SEED_TOKENS_PER_PARAM = 20  # the seed: "roughly 20N tokens" (Hoffmann et al. 2022's Approaches 1-2 give ~20)

# Peak dense (no sparsity) tensor-core TFLOP/s from NVIDIA's datasheets: BF16 for A100/H100/H200/L4
# (H100 and H200 are the SXM parts, same compute), FP16 for the T4, which has no BF16.
GPU_PEAK_TFLOPS = {"A100": 312.0, "H100": 989.0, "H200": 989.0, "L4": 121.0, "T4": 65.0}
# GPT-2 small, the seed's MiniGPT configuration: Radford et al. 2019, Table 2 (12 layers, d_model 768) and sec. 2.3
# (vocabulary 50,257, context 1,024); 12 heads as in the released model's config.
GPT2_SMALL = dict(vocab_size=50257, d_model=768, n_layers=12, n_heads=12, context_length=1024)


def sci(x: float) -> str:
    """3.5e23 -> '3.5e23', 1e5 -> '1e5', 1e-5 -> '1e-5' (Python's format writes 3.5e+23, 1e+05, 1e-05)."""
    return f"{x:.3g}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")


# ---------------------------------------------------------------- input checks (the API and the UI share them)
_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}  # 7B, 124M, 1.5T


def parse_number(value, what: str, allow_zero: bool = False) -> float:
    """'1e21', '3.5e23', '7B', '124M', 1_000 or 2.5 -> float; ValueError with a sentence for anything else."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{what} is missing: type a number.")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip().replace(",", "").replace("_", "").replace(" ", "")
        if not text:
            raise ValueError(f"{what} is missing: type a number.")
        scale = _SUFFIX.get(text[-1].lower())
        try:
            number = float(text[:-1] if scale else text) * (scale or 1.0)
        except ValueError:
            raise ValueError(f"{what} {str(value)!r} is not a number: write it like 1e21, 3.5e23 or 7B.") from None
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"{what} must be a finite number, not {number}.")
    if number < 0 or (number == 0 and not allow_zero):
        raise ValueError(f"{what} must be {'zero or more' if allow_zero else 'greater than zero'} (got {number:g}).")
    return number


def check_budget(compute_flops) -> float:
    text = compute_flops.strip() if isinstance(compute_flops, str) else ""
    if text and text[-1].lower() in _SUFFIX:
        raise ValueError(f"{text[:40]!r} ends in {text[-1]!r}, a model-size suffix ({text[-1].upper()} = "
                         f"{sci(_SUFFIX[text[-1].lower()])}), not a FLOP count: write a compute budget with an "
                         "exponent, like 1e21, or plan from the model size N instead.")
    c = parse_number(compute_flops, "The compute budget")
    return _budget_in_range(c, "The compute budget", "check the exponent")


def _budget_in_range(c: float, what: str, fix: str) -> float:
    if c > MAX_FLOPS:
        raise ValueError(f"{what} of {sci(c)} FLOPs is beyond {sci(MAX_FLOPS)} FLOPs, the most this planner accepts "
                         f"(the largest training runs so far are around 1e26): {fix}.")
    if c < MIN_FLOPS:
        raise ValueError(f"{what} of {sci(c)} FLOPs is below {sci(MIN_FLOPS)} FLOPs, the least this planner accepts "
                         f"(a laptop computes that in a fraction of a second; the published laws were fitted on runs of "
                         f"6e18 FLOPs and more, our own measured one on 2e10 and more): {fix}.")
    return c


def check_mfu(mfu) -> float:
    try:
        m = float(mfu)
    except (TypeError, ValueError):
        m = math.nan
    if not 0 < m <= 1:  # NaN fails this too
        raise ValueError(f"MFU (model FLOPs utilisation) is a fraction in (0, 1], e.g. 0.4 for 40%; got {mfu}.")
    if m < MIN_MFU:
        raise ValueError(f"An MFU of {m:.3g} means {m:.1e} of the GPUs' peak is used: real training runs reach "
                         f"about 0.3-0.6 (MFU is a fraction in (0, 1]); the planner accepts {MIN_MFU} and up.")
    return m


def peak_flops(gpu: str, custom_tflops=None) -> float:
    """Peak FLOP/s of one GPU: a datasheet entry of GPU_PEAK_TFLOPS, or 'custom' with custom_tflops."""
    if gpu == "custom":
        return parse_number(custom_tflops, "The custom GPU's peak TFLOP/s") * 1e12
    if gpu not in GPU_PEAK_TFLOPS:
        raise ValueError(f"Unknown GPU {gpu!r}: choose one of {', '.join(GPU_PEAK_TFLOPS)} or 'custom'.")
    return GPU_PEAK_TFLOPS[gpu] * 1e12


# ---------------------------------------------------------------- the laws
@dataclass(frozen=True)
class PowerLaw:
    """N_opt = k·C^b (a straight line on log-log axes); D_opt = C / (6·N_opt)."""
    name: str
    k: float
    b: float
    citation: str
    note: str = ""
    has_loss = False

    def optimum(self, c):
        n = self.k * c ** self.b
        return n, c / (6 * n)

    def compute_for(self, n):
        """The budget whose optimum is a model of n parameters (inverse of optimum)."""
        return (n / self.k) ** (1 / self.b)


@dataclass(frozen=True)
class ParametricLaw:
    """L(N, D) = E + A/N^α + B/D^β; minimised under 6ND = C in closed form (Hoffmann et al. 2022 eq. 4)."""
    name: str
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    citation: str
    note: str = ""
    has_loss = True

    def loss(self, n, d):
        return self.E + self.A / n ** self.alpha + self.B / d ** self.beta

    @property
    def G(self) -> float:
        return (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))

    @property
    def b(self) -> float:  # N_opt ∝ C^b
        return self.beta / (self.alpha + self.beta)

    def optimum(self, c):
        n = self.G * (c / 6) ** self.b
        return n, c / (6 * n)

    def compute_for(self, n):
        return 6 * (n / self.G) ** (1 / self.b)

    def tokens_for_loss(self, n, target):
        """Tokens a model of n parameters needs to reach loss `target` (inf if its floor E + A/N^α is not below)."""
        gap = np.maximum(target - self.E - self.A / np.asarray(n, dtype=float) ** self.alpha, 0.0)
        with np.errstate(divide="ignore"):
            return (self.B / gap) ** (1 / self.beta)


def _fit_power_law(table) -> tuple[float, float]:
    """Least squares of log N on log C over (N, C, D) rows: returns (k, b) of N = k·C^b."""
    xs = [math.log(c) for _, c, _ in table]
    ys = [math.log(n) for n, _, _ in table]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return math.exp(my - b * mx), b


# Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", Table 3 (Approach 1):
# (params, FLOPs, tokens) of the compute-optimal model for each size.
CHINCHILLA_TABLE_3 = [
    (400e6, 1.92e19, 8.0e9), (1e9, 1.21e20, 20.2e9), (10e9, 1.23e22, 205.1e9),
    (67e9, 5.76e23, 1.5e12), (175e9, 3.85e24, 3.7e12), (280e9, 9.90e24, 5.9e12),
    (520e9, 3.43e25, 11.0e12), (1e12, 1.27e26, 21.2e12), (10e12, 1.30e28, 216.2e12)]
# Same paper, Table A3, Approach 2 (IsoFLOP profiles): the same sizes, their FLOPs and tokens.
CHINCHILLA_TABLE_A3 = [
    (400e6, 1.84e19, 7.7e9), (1e9, 1.20e20, 20.0e9), (10e9, 1.32e22, 219.5e9),
    (67e9, 6.88e23, 1.7e12), (175e9, 4.54e24, 4.3e12), (280e9, 1.18e25, 7.1e12),
    (520e9, 4.19e25, 13.4e12), (1e12, 1.59e26, 26.5e12), (10e12, 1.75e28, 292.0e12)]

# Approach 3 with the unrounded constants of the paper's LaTeX source, as recovered by Besiroglu et al. 2024
# (Sec. 2). The paper's text prints them rounded; CHINCHILLA_3_ROUNDED shows what that does to the optimum.
CHINCHILLA_3 = ParametricLaw(
    "chinchilla-3", E=1.69337368, A=406.401018, B=410.722827, alpha=0.33917084, beta=0.2849083,
    citation="Hoffmann et al. 2022, Approach 3, unrounded")
CHINCHILLA_3_ROUNDED = ParametricLaw(
    "chinchilla-3 (rounded)", E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28,
    citation="Hoffmann et al. 2022, Approach 3, as printed")

LAWS = {
    "chinchilla-1": PowerLaw("chinchilla-1", *_fit_power_law(CHINCHILLA_TABLE_3),
                             citation="Hoffmann et al. 2022, Approach 1 (fit to Table 3)"),
    "chinchilla-2": PowerLaw("chinchilla-2", *_fit_power_law(CHINCHILLA_TABLE_A3),
                             citation="Hoffmann et al. 2022, Approach 2 (fit to Table A3)"),
    "chinchilla-3": CHINCHILLA_3,
    # Besiroglu, Erdil, Barnett, You 2024, "Chinchilla Scaling: A replication attempt", eq. 4 / Table 1:
    # a refit of Approach 3 on the paper's own data, which agrees with Approaches 1 and 2 (~20 tokens/param).
    "epoch-2024": ParametricLaw("epoch-2024", E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658,
                                citation="Besiroglu et al. 2024, Approach 3 refit"),
    # D = 20·N, the seed text's rule of thumb: 6·N·20·N = C  =>  N = sqrt(C / 120).
    "tokens-20": PowerLaw("tokens-20", k=(6 * SEED_TOKENS_PER_PARAM) ** -0.5, b=0.5,
                          citation="rule of thumb D = 20·N"),
    # Kaplan et al. 2020, "Scaling Laws for Neural Language Models", Fig. 14 / Sec. 6.1:
    # N_opt = 1.3e9 · (C_min / PF-day)^0.73, non-embedding parameters.
    "kaplan-2020": PowerLaw("kaplan-2020", k=1.3e9 * PF_DAY ** -0.73, b=0.73,
                            citation="Kaplan et al. 2020, Fig. 14",
                            note="non-embedding N"),
}


@dataclass(frozen=True)
class MeasuredLaw(PowerLaw):
    """A power law we fitted ourselves on a narrow range of budgets: it refuses budgets far outside that range."""
    c_lo: float = 0.0  # the smallest and largest budget it was fitted on
    c_hi: float = math.inf
    # How far beyond the measured budgets (a factor either way) it still answers: 1, the measured range only. The
    # planner shows no interval for a law's N_opt, and a power law through three budgets has none worth showing
    # 10× outside them (issue 27: Approach 2's exponent alone spans [-0.04, 0.85]).
    reach: float = 1.0

    def refusal(self, c: float) -> str | None:
        if self.c_lo / self.reach <= c <= self.c_hi * self.reach:
            return None
        far = c / self.c_hi if c > self.c_hi else self.c_lo / c
        return (f"{self.name} was measured on budgets {sci(self.c_lo)}–{sci(self.c_hi)} FLOPs; {sci(c)} is "
                f"{sci(far)}× {'beyond' if c > self.c_hi else 'below'} them, outside them, and a law fitted on one "
                f"decade of tiny models says nothing there (its exponent's 95% interval is wide even inside): it "
                f"answers between {sci(self.c_lo / self.reach)} and {sci(self.c_hi * self.reach)} FLOPs.")


def _measured_law() -> MeasuredLaw | None:
    """Approach 2 (IsoFLOP parabolas) fitted to our own sweep, assets/scaling/sweep.csv; None if it is not shipped."""
    from llm_demo import scaling_fit
    if not scaling_fit.SWEEP_CSV.exists():
        return None
    runs = scaling_fit.read_sweep()
    fit = scaling_fit.approach2(runs)
    return MeasuredLaw("tinygpt-measured", fit["k_n"], fit["a"], citation="our IsoFLOP sweep, Approach 2 "
                       "(assets/scaling/sweep.csv)", note="bytes of the trio's prose, N with embeddings",
                       c_lo=float(runs[:, 0].min()), c_hi=float(runs[:, 0].max()))


if (_measured := _measured_law()) is not None:
    LAWS[_measured.name] = _measured
PARAMETRIC = {name: law for name, law in LAWS.items() if law.has_loss}


def refusal(law, c: float) -> str | None:
    """Why `law` will not answer for budget c (only measured laws refuse), or None."""
    return law.refusal(c) if isinstance(law, MeasuredLaw) else None


def get_law(law: str, parametric: bool = False):
    """The law named `law`; with parametric=True, only one that has a loss formula L(N, D)."""
    if law not in LAWS:
        raise ValueError(f"Unknown scaling law {law!r}: choose one of {', '.join(LAWS)}.")
    if parametric and not LAWS[law].has_loss:
        raise ValueError(f"Law {law!r} predicts sizes, not a loss: use one of {', '.join(PARAMETRIC)}.")
    return LAWS[law]


def compute_optimal(compute_flops, law: str = "chinchilla-3") -> tuple[float, float]:
    """(n_params, n_tokens) that minimise loss for a training budget of compute_flops FLOPs under `law`."""
    model, c = get_law(law), check_budget(compute_flops)
    if why := refusal(model, c):
        raise ValueError(why)
    return model.optimum(c)


def tokens_for_params(n_params, law: str = "chinchilla-3") -> float:
    """Compute-optimal training tokens for a model of n_params parameters under `law`."""
    model = get_law(law)
    n = parse_number(n_params, "The model size N")
    c = check_budget(model.compute_for(n))
    if why := refusal(model, c):
        raise ValueError(why)
    return c / (6 * n)


def predicted_loss(n_params, n_tokens, law: str = "chinchilla-3") -> float:
    """L(N, D) in nats per token on the paper's data (MassiveText); only the parametric laws have one."""
    model = get_law(law, parametric=True)
    return model.loss(parse_number(n_params, "The model size N"), parse_number(n_tokens, "The token count D"))


# ---------------------------------------------------------------- the planner: every law at once
@dataclass(frozen=True)
class Hardware:
    """What turns FLOPs into wall-clock time and money: GPUs × peak FLOP/s × MFU, and a price per GPU-hour."""
    gpu: str = "H100"
    n_gpus: int = 8
    mfu: float = 0.4
    custom_tflops: float | None = None
    price_per_gpu_hour: float | None = None  # None: no cost column
    peak_tflops: float = field(init=False)  # the datasheet's (or the custom) peak of one GPU

    def __post_init__(self):  # validate once, so the API and the UI refuse bad values with the same sentence
        object.__setattr__(self, "n_gpus", _positive_int(self.n_gpus, "The number of GPUs"))
        object.__setattr__(self, "mfu", check_mfu(self.mfu))
        object.__setattr__(self, "peak_tflops", peak_flops(self.gpu, self.custom_tflops) / 1e12)
        if self.price_per_gpu_hour not in (None, ""):
            price = parse_number(self.price_per_gpu_hour, "The price per GPU-hour", allow_zero=True)
            object.__setattr__(self, "price_per_gpu_hour", price)
        else:
            object.__setattr__(self, "price_per_gpu_hour", None)

    @property
    def flops_per_second(self) -> float:
        return self.n_gpus * self.peak_tflops * 1e12 * self.mfu

    def budget(self, hours) -> float:
        """FLOPs delivered in `hours` of wall-clock time."""
        h = parse_number(hours, "The number of training hours")
        return _budget_in_range(self.flops_per_second * h * 3600,
                                f"{self.n_gpus} × {self.gpu} for {h:g} hours at {self.mfu:.0%} MFU deliver a budget",
                                "check the number of hours")

    def hours(self, c: float) -> float:
        return c / self.flops_per_second / 3600

    def cost(self, c: float) -> float | None:
        return None if self.price_per_gpu_hour is None else self.hours(c) * self.n_gpus * self.price_per_gpu_hour


@dataclass(frozen=True)
class PlanRow:
    law: str
    n_params: float
    n_tokens: float
    compute: float
    loss: float | None  # None for laws without a loss formula
    hours: float
    cost: float | None  # None without a price


def plan(hardware: Hardware, compute_flops=None, n_params=None) -> list[PlanRow]:
    """One row per law: the optimum for compute_flops, or (given n_params instead) that model's optimal data.
    A measured law whose range excludes the budget has no row (refusals() says why)."""
    if compute_flops is not None and n_params is not None:
        raise ValueError("Give either a compute budget or a model size N, not both.")
    if n_params is not None:
        n = parse_number(n_params, "The model size N")
        if n > MAX_PARAMS:
            raise ValueError(f"A model of {sci(n)} parameters is beyond {sci(MAX_PARAMS)}, "
                             "the most this planner accepts.")
        if n < MIN_PARAMS:
            raise ValueError(f"A model of {sci(n)} parameters is below {sci(MIN_PARAMS)}, the smallest this planner "
                             "accepts (the laws were fitted on models of 70M to 16B parameters).")
        budgets = {name: check_budget(law.compute_for(n)) for name, law in LAWS.items()}
    else:
        c = check_budget(compute_flops)
        budgets = dict.fromkeys(LAWS, c)
    rows = []
    for name, law in LAWS.items():
        c = budgets[name]
        if refusal(law, c):
            continue
        n_opt, d_opt = law.optimum(c)
        rows.append(PlanRow(name, n_opt, d_opt, c, law.loss(n_opt, d_opt) if law.has_loss else None,
                            hardware.hours(c), hardware.cost(c)))
    return rows


def refusals(compute_flops=None, n_params=None) -> list[str]:
    """The sentences of every law that plan() leaves out for this input."""
    if n_params is not None:
        n = parse_number(n_params, "The model size N")
        # the budget a refusal quotes is the law's own for this N, shown nowhere else in N mode: say where it is from
        return [f"for N = {sci(n)}, {law.name} would plan {sci(c)} FLOPs. {why}"
                for law in LAWS.values() if (why := refusal(law, c := law.compute_for(n)))]
    c = check_budget(compute_flops)
    return [why for law in LAWS.values() if (why := refusal(law, c))]


# ---------------------------------------------------------------- inference-aware sizing
@dataclass(frozen=True)
class InferencePlan:
    """Sardana & Frankle 2023: the cheapest (N, D_train) over a model's life at the Chinchilla optimum's loss."""
    loss: float
    inference_tokens: float
    n_chinchilla: float
    d_chinchilla: float
    n_opt: float
    d_opt: float

    def total(self, n, d):  # lifetime FLOPs: training 6·N·D plus inference 2·N per generated/read token
        return 6 * n * d + 2 * n * self.inference_tokens

    @property
    def saved_fraction(self) -> float:
        before = self.total(self.n_chinchilla, self.d_chinchilla)
        return 1 - self.total(self.n_opt, self.d_opt) / before


def inference_aware(compute_flops, inference_tokens, law: str = "chinchilla-3") -> InferencePlan:
    """Minimise 6·N·D_train + 2·N·D_inference over N while L(N, D_train) stays at the Chinchilla optimum's loss."""
    model = get_law(law, parametric=True)
    c = check_budget(compute_flops)
    d_inf = parse_number(inference_tokens, "Lifetime inference tokens", allow_zero=True)
    if d_inf > 1e30:
        raise ValueError(f"{sci(d_inf)} inference tokens is beyond 1e30; check the exponent.")
    n0, d0 = model.optimum(c)
    target = model.loss(n0, d0)
    chinchilla = InferencePlan(target, d_inf, n0, d0, n0, d0)

    def cost(log_n):
        n = math.exp(log_n)
        return chinchilla.total(n, model.tokens_for_loss(n, target))

    # A bigger model than n0 costs more to train *and* to serve, so N* lies in (N_min, n0], where N_min is the
    # size whose loss floor E + A/N^α equals the target. Golden-section search on log N (the cost is unimodal).
    lo = math.log((model.A / (target - model.E)) ** (1 / model.alpha)) + 1e-9
    hi = math.log(n0)
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(100):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        lo, hi = (lo, b) if cost(a) <= cost(b) else (a, hi)
    n = math.exp((lo + hi) / 2)
    if cost(math.log(n)) >= cost(math.log(n0)):
        return chinchilla
    return InferencePlan(target, d_inf, n0, d0, n, float(model.tokens_for_loss(n, target)))


# ---------------------------------------------------------------- architecture: parameters and FLOPs
def param_breakdown(vocab_size, d_model, n_layers, context_length, tied_embeddings=True, n_heads=None, d_ff=None):
    """Parameters of a GPT-2-style decoder (pre-norm, learned positions, biases, 4x MLP), part by part."""
    v, d, layers, ctx = _architecture(vocab_size, d_model, n_layers, context_length)
    f = 4 * d if d_ff is None else _positive_int(d_ff, "d_ff")
    if n_heads is not None and d % _positive_int(n_heads, "n_heads"):
        raise ValueError(f"d_model={d} must be divisible by the number of heads ({n_heads}).")
    attention = d * 3 * d + 3 * d + d * d + d  # fused q,k,v projection + output projection, with biases
    mlp = d * f + f + f * d + d
    norms = 2 * 2 * d  # two LayerNorms (scale + shift)
    return {
        "token embedding": v * d,
        "position embedding": ctx * d,
        "transformer blocks": layers * (attention + mlp + norms),
        "final LayerNorm": 2 * d,
        "output head": 0 if tied_embeddings else v * d,  # tied: reuses the token embedding matrix
    }


def count_params(vocab_size, d_model, n_layers, context_length, tied_embeddings=True, n_heads=None, d_ff=None):
    """Total parameters, equal to GPT2LMHeadModel(GPT2Config(...)).num_parameters() for the same config."""
    return sum(param_breakdown(vocab_size, d_model, n_layers, context_length, tied_embeddings, n_heads,
                               d_ff).values())


def flops_per_token(vocab_size, d_model, n_layers, context_length, tied_embeddings=True, d_ff=None):
    """Training FLOPs per token: the planner's 6·N, and Kaplan et al. 2020 Table 1's fuller count
    (3 × forward: 2·N_non-embedding, + 2·n_layers·n_ctx·d_model for attention scores, + 2·d_model·vocab for
    the logits). The logits cost the same whether the head is tied or not: tying saves parameters, not compute."""
    parts = param_breakdown(vocab_size, d_model, n_layers, context_length, tied_embeddings, d_ff=d_ff)
    v, d, layers, ctx = _architecture(vocab_size, d_model, n_layers, context_length)
    non_embedding = parts["transformer blocks"] + parts["final LayerNorm"]
    forward = 2 * non_embedding + 2 * layers * ctx * d + 2 * d * v
    return {"6N": 6 * sum(parts.values()), "kaplan": 3 * forward}


def _architecture(vocab_size, d_model, n_layers, context_length) -> tuple[int, int, int, int]:
    return tuple(_positive_int(x, name) for x, name in ((vocab_size, "vocab_size"), (d_model, "d_model"),
                                                        (n_layers, "n_layers"), (context_length, "context_length")))


def _positive_int(value, name: str) -> int:
    number = parse_number(value, name)
    if number != int(number):
        raise ValueError(f"{name} must be a whole number (got {number:g}).")
    if name in ARCH_MAX and number > ARCH_MAX[name]:
        raise ValueError(f"{name} = {sci(number)} is beyond {ARCH_MAX[name]:,}, the most this calculator accepts "
                         "(far past any real model).")
    return int(number)


# ---------------------------------------------------------------- emergence as a metric artefact
# Schaeffer, Miranda, Koyejo 2023, "Are Emergent Abilities of Large Language Models a Mirage?", Sec. 2:
# per-token cross-entropy falls as a power law in N, so per-token accuracy p = exp(-CE) rises smoothly,
# while exact match on a k-token answer, p^k, looks like a sudden jump. Illustrative constants (ours).
EMERGENCE_N_C, EMERGENCE_ALPHA = 5e6, 0.3


def per_token_accuracy(n_params):
    """Works on floats and numpy arrays alike."""
    return np.exp(-((np.asarray(n_params, dtype=float) / EMERGENCE_N_C) ** -EMERGENCE_ALPHA))


def exact_match(n_params, k: int):
    return per_token_accuracy(n_params) ** k
