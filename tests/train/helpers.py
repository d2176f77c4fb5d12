"""Shared setup for the training tests."""

from __future__ import annotations

import deltaprop as dp
from deltaprop import optim


def fit_sgd(model, X, y, lr, momentum=0.0, loss="mse", progress=False, **kwargs):
    """`dp.fit` with SGD (and no progress bar unless asked), the setup most training tests share."""
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    return dp.fit(model, X, y, loss=loss, optimizer=optimizer, progress=progress, **kwargs)
