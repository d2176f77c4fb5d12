"""Training: `fit`, its `History`, callbacks, metrics, progress, guards and checkpoints."""

from deltaprop.train.callbacks import Callback, EarlyStopping, LambdaCallback
from deltaprop.train.evaluate import evaluate, predict
from deltaprop.train.history import History
from deltaprop.train.loop import Run, fit
from deltaprop.train.metrics import METRICS

__all__ = ["METRICS", "Callback", "EarlyStopping", "History", "LambdaCallback", "Run", "evaluate", "fit",
           "predict"]
