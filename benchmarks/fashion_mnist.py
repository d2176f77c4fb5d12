"""Fashion-MNIST: `deltaprop train --dataset fashion-mnist` (its defaults) beside PyTorch, trained alike.

Both get the same standardized inputs (60,000 training images, 10,000 test
images), the same network (784-256-128-10 ReLU, PyTorch's default uniform
initialisation, which deltaprop's Linear copies), Adam, the same learning
rate, epochs and batch size. We time the training loop only (not loading),
and report test accuracy. The reference to beat is scikit-learn's
MLPClassifier with 100 ReLU units at about 87.7% (the Fashion-MNIST authors'
benchmark table); it is quoted, not measured here.

Needs the data (``apt-get install dataset-fashion-mnist``) and, for the
comparison, PyTorch (``pip install torch==2.13.0``). Run:
``python benchmarks/fashion_mnist.py`` (a few minutes on 2 cores).
"""

from __future__ import annotations

import json
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
from deltaprop.cli.train import PRESETS  # noqa: E402

SKLEARN_REFERENCE = 0.877


def run_deltaprop(seed: int) -> dict:
    """The CLI with its fashion-mnist defaults; returns its summary.json."""
    with tempfile.TemporaryDirectory() as out:
        code = deltaprop_main(["train", "--dataset", "fashion-mnist", "--out", out, "--no-progress",
                               "--seed", str(seed)])
        if code != 0:
            raise SystemExit(f"deltaprop train failed with exit code {code}")
        return json.loads((Path(out) / "summary.json").read_text())


def run_torch(seed: int) -> dict | None:
    """The same network, optimizer, epochs and batch size in PyTorch (CPU, eager)."""
    try:
        import torch
    except ImportError:
        return None
    from deltaprop.data import Standardizer, load_dataset

    preset = PRESETS["fashion-mnist"]
    hidden = [int(h) for h in preset["hidden"].split(",")]
    ds = load_dataset("fashion-mnist")
    X = np.asarray(ds.X, np.float32).reshape(len(ds.X), -1)
    X_test = np.asarray(ds.X_test, np.float32).reshape(len(ds.X_test), -1)
    scaler = Standardizer().fit(X)
    X, X_test = (np.asarray(scaler.transform(a), np.float32) for a in (X, X_test))
    y, y_test = np.asarray(ds.y, np.int64), np.asarray(ds.y_test, np.int64)

    torch.manual_seed(seed)
    layers, width = [], X.shape[1]
    for size in hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
        width = size
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=preset["lr"])
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(seed)
    batch = preset["batch_size"]

    start = time.perf_counter()
    for _ in range(preset["epochs"]):
        order = torch.randperm(len(Xt), generator=generator)
        for i in range(0, len(Xt), batch):
            idx = order[i : i + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        pred = model(torch.from_numpy(X_test)).argmax(dim=1).numpy()
    return {"test_accuracy": float(np.mean(pred == y_test)), "seconds": seconds,
            "version": torch.__version__, "threads": torch.get_num_threads()}


SEEDS = (0, 1, 2)


def spread(values: list[float], fmt: str) -> str:
    """Mean, and the range over seeds."""
    return f"{format(np.mean(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def main() -> None:
    runs = [run_deltaprop(seed) for seed in SEEDS]
    torch_runs = [run_torch(seed) for seed in SEEDS]
    torch_runs = [r for r in torch_runs if r is not None]
    s = runs[0]["settings"]
    net = runs[0]["network"]
    dp_acc = [r["test_accuracy"] for r in runs]
    dp_sec = [r["seconds"] for r in runs]
    lines = [
        "## Fashion-MNIST: `deltaprop train --dataset fashion-mnist` vs PyTorch",
        "",
        describe(("torch",)),
        "",
        f"Same data (60,000 train / 10,000 test, standardized), network {net} {s['activation']}, "
        f"{s['optimizer']} lr={s['lr']:g}, {s['epochs']} epochs, batch {s['batch_size']}, seeds "
        f"{', '.join(map(str, SEEDS))} (mean, and range over seeds). Seconds are the training loop only. "
        "Reference: scikit-learn MLPClassifier (100 ReLU units) about "
        f"{SKLEARN_REFERENCE:.1%} test accuracy (Fashion-MNIST benchmark table, not measured here).",
        "",
        "| trainer | test accuracy % | training seconds | seconds / epoch |",
        "|---|---:|---:|---:|",
        f"| deltaprop (CLI defaults) | {spread([100 * a for a in dp_acc], '.2f')} | "
        f"{spread(dp_sec, '.1f')} | {np.mean(dp_sec) / s['epochs']:.2f} |",
    ]
    if torch_runs:
        t_acc = [r["test_accuracy"] for r in torch_runs]
        t_sec = [r["seconds"] for r in torch_runs]
        lines.append(
            f"| PyTorch {torch_runs[0]['version']} eager CPU ({torch_runs[0]['threads']} threads) | "
            f"{spread([100 * a for a in t_acc], '.2f')} | {spread(t_sec, '.1f')} | "
            f"{np.mean(t_sec) / s['epochs']:.2f} |"
        )
        ratio = np.mean(t_sec) / np.mean(dp_sec)
        faster = "faster" if ratio > 1 else "slower"
        lines += ["", f"Speed: deltaprop takes {1 / ratio:.2f}x PyTorch's time "
                  f"({faster}; PyTorch seconds / deltaprop seconds = {ratio:.2f}). "
                  f"Accuracy: deltaprop {np.mean(dp_acc) - SKLEARN_REFERENCE:+.2%} vs the scikit-learn "
                  f"reference, {np.mean(dp_acc) - np.mean(t_acc):+.2%} vs PyTorch, every seed above "
                  f"{SKLEARN_REFERENCE:.1%}: {all(a > SKLEARN_REFERENCE for a in dp_acc)}."]
    else:
        lines += ["", "PyTorch not installed: no comparison (pip install torch==2.13.0)."]
    text = "\n".join(lines) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "fashion_mnist.md").write_text(text)
    print(text)
    import subprocess

    subprocess.run([sys.executable, str(HERE / "write_benchmarks_md.py")], check=True)


if __name__ == "__main__":
    main()
