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
    """Each budget's parabola minimum is its N_opt (ValueError if a curve has no minimum: fewer than 3 sizes, or
    concave); power laws through the minima, D_opt = C/(6·N_opt)."""
    budgets, parabolas, n_opt = np.unique(runs[:, 0]), [], []
    for c in budgets:
        rows = runs[runs[:, 0] == c]
        if len(np.unique(rows[:, 1])) < 3:
            raise ValueError(f"the IsoFLOP curve at C = {c:g} has fewer than 3 model sizes: no parabola to fit.")
        p0, p1, p2 = isoflop_parabola(np.log(rows[:, 1]), rows[:, 3])
        if p2 <= 0:
            raise ValueError(f"the IsoFLOP curve at C = {c:g} bends down (no minimum): the sizes miss the optimum.")
        parabolas.append((p0, p1, p2))
        n_opt.append(math.exp(-p1 / (2 * p2)))
    n_opt = np.array(n_opt)
    return {**_power_laws(budgets, n_opt), "budgets": budgets.tolist(), "n_opt": n_opt.tolist(),
            "d_opt": (budgets / (6 * n_opt)).tolist(), "tokens_per_param": (budgets / (6 * n_opt ** 2)).tolist(),
            "parabolas": parabolas}


# ---------------------------------------------------------------- Approach 3: L(N, D) = E + A/N^α + B/D^β
HUBER_DELTA = 1e-3  # Hoffmann et al. 2022 Sec. 3.3: Huber loss with δ = 10^-3 on log loss, L-BFGS
# Their grid of initialisations (Sec. D.2): α, β ∈ {0, 0.5, ..., 2}, e ∈ {-1, -0.5, ..., 1}, a, b ∈ {0, 5, ..., 25},
# where A = exp(a), B = exp(b), E = exp(e).
GRID = list(itertools.product(np.arange(0, 26, 5.0), np.arange(0, 26, 5.0), np.arange(-1, 1.01, 0.5),
                              np.arange(0, 2.01, 0.5), np.arange(0, 2.01, 0.5)))  # (a, b, e, α, β)


def _objective(theta, log_n, log_d, log_l, grad: bool = False):
    """Sum of Huber(LSE(a - α·ln N, b - β·ln D, e) - ln L); theta [..., 5] -> [...] (and its gradient [..., 5])."""
    a, b, e, alpha, beta = (theta[..., i:i + 1] for i in range(5))
    terms = np.stack([a - alpha * log_n, b - beta * log_d, e + 0 * log_n])  # [3, ..., runs]
    top = terms.max(0)
    weights = np.exp(terms - top)
    pred = top + np.log(weights.sum(0))
    r = pred - log_l
    small = np.abs(r) <= HUBER_DELTA
    value = np.where(small, 0.5 * r ** 2, HUBER_DELTA * (np.abs(r) - 0.5 * HUBER_DELTA)).sum(-1)
    if not grad:
        return value
    dr = np.where(small, r, HUBER_DELTA * np.sign(r)) * weights / weights.sum(0)  # [3, ..., runs]: dH/dterm
    g = np.stack([dr[0].sum(-1), dr[1].sum(-1), dr[2].sum(-1), -(dr[0] * log_n).sum(-1),
                  -(dr[1] * log_d).sum(-1)], -1)
    return value, g


