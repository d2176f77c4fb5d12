"""Learning rules side by side: `deltaprop compare-rules` on digits and Fashion-MNIST, 3 seeds.

Every rule trains the same network from the same initial weights (per seed),
with the same split, optimizer (Adam, lr 1e-3), epochs and batches, through
`deltaprop.fit`: digits 64-128-128-10 ReLU for 30 epochs in batches of 32,
Fashion-MNIST 784-256-128-10 ReLU for 15 epochs in batches of 128 (10% of
the training set held out for the learning curves, the official 10,000 test
images for the score). Reported per rule: held-out test accuracy (mean and
range over seeds), seconds per epoch (median and range; they include the
alignment measurement, one extra backprop every 10th batch), and the mean
angle between the hidden layers' updates and the true gradient in the last
epoch. Runs are interleaved (seed outer, rule inner), so drift of a shared
machine hits every rule alike.

The papers' own headline figures are quoted beside ours (from the papers,
their official code or BioTorch; MNIST is not on this machine, so nothing
here reproduces them: different data, networks and budgets).

Run: ``python benchmarks/compare_rules.py`` (about ten minutes on 2 quiet
cores; needs Fashion-MNIST, ``apt-get install dataset-fashion-mnist``, and
skips it otherwise). ``--quick``: digits only, one seed, 2 epochs, a small
network; writes nothing. The full run writes benchmarks/results/compare_rules.md
and rebuilds BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from machine import describe  # noqa: E402

from deltaprop.cli import compare_rules  # noqa: E402
from deltaprop.rules import RULES  # noqa: E402

SEEDS = (0, 1, 2)

# The papers' headline figures (MNIST unless said otherwise), with the network they used.
PAPERS = {
    "backprop": "MNIST LeNet 0.84% error (BioTorch's baseline for feedback alignment)",
    "feedback-alignment": "MNIST LeNet 1.91% error vs backprop 0.84% (BioTorch)",
    "direct-feedback-alignment": "MNIST 1.45% error, fully connected, with dropout (Nokland 2016)",
    "difference-target-propagation": "MNIST 1.99% error, 784-7x240-10 tanh (official code's logs)",
    "hsic-bottleneck": "MNIST/Fashion-MNIST/CIFAR-10 'comparable to backpropagation' (Ma et al. 2020)",
    "synthetic-gradients": "MNIST/CIFAR-10 fully connected and conv nets trained with every layer decoupled, "
                           "close to backprop (Jaderberg et al. 2017; figures not quoted here)",
    "alternating-minimization": "MNIST/CIFAR-10/HIGGS competitive with backprop-trained Adam "
                                "(Choromanska et al. 2019; figures not quoted here)",
}


def arguments(dataset: str, quick: bool, seed: int) -> list[str]:
    args = ["--dataset", dataset, "--seed", str(seed)]
    return args + (["--epochs", "2", "--hidden", "32,32"] if quick else [])


def measure(dataset: str, quick: bool) -> tuple[str, dict[str, list[compare_rules.Result]]]:
    """(the network, {rule: [result per seed]}), every rule for every seed, interleaved."""
    parser = argparse.ArgumentParser()
    compare_rules.add_parser(parser.add_subparsers())
    results: dict[str, list[compare_rules.Result]] = {name: [] for name in RULES}
    network = ""
    for seed in SEEDS[:1] if quick else SEEDS:
        args = parser.parse_args(["compare-rules", *arguments(dataset, quick, seed)])
        settings, data, split = compare_rules._prepare(args)
        widths = [split[0].shape[1], *settings.hidden, len(data.class_names)]
        network = (f"{'-'.join(map(str, widths))} {settings.activation}, {settings.optimizer} "
                   f"lr={settings.lr:g}, {settings.epochs} epochs, batch {settings.batch_size}")
        for name in RULES:
            result = compare_rules.train_one(name, settings, data, split)
            results[name].append(result)
            print(f"{dataset} seed {seed} {name}: {result.test_accuracy:.4f}, "
                  f"{result.seconds_per_epoch:.2f} s/epoch, angle {result.mean_angle}", flush=True)
    return network, results


def spread(values: list[float], fmt: str, middle=statistics.mean) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(middle(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def table(dataset: str, network: str, results: dict[str, list[compare_rules.Result]]) -> list[str]:
    lines = [f"### {dataset}: {network}", "",
             "| rule | test accuracy % | epochs | s / epoch | angle to gradient (deg) | the paper's figure |",
             "|---|---:|---:|---:|---:|---|"]
    for name, runs in results.items():
        accuracy = spread([100 * r.test_accuracy for r in runs], ".2f")
        per_epoch = spread([r.seconds_per_epoch for r in runs], ".2f", statistics.median)
        angles = [r.mean_angle for r in runs if r.mean_angle is not None]
        angle = "0 (exact)" if name == "backprop" else (spread(angles, ".1f") if angles else "-")
        lines.append(f"| {name} | {accuracy} | {runs[0].epochs} | {per_epoch} | {angle} | {PAPERS[name]} |")
    return lines


def has_fashion_mnist() -> bool:
    from deltaprop.data import load_dataset

    try:
        load_dataset("fashion-mnist")
    except (FileNotFoundError, ImportError, OSError):
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="digits only, one seed, 2 epochs; writes nothing")
    args = parser.parse_args(argv)
    datasets = ["digits"] + ([] if args.quick or not has_fashion_mnist() else ["fashion-mnist"])
    sections = [table(name, *measure(name, args.quick)) for name in datasets]
    lines = [
        "## Learning rules: backprop and its alternatives on the same networks",
        "",
        describe(),
        "",
        f"`deltaprop compare-rules`, seeds {', '.join(map(str, SEEDS))} (mean and range over seeds; seconds: "
        "median and range). Every rule starts from the same weights per seed. Angle: mean over the hidden "
        "layers of the last epoch's angle between the rule's update and the true gradient of the same batch. "
        "The papers' figures are on MNIST (not on this machine) with their own networks: quoted for scale, "
        "not reproduced.",
    ]
    if "fashion-mnist" not in datasets:
        lines += ["", "Fashion-MNIST not found: only digits measured "
                  "(apt-get install dataset-fashion-mnist)."]
    for section in sections:
        lines += ["", *section]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.quick:
        return
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "compare_rules.md").write_text(text)
    subprocess.run([sys.executable, str(HERE / "write_benchmarks_md.py")], check=True)


if __name__ == "__main__":
    main()
