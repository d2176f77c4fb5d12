"""``deltaprop explain``: backpropagation worked through step by step, with real numbers.

With no arguments it walks the classic single-neuron example (inputs 0.1 and
0.3, weights 0.5 and 0.2, bias 1.83, target 0.03, sigmoid, E = 1/2 (t - p)^2,
learning rate 0.01): forward pass, error, each chain-rule factor, the
gradients, the update and the next forward pass. Every number is computed by
deltaprop (`derivative_chain`, itself checked against the engine's
backward), not typed in.

``--network 2,3,1`` walks a small multi-layer net in matrix form instead;
``--steps N`` repeats N updates and shows the error falling; ``--cost``
prints the backprop-versus-naive cost table of `gradient_cost`; ``--conv``
walks one convolution (`deltaprop.inspect.explain_conv`).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from deltaprop import nn
from deltaprop.inspect.chain import derivative_chain
from deltaprop.inspect.trace import dense_trace, trace

__all__ = ["build_parser", "main", "single_neuron"]

_LOSS_FORMULA = {
    "squared_error": ("E = 1/2 (t - prediction)^2", "prediction - t"),
    "mse": ("E = (prediction - t)^2", "2 (prediction - t)"),
    "l1": ("E = |prediction - t|", "sign(prediction - t)"),
    "huber": ("E = huber(prediction - t)", "clip(prediction - t, -1, 1)"),
    "bce": ("E = -(t log p + (1 - t) log(1 - p))", "(p - t) / (p (1 - p))"),
}
_ACTIVATION_FORMULA = {
    "sigmoid": ("1 / (1 + e^-s)", "prediction (1 - prediction)"),
    "tanh": ("tanh(s)", "1 - prediction^2"),
    "relu": ("max(0, s)", "1 if s > 0 else 0"),
    "identity": ("s", "1"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deltaprop explain",
        description="Walk through backpropagation step by step with real numbers.",
    )
    p.add_argument("--inputs", default="0.1,0.3", help="comma-separated inputs x (default 0.1,0.3)")
    p.add_argument("--weights", default="0.5,0.2", help="comma-separated weights w (default 0.5,0.2)")
    p.add_argument("--bias", type=float, default=1.83, help="bias b (default 1.83)")
    p.add_argument("--target", default="0.03", help="target t (comma-separated for several outputs)")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
    p.add_argument("--activation", default="sigmoid", help="sigmoid, tanh, relu, identity, ...")
    p.add_argument("--loss", default="squared_error", help="squared_error, mse, l1, huber, bce, ...")
    p.add_argument("--steps", type=int, default=1, help="number of gradient-descent updates to show")
    p.add_argument("--network", default=None, help="layer sizes such as 2,3,1: walk a multi-layer net")
    p.add_argument("--seed", type=int, default=0, help="seed for the --network weights")
    p.add_argument("--cost", action="store_true", help="print backprop vs naive gradient cost")
    p.add_argument("--bptt", action="store_true",
                   help="backpropagation through time: a 2-unit RNN unrolled over --time-steps steps")
    p.add_argument("--time-steps", type=int, default=4, help="steps of the --bptt walk-through (default 4)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="with --bptt: also plot ||dL/dh_t|| against t for a tanh RNN, an LSTM and a GRU")
    p.add_argument("--conv", action="store_true",
                   help="walk one convolution (4x4 input, 2x2 kernel) through forward and backward by hand")
    p.add_argument("--stride", type=int, default=1, help="--conv: the convolution's stride, 1 or 2")
    return p


def _floats(text: str, what: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in str(text).split(",") if v.strip()], dtype=np.float64)
    except ValueError:
        raise ValueError(f"--{what}: expected comma-separated numbers, got {text!r}") from None


def _activation(name: str) -> nn.Module | None:
    return None if name.lower() in ("identity", "linear", "none") else nn.activation(name)


def _neuron(w: np.ndarray, b: float, activation: str) -> nn.Sequential:
    linear = nn.Linear(w.size, 1, dtype=np.float64)
    linear.weight.array[...] = w.reshape(1, -1)
    linear.bias.array[...] = b
    act = _activation(activation)
    return nn.Sequential(linear) if act is None else nn.Sequential(linear, act)


def single_neuron(
    x: np.ndarray,
    w: np.ndarray,
    b: float,
    t: float,
    lr: float,
    activation: str = "sigmoid",
    loss: str = "squared_error",
    steps: int = 1,
    out=None,
) -> list[float]:
    """Print the single-neuron walk-through; return the error before each update and after the last."""
    out = out or sys.stdout
    say = lambda text="": print(text, file=out)  # noqa: E731
    if x.size != w.size:
        raise ValueError(f"explain: {x.size} inputs but {w.size} weights; give as many --weights as --inputs")
    act_key = activation.lower()
    act_formula, act_prime = _ACTIVATION_FORMULA.get(act_key, (f"{activation}(s)", f"{activation}'(s)"))
    loss_formula, loss_prime = _LOSS_FORMULA.get(loss, (f"E = {loss}(prediction, t)", "from the loss"))
    names = [f"w{k + 1}" for k in range(w.size)]
    say("Backpropagation through one neuron, step by step")
    say("=" * 50)
    say("inputs  " + ", ".join(f"x{k + 1} = {v:g}" for k, v in enumerate(x)))
    say(
        "weights "
        + ", ".join(f"{n} = {v:.11g}" for n, v in zip(names, w, strict=False))
        + f", bias b = {b:.11g}"
    )
    say(f"target t = {t:g}, activation {activation}, loss {loss_formula}, learning rate {lr:g}")
    errors = []
    for step in range(1, steps + 1):
        model = _neuron(w, b, activation)
        chains = [derivative_chain(model, x, t, loss, ("0.weight", (0, k)), lr) for k in range(w.size)]
        bias_chain = derivative_chain(model, x, t, loss, ("0.bias", (0,)), lr)
        tr = chains[0].trace
        s, p, err = float(tr[1].z[0]), float(tr.prediction[0]), tr.loss
        errors.append(err)
        say()
        say(f"--- update {step} " + "-" * 34)
        terms = " + ".join(f"{wk:.11g}*{xk:g}" for wk, xk in zip(w, x, strict=False))
        say("1. forward pass")
        say(f"   s = w.x + b = {terms} + {b:.11g} = {s:.9g}")
        say(f"   prediction = {act_formula} = {p:.9f}")
        say("2. error")
        say(f"   {loss_formula} = {err:.9f}")
        say("3. chain rule, factor by factor")
        dE_dp = chains[0].factors[0].value
        say(f"   dE/dprediction = {loss_prime} = {dE_dp:.9f}")
        if len(chains[0].factors) == 3:
            say(f"   dprediction/ds = {act_prime} = {chains[0].factors[1].value:.9f}")
        for k, chain in enumerate(chains):
            say(f"   ds/d{names[k]} = x{k + 1} = {chain.factors[-1].value:g}")
        say("   ds/db = 1  (s = w.x + b, so s grows one for one with b)")
        say("4. gradients = product of the factors")
        for k, chain in enumerate(chains):
            product = " * ".join(f"{f.value:.9g}" for f in chain.factors)
            say(f"   dE/d{names[k]} = {product} = {chain.gradient:.9f}")
        product = " * ".join(f"{f.value:.9g}" for f in bias_chain.factors)
        say(f"   dE/db = {product} = {bias_chain.gradient:.9f}")
        if step == 1:
            say("   (The tutorial this example comes from says ds/db = 0 and so never moves the bias;")
            say(f"    that is wrong: ds/db = 1, and the bias gradient is {bias_chain.gradient:.9f}.)")
        say("5. gradient-descent update: new = old - learning rate * gradient")
        for k, chain in enumerate(chains):
            say(f"   {names[k]} = {chain.value:.11g} - {lr:g} * {chain.gradient:.9f} = {chain.updated:.11g}")
        say(
            f"   b  = {bias_chain.value:.11g} - {lr:g} * {bias_chain.gradient:.9f} "
            f"= {bias_chain.updated:.11g}"
        )
        w = np.array([c.updated for c in chains])
        b = bias_chain.updated
    after = dense_trace(_neuron(w, b, activation), x, t, loss)
    errors.append(after.loss)
    say()
    say("next forward pass with the updated weights")
    say(
        f"   s = {float(after[1].z[0]):.9g}, prediction = {float(after.prediction[0]):.9f}, "
        f"error = {after.loss:.9f}"
    )
    change = "down" if errors[-1] < errors[0] else "up"
    say(
        f"   the error went {change}: {errors[0]:.9f} -> {errors[-1]:.9f} "
        f"(after {steps} update{'s' if steps > 1 else ''})"
    )
    if steps > 1:
        say()
        say("update  error")
        for k, e in enumerate(errors):
            say(f"{k:>6}  {e:.9f}")
    return errors


def network(
    sizes: list[int],
    x: np.ndarray,
    t: np.ndarray,
    lr: float,
    activation: str,
    loss: str,
    steps: int,
    seed: int,
    out=None,
) -> list[float]:
    """Print the matrix-form trace of a small multi-layer net, then the error over updates."""
    out = out or sys.stdout
    say = lambda text="": print(text, file=out)  # noqa: E731
    if len(sizes) < 2:
        raise ValueError(f"--network needs at least two sizes such as 2,3,1, got {sizes}")
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=False):
        linear = nn.Linear(n_in, n_out, dtype=np.float64)
        linear.weight.array[...] = rng.uniform(-1, 1, (n_out, n_in))
        linear.bias.array[...] = rng.uniform(-1, 1, n_out)
        layers.append(linear)
        act = _activation(activation)
        if act is not None:
            layers.append(act)
    model = nn.Sequential(*layers)
    if x.size != sizes[0]:
        x = np.round(rng.uniform(0, 1, sizes[0]), 2)
    if t.size != sizes[-1]:
        t = np.round(rng.uniform(0, 1, sizes[-1]), 2)
    say(f"Backpropagation through a {'-'.join(map(str, sizes))} network ({activation}), in matrix form")
    say(f"x = {x}, target t = {t}, learning rate {lr:g}, weights drawn with seed {seed}")
    say()
    errors = []
    for step in range(1, steps + 1):
        tr = trace(model, x, t, loss)
        errors.append(tr.loss)
        if step == 1:
            say(str(tr))
            say()
            say("update: W^l <- W^l - lr * dC/dW^l, b^l <- b^l - lr * dC/db^l")
        grads = tr.gradients()
        for name, p in model.named_parameters():
            p.array -= lr * grads[name]
    errors.append(trace(model, x, t, loss).loss)
    say(f"error before: {errors[0]:.9f}; after {steps} update(s): {errors[-1]:.9f}")
    if steps > 1:
        say("update  error")
        for k, e in enumerate(errors):
            say(f"{k:>6}  {e:.9f}")
    return errors


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``deltaprop explain``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.steps < 1:
            raise ValueError(f"--steps must be at least 1, got {args.steps}")
        if args.bptt:
            from deltaprop.inspect.explain_bptt import print_bptt

            print_bptt(args.time_steps, args.seed)
            if args.plot:
                from deltaprop.inspect import through_time

                through_time.plot_gradient_through_time(through_time.adding_problem_gradients(), args.plot)
                print(f"wrote {args.plot}")
            return 0
        if args.cost:
            from deltaprop.inspect.cost import gradient_cost

            print(gradient_cost())
            return 0
        if args.conv:
            from deltaprop.inspect.explain_conv import explain_convolution

            explain_convolution(stride=args.stride, seed=args.seed)
            return 0
        x = _floats(args.inputs, "inputs")
        t = _floats(args.target, "target")
        if args.network:
            sizes = [int(v) for v in args.network.split(",") if v.strip()]
            network(sizes, x, t, args.lr, args.activation, args.loss, args.steps, args.seed)
            return 0
        if t.size != 1:
            raise ValueError(f"one neuron has one output, but --target has {t.size} values; use --network")
        single_neuron(
            x,
            _floats(args.weights, "weights"),
            args.bias,
            float(t[0]),
            args.lr,
            args.activation,
            args.loss,
            args.steps,
        )
    except ValueError as exc:
        print(f"deltaprop explain: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
