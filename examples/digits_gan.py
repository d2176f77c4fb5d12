"""A small GAN on the bundled 8x8 digits: backpropagation trains two networks against each other.

The generator G turns 16 random numbers z into an 8x8 image with two
transposed convolutions (2x2 -> 4x4 -> 8x8: each stride-2 ConvTranspose2d
doubles the size, the adjoint of a stride-2 convolution). The discriminator D
is a small conv net scoring how real an image looks. Each step

- trains D on real digits (label 1) and on G's images (label 0), with G's
  images detached, so only D's weights move;
- trains G to make D say 1 on its images: the gradient of D's verdict flows
  back through D (whose weights stay put in this step) into G's deconvolutions.

Both losses are binary cross-entropy on D's logits. After about 3000 steps
(a minute or two on a CPU) the samples are recognisable digits; `main`
returns the losses and the samples, and with matplotlib writes a grid of them.
Run: ``python examples/digits_gan.py [steps] [out.png]``.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np

import deltaprop as dp
from deltaprop import nn, optim

NOISE = 16


def generator() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(NOISE, 64 * 2 * 2), nn.ReLU(), nn.Unflatten(1, (64, 2, 2)),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),  # 2x2 -> 4x4
        nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1), nn.Sigmoid(),  # 4x4 -> 8x8, pixels in [0, 1]
    )  # fmt: skip


def discriminator() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.LeakyReLU(0.2),  # 8x8 -> 4x4
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.LeakyReLU(0.2),  # 4x4 -> 2x2
        nn.Flatten(), nn.Linear(64 * 2 * 2, 1),  # a logit: > 0 means "real"
    )  # fmt: skip


def main(steps: int = 3000, path: str | None = "digits_gan.png", batch: int = 64, seed: int = 0) -> dict:
    dp.manual_seed(seed)
    rng = np.random.default_rng(seed)
    X, _ = dp.data.load_digits(scaled=True)
    images = X.reshape(-1, 1, 8, 8)
    G, D = generator(), discriminator()
    opt_g = optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    ones, zeros = dp.tensor(np.ones((batch, 1), np.float32)), dp.tensor(np.zeros((batch, 1), np.float32))
    history = {"d_loss": [], "g_loss": []}
    for _ in range(steps):
        real = dp.tensor(images[rng.integers(0, len(images), batch)])
        fake = G(dp.tensor(rng.standard_normal((batch, NOISE)).astype(np.float32)))
        # discriminator: real -> 1, fake -> 0 (detach: this step does not move G)
        d_loss = bce(D(real), ones) + bce(D(fake.detach()), zeros)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        # generator: make D call its images real; the gradient passes through D into G
        g_loss = bce(D(fake), ones)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        history["d_loss"].append(float(d_loss.item()))
        history["g_loss"].append(float(g_loss.item()))
    G.eval()
    with dp.no_grad():
        samples = G(dp.tensor(rng.standard_normal((32, NOISE)).astype(np.float32))).numpy()
    if path is not None:
        _save_grid(samples, path)
    return {**history, "samples": samples}


def _save_grid(samples: np.ndarray, path: str) -> None:
    from deltaprop.inspect.plots import plot_feature_maps

    with contextlib.suppress(ImportError):  # no matplotlib: the samples are still returned
        plot_feature_maps(samples[:, 0][None], path, title="generated digits")


if __name__ == "__main__":
    out = main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000, sys.argv[2] if len(sys.argv) > 2 else
               "digits_gan.png")
    print(f"last losses: D {out['d_loss'][-1]:.3f}, G {out['g_loss'][-1]:.3f}")
