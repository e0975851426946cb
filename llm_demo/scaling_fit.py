"""Fitting scaling laws to measured runs the three ways Hoffmann et al. 2022 ("Chinchilla") did, with bootstrap 95%.

Pure functions over rows of (budget C, parameters N, tokens D, final loss L), e.g. assets/scaling/sweep.csv:
`from llm_demo.scaling_fit import read_sweep, fit_all; fit_all(read_sweep())` (numpy only).
"""
import csv
import itertools
import math
from pathlib import Path

import numpy as np

SWEEP_CSV = Path(__file__).resolve().parent.parent / "assets" / "scaling" / "sweep.csv"
FIELDS = ("budget_flops", "n_params", "tokens", "final_loss")


def read_sweep(path=SWEEP_CSV) -> np.ndarray:
    """The fits' input: an array [runs, 4] of (C, N, D, L) in file order."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    missing = [c for c in FIELDS if rows and c not in rows[0]]
    if not rows or missing:
        raise ValueError(f"{path}: needs the columns {', '.join(FIELDS)} and at least one row (missing: {missing}).")
    return np.array([[float(r[c]) for c in FIELDS] for r in rows])


def _line(x, y) -> tuple[float, float]:
    """Least squares y = intercept + slope·x."""
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept), float(slope)


def _power_laws(c, n_opt) -> dict:
    """N_opt = k_N·C^a and D_opt = C/(6·N_opt) = k_D·C^b on log-log axes (so b = 1 - a)."""
    log_c = np.log(c)
    kn, a = _line(log_c, np.log(n_opt))
    kd, b = _line(log_c, np.log(c / (6 * n_opt)))
    return {"a": a, "b": b, "k_n": math.exp(kn), "k_d": math.exp(kd)}


# ---------------------------------------------------------------- Approach 1: the best run at each budget
def approach1(runs: np.ndarray) -> dict:
    """For each budget the lowest-loss run (the paper takes the envelope of its training curves; we have one final
    loss per run), then power laws through those optima. D_opt is that run's own token count."""
    budgets = np.unique(runs[:, 0])
    best = np.array([runs[runs[:, 0] == c][np.argmin(runs[runs[:, 0] == c][:, 3])] for c in budgets])
    kn, a = _line(np.log(best[:, 0]), np.log(best[:, 1]))
    kd, b = _line(np.log(best[:, 0]), np.log(best[:, 2]))
    return {"a": a, "b": b, "k_n": math.exp(kn), "k_d": math.exp(kd), "budgets": budgets.tolist(),
            "n_opt": best[:, 1].tolist(), "d_opt": best[:, 2].tolist(),
            "tokens_per_param": (best[:, 2] / best[:, 1]).tolist()}


# ---------------------------------------------------------------- Approach 2: IsoFLOP parabolas
def isoflop_parabola(log_n, loss) -> tuple[float, float, float]:
    """loss ≈ p0 + p1·x + p2·x² with x = ln N (the paper's Fig. 3 fits a parabola per IsoFLOP profile)."""
    p2, p1, p0 = np.polyfit(log_n, loss, 2)
    return float(p0), float(p1), float(p2)


