"""Show the work of backpropagation: traces, derivative chains, costs, diagnostics and plots.

- `trace(model, x, y, loss)`: every z^l, a^l, f'(z^l), delta^l, dC/dW^l, dC/db^l of a dense net,
  computed by the matrix-form recursion and checked against the engine's backward; for a conv net,
  every layer's input, output and delta maps and gradients (`ConvTrace`, `trace_network`).
- `derivative_chain(model, x, y, loss, weight=("0.weight", (0, 0)), lr=0.01)`: the chain-rule
  factors behind one weight's gradient, their product and the gradient-descent update.
- `gradient_cost()`: multiply-adds and seconds of backprop versus naive per-weight finite differences.
- `GradientFlow`: a `fit` callback recording per-layer gradient norms, update/weight ratios, dead ReLU
  and saturated sigmoid/tanh fractions, and warning when gradients vanish or explode.
- `deltaprop.inspect.plots`: matplotlib figures (optional extra ``deltaprop[plot]``), imported on use.
- `deltaprop.inspect.explain.main(argv)`: the ``deltaprop explain`` command.
"""

from deltaprop.inspect.chain import DerivativeChain, Factor, derivative_chain
from deltaprop.inspect.cost import CostRow, CostTable, gradient_cost
from deltaprop.inspect.diagnostics import GradientFlow, GradientFlowWarning
from deltaprop.inspect.trace import LayerTrace, Trace, trace
from deltaprop.inspect.trace_conv import ConvTrace, LayerRecord, trace_network
