"""deltaprop.sklearn's MLPs against scikit-learn's own, identical settings: accuracy (or R^2) and fit time.

Why: `deltaprop.sklearn.MLPClassifier` / `MLPRegressor` are meant as
drop-ins, so the question is whether swapping the import keeps the score and
shortens the wait. The goal: the same score within the seed-to-seed noise, in
at most half the time; and ``solver='lm'`` (Levenberg-Marquardt, deltaprop's
own) beating both on the small regression sets.

Data (inputs standardized on the training part; regression targets too,
which leaves R^2 unchanged): digits, breast cancer, diabetes (a 75/25
stratified or plain split, seeded), California housing if scikit-learn
finds it on disk (it is a download, so offline machines use Friedman #1
instead: 2000 rows, 10 features, noise 1.0), and Fashion-MNIST (its own
60,000/10,000 split; ``apt-get install dataset-fashion-mnist``).

Rows per data set, each with the same estimator settings (scikit-learn's
defaults unless the table says otherwise; Fashion-MNIST runs ``max_iter=20``):

- ``scikit-learn``: sklearn.neural_network's estimator on float64 data (its
  default precision);
- ``deltaprop float32``: deltaprop.sklearn's, default ``dtype='float32'``;
- ``deltaprop float64``: the same with ``dtype='float64'`` (scikit-learn's precision);
- regression sets also a second block in which every row has the small
  network Levenberg-Marquardt is made for (``hidden_layer_sizes=(10,)``):
  scikit-learn, deltaprop (adam), and ``deltaprop lm`` (``solver='lm'``).
  (With 100 hidden units the network has more weights than diabetes has
  rows, J^T J is singular, and LM is slow and overfits: not its use.)

Each cell is the median over 3 seeds (random_state and split), with the
spread (max - min); the implementations run interleaved seed by seed so a
shared machine's drift hits all alike. Run: ``python benchmarks/sklearn_vs_deltaprop.py``
(``--quick`` for a short smoke run on subsets that writes nothing); it writes
benchmarks/results/sklearn_vs_deltaprop.md and rebuilds BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from machine import describe  # noqa: E402

SEEDS = (0, 1, 2)


# --------------------------------------------------------------------------- data


def _split(X, y, seed: int, classify: bool):
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=seed,
                                                        stratify=y if classify else None)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    if not classify:
        y_scaler = StandardScaler().fit(y_train[:, None])
        y_train, y_test = (y_scaler.transform(v[:, None]).ravel() for v in (y_train, y_test))
    return X_train, X_test, y_train, y_test


def _california_or_friedman():
    from sklearn.datasets import fetch_california_housing, make_friedman1

    try:
        X, y = fetch_california_housing(return_X_y=True, download_if_missing=False)
        return "California housing", X, y
    except (OSError, ValueError):
        X, y = make_friedman1(n_samples=2000, noise=1.0, random_state=0)
        return "Friedman #1 (California housing is not on disk)", X, y


def small_sets(quick: bool) -> list[tuple[str, bool, Callable[[int], tuple]]]:
    """(name, is classification, split(seed) -> X_train, X_test, y_train, y_test)."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

    sets = [("digits", True, load_digits(return_X_y=True)),
            ("breast cancer", True, load_breast_cancer(return_X_y=True)),
            ("diabetes", False, load_diabetes(return_X_y=True))]
    name, X, y = _california_or_friedman()
    if quick:
        X, y = X[:1000], y[:1000]
    sets.append((name, False, (X, y)))
    return [(n, c, (lambda seed, X=X, y=y, c=c: _split(X, y, seed, c))) for n, c, (X, y) in sets]


def fashion_mnist(quick: bool):
    from deltaprop.data import load_fashion_mnist

    try:
        ds = load_fashion_mnist()
    except FileNotFoundError as exc:
        print(f"skipping Fashion-MNIST: {exc}", flush=True)
        return None
    X, X_test = ds.X.reshape(len(ds.X), -1), ds.X_test.reshape(len(ds.X_test), -1)
    y, y_test = ds.y, ds.y_test
    if quick:
        X, y, X_test, y_test = X[:3000], y[:3000], X_test[:1000], y_test[:1000]
    mean, std = X.mean(axis=0), X.std(axis=0) + 1e-8
    X, X_test = ((X - mean) / std).astype(np.float64), ((X_test - mean) / std).astype(np.float64)
    return lambda seed: (X, X_test, y, y_test)


# --------------------------------------------------------------------------- estimators


