"""Learning rules: alternatives to backpropagation, run on the same models, data and loop as it.

Each rule fills ``.grad`` of the parameters with its own update, so any
first-order optimizer applies it: ``deltaprop.fit(model, X, y, ..., rule=FeedbackAlignment())``
or ``optimizer.train_step(model, loss_fn, x, y, gradients=rule)``.

- `Backprop`: the true gradient (the reference);
- `FeedbackAlignment`: errors sent down through fixed random matrices (Lillicrap et al. 2016);
- `DirectFeedbackAlignment`: the output error sent to every layer directly (Nokland 2016);
- `DifferenceTargetPropagation`: targets propagated by learned inverses (Lee et al. 2015);
- `HSICBottleneck`: a layer-wise information objective, no backward pass (Ma, Lewis, Kleijn 2020);
- `SyntheticGradients`: each layer's gradient predicted locally, layers unlocked (Jaderberg et al. 2017);
- `AlternatingMinimization`: auxiliary codes per layer, online (Choromanska et al. 2019).

`RULES` maps the command line's names (``deltaprop train --rule feedback-alignment``)
to the classes. To write a rule of your own, subclass `Rule` (see `deltaprop.rules.base`).
"""

from deltaprop.rules.alternating_minimization import AlternatingMinimization
from deltaprop.rules.backprop import Backprop
from deltaprop.rules.base import Rule
from deltaprop.rules.direct_feedback_alignment import DirectFeedbackAlignment
from deltaprop.rules.feedback_alignment import FeedbackAlignment
from deltaprop.rules.hsic import HSICBottleneck
from deltaprop.rules.synthetic_gradients import SyntheticGradients
from deltaprop.rules.target_propagation import DifferenceTargetPropagation

RULES: dict[str, type[Rule]] = {
    rule.name: rule
    for rule in (Backprop, FeedbackAlignment, DirectFeedbackAlignment, DifferenceTargetPropagation,
                 HSICBottleneck, SyntheticGradients, AlternatingMinimization)
}


def by_name(name: str, **settings) -> Rule:
    """The rule called ``name`` (as in `RULES`, e.g. 'feedback-alignment'), built with ``settings``."""
    key = name.lower().replace("_", "-")
    if key not in RULES:
        raise ValueError(f"unknown learning rule {name!r}; choose one of: {', '.join(RULES)}")
    return RULES[key](**settings)


__all__ = ["RULES", "AlternatingMinimization", "Backprop", "DifferenceTargetPropagation",
           "DirectFeedbackAlignment", "FeedbackAlignment", "HSICBottleneck", "Rule", "SyntheticGradients",
           "by_name"]
