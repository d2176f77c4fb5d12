"""``deltaprop predict MODEL --data FILE.csv``: run a trained model on new rows.

Writes one row per input row: the predicted class (by name) and each class's
probability, or the predicted value(s) for regression; to --out or stdout.
"""

from __future__ import annotations

import argparse
import csv
import sys

import numpy as np

from deltaprop.cli import images, sequence_input
from deltaprop.cli.common import add_csv_options, parse_delimiter, read_table, say
from deltaprop.cli.modelfile import class_probabilities, load_model, run_model, select_features
from deltaprop.cli.output import write_text_file


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "predict",
        help="predict with a saved model",
        description="Predict with a model written by 'deltaprop train'. Columns are matched by name "
        "when the CSV has the training column names (extra columns such as the label are ignored).",
    )
    p.add_argument("model", metavar="MODEL", help="model.npz written by 'deltaprop train'")
    p.add_argument("--data", required=True, metavar="FILE",
                   help="rows to predict (CSV with a header), or images: an IDX file or a .npy array")
    p.add_argument("--out", metavar="FILE.csv", help="where to write predictions (default: stdout)")
    add_csv_options(p)
    p.set_defaults(command=run)
    return p


def predictions_table(model, info, X: np.ndarray, source: str) -> tuple[list[str], list[list]]:
    """Header and rows of the predictions for the feature matrix X."""
    outputs = run_model(model, X, source)
    if info.task == "classify":
        names = info.class_names or [str(i) for i in range(outputs.shape[1])]
        probs = class_probabilities(outputs, info.output)
        header = ["prediction", *(f"p_{n}" for n in names)]
        rows = [[names[int(i)], *(f"{p:.6g}" for p in row)] for i, row in zip(probs.argmax(1), probs,
                                                                               strict=True)]
        return header, rows
    base = info.target_name or "prediction"
    header = [base] if outputs.shape[1] == 1 else [f"{base}_{j}" for j in range(outputs.shape[1])]
    return header, [[f"{v:.6g}" for v in row] for row in outputs]


def run(args: argparse.Namespace) -> int:
    model, info = load_model(args.model)
    if sequence_input.is_sequence_model(info):
        X = sequence_input.read_sequences(args.data, model, info)
    elif images.is_image_file(args.data):
        X = images.read_images(args.data, model, info)
    else:
        # the CSV the model was trained on may be passed as it is: its label column is skipped
        label = info.target_name if info.target_name not in info.feature_names else None
        table = read_table(args.data, label, delimiter=parse_delimiter(args.delimiter),
                           encoding=args.encoding, target_optional=True)
        X = select_features(table.X, table.feature_names, model, info, args.data)
        X = images.rows_to_model_input(X, info, args.data)
    header, rows = predictions_table(model, info, X, args.model)
    if args.out:
        write_text_file(args.out, lambda f: csv.writer(f).writerows([header, *rows]))
        say(f"wrote {len(rows)} predictions to {args.out}")
    else:
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        writer.writerows(rows)
    return 0
