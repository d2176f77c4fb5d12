"""`Generator`: a random stream of its own, for code passing ``generator=`` (PyTorch's ``torch.Generator``).

``random_split(data, [0.8, 0.2], generator=torch.Generator().manual_seed(42))``
fixes a split without touching the global stream; the same line works here.
A `Generator` is a NumPy PCG64 generator with PyTorch's methods. Its numbers
are not PyTorch's (no two libraries' streams agree), only as repeatable.
Without ``generator=``, draws come from the package generator
(`deltaprop.manual_seed`), which also covers draws on a GPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_DEFAULT_SEED = 67280421310721  # PyTorch's default seed, for an unseeded Generator()


class Generator:
    """A seeded random stream: ``Generator().manual_seed(42)``; draws are made on the host."""

    def __init__(self, device: Any = "cpu") -> None:
        self.device = device
        self._seed = _DEFAULT_SEED
        self.numpy = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        """Reseed and return this generator (so it chains, as in PyTorch)."""
        self._seed = int(seed)
        self.numpy = np.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; return the new seed."""
        self._seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
        self.numpy = np.random.default_rng(self._seed)
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict[str, Any]:
        return dict(self.numpy.bit_generator.state)

    def set_state(self, state: dict[str, Any]) -> Generator:
        self.numpy.bit_generator.state = state
        return self


def numpy_generator(generator: Generator | None) -> np.random.Generator:
    """The NumPy generator to draw from: the given one's, or the package generator."""
    if generator is None:
        from deltaprop.random import generator as package

        return package()
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a deltaprop.Generator, got {type(generator).__name__}")
    return generator.numpy
