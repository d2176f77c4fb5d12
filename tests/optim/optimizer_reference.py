"""Final weights of every optimizer on a fixed seed (written by deltaprop 0.1.0 into tests/fixtures).

Run as a script to write the file; `test_step_protocol.py` imports `run_all` and compares bit for bit.
"""
import sys

import numpy as np

import deltaprop as dp
from deltaprop import nn, optim


def digits():
    X, y = dp.data.load_digits()
    return (X[:256] / 16).astype(np.float32), y[:256].astype(np.int64)

def regression():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (60, 2))
    return X, (np.sin(X[:, :1]) + 0.5 * X[:, 1:])

FIRST = {
    "sgd": lambda p: optim.SGD(p, lr=0.05),
    "sgd_momentum": lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
    "sgd_nesterov_wd": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "sgd_dampening_maximize": lambda p: optim.SGD(p, lr=0.05, momentum=0.5, dampening=0.3),
    "adam": lambda p: optim.Adam(p, lr=1e-2),
    "adam_amsgrad_wd": lambda p: optim.Adam(p, lr=1e-2, amsgrad=True, weight_decay=1e-3),
    "adamw": lambda p: optim.AdamW(p, lr=1e-2),
    "rmsprop": lambda p: optim.RMSprop(p, lr=1e-3, momentum=0.5, centered=True),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.05),
}
SECOND = {
    "lbfgs": lambda p: optim.LBFGS(p, max_iter=5),
    "lm": lambda p: optim.LevenbergMarquardt(p),
    "gauss_newton": lambda p: optim.GaussNewton(p),
    "natural_kfac": lambda p: optim.NaturalGradient(p, lr=0.1),
    "natural_empirical": lambda p: optim.NaturalGradient(p, lr=0.1, fisher="empirical"),
}

def run_all():
    out = {}
    X, y = digits()
    for name, make in FIRST.items():
        dp.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
        dp.fit(model, X, y, loss="cross_entropy", optimizer=make(model.parameters()), epochs=3, batch_size=32,
               seed=1, progress=False)
        out[name] = np.concatenate([p.array.ravel() for p in model.parameters()])
    X, y = regression()
    for name, make in SECOND.items():
        dp.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 1)).double()
        dp.fit(model, X, y, loss="mse", optimizer=make(model.parameters()), epochs=3, batch_size=20, seed=1,
               progress=False)
        out[name] = np.concatenate([p.array.ravel() for p in model.parameters()])
    return out

if __name__ == "__main__":
    np.savez(sys.argv[1], **run_all())
