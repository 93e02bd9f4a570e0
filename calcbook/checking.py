r"""`check_grads`: test automatic derivatives against finite differences, to any order.

Automatic differentiation can be wrong only in its rules, and a rule is checked best against a
method that shares nothing with it. `check_grads` compares, along random directions,

- forward mode: the JVP $J v$ with the finite difference
  $\frac{d}{dt} f(x + t v)\big|_{t=0}$ from `calcbook.numdiff`;
- reverse mode: the VJP through the dot-product test
  $\langle u, J v \rangle = \langle J^\top u, v \rangle$, with $J v$ again by finite differences;

and, for `order > 1`, repeats both checks on the derivative maps themselves
($x, v \mapsto J(x) v$ and $x \mapsto J(x)^\top u$), as JAX's `check_grads` does.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import numdiff
from .tracing import complex_error
from .transforms import _copy_laid_out, _flatten, _group, _is_tree, _numeric, _unflatten, jvp, vjp

__all__ = ["check_grads"]


def _pack(out):
    """All entries of an output (an array or nested tuples/lists/dicts of arrays) as one vector.

    Booleans and integers become floats: such an output is piecewise constant, its derivative 0.
    Its leaves are those `vjp` sees (every list a container, None an empty one).
    """
    leaves = _flatten(out, lists_of_numbers=False)[0]
    flat = np.concatenate([np.reshape(o, (-1,)) for o in leaves]) if leaves else np.zeros(0)
    return flat if flat.dtype.kind == "f" else flat.astype(np.float64)


def _unpack(z, likes):
    """The vector `z` cut into arrays of the shapes of `likes`, in their memory layouts too
    (a function may read the layout: np.ravel(x, order="K") of a Fortran-ordered x)."""
    parts, k = [], 0
    for like in likes:
        shape = np.shape(like)
        n = int(np.prod(shape, dtype=int))
        part = np.reshape(z[k : k + n], shape)
        if isinstance(like, np.ndarray) and not like.flags.c_contiguous and like.ndim > 1:
            laid = _copy_laid_out(like).astype(part.dtype, copy=False)  # (strides of `like`)
            laid[...] = part
            part = laid
        parts.append(part)
        k += n
    return parts


_RETRY = 1e-4  # the longer step of the second measurement, relative to the coordinates' scales


class _Difference:
    """The finite difference of `flat_f` at `z` along `v` (Richardson), with its error estimate:
    at the step `h` (or numdiff's default), and on demand at the longer step `_RETRY` times the
    largest t that moves no coordinate by more than its own scale, max(1, |z_i|)."""

    def __init__(self, flat_f, z, v, h):
        self.flat_f, self.z, self.v, self.h = flat_f, z, v, h
        self.retry = h is None  # (a step the caller chose is not second-guessed)
        self._found = {}

    def at(self, longer=False):
        if longer not in self._found:
            step = self.h
            if longer:
                moved = np.abs(self.v) > 0
                scale = np.maximum(1.0, np.abs(self.z[moved])) / np.abs(self.v[moved])
                step = _RETRY * float(np.min(scale, initial=np.inf))
            fd, info = numdiff.directional_derivative(
                self.flat_f, self.z, self.v, method="richardson", h=step, full_output=True
            )
            self._found[longer] = fd, info.error
        return self._found[longer]


def _gap(ad, fd, atol, rtol):
    """The discrepancy of AD from the finite difference, and the tolerance it is held to."""
    ad, fd = np.asarray(ad, dtype=np.float64), np.asarray(fd, dtype=np.float64)
    err = float(np.max(np.abs(ad - fd), initial=0.0))
    return err, atol + rtol * float(np.max(np.abs(fd), initial=0.0))


def _compare(what, ad, diff, atol, rtol, weights=None):
    """Raise unless `ad` agrees with the finite difference `diff` (or with `weights @` it).

    A disagreement at the default step is measured once more at a longer step and forgiven if
    that difference agrees and its own error estimate is within the tolerance: the default steps
    can be too short for an output entry that is 0 in exact arithmetic but rounding noise of
    larger terms (Q of a square matrix's QR, in its last column, at second order), whose noise
    the short steps pass off as a derivative.
    """

    def seen(longer):  # the difference and its error bound, weighted as `ad` is
        fd, error = diff.at(longer)
        if weights is None:
            return fd, float(np.max(error, initial=0.0))
        return weights @ fd, float(np.abs(weights) @ error)

    fd, error = seen(False)
    err, tol = _gap(ad, fd, atol, rtol)
    if err <= tol:
        return
    again = ""
    if diff.retry:
        fd2, error2 = seen(True)
        err2, tol2 = _gap(ad, fd2, atol, rtol)
        if err2 <= tol2 and error2 <= tol2:
            return
        again = f"; at a longer step it differs by {err2:.3g}, estimated to {error2:.3g}"
    raise AssertionError(
        f"{what}: max |AD - finite difference| = {err:.3g} exceeds the tolerance {tol:.3g} "
        f"(atol={atol:g}, rtol={rtol:g}; the finite difference's own error estimate is "
        f"{error:.3g}{again}). AD: {ad}; FD: {fd}"
    )


def _outputs(out):
    """The leaves of an output of the caller's f and its structure, refused unless real numbers."""
    if out is None:
        raise TypeError(
            "check_grads: f returned None, which leaves nothing to check (is a `return` "
            "missing?); return an array, or tuples/lists/dicts of arrays."
        )
    leaves, treedef = _flatten(out, lists_of_numbers=False)
    for leaf in leaves:
        if isinstance(leaf, numbers.Real) or (  # (a Fraction, a Decimal: NumPy's objects)
            isinstance(leaf, numbers.Number) and not isinstance(leaf, numbers.Complex)
        ):
            continue
        if _numeric("check_grads: an output of f", np.asarray(leaf), leaf).dtype.kind == "c":
            raise complex_error("check_grads: a complex output of f")
    return leaves, treedef


def _check(f, args, order, modes, atol, rtol, h, rng, label):
    out = f(*args)
    if label:  # (a derivative map of the caller's f: one vector)
        out_leaves, out_def = [out], None
    else:
        out_leaves, out_def = _outputs(out)

    def flat_f(z):
        return _pack(f(*_unpack(z, args)))

    z = _pack(args)
    # each coordinate moves in proportion to its own scale, max(1, |z_i|), by 0.5 to 1.5 of it
    # with a random sign: along one line, a step that suits a coordinate of 1 would be rounded
    # away by one of 1e6, and a step that suits 1e6 would leave the range of one of 1
    v = rng.choice([-1.0, 1.0], z.shape) * rng.uniform(0.5, 1.5, z.shape) * np.maximum(1, abs(z))
    if not np.any(v) or not sum(np.size(o) for o in out_leaves):  # nothing in or out
        return
    v_args = tuple(_unpack(v, args))
    diff = _Difference(flat_f, z, v, h)
    fd = diff.at()[0]

    if "fwd" in modes:
        _, t_out = jvp(f, args, v_args)
        _compare(f"{label}forward mode (JVP)", _pack(t_out), diff, atol, rtol)
        if order > 1:
            n = len(args)
            _check(
                lambda *a: _pack(jvp(f, a[:n], a[n:])[1]),
                args + v_args,
                order - 1,
                modes,
                atol,
                rtol,
                h,
                rng,
                f"{label}derivative of the JVP map, ",
            )
    if "rev" in modes:
        u_flat = rng.standard_normal(np.shape(fd))
        u = _unpack(u_flat, out_leaves)
        u = u[0] if out_def is None else _unflatten(out_def, u)
        _, vjp_fn = vjp(f, *args)
        cts = vjp_fn(u)
        lhs = sum(float(np.vdot(ct, vi)) for ct, vi in zip(cts, v_args, strict=True))
        _compare(f"{label}reverse mode (VJP, <J^T u, v>)", lhs, diff, atol, rtol, u_flat)
        if order > 1:
            _check(
                lambda *a: _pack(vjp(f, *a)[1](u)),
                args,
                order - 1,
                modes,
                atol,
                rtol,
                h,
                rng,
                f"{label}derivative of the VJP map, ",
            )


def _over_leaves(f, args):
    """`f` as a function of the leaves of its container arguments, and those leaves."""
    parts = [_flatten(a) if _is_tree(a) else ([a], None) for a in args]
    trees = [None if treedef is None else (treedef, len(leaves)) for leaves, treedef in parts]

    def of_leaves(*leaves):
        return f(*_group(leaves, trees, _unflatten))

    return of_leaves, tuple(leaf for leaves, _ in parts for leaf in leaves)


def check_grads(f, args, order=2, modes=("fwd", "rev"), *, atol=None, rtol=None, h=None, seed=0):
    r"""Check the forward- and reverse-mode derivatives of `f` against finite differences.

    Along a random direction $v$ (and, in reverse mode, a random output weight $u$) it checks

    $$J v \approx \frac{d}{dt} f(x + t v)\Big|_{t=0}, \qquad
      \langle J^\top u, v\rangle \approx \Big\langle u, \frac{d}{dt} f(x + t v)\Big|_{t=0}
      \Big\rangle,$$

    the right-hand sides by Richardson-extrapolated central differences from `calcbook.numdiff`.
    Each entry of $v$ is $\pm$ 0.5 to 1.5 times $\max(1, |x_i|)$, random in sign and size, so
    that every coordinate moves in proportion to its own size along the line: arguments of very
    different sizes (1e6 beside 1) are checked together.
    With `order=2` it checks the derivatives of the maps $(x, v) \mapsto J v$ and
    $x \mapsto J^\top u$ the same way, and so on for higher orders.

    Parameters
    ----------
    f : callable
        A function of arrays returning an array or (nested) tuples/lists/dicts of arrays
        (boolean and integer outputs count as piecewise constant: their derivative is checked
        to be 0).
    args : tuple of array_like
        The point, one entry per argument of `f` (`(x,)` for one argument): arrays, or
        tuples/lists/dicts of them (each array is checked as an argument of its own); integers
        and booleans are promoted to float64.
    order : int, default 2
        Highest derivative order to check.
    modes : tuple of {"fwd", "rev"}, default ("fwd", "rev")
        Which modes of differentiation to check.
    atol, rtol : float, optional
        Tolerances of the comparison, ``|AD - FD| <= atol + rtol * max|FD|``. Default: 1e-6
        each for float64 inputs, 1e-2 if any input is float32 or narrower.
    h : float, optional
        Finite-difference step along the direction (default: `calcbook.numdiff`'s rule).
    seed : int, default 0
        Seed of the random directions.

    Raises
    ------
    AssertionError
        If a derivative disagrees with the finite difference; the message gives the measured
        discrepancy, the tolerance and the finite difference's own error estimate. With the default
        step, a disagreement is measured again at a longer one ($10^{-4}$ of the smallest coordinate
        scale along the direction) and forgiven only if that difference agrees and its own error
        estimate is within the tolerance: short steps can pass rounding noise off as a derivative,
        in an output that is 0 in exact arithmetic (at second order, Q of `np.linalg.qr` of a square
        matrix in its last column).
    TypeError
        If `args` is not a tuple or list of arguments, or one of them or an output of `f` is
        not made of real numbers (a string, None, an object array), or `f` returns None.
    ValueError
        If `order` < 1, `modes` is empty or unknown, or an argument is not finite.

    Examples
    --------
    ```python
    import numpy as np
    import pytest
    import calcbook as cb

    cb.check_grads(lambda x, y: np.tanh(x @ y), (np.ones((2, 3)), np.arange(3.0)), order=2)

    def step(x):  # jumps at x = 1, where it has no derivative
        return x + (x > 1.0)


    with pytest.raises(AssertionError, match="exceeds the tolerance"):
        cb.check_grads(step, (np.array([1.0]),), order=1)
    ```
    """
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool):
        raise TypeError(f"order must be an integer >= 1, got {order!r}")
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    if isinstance(modes, str):
        modes = (modes,)
    collection = isinstance(modes, (tuple, list, set, frozenset))
    if not collection or not modes or any(m not in ("fwd", "rev") for m in modes):
        raise ValueError(f"modes must be a non-empty subset of ('fwd', 'rev'), got {modes}")
    if not isinstance(args, (tuple, list)):
        raise TypeError(
            f"check_grads takes the arguments of f as a tuple, e.g. check_grads(f, (x,)), "
            f"got {type(args).__name__}."
        )
    if any(_is_tree(a) for a in args):  # containers: their leaves become the arguments
        f, args = _over_leaves(f, args)
    args = tuple(
        _numeric(f"check_grads: argument {i}", np.asarray(a), a) for i, a in enumerate(args)
    )
    # (copies: an f that changes its argument in place must not change the caller's array)
    args = tuple(_copy_laid_out(a) if a.dtype.kind in "fc" else a.astype(np.float64) for a in args)
    for i, a in enumerate(args):
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise ValueError(
                f"check_grads: argument {i} is not finite ({a[~np.isfinite(a)].flat[0]}): "
                "derivatives are checked at a point of finite numbers."
            )
    narrow = any(a.dtype.itemsize < 8 for a in args)
    for name, tol in (("atol", atol), ("rtol", rtol)):
        if tol is not None and (not isinstance(tol, numbers.Real) or isinstance(tol, bool)):
            raise TypeError(f"{name} must be a number >= 0, got {tol!r}")
    atol = (1e-2 if narrow else 1e-6) if atol is None else float(atol)
    rtol = (1e-2 if narrow else 1e-6) if rtol is None else float(rtol)
    if not (atol >= 0 and rtol >= 0):
        raise ValueError(f"atol and rtol must be >= 0, got atol={atol}, rtol={rtol}")
    _check(f, args, int(order), modes, atol, rtol, h, np.random.default_rng(seed), "")
