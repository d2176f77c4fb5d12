"""Second-order training (LM, Gauss-Newton, natural gradient, L-BFGS) against Adam and SGD+momentum.

Run: ``python benchmarks/second_order.py [--seeds 20] [--quick]``; writes
benchmarks/results/second_order.md and rebuilds BENCHMARKS.md.

Every run is full batch (these are small data sets), seeded, and counted in
epochs = passes over the training set that update the weights (one LM/GN
step, one L-BFGS iteration, one NG or first-order step). A run succeeds when
the training MSE falls to the task's target within its epoch cap; the caps are
kept small so the whole script runs in under 10 minutes on 2 cores.
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
        return lambda: opt.fit_step(model, loss_fn, Xt, yt), opt
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
        if getattr(opt, "stop_training", False):
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
def versus_minpack(task, seeds):
    from scipy.optimize import least_squares

    _, X, y, sizes, act, _ = task
    rows = []
    for seed in range(seeds):
        model = build(sizes, act, seed).double()
        Xd, yd = X.astype(np.float64), y.astype(np.float64)
        params = list(model.parameters())
        w0 = flatten_params(params)

        def residuals(w, model=model, params=params, Xd=Xd, yd=yd):
            assign_params(params, w)
            return (model_output(model, Xd) - yd).ravel()

        def jac(w, model=model, params=params, Xd=Xd):
            assign_params(params, w)
            return residual_jacobian(model, Xd)[1]

        t = time.perf_counter()
        sol = least_squares(residuals, w0, jac=jac, method="lm", max_nfev=1000)
        scipy_time = time.perf_counter() - t
        scipy_mse = float(np.mean(sol.fun**2))

        assign_params(params, w0)
        opt = LevenbergMarquardt(model.parameters())
        loss_fn = nn.MSELoss()
        t = time.perf_counter()
        previous, iters = np.inf, 0
        for iters in range(1, 1001):  # noqa: B007 - count kept after the loop
            opt.fit_step(model, loss_fn, Xd, yd)
            f = opt.last_step["objective_after"]
            if opt.stop_training or (previous - f) <= 1e-8 * max(f, 1e-30):  # MINPACK's ftol
                break
            previous = f
        ours_time = time.perf_counter() - t
        ours_mse = mse(model, Xd, yd)
        rows.append((ours_mse, scipy_mse, iters, sol.njev, ours_time, scipy_time))
    return rows


def minpack_table(tasks, seeds):
    lines = [
        "| task | seeds | final MSE within 1% | median MSE deltaprop / MINPACK | median iterations "
        "deltaprop / MINPACK (Jacobians) | median seconds deltaprop / MINPACK |",
        "|---|---|---|---|---|---|",
    ]
    for task in tasks:
        rows = versus_minpack(task, seeds)
        within = sum(abs(a - b) <= 0.01 * max(a, b) for a, b, *_ in rows)
        med = np.median(np.array(rows), axis=0)
        lines.append(
            f"| {task[0]} | {seeds} | {within}/{seeds} | {med[0]:.3e} / {med[1]:.3e} | "
            f"{med[2]:.0f} / {med[3]:.0f} | {med[4]:.3f} / {med[5]:.3f} |"
        )
        print(lines[-1], flush=True)
    return lines


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
    args = parser.parse_args()
    t0 = time.perf_counter()
    tasks = [task_sine(), task_parity(3, 3), task_parity(4, 4), task_spirals(), task_diabetes()]
    table = comparison(tasks, args.seeds)
    minpack = minpack_table([tasks[0], tasks[4]], min(args.seeds, 5))
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
            "### deltaprop LM vs SciPy MINPACK `least_squares(method='lm')`",
            "",
            "Same float64 nets and initial weights; MINPACK is given deltaprop's residuals and Jacobian. "
            "deltaprop LM runs until mu passes mu_max or a step improves 1/2||e||^2 by less than 1e-8 "
            "relative (MINPACK's ftol; at most 1000 steps); MINPACK runs to its default tolerances "
            "(max_nfev 1000). At most 5 seeds here (MINPACK takes seconds per run on diabetes). "
            "Iterations: deltaprop steps vs MINPACK Jacobian evaluations.",
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
    out = HERE / "results" / "second_order.md"
    out.write_text(text + "\n")
    print(f"wrote {out} in {elapsed:.0f} s")
    import subprocess

    subprocess.run([sys.executable, str(HERE / "write_benchmarks_md.py")], check=True)


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
  N P, from ~3x Adam at P = 31 to ~30x at P = 901; memory grows as P^2 (2 * 8 P^2 bytes, 13 MiB at
  P = 901, 5.8 GiB at P = 20,000), so LM is out of reach beyond a few thousand parameters whatever
  `max_jacobian_rows` does for the N P term.
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
- **Against MINPACK**: on sin(x) both drive the MSE to ~1e-11, far below any practical target, where
  a 1% agreement is meaningless (differences are in the noise of float64 residuals); on diabetes,
  from the same start, the two LM implementations follow different mu schedules (trainlm's x10/x0.1
  vs MINPACK's trust region) and can settle in different local minima of an over-parameterized net,
  so the final losses did not agree within 1% for any of 5 seeds in this run: both hit their
  iteration caps still improving (sin: MSE 1e-10 vs 2e-12; diabetes: 0.19 vs 0.23, deltaprop lower,
  2x less time). The 1%-agreement goal is NOT met. Per-iteration cost is comparable: MINPACK's QR on J
  vs our Cholesky on J^T J.
"""


if __name__ == "__main__":
    main()
