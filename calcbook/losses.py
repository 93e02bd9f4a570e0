r"""Loss functions, differentiable by the array engine, with derivative rules of their own.

`cross_entropy` is one *fused* function of the engine: its forward pass keeps the softmax it
computed, and its reverse-mode rule is the textbook result
$\partial \ell / \partial z = \operatorname{softmax}(z) - t$ (for one-hot $t$), so a training step
records one tape entry for the whole loss instead of one per NumPy operation.
"""

from __future__ import annotations

import numpy as np

from . import rules
from .tracing import Tracer, primal

__all__ = ["cross_entropy"]

_REDUCTIONS = ("mean", "sum", "none")
_CLASSES: dict = {}  # (classes, axes after the class axis) -> the class numbers, shaped to compare


def cross_entropy(logits, targets, axis=-1, reduction="mean"):
    r"""Softmax cross-entropy of `logits` against class indices or a target distribution.

    For one example with logits $z \in \mathbb{R}^C$ and target probabilities $t$,
    $$\ell(z, t) = -\sum_{c=1}^{C} t_c \log \operatorname{softmax}(z)_c
      = \sum_c t_c \Big(\operatorname{logsumexp}(z) - z_c\Big),$$
    computed stably (no overflow for large logits). Its gradient with respect to the logits is
    $\partial \ell / \partial z = \operatorname{softmax}(z) \sum_c t_c - t$, which is
    $\operatorname{softmax}(z) - t$ for a one-hot or any normalised $t$; with respect to the
    targets it is $-\log \operatorname{softmax}(z)$ (soft targets may be differentiated too).

    Parameters
    ----------
    logits : array_like
        Unnormalised scores $z$; the classes lie along `axis`, all other axes are examples.
    targets : array_like
        Either integer class indices, of the shape of `logits` without `axis`, each in
        $[0, C)$; or target probabilities $t$ (floats) of the shape of `logits`.
    axis : int, default -1
        The class axis.
    reduction : {"mean", "sum", "none"}, default "mean"
        Average or sum the per-example losses, or return them (shape of `logits` without `axis`).

    Returns
    -------
    ndarray or scalar
        The loss: a scalar for "mean" and "sum".

    Raises
    ------
    ValueError
        If the targets' shape does not fit the logits (both shapes are named), a class index is
        out of range, or `reduction` or `axis` is invalid.

    Examples
    --------
    ```python
    import numpy as np
    import calcbook as cb

    z = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    labels = np.array([0, 2])
    loss = cb.cross_entropy(z, labels)
    np.testing.assert_allclose(loss, -np.mean(cb.log_softmax(z)[[0, 1], labels]))
    g = cb.grad(cb.cross_entropy)(z, labels)  # (softmax - one-hot) / batch
    np.testing.assert_allclose(g, (cb.softmax(z) - np.eye(3)[labels]) / 2)
    ```
    """
    z, y = logits, targets
    if type(y) is np.ndarray and reduction in _REDUCTIONS:  # the common case, checked first
        zp = primal(z)
        if (
            type(zp) is np.ndarray
            and zp.dtype.kind == y.dtype.kind == "f"
            and y.shape == zp.shape
            and type(axis) is int
            and -zp.ndim <= axis < zp.ndim
            and zp.shape[axis]
        ):
            return rules.cross_entropy(z, y, axis=axis % zp.ndim, reduction=reduction)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not isinstance(z, Tracer) and type(z) is not np.ndarray:
        z = np.asarray(z)
    if not isinstance(y, Tracer) and type(y) is not np.ndarray:
        y = np.asarray(y)
    zp, yp = primal(z), primal(y)  # the plain arrays: shapes and dtypes read once, untraced
    shape, kind = zp.shape, zp.dtype.kind
    if kind != "f":
        if kind not in "iub":
            raise ValueError(f"cross_entropy needs real logits, got an array of dtype {zp.dtype}")
        z = z.astype(np.float64)
    ndim = len(shape)
    if ndim == 0:
        raise ValueError("cross_entropy needs logits with a class axis, got a scalar")
    if type(axis) is not int and not isinstance(axis, np.integer):  # (a bool, a float, a tuple)
        raise ValueError(f"axis must be an int, the one class axis, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis={axis!r} is out of range for logits of shape {shape}")
    axis = int(axis) % ndim
    if shape[axis] == 0:
        raise ValueError(
            f"cross_entropy needs at least one class: logits of shape {shape} have none"
        )
    kind = yp.dtype.kind
    if kind == "f":
        if yp.shape != shape and yp.shape == _without(shape, axis):
            traced = (  # (integer labels differentiated by a transform were made floats by it)
                " (if they are integer labels that a transform differentiates, it made them "
                "floats: class indices have no derivative, so leave them out of argnums)"
                if isinstance(y, Tracer)
                else ""
            )
            raise ValueError(
                f"targets of shape {yp.shape} fit class indices, but their dtype is {yp.dtype}"
                f"{traced}: give class indices as integers (labels.astype(int)), or probability "
                f"targets of the logits' shape {shape}"
            )
        if yp.shape != shape:
            raise ValueError(
                f"probability targets must have the shape of the logits: targets {yp.shape}, "
                f"logits {shape} (class indices would have shape {_without(shape, axis)})"
            )
        return rules.cross_entropy(z, y, axis=axis, reduction=reduction)
    if kind in "iu":
        labels = _labels(yp, shape, axis)
        return rules.cross_entropy_labels(z, labels, axis=axis, reduction=reduction)
    raise ValueError(
        f"targets must be integer class indices or float probabilities, got dtype {yp.dtype}"
    )


def _without(shape, axis):
    return shape[:axis] + shape[axis + 1 :]


def _labels(labels, shape, axis):
    """Integer class indices checked against the logits' shape, as a boolean one-hot array."""
    want = _without(shape, axis)
    if labels.shape != want:
        raise ValueError(
            f"class indices must have the shape of the logits without the class axis: "
            f"targets {labels.shape}, logits {shape} (expected {want})"
        )
    classes = shape[axis]
    after = len(shape) - 1 - axis  # axes after the class axis
    column = _CLASSES.get((classes, after))
    if column is None:
        column = _CLASSES[classes, after] = np.arange(classes).reshape((classes,) + (1,) * after)
    onehot = (labels[..., None] if after == 0 else np.expand_dims(labels, axis)) == column
    if np.count_nonzero(onehot) != labels.size:  # an index matched no class
        raise ValueError(
            f"class indices must lie in [0, {classes}), got values from {labels.min()} to "
            f"{labels.max()}"
        )
    return onehot
