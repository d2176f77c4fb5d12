"""scikit-learn estimators trained by deltaprop (the optional extra: ``pip install 'deltaprop[sklearn]'``).

- `MLPClassifier`, `MLPRegressor`: drop-ins for scikit-learn's own, same
  parameters and attributes, plus ``solver='lm'``, ``dropout`` and ``dtype``
  (`deltaprop.sklearn.mlp` lists where the numbers differ);
- `NeuralNetClassifier`, `NeuralNetRegressor`: any `deltaprop.nn.Module`
  class as an estimator, its settings and the optimizer's routed through
  ``module__*`` and ``optimizer__*`` parameters (`deltaprop.sklearn.neuralnet`).

All four pass scikit-learn's estimator checks (tests/sklearn). They pickle
as any scikit-learn estimator does; ``estimator.model_`` is the trained
network, which `deltaprop.save` writes in deltaprop's own pickle-free format.

Only this package imports scikit-learn; ``import deltaprop`` never does.
"""

from deltaprop.errors import optional_import

optional_import("sklearn", "sklearn", "deltaprop.sklearn (scikit-learn estimators)")

from deltaprop.sklearn.mlp import MLPClassifier, MLPRegressor  # noqa: E402
from deltaprop.sklearn.neuralnet import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402

__all__ = ["MLPClassifier", "MLPRegressor", "NeuralNetClassifier", "NeuralNetRegressor"]