def approach2(runs: np.ndarray) -> dict:
    """Each budget's parabola minimum is its N_opt (ValueError if a curve has no minimum: fewer than 3 sizes,
    concave, or a minimum far outside the sizes tried); power laws through the minima, D_opt = C/(6·N_opt)."""
    budgets, parabolas, n_opt = np.unique(runs[:, 0]), [], []
    for c in budgets:
        rows = runs[runs[:, 0] == c]
        if len(np.unique(rows[:, 1])) < 3:
            raise ValueError(f"the IsoFLOP curve at C = {c:g} has fewer than 3 model sizes: no parabola to fit.")
        p0, p1, p2 = isoflop_parabola(np.log(rows[:, 1]), rows[:, 3])
        if p2 <= 0:
            raise ValueError(f"the IsoFLOP curve at C = {c:g} bends down (no minimum): the sizes miss the optimum.")
        vertex = -p1 / (2 * p2)
        if not np.log(rows[:, 1].min() / 10) <= vertex <= np.log(rows[:, 1].max() * 10):
            raise ValueError(f"the IsoFLOP parabola at C = {c:g} has its minimum more than 10x outside the sizes "
                             "tried: the sizes miss the optimum.")
        parabolas.append((p0, p1, p2))
        n_opt.append(math.exp(vertex))
    n_opt = np.array(n_opt)
    return {**_power_laws(budgets, n_opt), "budgets": budgets.tolist(), "n_opt": n_opt.tolist(),
            "d_opt": (budgets / (6 * n_opt)).tolist(), "tokens_per_param": (budgets / (6 * n_opt ** 2)).tolist(),
            "parabolas": parabolas}


# ---------------------------------------------------------------- Approach 3: L(N, D) = E + A/N^α + B/D^β
HUBER_DELTA = 1e-3  # Hoffmann et al. 2022 Sec. 3.3: Huber loss with δ = 10^-3 on log loss, L-BFGS
# Their grid of initialisations (App. D.2): α, β ∈ {0, 0.5, ..., 2}, e ∈ {-1, -0.5, ..., 1},
# a, b ∈ {0, 5, ..., 25}, where A = exp(a), B = exp(b), E = exp(e).
GRID = list(itertools.product(np.arange(0, 26, 5.0), np.arange(0, 26, 5.0), np.arange(-1, 1.01, 0.5),
                              np.arange(0, 2.01, 0.5), np.arange(0, 2.01, 0.5)))  # (a, b, e, α, β)


def _objective(theta, log_n, log_d, log_l, grad: bool = False, weights=None):
    """Sum of Huber(LSE(a - α·ln N, b - β·ln D, e) - ln L); theta [..., 5] -> [...] (and its gradient [..., 5]).
    weights [..., runs]: how many times each run counts (a bootstrap resample of the runs); None: once each."""
    w = 1.0 if weights is None else weights
    a, b, e, alpha, beta = (theta[..., i:i + 1] for i in range(5))
    terms = np.stack([a - alpha * log_n, b - beta * log_d, e + 0 * log_n])  # [3, ..., runs]
    top = terms.max(0)
    weights_lse = np.exp(terms - top)
    pred = top + np.log(weights_lse.sum(0))
    r = pred - log_l
    small = np.abs(r) <= HUBER_DELTA
    value = (w * np.where(small, 0.5 * r ** 2, HUBER_DELTA * (np.abs(r) - 0.5 * HUBER_DELTA))).sum(-1)
    if not grad:
        return value
    dr = w * np.where(small, r, HUBER_DELTA * np.sign(r)) * weights_lse / weights_lse.sum(0)  # [3, ..., runs]
    g = np.stack([dr[0].sum(-1), dr[1].sum(-1), dr[2].sum(-1), -(dr[0] * log_n).sum(-1),
                  -(dr[1] * log_d).sum(-1)], -1)
    return value, g


