"""Shared by the tests of the scalar engines (`Value`, `Dual`): a central difference with an error
bar, and random straight-line programs that run on floats, Values or Duals alike."""

import math

import numpy as np
from hypothesis import strategies as st

EPS_MACH = np.finfo(float).eps


def central_difference(f, x, h=1e-5):
    """A central difference of f at x and an error bar for it.

    The truncation error of D(h) is about h^2 f'''/6, so halving h removes three quarters of
    it: |D(h) - D(h/2)| bounds the error of D(h/2) with a factor of ~3 to spare. Rounding adds
    about eps |f| / h. h = 1e-5 sits near eps^(1/3), where the two are balanced (~1e-10).
    """
    d_h = (f(x + h) - f(x - h)) / (2 * h)
    d_half = (f(x + h / 2) - f(x - h / 2)) / h
    rounding = 4 * EPS_MACH * max(abs(f(x + h)), abs(f(x - h)), 1.0) / h
    return d_half, abs(d_h - d_half) + rounding


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


# A program is a list of steps, each applying an operation to earlier results (indices wrap
# around); every operation keeps the arguments of log, ** and / inside their domains. `m` is the
# namespace providing exp, log, tanh, sigmoid and relu for the number type being run.
UNARY = {
    "neg": lambda m, a: -a,
    "exp": lambda m, a: m.exp(a),
    "log": lambda m, a: m.log(1 + a * a),
    "tanh": lambda m, a: m.tanh(a),
    "sigmoid": lambda m, a: m.sigmoid(a),
    "relu": lambda m, a: m.relu(a),
    "cube": lambda m, a: a**3,
    "pow": lambda m, a: (1 + a * a) ** 1.5,
    "rpow": lambda m, a: 2 ** m.tanh(a),
    "rdiv": lambda m, a: 2 / (1 + a * a),
    "rsub": lambda m, a: 1.5 - a,
    "radd": lambda m, a: 0.5 + a,
    "rmul": lambda m, a: -0.5 * a,
}
BINARY = {
    "add": lambda m, a, b: a + b,
    "sub": lambda m, a, b: a - b,
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / (1 + b * b),
    "powv": lambda m, a, b: (1 + a * a) ** m.tanh(b),
}


class Floats:
    exp, log, tanh = math.exp, math.log, math.tanh
    sigmoid = staticmethod(sigmoid)

    @staticmethod
    def relu(a):
        assert abs(a) > 1e-3  # stay away from the kink, where finite differences mislead
        return max(a, 0.0)


step = st.one_of(
    st.tuples(st.sampled_from(sorted(UNARY)), st.integers(0, 99)),
    st.tuples(st.sampled_from(sorted(BINARY)), st.integers(0, 99), st.integers(0, 99)),
)
programs = st.lists(step, min_size=1, max_size=8)


def run(program, m, inputs):
    """Every intermediate result of `program` on `inputs`; the last one is the output."""
    pool = list(inputs)
    for name, *args in program:
        table = UNARY if len(args) == 1 else BINARY
        pool.append(table[name](m, *[pool[i % len(pool)] for i in args]))
    return pool
