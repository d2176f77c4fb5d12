"""``deltaprop evaluate MODEL --data FILE.csv --target COL``: score a saved model on labelled rows.

Classification: accuracy and the confusion matrix; regression: MSE, MAE and R^2.
"""

from __future__ import annotations

import argparse

import numpy as np

from deltaprop.cli import images
from deltaprop.cli.common import (
    CLIError,
    add_csv_options,
    confusion_matrix,
    encode_labels,
    format_confusion,
    parse_delimiter,
    read_table,
    regression_report,
)
from deltaprop.cli.modelfile import class_probabilities, load_model, run_model, select_features


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate",
        help="score a saved model on labelled data",
        description="Accuracy and confusion matrix (classification) or MSE/MAE/R^2 (regression) "
        "of a model written by 'deltaprop train', on a CSV file with the true values.",
    )
    p.add_argument("model", metavar="MODEL", help="model.npz written by 'deltaprop train'")
    p.add_argument("--data", required=True, metavar="FILE.csv", help="labelled rows (CSV with a header)")
    p.add_argument("--target", required=True, metavar="COLUMN", help="the column with the true values")
    add_csv_options(p)
    p.set_defaults(command=run)
    return p


def run(args: argparse.Namespace) -> int:
    model, info = load_model(args.model)
    delimiter = parse_delimiter(args.delimiter)
    table = read_table(args.data, args.target, delimiter=delimiter, encoding=args.encoding)
    X, y = select_features(table.X, table.feature_names, model, info, args.data), table.target()
    X = images.rows_to_model_input(X, info, args.data)
    outputs = run_model(model, X, args.model)
    if info.task == "classify":
        class_names = info.class_names or [str(i) for i in range(outputs.shape[1])]
        truth = encode_labels(y, class_names, args.data)
        pred = class_probabilities(outputs, info.output).argmax(axis=1)
        acc = float(np.mean(pred == truth))
        print(f"accuracy {acc:.4f} ({int((pred == truth).sum())}/{len(truth)})")
        print("confusion matrix (rows: true class, columns: predicted class):")
        print(format_confusion(confusion_matrix(truth, pred, len(class_names)), class_names))
        return 0
    y = np.asarray(y)
    if y.dtype.kind not in "fiub":
        raise CLIError(f"column {args.target!r} holds text but the model predicts numbers (regression)")
    report = regression_report(y.astype(np.float64), outputs.astype(np.float64))
    print(f"mse {report['mse']:.6g}  mae {report['mae']:.6g}  r2 {report['r2']:.4f}  ({len(y)} rows)")
    return 0
