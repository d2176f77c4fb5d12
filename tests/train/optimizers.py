"""Small reference optimizers for the training tests.

They follow the agreed `deltaprop.optim` protocol (param_groups, state,
step, zero_grad, state_dict/load_state_dict) so fit can be tested on its
own; `sgd`/`adam` below return deltaprop.optim's classes when present.
"""

from __future__ import annotations

import numpy as np


class LocalSGD:
    """p -= lr * (momentum buffer or gradient)."""

    full_batch = False
    requires_closure = False

    def __init__(self, params, lr=0.1, momentum=0.0):
        self.params = list(params)
        self.param_groups = [{"params": self.params, "lr": lr, "momentum": momentum}]
        self.state = {}

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None

    def step(self, closure=None):
        loss = closure() if closure is not None else None
        group = self.param_groups[0]
        for p in self.params:
            if p.grad is None:
                continue
            update = p.grad
            if group["momentum"]:
                buffer = self.state.setdefault(p, {}).get("momentum_buffer")
                if buffer is None:
                    buffer = self.state[p]["momentum_buffer"] = p.grad.copy()
                else:
                    buffer *= group["momentum"]
                    buffer += p.grad
                update = buffer
            p.data -= group["lr"] * update
        return loss

    def state_dict(self):
        index = {id(p): i for i, p in enumerate(self.params)}
        return {
            "state": {index[id(p)]: {k: np.copy(v) for k, v in s.items()} for p, s in self.state.items()},
            "param_groups": [{k: v for k, v in self.param_groups[0].items() if k != "params"}
                             | {"params": list(range(len(self.params)))}],
        }

    def load_state_dict(self, sd):
        self.state = {self.params[int(i)]: {k: np.array(v) for k, v in s.items()}
                      for i, s in sd["state"].items()}
        group = dict(sd["param_groups"][0])
        group.pop("params")
        self.param_groups[0].update(group)


class LocalAdam(LocalSGD):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, lr)
        self.param_groups[0].update(betas=betas, eps=eps)

    def step(self, closure=None):
        loss = closure() if closure is not None else None
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        for p in self.params:
            if p.grad is None:
                continue
            s = self.state.setdefault(p, {})
            if not s:
                s["step"] = 0
                s["exp_avg"] = np.zeros_like(p.data)
                s["exp_avg_sq"] = np.zeros_like(p.data)
            s["step"] += 1
            s["exp_avg"] *= beta1
            s["exp_avg"] += (1 - beta1) * p.grad
            s["exp_avg_sq"] *= beta2
            s["exp_avg_sq"] += (1 - beta2) * p.grad * p.grad
            m_hat = s["exp_avg"] / (1 - beta1 ** s["step"])
            v_hat = s["exp_avg_sq"] / (1 - beta2 ** s["step"])
            p.data -= group["lr"] * m_hat / (np.sqrt(v_hat) + group["eps"])
        return loss

    def state_dict(self):
        sd = super().state_dict()
        for s in sd["state"].values():
            s["step"] = int(s["step"])
        return sd

    def load_state_dict(self, sd):
        super().load_state_dict(sd)
        for s in self.state.values():
            s["step"] = int(s["step"])


def sgd(params, lr=0.1, momentum=0.0):
    try:
        from deltaprop.optim import SGD
    except ImportError:
        return LocalSGD(params, lr=lr, momentum=momentum)
    return SGD(params, lr=lr, momentum=momentum)


def adam(params, lr=1e-3):
    try:
        from deltaprop.optim import Adam
    except ImportError:
        return LocalAdam(params, lr=lr)
    return Adam(params, lr=lr)