def lbfgs(f, x0, memory: int = 10, max_iter: int = 2000, tol: float = 1e-12):
    """Minimise f(x) -> (value, gradient) by L-BFGS (Nocedal & Wright 2006, Alg. 7.4/7.5) with a backtracking
    Armijo line search. Returns (x, value). Plain numpy: our problems have 5 parameters and ~20-50 runs."""
    x = np.asarray(x0, dtype=float)
    fx, g = f(x)
    s_hist, y_hist = [], []
    for _ in range(max_iter):
        q, alphas = g.copy(), []
        for s, y in reversed(list(zip(s_hist, y_hist))):  # two-loop recursion: q ≈ H·g
            rho = 1 / (y @ s)
            alphas.append(rho * (s @ q))
            q -= alphas[-1] * y
        if s_hist:
            q *= (s_hist[-1] @ y_hist[-1]) / (y_hist[-1] @ y_hist[-1])
        for (s, y), alpha in zip(zip(s_hist, y_hist), reversed(alphas)):
            q += s * (alpha - (y @ q) / (y @ s))
        direction = -q if g @ q > 0 else -g
        step, slope = 1.0, g @ direction
        while True:
            x_new = x + step * direction
            f_new, g_new = f(x_new)
            if f_new <= fx + 1e-4 * step * slope or step < 1e-20:
                break
            step *= 0.5
        if step < 1e-20 or fx - f_new <= tol * max(1.0, abs(fx)) and np.abs(g_new).max() < 1e-9:
            x, fx = (x_new, f_new) if f_new < fx else (x, fx)
            break
        s, y = x_new - x, g_new - g
        if y @ s > 1e-16:
            s_hist, y_hist = (s_hist + [s])[-memory:], (y_hist + [y])[-memory:]
        x, fx, g = x_new, f_new, g_new
    return x, float(fx)


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
    `starts` points of the paper's grid (all 4,500 are scored; L-BFGS from every one costs minutes and, on our fits,
    changes nothing), a linear least-squares start (linear_start), and `init` (e.g. the full data's fit, for a
    bootstrap resample)."""
    log_n, log_d, log_l = (np.log(runs[:, i]) for i in (1, 2, 3))
    grid = np.array(GRID)
    theta0 = [linear_start(log_n, log_d, log_l)]
    theta0 += list(grid[np.argsort(_objective(grid, log_n, log_d, log_l), kind="stable")[:starts]])
    if init is not None:
        theta0.append(np.asarray(init, dtype=float))
    fits = [lbfgs(lambda t: _objective(t, log_n, log_d, log_l, grad=True), t0, max_iter=400) for t0 in theta0]
    theta, value = min(fits, key=lambda fit: fit[1])
    a, b, e, alpha, beta = theta
    return parametric_summary(math.exp(e), math.exp(a), math.exp(b), alpha, beta, np.unique(runs[:, 0]),
                              theta=theta.tolist(), objective=value)


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
def bootstrap(fit, runs: np.ndarray, n_boot: int = 200, seed: int = 0, keys=("a", "b")) -> dict:
    """95% percentile intervals: refit on resampled runs (with replacement, within each budget, so every budget
    keeps its number of runs). Resamples the fit refuses (a curve without a minimum) are counted, not hidden."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(runs[:, 0] == c) for c in np.unique(runs[:, 0])]
    values, refused = {k: [] for k in keys}, 0
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        try:
            result = fit(runs[idx])
        except ValueError:
            refused += 1
            continue
        for k in keys:
            v = result[k]
            values[k].append(v if np.isscalar(v) else np.asarray(v, dtype=float))
    out = {k: {"lo": np.percentile(v, 2.5, axis=0).tolist(), "hi": np.percentile(v, 97.5, axis=0).tolist()}
           for k, v in values.items() if v}
    return {"intervals": out, "n_boot": n_boot, "refused": refused, "seed": seed}


def fit_all(runs: np.ndarray, n_boot: int = 200, seed: int = 0) -> dict:
    """Approaches 1, 2, 3 with their bootstrap intervals: what the Scaling tab shows and the tests recompute."""
    one, two, three = approach1(runs), approach2(runs), approach3(runs)
    init = three["theta"]  # resamples start from the full fit and their own linear start
    return {
        "approach1": {**one, **bootstrap(approach1, runs, n_boot, seed, ("a", "b", "tokens_per_param"))},
        "approach2": {**two, **bootstrap(approach2, runs, n_boot, seed, ("a", "b", "tokens_per_param"))},
        "approach3": {**three, **bootstrap(lambda r: approach3(r, starts=0, init=init), runs, n_boot, seed,
                                           ("a", "b", "tokens_per_param", "E", "A", "B", "alpha", "beta"))},
        "runs": len(runs), "budgets": np.unique(runs[:, 0]).tolist(),
        "n_range": [float(runs[:, 1].min()), float(runs[:, 1].max())],
    }
