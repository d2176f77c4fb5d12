"""`Embedding`: a table of learned vectors, one row per token id (PyTorch's signature and behaviour)."""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop import backend
from deltaprop.inplace import stamp
from deltaprop.nn import init
from deltaprop.nn.module import Module
from deltaprop.nn.parameter import Parameter, float_dtype
from deltaprop.ops.embedding import embedding
from deltaprop.tensor import Tensor, no_grad


class Embedding(Module):
    """``output = weight[input]``: (*) integer ids -> (*, embedding_dim) vectors.

    Initialised N(0, 1) as in PyTorch. ``padding_idx``: that row starts at zero
    and never receives a gradient (a padding token contributes nothing).
    ``max_norm``: every row looked up is first rescaled in place to norm at
    most ``max_norm`` (``norm_type``-norm), as PyTorch does.
    ``scale_grad_by_freq``: each row's gradient is divided by how often it
    occurs in the batch. Sparse gradients are not supported.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, dtype: Any = np.float32) -> None:
        super().__init__()
        for what, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Embedding: {what} must be a whole number >= 1, got {value!r}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be within num_embeddings ({num_embeddings}), "
                                 f"got {padding_idx}")
            padding_idx = int(padding_idx) % num_embeddings
        if sparse:
            raise ValueError("Embedding: sparse gradients are not supported; use sparse=False")
        if max_norm is not None and not max_norm > 0:
            raise ValueError(f"Embedding: max_norm must be > 0, got {max_norm!r}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, float(norm_type)
        self.scale_grad_by_freq, self.sparse = bool(scale_grad_by_freq), False
        self.dtype = float_dtype(dtype, "Embedding")
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                init.zeros_(Tensor._wrap(self.weight.array[self.padding_idx]))

    def forward(self, input: Any) -> Tensor:  # noqa: A002 - PyTorch's name
        if self.max_norm is not None:
            self._renormalise(input)
        return embedding(input, self.weight, self.padding_idx, self.scale_grad_by_freq)

    def _renormalise(self, input: Any) -> None:
        """Shrink the looked-up rows to norm <= max_norm, in place (PyTorch's embedding_renorm_)."""
        ids = input.array if isinstance(input, Tensor) else np.asarray(input)
        xp = self.weight.xp
        rows = xp.unique(backend.to_module(np.asarray(backend.to_numpy(ids)).reshape(-1), xp))
        table = self.weight.array
        norms = xp.linalg.norm(table[rows], ord=self.norm_type, axis=1) if self.norm_type != 2.0 else \
            xp.sqrt((table[rows] ** 2).sum(axis=1))
        scale = xp.where(norms > self.max_norm, self.max_norm / (norms + 1e-7), 1.0).astype(table.dtype)
        table[rows] *= scale[:, None]
        stamp(self.weight)  # an in-place change: graphs that saved the old rows must not reuse them

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, sparse: bool = False) -> Embedding:
        """An Embedding holding ``embeddings`` (rows = ids); ``freeze`` turns its gradient off."""
        values = embeddings.array if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if values.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {values.shape}")
        with init.no_initialisation():
            layer = cls(values.shape[0], values.shape[1], padding_idx, max_norm, norm_type,
                        scale_grad_by_freq, sparse, dtype=values.dtype)
        layer.weight.array[...] = values
        layer.weight.requires_grad = not freeze
        return layer

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        return text

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["dtype"] = self.weight.dtype
        return config
