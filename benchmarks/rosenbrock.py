r"""The Rosenbrock function in NumPy and its derivatives in closed form: the benchmarks' problem.

$f(x) = \sum_{i<n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2$. Kept apart from the benchmarks that
import PyTorch and HIPS autograd, so that `bench_fresh_process.py` can run it in a process that
has loaded NumPy alone.
"""

import numpy as np


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_grad(x):
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


def rosenbrock_hessian_bands(x):
    """Diagonal and off-diagonal of the (symmetric, tridiagonal) Hessian."""
    diag = np.zeros_like(x)
    diag[:-1] = 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    diag[1:] += 200.0
    return diag, -400.0 * x[:-1]


def rosenbrock_hessian(x):
    diag, off = rosenbrock_hessian_bands(x)
    return np.diag(diag) + np.diag(off, 1) + np.diag(off, -1)


def rosenbrock_hvp(x, v):
    diag, off = rosenbrock_hessian_bands(x)
    hv = diag * v
    hv[:-1] += off * v[1:]
    hv[1:] += off * v[:-1]
    return hv


def point(n, seed=0):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, n)