def lbfgs(f, x0, memory: int = 10, max_iter: int = 400, tol: float = 1e-13):
    """Minimise many independent problems at once by L-BFGS (Nocedal & Wright 2006, Alg. 7.4) with a backtracking
    Armijo line search per problem. f(x [B, k]) -> (values [B], gradients [B, k]); x0 [B, k].
    Returns (x [B, k], values [B]). Plain numpy: 5 parameters, a few dozen runs, a few hundred problems."""
    x = np.array(x0, dtype=float, ndmin=2)
    fx, g = f(x)
    s_hist, y_hist = [], []
    active = np.ones(len(x), bool)
    for _ in range(max_iter):
        q, alphas = g.copy(), []
        for s, y in reversed(list(zip(s_hist, y_hist))):  # two-loop recursion, per problem: q ≈ H·g
            rho = 1 / np.where(np.abs((y * s).sum(1)) > 1e-300, (y * s).sum(1), np.inf)
            alphas.append(rho * (s * q).sum(1))
            q -= alphas[-1][:, None] * y
        if s_hist:
            ys, yy = (y_hist[-1] * s_hist[-1]).sum(1), (y_hist[-1] ** 2).sum(1)
            q *= np.where(yy > 0, ys / np.where(yy > 0, yy, 1), 1.0)[:, None]
        for (s, y), alpha in zip(zip(s_hist, y_hist), reversed(alphas)):
            rho = 1 / np.where(np.abs((y * s).sum(1)) > 1e-300, (y * s).sum(1), np.inf)
            q += s * (alpha - rho * (y * q).sum(1))[:, None]
        direction = np.where(((g * q).sum(1) > 0)[:, None], -q, -g)
        slope = (g * direction).sum(1)
        step = np.ones(len(x))
        x_new, f_new, g_new = x.copy(), fx.copy(), g.copy()
        todo = active.copy()
        for _ in range(60):  # halve each problem's step until its Armijo condition holds
            trial = x + step[:, None] * direction
            f_t, g_t = f(trial)
            ok = todo & (f_t <= fx + 1e-4 * step * slope)
            x_new[ok], f_new[ok], g_new[ok] = trial[ok], f_t[ok], g_t[ok]
            todo &= ~ok
            if not todo.any():
                break
            step[todo] *= 0.5
        moved = f_new < fx
        done = ~moved | ((fx - f_new) <= tol * np.maximum(1.0, np.abs(fx)))
        s_new, y_new = x_new - x, g_new - g
        keep = (y_new * s_new).sum(1) > 1e-16
        s_hist = (s_hist + [np.where(keep[:, None], s_new, 0.0)])[-memory:]
        y_hist = (y_hist + [np.where(keep[:, None], y_new, 0.0)])[-memory:]
        x, fx, g = x_new, f_new, g_new
        active &= ~done
        if not active.any():
            break
    return x, fx


def linear_start(log_n, log_d, log_l) -> np.ndarray:
    """A start near the optimum: for each (α, β) on a 0.05 grid, E, A, B are a linear least-squares fit of L
    (weighted by 1/L, so errors are relative like the log loss's); the best positive one by the Huber objective."""
    steps = np.arange(0.05, 1.51, 0.05)
    alpha, beta = (g.ravel() for g in np.meshgrid(steps, steps, indexing="ij"))
    x = np.stack([np.ones((len(alpha), len(log_n))), np.exp(-alpha[:, None] * log_n),
                  np.exp(-beta[:, None] * log_d)], -1) / np.exp(log_l)[:, None]  # [pairs, runs, (E, A, B)]
    coef = np.linalg.solve(np.einsum("kri,krj->kij", x, x) + 1e-12 * np.eye(3),
                           np.einsum("kri,r->ki", x, np.ones_like(log_l))[..., None])[..., 0]
    ok = (coef > 0).all(1)
    if not ok.any():
        return np.array(GRID[0])
    theta = np.stack([np.log(coef[ok, 1]), np.log(coef[ok, 2]), np.log(coef[ok, 0]), alpha[ok], beta[ok]], 1)
    return theta[np.argmin(_objective(theta, log_n, log_d, log_l))]


def approach3(runs: np.ndarray, starts: int = 3, init=None) -> dict:
    """Huber on log loss minimised by L-BFGS from several starts; the lowest final objective wins. Starts: the best
    `starts` points of the paper's grid (all 4,500 are scored; L-BFGS from every one changes nothing on our fits),
    a linear least-squares start (linear_start), and `init` (e.g. the full data's fit)."""
    log_n, log_d, log_l = (np.log(runs[:, i]) for i in (1, 2, 3))
    grid = np.array(GRID)
    theta0 = [linear_start(log_n, log_d, log_l)] + ([np.asarray(init, dtype=float)] if init is not None else [])
    theta0 += list(grid[np.argsort(_objective(grid, log_n, log_d, log_l), kind="stable")[:starts]])
    thetas, values = lbfgs(lambda t: _objective(t, log_n, log_d, log_l, grad=True), np.array(theta0))
    a, b, e, alpha, beta = thetas[int(np.argmin(values))]
    return parametric_summary(math.exp(e), math.exp(a), math.exp(b), alpha, beta, np.unique(runs[:, 0]),
                              theta=thetas[int(np.argmin(values))].tolist(), objective=float(values.min()))


