"""Second-order training (LM, Gauss-Newton, natural gradient, L-BFGS) against Adam and SGD+momentum.

Run: ``python benchmarks/second_order.py [--seeds 20] [--quick]``; writes
benchmarks/results/second_order.md and rebuilds BENCHMARKS.md. With ``--minpack-only`` it runs only
the comparison of deltaprop's LM with SciPy's MINPACK (5 seeds, about 5 minutes: both solvers are run
to their tolerances) and rewrites just that section (and the reading's MINPACK bullet) of the results.

Every run is full batch (these are small data sets), seeded, and counted in
epochs = passes over the training set that update the weights (one LM/GN
step, one L-BFGS iteration, one NG or first-order step). A run succeeds when
the training MSE falls to the task's target within its epoch cap; the caps are
kept small so the whole script runs in about 10 minutes on 2 cores (half of it the MINPACK comparison).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from machine import describe  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop import nn  # noqa: E402
from deltaprop.data import load_diabetes, make_parity, make_sine, make_spirals  # noqa: E402
from deltaprop.optim import (  # noqa: E402
    LBFGS,
    SGD,
    Adam,
    GaussNewton,
    LevenbergMarquardt,
    NaturalGradient,
    residual_jacobian,
)
from deltaprop.optim.jacobian import assign_params, flatten_params, model_output  # noqa: E402

SECOND_CAP, FIRST_CAP = 150, 2000  # epoch caps (second-order / first-order and L-BFGS)


# --------------------------------------------------------------------------- tasks
def task_sine():
    d = make_sine(100, seed=0)
    return "(a) sin(x), 1-10-1 tanh", d.X, d.y, (1, 10, 1), "tanh", 1e-4


def task_parity(bits: int, hidden: int):
    d = make_parity(bits)
    y = d.y.astype(np.float32).reshape(-1, 1)
    return f"(b) parity-{bits}, {bits}-{hidden}-1 sigmoid", d.X, y, (bits, hidden, 1), "sigmoid", 1e-3


def task_spirals():
    d = make_spirals(200, noise=0.0, seed=0)
    y = d.y.astype(np.float32).reshape(-1, 1)
    return "(c) two spirals (N=200), 2-20-20-1 tanh", d.X, y, (2, 20, 20, 1), "tanh", 0.02


def task_diabetes():
    d = load_diabetes()
    X = ((d.X - d.X.mean(0)) / d.X.std(0)).astype(np.float32)
    y = d.y.reshape(-1, 1).astype(np.float64)
    y = ((y - y.mean()) / y.std()).astype(np.float32)
    return "(d) diabetes (N=442, standardized), 10-10-1 tanh", X, y, (10, 10, 1), "tanh", 0.35


def build(sizes, act, seed):
    dp.manual_seed(seed)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.activation(act))
    return nn.Sequential(*layers)


def mse(model, X, y) -> float:
    return float(np.mean((model_output(model, X) - y) ** 2))


# --------------------------------------------------------------------------- optimizers: one epoch each
def make_stepper(name, model, X, y):
    loss_fn = nn.MSELoss()
    Xt, yt = dp.Tensor(X), dp.Tensor(y)
    if name in ("LM", "GN", "NG"):
        opt = {
            "LM": lambda: LevenbergMarquardt(model.parameters()),
            "GN": lambda: GaussNewton(model.parameters()),
            "NG": lambda: NaturalGradient(
                model.parameters(), lr=0.5, damping=1e-3, fisher="kfac", stat_decay=0.0
            ),
        }[name]()
        return lambda: opt.train_step(model, loss_fn, Xt, yt)[0], opt
    if name == "L-BFGS":
        opt = LBFGS(model.parameters(), max_iter=1, line_search_fn="strong_wolfe", history_size=20)
    elif name == "Adam":
        opt = Adam(model.parameters(), lr=0.01)
    else:
        opt = SGD(model.parameters(), lr=0.05, momentum=0.9)

    def closure():
        opt.zero_grad()
        loss = loss_fn(model(Xt), yt)
        loss.backward()
        return loss

    if name == "L-BFGS":
        return lambda: opt.step(closure), opt
    return lambda: (closure(), opt.step()), opt


def run_one(task, name, seed):
    _, X, y, sizes, act, target = task
    model = build(sizes, act, seed)
    step, opt = make_stepper(name, model, X, y)
    cap = SECOND_CAP if name in ("LM", "GN", "NG") else FIRST_CAP
    start = time.perf_counter()
    for epoch in range(1, cap + 1):
        step()
        loss = mse(model, X, y)
        if not np.isfinite(loss):
            break
        if loss <= target:
            return True, epoch, time.perf_counter() - start, loss
        if opt.should_stop():
            break
    return False, epoch, time.perf_counter() - start, loss


OPTIMIZERS = ["LM", "GN", "NG", "L-BFGS", "Adam", "SGD+momentum"]


def comparison(tasks, seeds):
    lines = [
        "| task | target MSE | optimizer | success | median epochs (successes) | median seconds (successes) |"
        " median final MSE |",
        "|---|---|---|---|---|---|---|",
    ]
    for task in tasks:
        for name in OPTIMIZERS:
            runs = [run_one(task, name, s) for s in range(seeds)]
            ok = [r for r in runs if r[0]]
            ep = f"{np.median([r[1] for r in ok]):.0f}" if ok else "-"
            sec = f"{np.median([r[2] for r in ok]):.3f}" if ok else "-"
            final = np.median([r[3] for r in runs])
            lines.append(
                f"| {task[0]} | {task[5]:g} | {name} | {len(ok)}/{seeds} | {ep} | {sec} | {final:.2e} |"
            )
            print(lines[-1], flush=True)
    return lines


# --------------------------------------------------------------------------- LM vs MINPACK
MINPACK_TOL = 1e-10  # MINPACK's ftol = xtol = gtol; deltaprop LM: the same ftol / xtol on its steps
MINPACK_STATUS = {0: "cap", 1: "gtol", 2: "ftol", 3: "xtol", 4: "ftol+xtol"}
SMALL_STEPS = 3  # deltaprop LM stops after this many accepted steps in a row below ftol / xtol


def task_diabetes_net(hidden: int):
    _, X, y, *_ = task_diabetes()
    return f"(d) diabetes (N=442, standardized), 10-{hidden}-1 tanh", X, y, (10, hidden, 1), "tanh", None


def minpack_tasks():
    """(label, task, iteration cap, noise floor of the MSE or None, ill-posed?) for the MINPACK comparison."""
    sine = task_sine()
    X, y = sine[1].astype(np.float64), sine[2].astype(np.float64)
    floor = float(np.mean((y - np.sin(X)) ** 2))  # float32 rounding of x and sin(x) in the data
    return [
        ("(a) 1-10-1", sine, 200_000, floor, False),
        ("(d) 10-1-1", task_diabetes_net(1), 20_000, None, False),
        ("(d) 10-5-1", task_diabetes_net(5), 3_000, None, True),
    ]


def gradient_at(model, params, X, y, w):
    """(||J^T e||, MINPACK's gtol measure max_j |J_j . e| / (||J_j|| ||e||)) at the weights w."""
    assign_params(params, w)
    out, J = residual_jacobian(model, X, params)
    e = (out - y).ravel()
    g = J.T @ e
    cols = np.linalg.norm(J, axis=0)
    live = cols > 0
    cosine = np.abs(g[live]) / (cols[live] * max(float(np.linalg.norm(e)), 1e-300))
    return float(np.linalg.norm(g)), float(cosine.max()) if cosine.size else 0.0


def lm_to_convergence(model, X, y, cap, tol):
    """deltaprop LM until mu passes mu_max, or SMALL_STEPS steps in a row lower 1/2||e||^2 by at most
    tol relative (MINPACK's ftol) or move w by at most tol * ||w|| (its xtol), or cap steps.

    Returns (steps = Jacobians, residual evaluations, stopping reason).
    """
    params = list(model.parameters())
    opt = LevenbergMarquardt(params)
    loss_fn = nn.MSELoss()
    previous, w_prev, small, evaluations, reason = np.inf, flatten_params(params), 0, 0, "cap"
    for steps in range(1, cap + 1):  # noqa: B007 - count kept after the loop
        opt.train_step(model, loss_fn, X, y)
        evaluations += opt.last_step["trials"]
        if opt.should_stop():
            reason = "mu_max"
            break
        f = opt.last_step["objective_after"]
        w = flatten_params(params)
        f_small = previous - f <= tol * f
        x_small = np.linalg.norm(w - w_prev) <= tol * (np.linalg.norm(w) + tol)
        small = small + 1 if f_small or x_small else 0
        if small >= SMALL_STEPS:
            reason = "ftol" if f_small else "xtol"
            break
        previous, w_prev = f, w
    return steps, evaluations, reason


def versus_minpack(task, seeds, cap, tol=MINPACK_TOL):
    """Per seed: both solvers from the same float64 start to their tolerances (or the cap)."""
    from scipy.optimize import least_squares

    _, X, y, sizes, act, _ = task
    Xd, yd = X.astype(np.float64), y.astype(np.float64)
    rows = []
    for seed in range(seeds):
        model = build(sizes, act, seed).double()
        params = list(model.parameters())
        w0 = flatten_params(params)

        def residuals(w, model=model, params=params):
            assign_params(params, w)
            return (model_output(model, Xd) - yd).ravel()

        def jac(w, model=model, params=params):
            assign_params(params, w)
            return residual_jacobian(model, Xd, params)[1]

        t = time.perf_counter()
        sol = least_squares(residuals, w0, jac=jac, method="lm", ftol=tol, xtol=tol, gtol=tol, max_nfev=cap)
        mp_time = time.perf_counter() - t
        w_mp = sol.x.copy()

        assign_params(params, w0)
        t = time.perf_counter()
        steps, evaluations, reason = lm_to_convergence(model, Xd, yd, cap, tol)
        dp_time = time.perf_counter() - t
        w_dp = flatten_params(params)

        out_dp = model_output(model, Xd)
        assign_params(params, w_mp)
        out_mp = model_output(model, Xd)
        rows.append(
            dict(
                seed=seed,
                P=w0.size,
                mse=(float(np.mean((out_dp - yd) ** 2)), float(np.mean((out_mp - yd) ** 2))),
                jacobians=(steps, sol.njev),
                evaluations=(evaluations, sol.nfev),
                seconds=(dp_time, mp_time),
                stop=(reason, MINPACK_STATUS.get(sol.status, str(sol.status))),
                gradient=(gradient_at(model, params, Xd, yd, w_dp), gradient_at(model, params, Xd, yd, w_mp)),
                weight_norm=(float(np.linalg.norm(w_dp)), float(np.linalg.norm(w_mp))),
                start_norm=float(np.linalg.norm(w0)),
                prediction_gap=float(np.max(np.abs(out_dp - out_mp))),
            )
        )
    return rows


def within(row, rel=0.01) -> bool:
    a, b = row["mse"]
    return abs(a - b) <= rel * max(a, b)


def converged(row) -> tuple[bool, bool]:
    return row["stop"][0] != "cap", row["stop"][1] != "cap"


def verdict(row, floor, ill_posed) -> str:
    ok_dp, ok_mp = converged(row)
    at_floor = floor is not None and max(row["mse"]) <= 2 * floor
    if not (ok_dp or ok_mp) and not at_floor:
        return "both capped, still improving" + ("; no finite minimum, abs(w) grows" if ill_posed else "")
    if not (ok_dp and ok_mp):
        found = f"{'deltaprop' if ok_mp else 'MINPACK' if ok_dp else 'both'} capped, still creeping"
    elif within(row):
        found = "same minimum" if row["prediction_gap"] < 1e-3 else "same loss, different weights"
    else:
        found = "different local minima, both converged"
    return ("both at the data's noise floor; " if at_floor else "") + found


def minpack_section(seeds):
    """The '### deltaprop LM vs SciPy MINPACK' section: explanation, summary and per-seed tables."""
    t0 = time.perf_counter()
    results = []
    for label, task, cap, floor, ill_posed in minpack_tasks():
        rows = versus_minpack(task, seeds, cap)
        results.append((label, task, cap, floor, ill_posed, rows))
        for r in rows:
            print(label, r, flush=True)
    elapsed = time.perf_counter() - t0

    summary = [
        "| task | P | cap | final MSE within 1% | converged deltaprop / MINPACK | median final MSE "
        "deltaprop / MINPACK | median abs MSE difference | median Jacobians deltaprop / MINPACK | "
        "median seconds deltaprop / MINPACK |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    per_seed = [
        "| task | seed | final MSE deltaprop / MINPACK | abs difference | within 1% | Jacobians (residual "
        "evaluations) deltaprop / MINPACK | seconds deltaprop / MINPACK | stop deltaprop / MINPACK | "
        "gtol measure at the end deltaprop / MINPACK | max prediction gap | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, task, cap, floor, ill_posed, rows in results:
        med = lambda key, i, rows=rows: float(np.median([r[key][i] for r in rows]))  # noqa: E731
        gap = float(np.median([abs(r["mse"][0] - r["mse"][1]) for r in rows]))
        summary.append(
            f"| {task[0]} | {rows[0]['P']} | {cap} | {sum(map(within, rows))}/{len(rows)} | "
            f"{sum(converged(r)[0] for r in rows)}/{len(rows)} / {sum(converged(r)[1] for r in rows)}/"
            f"{len(rows)} | {med('mse', 0):.4g} / {med('mse', 1):.4g} | {gap:.2g} | "
            f"{med('jacobians', 0):.0f} / {med('jacobians', 1):.0f} | "
            f"{med('seconds', 0):.3g} / {med('seconds', 1):.3g} |"
        )
        for r in rows:
            (a, b), (ja, jb), (ea, eb) = r["mse"], r["jacobians"], r["evaluations"]
            per_seed.append(
                f"| {label} | {r['seed']} | {a:.4g} / {b:.4g} | {abs(a - b):.2g} | "
                f"{'yes' if within(r) else 'no'} | {ja} ({ea}) / {jb} ({eb}) | "
                f"{r['seconds'][0]:.3g} / {r['seconds'][1]:.3g} | {r['stop'][0]} / {r['stop'][1]} | "
                f"{r['gradient'][0][1]:.1e} / {r['gradient'][1][1]:.1e} | {r['prediction_gap']:.1e} | "
                f"{verdict(r, floor, ill_posed)} |"
            )
    floor, n_sine, p_sine = results[0][3], len(results[0][1][1]), results[0][5][0]["P"]
    sine_lo = min(min(r["mse"]) for r in results[0][5])
    sine_hi = max(max(r["mse"]) for r in results[0][5])
    sine_gap = max(abs(r["mse"][0] - r["mse"][1]) for r in results[0][5])
    small = results[1][5]
    small_w = np.median([r["weight_norm"] for r in small], axis=0)
    small_jac = np.median([r["jacobians"] for r in small], axis=0)
    wide = results[2][5]
    wide_w = np.median([r["weight_norm"] for r in wide], axis=0)
    wide_w0 = np.median([r["start_norm"] for r in wide])
    lines = [
        "### deltaprop LM vs SciPy MINPACK `least_squares(method='lm')`",
        "",
        f"Same float64 nets and initial weights (seeds 0-{seeds - 1}); MINPACK is given deltaprop's "
        "residuals and Jacobian (`residual_jacobian`) and uses its default column scaling. Both run to "
        f"matching tolerances: MINPACK with ftol = xtol = gtol = {MINPACK_TOL:g}; deltaprop LM (defaults: "
        "trainlm's x10 / x0.1 mu schedule) until mu passes mu_max or "
        f"{SMALL_STEPS} accepted steps in a row lower 1/2||e||^2 by at most {MINPACK_TOL:g} relative "
        f"(ftol) or move w by at most {MINPACK_TOL:g} ||w|| (xtol). Each also stops at the cap (MINPACK: "
        "max_nfev = cap residual evaluations; deltaprop: cap steps). Iterations are Jacobian "
        "evaluations (one per deltaprop step). *Stop* `cap` means the run did NOT converge. The gtol "
        "measure max_j |J_j . e| / (||J_j|| ||e||) at the end (MINPACK's own gradient test, scale-free, "
        "0 at a stationary point) shows how far from stationary each run ended. *Max prediction gap*: the "
        "largest difference between the two nets' outputs on the training set (blind to the nets' "
        f"weight symmetries). This comparison alone took {elapsed:.0f} s "
        "(`python benchmarks/second_order.py --minpack-only`).",
        "",
        "Nets. (a) is fixed by the issue. There the data set the noise floor: x and sin(x) are stored in "
        f"float32, so even sin itself misses the targets by MSE {floor:.3g} (the float32 rounding), far "
        f"above float64 round-off (~1e-32); a {p_sine}-parameter net fitting {n_sine} points absorbs part "
        f"of that noise (about {1 - p_sine / n_sine:.2f} x {floor:.3g} is expected at a minimum). "
        f"The final MSEs there lie between {sine_lo:.2g} and {sine_hi:.2g} and the two solvers' differ by "
        f"at most {sine_gap:.2g} ({sine_gap / floor:.2f} x the floor), so the absolute difference is the "
        "meaningful number and 1% of ~1e-15 tests the last digits of a fit to rounding noise. (d): the "
        f"issue names only the data set; 10-1-1 tanh ({small[0]['P']} parameters) is a well-posed "
        f"least-squares problem (both solvers stop by their tolerances at finite weights, median |w| "
        f"{small_w[0]:.2f} / {small_w[1]:.2f}, after a median {small_jac[0]:.0f} / {small_jac[1]:.0f} "
        "Jacobians). Wider tanh nets on these noisy targets (the main table's 10-10-1; 10-2-1, 10-3-1 and "
        "10-5-1 checked too) have no finite minimizer: the loss keeps creeping down while hidden units "
        "sharpen into steps and |w| grows without bound, so a final-loss comparison there only compares "
        f"where each solver was capped. The 10-5-1 row shows it (median |w| at the cap {wide_w[0]:.0f} / "
        f"{wide_w[1]:.0f}, from {wide_w0:.1f} at the start).",
        "",
        *summary,
        "",
        *per_seed,
    ]
    return lines, results


# --------------------------------------------------------------------------- where LM stops paying
def epoch_time(name, hidden, n, repeats=3):
    rng = np.random.default_rng(0)
    X = rng.uniform(-np.pi, np.pi, size=(n, 1)).astype(np.float32)
    y = np.sin(X)
    model = build((1, hidden, 1), "tanh", 0)
    step, _ = make_stepper(name, model, X, y)
    step()
    t = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - t) / repeats


def scaling_table(quick):
    hidden_sizes = [10, 30, 100, 300] if quick else [10, 30, 100, 300, 600]
    lines = [
        "| hidden units | parameters P | N | LM s/epoch | Adam s/epoch | LM / Adam | LM memory 8(2P^2+NP) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in (1000,):
        for h in hidden_sizes:
            p = 3 * h + 1
            lm, adam = epoch_time("LM", h, n), epoch_time("Adam", h, n)
            mem = 8 * (2 * p * p + n * p) / 2**20
            lines.append(f"| {h} | {p} | {n} | {lm:.4f} | {adam:.5f} | {lm / adam:.0f}x | {mem:.1f} MiB |")
            print(lines[-1], flush=True)
    for n in (100, 10000, 50000):
        h, p = 10, 31
        lm, adam = epoch_time("LM", h, n), epoch_time("Adam", h, n)
        mem = 8 * (2 * p * p + n * p) / 2**20
        lines.append(f"| {h} | {p} | {n} | {lm:.4f} | {adam:.5f} | {lm / adam:.0f}x | {mem:.1f} MiB |")
        print(lines[-1], flush=True)
    return lines


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="fewer sizes in the scaling table")
    parser.add_argument(
        "--minpack-only",
        action="store_true",
        help="run only the LM vs MINPACK comparison (5 seeds) and rewrite just its section of the results",
    )
    args = parser.parse_args()
    out = HERE / "results" / "second_order.md"
    if args.minpack_only:
        rewrite_minpack_section(out, 5)
        return
    t0 = time.perf_counter()
    tasks = [task_sine(), task_parity(3, 3), task_parity(4, 4), task_spirals(), task_diabetes()]
    table = comparison(tasks, args.seeds)
    minpack, _ = minpack_section(min(args.seeds, 5))
    scaling = scaling_table(args.quick)
    elapsed = time.perf_counter() - t0
    text = "\n".join(
        [
            "## Second-order training: LM, Gauss-Newton, natural gradient, L-BFGS vs Adam, SGD+momentum",
            "",
            f"Machine: {describe(('scipy',))}. Script: `benchmarks/second_order.py --seeds {args.seeds}`, "
            f"{elapsed:.0f} s in all.",
            "",
            f"Full batch, {args.seeds} seeds per cell (seed = the initial weights). An epoch is one weight "
            "update from the whole training set: one LM/GN step (however many mu trials it takes), one "
            "natural-gradient step (K-FAC, lr 0.5, damping 1e-3), one L-BFGS iteration (strong Wolfe, "
            "history 20), one Adam (lr 0.01) or SGD (lr 0.05, momentum 0.9) step. Caps: "
            f"{SECOND_CAP} epochs for LM/GN/NG, {FIRST_CAP} for L-BFGS/Adam/SGD (kept small so the script "
            "runs in under 10 minutes; a first-order method that fails here may succeed later). Medians of "
            "epochs and seconds are over the successful runs; MSE is on the training set, all targets "
            "regression-style MSE on the listed outputs (parity and spirals: 0/1 targets, linear output).",
            "",
            *table,
            "",
            *minpack,
            "",
            "### Where LM stops paying: time per epoch as the network and the data grow",
            "",
            "1-H-1 tanh net on sin(x), float32. LM's epoch costs O(N P^2 + P^3) time and 8(2P^2 + NP) "
            "bytes (J^T J, its Cholesky factor, and the Jacobian; `max_jacobian_rows` bounds the NP term); "
            "Adam's costs O(N P).",
            "",
            *scaling,
            "",
            READING,
        ]
    )
    out.write_text(text + "\n")
    print(f"wrote {out} in {elapsed:.0f} s")
    import subprocess

    subprocess.run([sys.executable, str(HERE / "write_benchmarks_md.py")], check=True)


MINPACK_HEADING = "### deltaprop LM vs SciPy MINPACK"
MINPACK_BULLET = "- **Against MINPACK**"


def rewrite_minpack_section(out: Path, seeds: int) -> None:
    """Rerun the MINPACK comparison; replace its section and the reading's MINPACK bullet in ``out``."""
    lines, _ = minpack_section(seeds)
    text = out.read_text()
    start = text.index(MINPACK_HEADING)
    end = text.index("\n### ", start + len(MINPACK_HEADING)) + 1
    text = text[:start] + "\n".join(lines) + "\n\n" + text[end:]
    text = _replace_bullet(text, _bullet(READING))
    out.write_text(text)
    print(f"rewrote the MINPACK section and reading bullet of {out}")
    print("BENCHMARKS.md is not rebuilt here: run python benchmarks/write_benchmarks_md.py")


def _bullet(text: str) -> str:
    start = text.index(MINPACK_BULLET)
    end = text.find("\n- **", start + 1)
    return text[start:] if end < 0 else text[start : end + 1]


def _replace_bullet(text: str, bullet: str) -> str:
    old = _bullet(text)
    return text.replace(old, bullet.rstrip("\n") + ("\n" if old.endswith("\n") else ""))


READING = """### Reading: does "LM converges faster than first-order gradient descent" hold?

- **Small nets, small data: yes, by a wide margin.** On sin(x) with a 1-10-1 net and on parity-3/4,
  LM reaches the target in tens of epochs where Adam needs hundreds to thousands and SGD+momentum
  often not at all within the cap; the wall time is lower too, because an LM epoch on P ~ 30
  parameters costs only ~3x an Adam epoch. Parity-4 (a hard, flat error surface) is solved only by
  LM within the caps. Gauss-Newton without damping is much less reliable than LM (singular J^T J;
  the line search stalls on parity-4 and spirals): the adaptive mu is what makes LM work.
- **Medium nets: fewer epochs, not less time.** On the two spirals (2-20-20-1, P = 501) LM still
  needs the fewest epochs, but each epoch solves a 501 x 501 system, so Adam gets there in less
  wall time. The scaling table shows why: LM's cost per epoch grows as N P^2 + P^3 against Adam's
  N P, from ~3x Adam at P = 31 to ~50x at P = 901 and ~90x at P = 1,801; memory grows as P^2
  (2 * 8 P^2 bytes, 13 MiB at P = 901, 5.8 GiB at P = 20,000), so LM is out of reach beyond a
  few thousand parameters whatever `max_jacobian_rows` does for the N P term.
- **More data alone hurts LM little**: at P = 31 its epoch stays within ~3-4x of Adam's from N = 100
  to N = 50,000 (both are linear in N), but with large N mini-batch first-order methods take many
  useful steps per epoch while LM, being full batch, takes one, so the per-epoch comparison here
  (full-batch Adam) flatters LM for big data sets.
- **Real regression (diabetes)**: LM, K-FAC, Adam and SGD+momentum all reach the modest target, LM
  in the fewest epochs and seconds; the data are noisy, so the fast convergence mostly buys a lower
  training error (overfitting), not a better model.
- **Natural gradient (K-FAC) and L-BFGS** are competitive on diabetes only and fail the tight targets
  on sin(x), parity and spirals within the caps: K-FAC's Kronecker factorization and damping limit how
  far its steps go near a minimum, and L-BFGS (torch's algorithm, float32 here) stops making progress
  once g . d > -tolerance_change.
- **Against MINPACK** (SciPy's `least_squares(method='lm')` on deltaprop's residuals and Jacobian,
  both run to tolerance 1e-10 from the same float64 start): where the problem has a minimum to agree
  on, they agree. On diabetes with a 10-1-1 tanh net all 5 seeds end at the same minimum (MSE 0.4687,
  relative difference < 2e-11, outputs within 2e-5) after ~20 Jacobians and ~3 ms each: 5/5 within
  1%. On sin(x) with the 1-10-1 net both fit the data down to its float32 rounding noise (final MSE
  1.1e-15 to 2.6e-15 against a floor of 2.1e-15; the two nets' outputs within 1.2e-7 of each other),
  but the last stretch is a crawl along a flat valley (cond(J) ~1e11) that takes ~1e5 Jacobians:
  MINPACK stopped on its tolerance in 4/5 seeds, deltaprop in 3/5 (2 hit the 200,000-step cap, still
  creeping), and the final MSEs agree within 1% on 1/5 seeds. On seeds 1 and 4 both solvers stopped
  on xtol at different points, 2% and 50% apart in MSE (4e-17 and 9e-16 absolute; on seed 4 MINPACK's
  weights had grown to |w| ~ 2400): different minima of a fit to rounding noise. In that tail deltaprop
  takes more iterations (median 186k vs 148k) and ~2x the time: trainlm's x10 / x0.1 schedule spends
  two residual evaluations per step and holds mu at a power of ten, so a step costs about 0.2 ms against
  MINPACK's 0.12 ms here, while on the bigger 10-5-1 problem deltaprop's step is the cheaper (about
  0.4 vs 0.75 ms: Cholesky on J^T J vs MINPACK's QR of J). The main table's 10-10-1 diabetes net, like 10-2-1
  to 10-5-1, has no finite minimizer (|w| grows without bound while the loss creeps down), so its final
  loss only says where each solver was stopped; that is why the earlier 1000-iteration comparison
  found 0/5 within 1%. The 1%-agreement goal is met on (d) with a well-posed net, not on (a), where it
  would test the last digits of a fit to float32 rounding.
"""


if __name__ == "__main__":
    main()
