"""examples/ported: each pair differs only in its imports, and PyTorch and deltaprop reach the same loss."""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1] / "examples" / "ported"
# each pair and the (small) arguments its comparison runs with
PAIRS = {
    "regression": ["--steps", "300"],
    "moons": ["--steps", "30"],
    "softmax_regression": ["--epochs", "2", "--samples", "400"],
    "mnist_cnn": ["--epochs", "1", "--samples", "192", "--dropout", "0"],
}
IMPORTS = {
    "import torch": "import deltaprop as torch",
    "import torch.nn as nn": "import deltaprop.nn as nn",
    "import torch.nn.functional as F": "import deltaprop.nn.functional as F",
    "from torch.optim.lr_scheduler import StepLR": "from deltaprop.optim.lr_scheduler import StepLR",
    "from torch.utils.data import DataLoader, TensorDataset": (
        "from deltaprop.utils.data import DataLoader, TensorDataset"
    ),
}


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"ported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _final_loss(path: Path, argv: list[str]) -> float:
    with contextlib.redirect_stdout(io.StringIO()):
        return _load(path).main(argv)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_the_two_copies_differ_only_in_their_import_lines(name):
    ours = (HERE / f"{name}_deltaprop.py").read_text().splitlines()
    theirs = (HERE / f"{name}_torch.py").read_text().splitlines()
    assert len(ours) == len(theirs)
    changed = [(a, b) for a, b in zip(theirs, ours, strict=True) if a != b]
    assert changed, "the copies are identical: one of them does not import deltaprop"
    for torch_line, deltaprop_line in changed:
        assert IMPORTS.get(torch_line) == deltaprop_line, f"{name}: {torch_line!r} -> {deltaprop_line!r}"


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_pytorch_and_deltaprop_reach_the_same_loss(name):
    pytest.importorskip("torch")
    theirs = _final_loss(HERE / f"{name}_torch.py", PAIRS[name])
    ours = _final_loss(HERE / f"{name}_deltaprop.py", PAIRS[name])
    assert ours == pytest.approx(theirs, rel=1e-4)
