"""What `deltaprop predict` reads for a recurrent model: a .npy array of sequences.

A model trained by ``deltaprop train --model rnn|lstm|gru`` takes batch-first
sequences (N, T, features) and gives one output per sequence (many-to-one)
or per step (many-to-many). Rows of a CSV cannot hold that shape, so
sequences come as a .npy array; a character model's input is text, which
``deltaprop generate`` handles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.cli.common import CLIError
from deltaprop.cli.images import read_array


def is_sequence_model(info: Any) -> bool:
    """True for a model file written by a sequence run of ``deltaprop train``."""
    return "sequence" in info.extra


def read_sequences(path: str, model: Any, info: Any) -> np.ndarray:
    """The (N, T, features) float32 sequences of a .npy file, checked against the model."""
    if info.extra.get("vocabulary") is not None or getattr(model, "vocab_size", None) is not None:
        raise CLIError("this is a character model: it continues text rather than scoring rows; use "
                       "'deltaprop generate MODEL --prompt TEXT'")
    if getattr(model, "many_to_many", False):
        raise CLIError("this model gives an output at every step; 'deltaprop predict' writes one row per "
                       "sequence, so load it in Python (deltaprop.load) to read every step")
    if Path(path).suffix != ".npy":
        raise CLIError(f"{path}: a recurrent model reads sequences from a .npy array of shape "
                       "(N, T, features); save them with numpy.save")
    X = read_array(path, "sequences")
    if X.dtype.kind not in "iuf":
        raise CLIError(f"{path} holds {X.dtype} values; sequences must be numbers")
    features = int(getattr(model, "input_size", 0)) or None
    if X.ndim == 2 and features == 1:
        X = X[:, :, None]  # one feature per step, given as (N, T)
    if X.ndim != 3 or len(X) == 0 or (features is not None and X.shape[2] != features):
        want = f"(N, T, {features})" if features else "(N, T, features)"
        trained = info.extra["sequence"]
        raise CLIError(f"the model takes sequences of shape {want} but {path} holds an array of shape "
                       f"{X.shape}; pass sequences like those it was trained on "
                       f"({trained.get('steps', 'T')} steps of {trained.get('dataset')})")
    return np.asarray(X, np.float32)