def approach3_many(runs: np.ndarray, losses: np.ndarray, init) -> list[dict]:
    """Approach 3 for many loss vectors over the same (N, D) (bootstrap resamples), all in one batched L-BFGS
    started from `init`; losses [B, runs]."""
    log_n, log_d, log_l = np.log(runs[:, 1]), np.log(runs[:, 2]), np.log(losses)
    thetas, _ = lbfgs(lambda t: _objective(t, log_n, log_d, log_l, grad=True), np.tile(init, (len(losses), 1)))
    return [parametric_summary(math.exp(e), math.exp(a), math.exp(b), al, be, np.unique(runs[:, 0]))
            for a, b, e, al, be in thetas]


def approach3_cases(runs: np.ndarray, counts: np.ndarray, init) -> list[dict]:
    """Approach 3 refitted on bootstrap resamples of the runs themselves: counts [B, runs] says how often each run
    appears in a resample (a weight in the Huber sum), all in one batched L-BFGS started from `init`."""
    log_n, log_d, log_l = (np.log(runs[:, i]) for i in (1, 2, 3))
    thetas, _ = lbfgs(lambda t: _objective(t, log_n, log_d, log_l, grad=True, weights=counts),
                      np.tile(init, (len(counts), 1)))
    return [parametric_summary(math.exp(e), math.exp(a), math.exp(b), al, be, np.unique(runs[:, 0]))
            for a, b, e, al, be in thetas]


