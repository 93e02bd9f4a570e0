r"""Activation functions and their stable building blocks, differentiable by the array engine.

`logsumexp`, `softmax` and `log_softmax` are primitives of the engine with derivative rules of
their own (the gradient of `logsumexp` is the softmax; the Jacobian of the softmax is
$\operatorname{diag}(p) - p p^\top$), so they are numerically stable and cheap to differentiate.
None of them needs SciPy.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import rules
from .tracing import Tracer, apply

__all__ = ["log_softmax", "logsumexp", "softmax"]


def _input(x, axis):
    """`x` as a traced or floating-point array, and `axis` as None or a tuple of axes >= 0."""
    if not isinstance(x, Tracer) and (type(x) is not np.ndarray or x.dtype.kind not in "fc"):
        x = np.asarray(x)
        if x.dtype.kind not in "fcbiu":  # (None or a string would become NaN, or fail later)
            raise TypeError(f"expected numbers (an array of floats), got {x.dtype} input {x!r}")
        if x.dtype.kind not in "fc":
            x = x.astype(np.float64)
    if type(axis) is int and -x.ndim <= axis < x.ndim:  # the common case, as `_axes` does it
        return x, (axis % x.ndim,)
    return x, None if axis is None else rules._axes(axis, x.ndim)


def logsumexp(x, axis=None, keepdims=False):
    r"""Compute $\log \sum_i e^{x_i}$ without overflow.

    With $m = \max_i x_i$,
    $$\operatorname{logsumexp}(x) = m + \log \sum_i e^{x_i - m},$$
    so every exponent is at most 0. Its gradient is the softmax:
    $\partial \operatorname{logsumexp}(x) / \partial x_i = e^{x_i} / \sum_j e^{x_j}$.

    Parameters
    ----------
    x : array_like
        Input values (may be traced).
    axis : int or tuple of int, optional
        Axes to reduce over; all axes by default.
    keepdims : bool, default False
        Keep the reduced axes with size 1.

    Returns
    -------
    ndarray or scalar
        The reduction of `x` over `axis`.

    Examples
    --------
    ```python
    import numpy as np
    import calcbook as cb

    x = np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]])
    np.testing.assert_allclose(cb.logsumexp(x, axis=1), [1000.0 + np.log(2.0), np.log(4.0)])
    g = cb.grad(lambda x: cb.logsumexp(x))(np.array([0.0, np.log(3.0)]))
    np.testing.assert_allclose(g, [0.25, 0.75])
    ```
    """
    x, axis = _input(x, axis)
    if not isinstance(keepdims, (bool, np.bool_, numbers.Integral)):  # (bool("no") is True)
        raise TypeError(f"keepdims must be a bool, got {keepdims!r}")
    return apply(rules.logsumexp, x, axis=axis, keepdims=bool(keepdims))


def softmax(x, axis=-1):
    r"""Softmax $\operatorname{softmax}(x)_i = e^{x_i} / \sum_j e^{x_j}$ along `axis`, stably.

    Computed as $e^{x_i - m} / \sum_j e^{x_j - m}$ with $m = \max_j x_j$, which never
    overflows and sums to one within rounding, however large the logits.

    Parameters
    ----------
    x : array_like
        Input values (logits).
    axis : int or tuple of int, default -1
        The axis (or axes) along which the result sums to one.

    Returns
    -------
    ndarray
        Probabilities of the shape of `x`.

    Examples
    --------
    ```python
    import numpy as np
    import calcbook as cb

    p = cb.softmax(np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, 1000.0]]))
    np.testing.assert_allclose(p.sum(axis=-1), [1.0, 1.0])
    np.testing.assert_allclose(p[1], [1 / 3, 1 / 3, 1 / 3])
    ```
    """
    x, axes = _input(x, axis)
    return rules.softmax(x, axes)


def log_softmax(x, axis=-1):
    r"""Logarithm of the softmax, $x_i - \operatorname{logsumexp}(x)$, along `axis`.

    Parameters
    ----------
    x : array_like
        Input values (logits).
    axis : int or tuple of int, default -1
        The axis (or axes) of the softmax.

    Returns
    -------
    ndarray
        Log-probabilities of the shape of `x`; exact even where the softmax underflows to 0.

    Examples
    --------
    ```python
    import numpy as np
    import calcbook as cb

    x = np.array([0.0, 800.0])
    np.testing.assert_allclose(cb.log_softmax(x), [-800.0, 0.0])
    # gradient of a cross-entropy: softmax minus the one-hot target
    g = cb.grad(lambda z: -cb.log_softmax(z)[1])(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(g, cb.softmax(np.array([1.0, 2.0, 3.0])) - [0, 1, 0])
    ```
    """
    x, axis = _input(x, axis)
    return rules.log_softmax(x, axis)
