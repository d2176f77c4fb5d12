"""`FeedbackAlignment`: backpropagate the error through fixed random matrices instead of W^T.

Lillicrap, Cownden, Tweed, Akerman, "Random synaptic feedback weights support
error backpropagation for deep learning", Nature Communications 7, 13276 (2016).

With a_l = W_l h_{l-1} + b_l, h_l = f_l(a_l), the loss L and, for every layer
but the first, a fixed random matrix B_l of W_l's shape:

    delta_L = dL/da_L                              (the output error, as in backprop)
    delta_l = (B_{l+1}^T delta_{l+1}) * f_l'(a_l)  (backprop has W_{l+1}^T here)
    update:   dW_l = delta_l h_{l-1}^T,  db_l = delta_l   (summed over the batch)

So no layer needs to know the weights of the layer above (no weight
transport). The paper's finding, which ``history['angle/<layer>']`` shows: the
forward weights come to align with B, the update falls within 90 degrees of
the true gradient, and the network learns. The output layer's update is the
true gradient.

Default: B_l uniform in +-scale with scale = 1/sqrt(fan_in of W_l), the
distribution of a freshly built `nn.Linear`'s weight, so the backward signal
starts at backprop's scale (the paper draws B uniformly, with a scale chosen per
experiment; BioTorch uses Xavier-uniform). ``scale`` sets it by hand.
"""

from __future__ import annotations

import math
from typing import Any

from deltaprop import backend
from deltaprop import random as dprandom
from deltaprop.rules.base import Rule, check_positive
from deltaprop.rules.blocks import Network
from deltaprop.rules.local import (
    affine_backward,
    finite,
    forward_and_loss,
    output_delta,
    tail_backward,
)


def random_feedback(shape: tuple[int, int], scale: float, like: Any) -> Any:
    """A fixed feedback matrix, uniform in +-scale, in the dtype and array module of ``like``."""
    xp = backend.array_module(like)
    return dprandom.uniform(shape, -scale, scale, dtype=like.dtype, xp=xp)


def feedback_state(matrices: list[Any]) -> dict[str, Any]:
    return {"feedback": [None if m is None else backend.to_numpy(m).copy() for m in matrices]}


def load_feedback(owner: str, matrices: list[Any], state: dict[str, Any]) -> None:
    """Copy saved feedback matrices into ``matrices`` in place, checking there are as many, as shaped."""
    saved = state.get("feedback")
    if saved is None or len(saved) != len(matrices):
        raise ValueError(
            f"{owner}.load_state_dict: the state holds {0 if saved is None else len(saved)} feedback "
            f"matrices but this network needs {len(matrices)}; it was saved for another architecture"
        )
    for index, (mine, theirs) in enumerate(zip(matrices, saved, strict=True)):
        if mine is None:
            continue
        if theirs is None or tuple(theirs.shape) != tuple(mine.shape):
            raise ValueError(
                f"{owner}.load_state_dict: feedback matrix {index} has shape "
                f"{None if theirs is None else tuple(theirs.shape)} in the state but {tuple(mine.shape)} here"
            )
        mine[...] = backend.to_module(theirs, backend.array_module(mine))


class FeedbackAlignment(Rule):
    """Backprop with each W^T replaced by a fixed random matrix B of W's shape (Lillicrap et al. 2016)."""

    name = "feedback-alignment"

    def __init__(self, scale: float | None = None, alignment_every: int = 10) -> None:
        super().__init__(alignment_every)
        self.scale = None if scale is None else check_positive("FeedbackAlignment", "scale", scale)
        self.feedback: list[Any] = []

    def setup(self, network: Network) -> None:
        # feedback[l] carries delta_l down to layer l-1; the first layer sends nothing further
        self.feedback = [None]
        for block in network.blocks[1:]:
            fan_in = block.weight.shape[1]
            scale = self.scale if self.scale is not None else 1.0 / math.sqrt(fan_in)
            self.feedback.append(random_feedback(tuple(block.weight.shape), scale, block.weight.array))

    def gradients(self, model: Any, loss_fn: Any, x: Any, y: Any) -> tuple[float, Any]:
        passes, output, loss, value = forward_and_loss(self.bound(self.network), loss_fn, x, y)
        if not finite(value):
            return value, output
        delta = output_delta(passes[-1], loss)
        for index in range(len(passes) - 1, -1, -1):
            affine_backward(passes[index], delta)
            if index:
                delta = tail_backward(passes[index - 1], delta @ self.feedback[index])
        return value, output

    def extra_state(self) -> dict[str, Any]:
        return feedback_state(self.feedback)

    def load_extra_state(self, state: dict[str, Any]) -> None:
        load_feedback("FeedbackAlignment", self.feedback, state)

    def __repr__(self) -> str:
        return f"FeedbackAlignment(scale={self.scale})"