def case_bootstrap(runs: np.ndarray, init, n_boot: int = 200, seed: int = 0, keys=("a", "b")) -> dict:
    """95% percentile intervals for Approach 3 by resampling runs with replacement (the case or pairs bootstrap,
    Efron & Tibshirani 1993, Sec. 9.5). A residual bootstrap would under-disperse here: with Huber δ = 1e-3 the
    fit passes almost exactly through a third of the runs, whose near-zero residuals are most of what it redraws.
    Resampling runs asks instead how much the fit moves when the runs themselves had come out differently."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(runs), np.full(len(runs), 1 / len(runs)), size=n_boot).astype(float)
    results = approach3_cases(runs, counts, init)
    values = {k: np.array([np.asarray(r[k], dtype=float) for r in results]) for k in keys}
    out = {k: {"lo": np.percentile(v, 2.5, axis=0).tolist(), "hi": np.percentile(v, 97.5, axis=0).tolist()}
           for k, v in values.items()}
    return {"intervals": out, "n_boot": n_boot, "refused": 0, "seed": seed, "method": "runs resampled"}


def parametric_summary(E, A, B, alpha, beta, budgets, **extra) -> dict:
    """The five constants, and what they imply: N_opt = G·(C/6)^a, D_opt = (C/6)/N_opt (Hoffmann et al. eq. 4)."""
    a, b = beta / (alpha + beta), alpha / (alpha + beta)
    g = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    n_opt = g * (np.asarray(budgets) / 6) ** a
    d_opt = np.asarray(budgets) / (6 * n_opt)
    return {"E": float(E), "A": float(A), "B": float(B), "alpha": float(alpha), "beta": float(beta),
            "a": float(a), "b": float(b), "G": float(g), "budgets": list(map(float, budgets)),
            "n_opt": n_opt.tolist(), "d_opt": d_opt.tolist(), "tokens_per_param": (d_opt / n_opt).tolist(), **extra}


# ---------------------------------------------------------------- bootstrap
def parabola_fitted(runs: np.ndarray) -> np.ndarray:
    """Each run's loss as its budget's IsoFLOP parabola predicts it (the smooth part a residual bootstrap keeps)."""
    out = np.empty(len(runs))
    for c in np.unique(runs[:, 0]):
        at = runs[:, 0] == c
        p0, p1, p2 = isoflop_parabola(np.log(runs[at, 1]), runs[at, 3])
        x = np.log(runs[at, 1])
        out[at] = p0 + p1 * x + p2 * x ** 2
    return out


def bootstrap(fit, runs: np.ndarray, fitted: np.ndarray, n_params: int, n_boot: int = 200, seed: int = 0,
              keys=("a", "b"), log: bool = False, fit_many=None) -> dict:
    """95% percentile intervals by a residual bootstrap: each resample keeps every run's (C, N, D) and its fitted
    loss, and adds a residual drawn (with replacement) from the same budget's residuals, scaled by
    sqrt(n / (n - n_params)) for the parameters the fit used up (a simple form of the modified residuals of
    Davison & Hinkley 1997, Sec. 6.2). Resampling the
    runs themselves leaves 5-point curves with 2-3 distinct sizes, whose parabolas mean nothing. log: residuals of
    ln L (Approach 3's loss). Resamples the fit refuses (a curve without a minimum) are counted, not hidden.
    fit_many(runs, losses [B, runs]) -> results, if given, fits all resamples at once instead of fit one by one."""
    rng = np.random.default_rng(seed)
    base = np.log(fitted) if log else fitted
    resid = (np.log(runs[:, 3]) if log else runs[:, 3]) - base
    groups = [np.flatnonzero(runs[:, 0] == c) for c in np.unique(runs[:, 0])]
    inflate = math.sqrt(len(runs) / max(1, len(runs) - n_params))
    values, refused, samples = {k: [] for k in keys}, 0, []
    for _ in range(n_boot):
        new = base.copy()
        for g in groups:
            new[g] += inflate * resid[rng.choice(g, size=len(g), replace=True)]
        samples.append(np.exp(new) if log else new)
    results = fit_many(runs, np.array(samples)) if fit_many else []
    if not fit_many:
        for losses in samples:
            sample = runs.copy()
            sample[:, 3] = losses
            try:
                results.append(fit(sample))
            except ValueError:
                refused += 1
    for result in results:
        for k in keys:
            values[k].append(np.asarray(result[k], dtype=float))
    out = {k: {"lo": np.percentile(v, 2.5, axis=0).tolist(), "hi": np.percentile(v, 97.5, axis=0).tolist()}
           for k, v in values.items() if v}
    return {"intervals": out, "n_boot": n_boot, "refused": refused, "seed": seed}


def fit_all(runs: np.ndarray, n_boot: int = 200, seed: int = 0) -> dict:
    """Approaches 1, 2, 3 with their bootstrap intervals: what the Scaling tab shows and the tests recompute."""
    one, two, three = approach1(runs), approach2(runs), approach3(runs)
    smooth = parabola_fitted(runs)
    per_budget = 3 * len(np.unique(runs[:, 0]))  # a parabola (3 numbers) per budget
    keys = ("a", "b", "tokens_per_param")
    # Approaches 1-2: residual bootstrap (method "residuals"); Approach 2's percentiles come from the resamples
    # whose every curve had a minimum, so they are conditional on that ("refused" counts the others).
    return {
        "approach1": {**one, **bootstrap(approach1, runs, smooth, per_budget, n_boot, seed, keys),
                      "method": "residuals"},
        "approach2": {**two, **bootstrap(approach2, runs, smooth, per_budget, n_boot, seed, keys),
                      "method": "residuals"},
        "approach3": {**three, **case_bootstrap(runs, three["theta"], n_boot, seed,
                                                keys + ("E", "A", "B", "alpha", "beta"))},
        "runs": len(runs), "budgets": np.unique(runs[:, 0]).tolist(),
        "n_range": [float(runs[:, 1].min()), float(runs[:, 1].max())],
    }
