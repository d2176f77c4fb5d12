"""A convolutional net on Fashion-MNIST, written out in Python: the same net as ``--model cnn``.

    python examples/fashion_mnist_cnn.py            # 12 epochs, about 92% test accuracy
    python examples/fashion_mnist_cnn.py 2 5000     # 2 epochs on 5000 images (tested on 5000): a quick look

It builds the network layer by layer (PyTorch's names: Conv2d, BatchNorm2d,
MaxPool2d, ...), trains it with `deltaprop.fit`, reports the test accuracy,
and, with matplotlib, draws the first layer's 32 filters and the feature maps
and delta maps of one image (`deltaprop.inspect.trace` on a conv net).
Needs the data: ``apt-get install dataset-fashion-mnist`` (see
`deltaprop.data.load_fashion_mnist`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.inspect import trace


def network() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 28 -> 14
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),  # 14 -> 7
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10),
    )  # fmt: skip


def main(epochs: int = 12, limit: int | None = None, out: str | None = ".", seed: int = 0) -> dict:
    data = dp.data.load_fashion_mnist()
    X = data.X.reshape(-1, 1, 28, 28)[:limit]
    y = data.y[:limit]
    X_test, y_test = data.X_test.reshape(-1, 1, 28, 28)[:limit], data.y_test[:limit]
    scale = np.float32(1.0 / X.std())  # one factor for every pixel (see deltaprop.cli.images)
    dp.manual_seed(seed)
    model = network()
    history = dp.fit(model, X * scale, y, loss=nn.CrossEntropyLoss(), epochs=epochs, batch_size=128,
                     optimizer=optim.Adam(model.parameters(), lr=1e-3), metrics=["accuracy"], seed=seed)
    model.eval()
    with dp.no_grad():
        scores = np.concatenate([model(dp.tensor(X_test[i:i + 1000] * scale)).numpy()
                                 for i in range(0, len(X_test), 1000)])
    accuracy = float(np.mean(scores.argmax(axis=1) == y_test))
    print(f"test accuracy {accuracy:.4f} after {epochs} epoch(s) on {len(X)} images")
    seen = trace(model, X_test[:1] * scale, y_test[:1], loss="cross_entropy")
    if out is not None:
        _pictures(model, seen, Path(out))
    return {"accuracy": accuracy, "history": history.history, "trace": seen}


def _pictures(model: nn.Sequential, seen, folder: Path) -> None:
    try:
        from deltaprop.inspect.plots import plot_feature_maps, plot_filters

        plot_filters(model[0], str(folder / "fashion_filters.png"), title="first-layer filters")
        plot_feature_maps(seen[3], str(folder / "fashion_maps.png"))  # after ReLU: what the filters found
        plot_feature_maps(seen[1], str(folder / "fashion_deltas.png"), which="delta")
    except ImportError:  # no matplotlib
        pass


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    main(*arguments)
