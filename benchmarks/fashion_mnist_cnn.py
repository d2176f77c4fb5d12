"""Fashion-MNIST with the image models: `deltaprop train --model cnn|lenet|mlp` beside PyTorch, trained alike.

For each model, the CLI with its defaults (one seed), and PyTorch with the
same architecture (layer for layer, PyTorch's default initialisation, which
deltaprop's layers copy), the same inputs (image models: the pixels divided
by their standard deviation, as `deltaprop.cli.images` does; mlp: per-pixel
standardization), Adam with the same learning rate, epochs, batch size and
dropout (and the cnn's cosine learning-rate schedule). Seconds are the
training loop only; accuracy is on the 10,000 test images. Goal: ``--model
cnn`` at 91.5% or more (moonshot 92.5%) in under 5 minutes on 2 cores.

Needs the data (``apt-get install dataset-fashion-mnist``) and PyTorch for
the comparison. Run ``python benchmarks/fashion_mnist_cnn.py`` (about
15 minutes on 2 quiet cores; ``--models cnn`` for one; ``--quick``: a smoke
run of the script, one epoch of the cnn on the digits, nothing written).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from machine import describe  # noqa: E402

from deltaprop.cli import main as deltaprop_main  # noqa: E402
from deltaprop.cli.images import MODEL_PRESETS  # noqa: E402

MODELS = ("cnn", "lenet", "mlp")


def run_deltaprop(model: str, seed: int, quick: bool = False) -> dict:
    """The CLI with its defaults for the model; returns its summary.json (quick: 1 epoch on the digits)."""
    with tempfile.TemporaryDirectory() as out:
        data = ["--dataset", "digits", "--epochs", "1"] if quick else ["--dataset", "fashion-mnist"]
        argv = ["train", *data, "--model", model, "--out", out, "--no-progress", "--seed", str(seed)]
        if deltaprop_main(argv) != 0:
            raise SystemExit(f"deltaprop train --model {model} failed")
        return json.loads((Path(out) / "summary.json").read_text())


def torch_model(model: str, settings: dict):
    import torch.nn as tnn

    if model == "cnn":
        layers, c, side = [], 1, 28
        for width in (32, 64):
            layers += [tnn.Conv2d(c, width, 3, padding=1), tnn.BatchNorm2d(width), tnn.MaxPool2d(2),
                       tnn.ReLU()]
            c, side = width, side // 2
        layers += [tnn.Flatten(), tnn.Linear(c * side * side, settings["hidden"][0]), tnn.ReLU()]
        if settings["dropout"]:
            layers.append(tnn.Dropout(settings["dropout"]))
        return tnn.Sequential(*layers, tnn.Linear(settings["hidden"][0], 10))
    if model == "lenet":
        return tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
                              tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
                              tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
                              tnn.Linear(84, 10))
    layers, width = [], 784
    for size in settings["hidden"]:
        layers += [tnn.Linear(width, size), tnn.ReLU()]
        width = size
    return tnn.Sequential(*layers, tnn.Linear(width, 10))


def run_torch(model: str, settings: dict, seed: int) -> dict | None:
    """The same model, data scaling and training settings in PyTorch (CPU, eager)."""
    try:
        import torch
    except ImportError:
        return None
    from deltaprop.data import Standardizer, load_fashion_mnist

    ds = load_fashion_mnist()
    if model == "mlp":
        scaler = Standardizer().fit(ds.X)
        X, X_test = (np.asarray(scaler.transform(a), np.float32) for a in (ds.X, ds.X_test))
    else:
        scale = np.float32(1.0 / np.std(ds.X, dtype=np.float64))
        X, X_test = (a.reshape(-1, 1, 28, 28) * scale for a in (ds.X, ds.X_test))
    torch.manual_seed(seed)
    net = torch_model(model, settings)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings["lr"])
    schedule = MODEL_PRESETS.get(model, {}).get("fashion-mnist", {}).get("lr_schedule")
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings["epochs"]) if schedule else None
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(ds.y)
    generator = torch.Generator().manual_seed(seed)
    batch = settings["batch_size"]
    start = time.perf_counter()
    for _ in range(settings["epochs"]):
        order = torch.randperm(len(Xt), generator=generator)
        for i in range(0, len(Xt), batch):
            idx = order[i:i + batch]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(net(Xt[idx]), yt[idx]).backward()
            optimizer.step()
        if cosine is not None:
            cosine.step()
    seconds = time.perf_counter() - start
    net.eval()
    with torch.no_grad():
        pred = net(torch.from_numpy(np.ascontiguousarray(X_test))).argmax(dim=1).numpy()
    return {"test_accuracy": float(np.mean(pred == ds.y_test)), "seconds": seconds,
            "version": torch.__version__, "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: one epoch of the cnn on the digits, no PyTorch; writes nothing")
    args = parser.parse_args(argv)
    models = ["cnn"] if args.quick else args.models
    rows = []
    for model in models:
        mine = run_deltaprop(model, args.seed, args.quick)
        s = mine["settings"]
        theirs = None if args.quick else run_torch(model, s, args.seed)
        what = (f"{mine['network']}, adam lr={s['lr']:g}, {s['epochs']} epochs, batch {s['batch_size']}"
                + (f", dropout {s['dropout']:g}" if s.get("dropout") else ""))
        rows.append(f"| {model} | {what} | deltaprop | {100 * mine['test_accuracy']:.2f} | "
                    f"{mine['seconds']:.0f} |")
        if theirs:
            rows.append(f"| {model} | (same) | PyTorch {theirs['version']} ({theirs['threads']} threads) | "
                        f"{100 * theirs['test_accuracy']:.2f} | {theirs['seconds']:.0f} |")
        print("\n".join(rows[-2:]), flush=True)
    text = "\n".join([
        "## Fashion-MNIST with the image models: `deltaprop train --model cnn|lenet|mlp` vs PyTorch",
        "",
        describe(("torch",)),
        "",
        f"Seed {args.seed}; each model with the CLI's defaults, PyTorch trained the same way (same layers, "
        "data scaling, optimizer, epochs, batch size). Test accuracy on the 10,000 test images; seconds "
        "of the training loop. Goal for `--model cnn`: >= 91.5% (moonshot 92.5%) in under 5 minutes on 2 "
        "cores. Produced by `python benchmarks/fashion_mnist_cnn.py`.",
        "",
        "| model | network and training | trainer | test accuracy % | training seconds |",
        "|---|---|---|---:|---:|",
        *rows,
    ]) + "\n"
    print(text)
    if args.quick:
        return
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "fashion_mnist_cnn.md").write_text(text)
    subprocess.run([sys.executable, str(HERE / "write_benchmarks_md.py")], check=True)


if __name__ == "__main__":
    main()
