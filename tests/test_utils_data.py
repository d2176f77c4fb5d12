"""deltaprop.utils.data against torch.utils.data: the same batches and collation, and fit(model, loader)."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.utils.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(0)
X = RNG.standard_normal((10, 3)).astype(np.float32)
Y = RNG.integers(0, 2, 10)


def _batches(loader):
    return [[np.asarray(part) for part in batch] for batch in loader]


BATCHINGS = [(1, False), (3, False), (3, True), (10, False), (16, True)]


@pytest.mark.parametrize(("batch_size", "drop_last"), BATCHINGS)
def test_unshuffled_batches_equal_pytorchs(batch_size, drop_last):
    ours = DataLoader(TensorDataset(dp.tensor(X), dp.tensor(Y)), batch_size=batch_size, drop_last=drop_last)
    theirs = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(Y)),
                                         batch_size=batch_size, drop_last=drop_last)  # fmt: skip
    assert len(ours) == len(theirs)
    got, expected = _batches(ours), _batches(theirs)
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        for x, t in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, t)
            assert x.dtype == t.dtype


class Pairs(Dataset):
    """A map-style dataset returning Python numbers, arrays and dicts, to exercise default_collate."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full(2, i, dtype=np.float32), "n": i, "w": 0.5 * i, "flag": i % 2 == 0}, (i, float(i))


def test_default_collate_follows_pytorchs_rules():
    batch = [Pairs()[i] for i in range(3)]
    ours, theirs = default_collate(batch), torch.utils.data.default_collate(batch)
    assert type(ours) is type(theirs) and type(ours[1]) is type(theirs[1])  # tuples become lists
    for key in ("x", "n", "w", "flag"):
        np.testing.assert_array_equal(np.asarray(ours[0][key]), theirs[0][key].numpy())
        assert str(ours[0][key].dtype) == str(theirs[0][key].dtype).replace("torch.", "")
    for a, b in zip(ours[1], theirs[1], strict=True):
        np.testing.assert_array_equal(np.asarray(a), b.numpy())


def test_shuffling_is_a_permutation_repeatable_with_a_seed_or_a_generator():
    data = TensorDataset(dp.arange(20))
    dp.manual_seed(3)
    first = np.concatenate([np.asarray(b[0]) for b in DataLoader(data, batch_size=6, shuffle=True)])
    dp.manual_seed(3)
    again = np.concatenate([np.asarray(b[0]) for b in DataLoader(data, batch_size=6, shuffle=True)])
    assert sorted(first.tolist()) == list(range(20)) and first.tolist() != list(range(20))
    np.testing.assert_array_equal(first, again)
    g1, g2 = dp.Generator().manual_seed(42), dp.Generator().manual_seed(42)
    a = [np.asarray(b[0]) for b in DataLoader(data, batch_size=20, shuffle=True, generator=g1)]
    b = [np.asarray(b[0]) for b in DataLoader(data, batch_size=20, shuffle=True, generator=g2)]
    np.testing.assert_array_equal(a[0], b[0])


def test_random_split_by_counts_and_fractions_like_pytorch():
    data = TensorDataset(dp.arange(11))
    for lengths in ([3, 8], [0.5, 0.3, 0.2], [0.7, 0.3]):
        ours = random_split(data, lengths, generator=dp.Generator().manual_seed(0))
        theirs = torch.utils.data.random_split(torch.utils.data.TensorDataset(torch.arange(11)), lengths)
        assert [len(s) for s in ours] == [len(s) for s in theirs]
        seen = sorted(int(s[i][0]) for s in ours for i in range(len(s)))
        assert seen == list(range(11))  # disjoint, and together everything
    with pytest.raises(ValueError, match="add up to 5"):
        random_split(data, [2, 3])


def test_subset_and_concat():
    data = TensorDataset(dp.arange(5) * 10)
    assert int(Subset(data, [4, 0])[0][0]) == 40 and len(Subset(data, [1, 2])) == 2
    joined = ConcatDataset([data, TensorDataset(dp.arange(3))])
    assert len(joined) == 8 and int(joined[5][0]) == 0 and int(joined[-1][0]) == 2
    assert len(data + data) == 10


def test_fit_trains_on_a_dataloader_like_on_arrays():
    """Unshuffled, batch for batch, a loader and arrays give fit the same steps: the same weights."""
    X_reg = RNG.standard_normal((24, 3)).astype(np.float32)
    y_reg = X_reg @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    results = []
    for use_loader in (False, True):
        dp.manual_seed(1)
        model = nn.Linear(3, 1)
        opt = dp.optim.SGD(model.parameters(), lr=0.05)
        if use_loader:
            loader = DataLoader(TensorDataset(dp.tensor(X_reg), dp.tensor(y_reg)), batch_size=8)
            history = dp.fit(model, loader, loss="mse", optimizer=opt, epochs=3, progress=False,
                             validation_data=DataLoader(TensorDataset(dp.tensor(X_reg), dp.tensor(y_reg))))
        else:
            history = dp.fit(model, X_reg, y_reg, loss="mse", optimizer=opt, epochs=3, batch_size=8,
                             shuffle=False, progress=False, validation_data=(X_reg, y_reg))
        results.append((model.weight.numpy().copy(), history.history["loss"], history.history["val_loss"]))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6)
    np.testing.assert_allclose(results[0][2], results[1][2], rtol=1e-6)


def test_a_loader_run_resumes_exactly_and_refuses_other_data(tmp_path):
    X_reg = RNG.standard_normal((40, 3)).astype(np.float32)
    y_reg = X_reg @ np.array([[1.0], [-2.0], [0.5]], np.float32)

    def run(X, epochs, **kwargs):
        dp.manual_seed(1)
        model = nn.Linear(3, 1)
        loader = DataLoader(TensorDataset(dp.tensor(X), dp.tensor(y_reg)), batch_size=8, shuffle=True)
        dp.fit(model, loader, loss="mse", optimizer=dp.optim.SGD(model.parameters(), lr=0.05), epochs=epochs,
               progress=False, seed=0, **kwargs)
        return model.weight.numpy().copy()

    whole = run(X_reg, 4)
    run(X_reg, 2, checkpoint=tmp_path / "ck.npz")
    np.testing.assert_array_equal(run(X_reg, 4, resume_from=tmp_path / "ck.npz"), whole)
    with pytest.raises(ValueError, match="data"):
        run(X_reg + 1.0, 4, resume_from=tmp_path / "ck.npz")


def test_fit_with_a_loader_refuses_what_does_not_apply():
    model = nn.Linear(3, 2)
    loader = DataLoader(TensorDataset(dp.tensor(X), dp.tensor(Y)), batch_size=4)
    opt = dp.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="validation_split needs arrays"):
        dp.fit(model, loader, loss="cross_entropy", optimizer=opt, validation_split=0.2, progress=False)
    with pytest.raises(TypeError, match="leave y out"):
        dp.fit(model, loader, Y, loss="cross_entropy", optimizer=opt, progress=False)
    with pytest.raises(ValueError, match="whole set at every step"):
        dp.fit(model, loader, loss="cross_entropy", optimizer=dp.optim.LBFGS(model.parameters()),
               progress=False)
    history = dp.fit(model, loader, loss="cross_entropy", optimizer=opt, epochs=2, metrics=["accuracy"],
                     progress=False)  # fmt: skip
    assert len(history.history["loss"]) == 2 and "accuracy" in history.history