def variants(classify: bool, small_network: bool) -> dict[str, Callable[..., object]]:
    """Row name -> factory(**settings) for one data set."""
    from sklearn import neural_network

    import deltaprop.sklearn as dps

    ours, theirs = ((dps.MLPClassifier, neural_network.MLPClassifier) if classify
                    else (dps.MLPRegressor, neural_network.MLPRegressor))
    if small_network:  # Levenberg-Marquardt's P x P systems want a small network: all rows get one
        rows = {"scikit-learn": theirs, "deltaprop float32": ours,
                "deltaprop lm": lambda **kw: ours(solver="lm", **kw)}
        return {f"{name}, (10,)": (lambda f: lambda **kw: f(hidden_layer_sizes=(10,), **kw))(factory)
                for name, factory in rows.items()}
    return {
        "scikit-learn": lambda **kw: theirs(**kw),
        "deltaprop float32": lambda **kw: ours(**kw),
        "deltaprop float64": lambda **kw: ours(dtype="float64", **kw),
    }


def measure(factory, split, seed: int, settings: dict) -> tuple[float, float]:
    """(test score, fit seconds) of one estimator on one seed's split."""
    X_train, X_test, y_train, y_test = split(seed)
    estimator = factory(random_state=seed, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter: the same for every row
        start = time.perf_counter()
        estimator.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    return float(estimator.score(X_test, y_test)), seconds


def run_set(name: str, classify: bool, split, settings: dict, rows: dict) -> list[dict]:
    results = {row: {"scores": [], "seconds": []} for row in rows}
    for seed in SEEDS:  # interleaved: every row once per seed
        for row, factory in rows.items():
            score, seconds = measure(factory, split, seed, settings)
            results[row]["scores"].append(score)
            results[row]["seconds"].append(seconds)
            print(f"  {name} | {row} | seed {seed}: score {score:.4f}, {seconds:.2f} s", flush=True)
    return [{"data": name, "row": row, "metric": "accuracy" if classify else "R^2", **values}
            for row, values in results.items()]


# --------------------------------------------------------------------------- report


def _cell(values: list[float], digits: int) -> str:
    return f"{statistics.median(values):.{digits}f} ± {max(values) - min(values):.{digits}f}"


def table(records: list[dict]) -> str:
    lines = ["| data | estimator | test score (median ± spread) | fit seconds | time vs scikit-learn |",
             "|---|---|---|---|---|"]
    for record in records:
        base = next((r for r in records if r["data"] == record["data"]
                     and r["row"] == "scikit-learn" + record["row"][len(record["row"].split(",")[0]):]), None)
        ratio = ""
        if base is not None:
            ratio = f"{statistics.median(record['seconds']) / statistics.median(base['seconds']):.2f}x"
        lines.append(f"| {record['data']} | {record['row']} | {record['metric']} "
                     f"{_cell(record['scores'], 4)} | {_cell(record['seconds'], 2)} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run on subsets; writes nothing")
    args = parser.parse_args(argv)
    global SEEDS
    if args.quick:
        SEEDS = (0,)
    records: list[dict] = []
    small_settings = dict(max_iter=30) if args.quick else {}
    for name, classify, split in small_sets(args.quick):
        print(f"{name}:", flush=True)
        records += run_set(name, classify, split, small_settings, variants(classify, small_network=False))
        if not classify:
            records += run_set(name, classify, split, small_settings, variants(classify, small_network=True))
    fashion = fashion_mnist(args.quick)
    if fashion is not None:
        print("Fashion-MNIST:", flush=True)
        settings = dict(max_iter=3 if args.quick else 20)
        records += run_set("Fashion-MNIST", True, fashion, settings, variants(True, small_network=False))
    report = table(records)
    print(report)
    if args.quick:
        return
    section = (
        "## scikit-learn's MLPs vs deltaprop.sklearn\n\n"
        f"Machine: {describe(('scikit-learn',))}.\n"
        "Same settings for every row of a data set (scikit-learn's defaults: 100 ReLU units, adam, "
        "batch 200, alpha 1e-4, tol 1e-4; Fashion-MNIST `max_iter=20`); median over seeds "
        f"{', '.join(map(str, SEEDS))} with the spread, implementations interleaved. "
        "Command: `python benchmarks/sklearn_vs_deltaprop.py`.\n\n" + report + "\n"
    )
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "sklearn_vs_deltaprop.md").write_text(section)
    subprocess.run([sys.executable, str(HERE / "write_benchmarks_md.py")], check=True)


if __name__ == "__main__":
    main()
