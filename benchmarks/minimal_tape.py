"""The least bookkeeping a tape on plain NumPy code can do for the benchmark's MLP: a floor.

Four operations and nothing else: `@`, `+` (a bias broadcast along the batch), `np.tanh` and a
fused softmax cross-entropy against one-hot targets. No checks, no nesting, no forward mode, no
other shapes, dtypes or functions. `bench_mlp.py` times it beside calcbook to show what part of
calcbook's cost at the tiny size is the recording of a tape on NumPy code as such (NumPy's
dispatch to `__array_ufunc__`, one Python object and one tape entry per operation, a loop over
the tape) and what part is generality (validation, general rules, broadcasting, higher order).
"""

from __future__ import annotations

import numpy as np


class Box:
    """A recorded array: its value and its place on the tape."""

    __slots__ = ("v", "i", "tape")
    __array_priority__ = 1000.0

    def __init__(self, v, i, tape):
        self.v, self.i, self.tape = v, i, tape

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        kind = _KINDS.get(ufunc)
        if kind is None or method != "__call__" or kwargs:
            return NotImplemented
        a, b = inputs if len(inputs) == 2 else (inputs[0], None)
        return _record(self.tape, kind, a, b)

    def __matmul__(self, other):
        return _record(self.tape, "matmul", self, other)

    def __add__(self, other):
        return _record(self.tape, "add", self, other)


_KINDS = {np.matmul: "matmul", np.add: "add", np.tanh: "tanh"}


def _record(tape, kind, a, b):
    x = a.v if type(a) is Box else a
    y = b.v if type(b) is Box else b
    ans = x @ y if kind == "matmul" else x + y if kind == "add" else np.tanh(x)
    tape.append((kind, a, b, x, y, ans))
    return Box(ans, len(tape) - 1, tape)


def cross_entropy(z, onehot):
    """Mean softmax cross-entropy of the recorded logits `z` (batch, classes)."""
    s = z.v - z.v.max(axis=1, keepdims=True)
    e = np.exp(s)
    total = e.sum(axis=1, keepdims=True)
    z.tape.append(("cross_entropy", z, None, e, total, onehot))
    return Box(np.vdot(onehot, s - np.log(total)) / -s.shape[0], len(z.tape) - 1, z.tape)


def value_and_grad(loss, params, *rest):
    """`loss(boxes, *rest)` and its gradient with respect to each array of `params`."""
    tape = [None] * len(params)
    out = loss([Box(p, i, tape) for i, p in enumerate(params)], *rest)
    cts = [None] * len(tape)
    cts[out.i] = 1.0
    for k in range(out.i, len(params) - 1, -1):
        g = cts[k]
        if g is None:
            continue
        cts[k] = None
        kind, a, b, x, y, ans = tape[k]
        if kind == "cross_entropy":  # x, y, ans: the softmax's numerator, its sum, the targets
            _add(cts, a, (x / y - ans) * (g / x.shape[0]))
        elif kind == "matmul":
            if type(a) is Box:
                _add(cts, a, g @ y.T)
            if type(b) is Box:
                _add(cts, b, x.T @ g)
        elif kind == "add":
            for box, v in ((a, x), (b, y)):
                if type(box) is Box:
                    _add(cts, box, g if v.shape == g.shape else g.sum(axis=0))
        else:  # tanh
            _add(cts, a, g * (1 - ans * ans))
    return out.v, cts[: len(params)]


def _add(cts, box, g):
    prev = cts[box.i]
    cts[box.i] = g if prev is None else prev + g
