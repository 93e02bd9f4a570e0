r"""The table of derivative rules: one entry per NumPy primitive, forward (JVP) and reverse (VJP).

How to read a rule
------------------
A VJP rule for argument $i$ of $z = f(x_0, x_1, \dots)$ maps the cotangent
$\bar z = \partial L / \partial z$ to $\bar x_i = \bar z \, \partial z / \partial x_i$ and is called
as `rule(g, ans, *args, **params)`, where `ans` is the value of $z$. A JVP rule maps a tangent
$\dot x_i$ to its contribution $\frac{\partial z}{\partial x_i} \dot x_i$ to $\dot z$.

For an **elementwise** function the Jacobian is diagonal, so one function,
$g \mapsto g \odot \partial z / \partial x_i$, is both the VJP and the JVP rule. These are
registered with `defelementwise` and read exactly like a table of derivatives:

    defelementwise(np.multiply, lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)

The engine handles broadcasting for them: cotangents are summed back to each operand's shape
(`unbroadcast`) and tangents are broadcast up to the result's shape.

Structural functions (reductions, reshapes, indexing, `matmul`, `einsum`, ...) get a VJP rule
(`defvjp`) and a JVP rule (`defjvp`, one rule per argument; or `defjvp_all`, one rule seeing all
tangents, `None` for constants). A tangent may carry leading *batch* axes (`jacfwd` pushes all
basis directions through at once), so JVP rules address the primal's axes from the right
(negative axes) or prepend `nb = t.ndim - x.ndim` batch axes explicitly.

Every rule uses ordinary NumPy calls. When the values are tracers of an outer transform the rule
is traced too, which is what gives second and higher derivatives.

Adding a function
-----------------
Write its rule(s) next to its registration; if NumPy calls it through `__array_function__`, add
an adapter to `FUNCTIONS` that normalises the arguments (axes as tuples of non-negative ints) and
calls `apply`; then add it to the tests in `tests/test_rules.py`. `supported()` lists the names.
Each section of this module registers its own functions. Linear algebra (`np.linalg`, and NumPy
2's `vecdot`, `matvec` and `vecmat`) goes in `calcbook.linalg_rules` instead, which builds on the
helpers here; this module imports it at its end, so importing either one fills the whole table.

A function whose derivative is much simpler than the chain of its operations' rules (softmax
cross-entropy: `softmax - onehot`) can be registered whole with `fused`: its forward pass returns
its value and the *residuals* its rules reuse, and the tape records one entry for all of it.

Conventions at kinks: `abs` has derivative `sign(x)` (0 at 0); `maximum`/`minimum` and the
reductions `max`/`min` split the derivative equally among tied arguments; `clip` is
`minimum(maximum(x, lo), hi)`, so it gets one half at the boundaries. Like `abs`, the norms,
`std` and `hypot` have derivative 0 where they are 0, and $\partial_y x^y = 0$ at $x = 0$ (where
$x^y = 0$ for all $y > 0$). `prod` has the exact derivative at zeros too: the product of the other
entries, formed explicitly when an entry is 0. The conventions of linear algebra (singular
matrices, repeated eigenvalues, rank) are in `calcbook.linalg_rules`.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import string
import warnings
from collections import Counter

import numpy as np

from .tracing import (
    ANS_ONLY,
    ARGS_ONLY,
    BROADCASTING,
    CALLS_BACK,
    FUNCTIONS,
    HINTS,
    JVP_BOTH,
    JVP_RULES,
    NONDIFF,
    READS,
    RESIDUALS,
    SHAPE_OF_ARGS,
    SHAPES_ONLY,
    UFUNCS,
    VJP_RULES,
    RevTracer,
    Tracer,
    TracerError,
    _mutation_error,
    _primal_tree,
    apply,
    complex_error,
    hold,
    identity,
    mark_view,
    power_operator,
    primal,
    unbroadcast,
    unsupported,
)

__all__ = [
    "defelementwise",
    "defjvp",
    "defjvp_all",
    "defvjp",
    "fused",
    "primitive",
    "supported",
]

LN2, LN10 = math.log(2.0), math.log(10.0)


# --- registration -------------------------------------------------------------------------------
def defvjp(prim, *rules):
    """Register the VJP rules of `prim`, one per argument: `rule(g, ans, *args, **params)`."""
    VJP_RULES[prim] = rules


def defjvp(prim, *rules):
    """Register the JVP rules of `prim`, one per argument: `rule(t, ans, *args, **params)`."""
    JVP_RULES[prim] = rules


def defjvp_all(prim, rule):
    """Register one JVP rule seeing all tangents: `rule(tangents, ans, *args, **params)`."""
    JVP_RULES[prim] = rule


def defelementwise(ufunc, *partials):
    r"""Register an elementwise function: `partials[i](g, ans, *args)` is $g \odot \partial_i f$."""
    VJP_RULES[ufunc] = JVP_RULES[ufunc] = partials
    BROADCASTING.add(ufunc)
    if isinstance(ufunc, np.ufunc):
        UFUNCS[ufunc] = ufunc


def primitive(impl):
    """Turn `impl` (written for plain arrays) into a primitive that dispatches on tracers."""

    @functools.wraps(impl)
    def prim(*args, **params):
        for a in args:
            if isinstance(a, Tracer):
                return apply(prim, *args, **params)
        return impl(*args, **params)

    return prim


def fused(forward, *rules):
    """Make a function whose reverse-mode rules reuse what its forward pass computed.

    `forward(*args, **params)` returns `(value, residuals)`, written with ordinary NumPy calls;
    `rules[i](g, residuals, *args, **params)` is the VJP rule of argument `i`, reading the
    residuals where an ordinary rule would read `ans`. Under a reverse-mode transform the tape
    keeps the residuals and one entry for the whole function. Anywhere else (no tracer, forward
    mode) the function is `forward(...)[0]` and its own operations are traced, so its forward
    derivatives, and the second derivatives of `jacfwd(grad(...))`, need no extra rule.
    """
    VJP_RULES[forward] = rules
    RESIDUALS.add(forward)

    @functools.wraps(forward)
    def call(*args, **params):
        top = None
        for a in args:
            if isinstance(a, Tracer) and (top is None or a._level > top._level):
                top = a
        if type(top) is RevTracer:
            return top._lift(forward, args, params)
        return forward(*args, **params)[0]

    return call


def supported() -> list[str]:
    """Return the sorted names of the NumPy functions that work on traced arrays.

    Returns
    -------
    list of str
        Names such as ``"numpy.exp"``; comparisons and shape queries are included: they work
        on traced arrays and return plain (non-differentiated) results.

    Examples
    --------
    ```python
    from calcbook.rules import supported

    names = supported()
    assert "numpy.exp" in names and "numpy.einsum" in names
    assert "numpy.linalg.solve" in names and "numpy.linalg.eig" not in names
    ```
    """
    funs = [*UFUNCS, *(f for f in FUNCTIONS if not isinstance(f, str) and f not in _REFUSED)]
    funs += NONDIFF
    names = {f"{getattr(f, '__module__', None) or 'numpy'}.{f.__name__}" for f in funs}
    return sorted(names)


# --- helpers shared by several rules ------------------------------------------------------------
def _axes(axis, ndim):
    """Normalise `axis` (None, int or tuple; may be negative) to a sorted tuple of axes >= 0."""
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and 0 <= axis < ndim:  # the common case
        return (axis,)
    if not isinstance(axis, (tuple, list)):
        axis = (axis,)
    out = []
    for a in axis:
        a = operator.index(a)  # (as NumPy: 1.5 or "1" is no axis, a TypeError)
        if not -ndim <= a < max(ndim, 1):
            raise np.exceptions.AxisError(a, ndim)
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(out))


def _axis(a, ndim):
    """One axis (may be negative) as an axis >= 0; NumPy's AxisError outside [-ndim, ndim)."""
    a = operator.index(a)
    if not -ndim <= a < ndim:
        raise np.exceptions.AxisError(a, ndim)
    return a % ndim


def _no_repeats(axes, what):
    if len(set(axes)) != len(axes):
        raise ValueError(f"repeated axis in {what}")
    return axes


def _from_right(axes, ndim):
    """Axes counted from the right, so that they ignore leading batch axes of a tangent."""
    return tuple(a - ndim for a in axes)


def _keep(g, x, axis, keepdims):
    """Reshape a reduction's cotangent so that it broadcasts against the operand `x`."""
    if keepdims or axis is None:
        return g
    return g.reshape(_kept_shape(x.shape, axis))


def _kept_shape(shape, axis):
    """`shape` with the reduced axes (a tuple of axes >= 0) kept as 1."""
    shape = list(shape)
    for a in axis:
        shape[a] = 1
    return shape


def _nb(t, x):
    """Number of leading batch axes of the tangent `t` of `x`."""
    return t.ndim - x.ndim


def _ndim(a):
    return a.ndim if isinstance(a, (np.ndarray, np.generic, Tracer)) else np.ndim(a)


def _array(x):
    """`x` as an array unless it is traced: a list or a number given where NumPy takes arrays."""
    return x if isinstance(x, Tracer) else np.asarray(x)


def _shape(a):
    return a.shape if isinstance(a, (np.ndarray, np.generic, Tracer)) else np.shape(a)


def _recip0(a):
    """$1 / a$, and 0 where $a = 0$: norms have derivative 0 at 0 (as `abs` does)."""
    nonzero = primal(a) != 0
    return np.where(nonzero, 1 / np.where(nonzero, a, 1), 0)


def _log0(x):
    r"""$\log x$, and 0 where $x = 0$: $0^y = 0$ for all $y > 0$, so $\partial_y x^y = 0$ there."""
    if type(x) is float or type(x) is int:  # a Python number stays one (it keeps float32 results)
        return math.log(x) if x > 0 else 0.0 if x == 0 else math.nan
    return np.log(np.where(np.equal(primal(x), 0), 1, x))


def broadcast(g, shape):
    """`g` broadcast to `shape`, as a new array (cheaper than `np.broadcast_to` for small ones)."""
    if isinstance(g, Tracer):  # a primitive: `shape` is a parameter
        return g._lift1(broadcast, {"shape": shape})
    out = np.empty(shape, dtype=g.dtype)
    out[...] = g
    return out


_EXTRA_HINTS = {  # what to write instead of an argument the adapters do not take
    "dtype": "cast with .astype instead",
    "where": "choose the entries with np.where instead",
    "initial": "combine the result with the initial value afterwards",
}


def _no_extras(name, **given):
    for key, value in given.items():
        if key == "out" and value is not None:
            raise _mutation_error(f"numpy.{name}(..., out=...)")
        if value is not None and value is not np._NoValue:
            hint = _EXTRA_HINTS.get(key)
            raise NotImplementedError(
                f"numpy.{name}(..., {key}=...) is not supported on traced arrays"
                + (f": {hint}." if hint else ".")
            )


def _kd(keepdims):
    return bool(keepdims) if keepdims is not np._NoValue else False


def _mT(x):
    """Transpose of the last two axes (a stack of matrices)."""
    if _ndim(x) < 2:
        raise ValueError(f"Input array must be at least 2-dimensional, but it is {_ndim(x)}")
    return np.swapaxes(x, -1, -2)


# --- elementwise functions: one line of a derivative table each ---------------------------------
def _ties(win, tie, dtype):
    """Weights 1 where an argument wins, 1/2 at ties, 0 where it loses."""
    return np.where(tie, 0.5, win).astype(dtype, copy=False)


def _max_x(g, ans, x, y):
    px, py = primal(x), primal(y)
    return g * _ties(px > py, px == py, ans.dtype)


def _max_y(g, ans, x, y):
    px, py = primal(x), primal(y)
    return g * _ties(py > px, px == py, ans.dtype)


def _min_x(g, ans, x, y):
    px, py = primal(x), primal(y)
    return g * _ties(px < py, px == py, ans.dtype)


def _min_y(g, ans, x, y):
    px, py = primal(x), primal(y)
    return g * _ties(py < px, px == py, ans.dtype)


defelementwise(np.add, identity, identity)
defelementwise(np.subtract, identity, lambda g, ans, x, y: -g)
defelementwise(np.multiply, lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)
defelementwise(np.true_divide, lambda g, ans, x, y: g / y, lambda g, ans, x, y: -g * ans / y)
# where both arguments carry tangents: one expression instead of two terms and their sum
JVP_BOTH[np.subtract] = lambda tx, ty, ans, x, y: tx - ty
JVP_BOTH[np.true_divide] = lambda tx, ty, ans, x, y: (tx - ans * ty) / y


def _power_x(g, ans, x, y):
    if type(y) is int and 0 <= y <= 3:  # the common exponents, with fewer operations
        if y == 2:
            return g * (2 * x)
        if y == 3:
            return g * (3 * x * x)
        return g if y == 1 else 0 * g
    zero = np.equal(primal(x), 0) & np.equal(primal(y), 0)
    if zero.any():  # d/dx x^0 = 0 at x = 0 too, where y x^(y-1) would be 0 * inf = nan
        return g * np.where(zero, 0, y * np.where(zero, 1, x) ** (y - 1))
    return g * y * x ** (y - 1)


defelementwise(np.power, _power_x, lambda g, ans, x, y: g * ans * _log0(x))
defelementwise(np.negative, lambda g, ans, x: -g)
defelementwise(np.positive, identity)
defelementwise(np.reciprocal, lambda g, ans, x: -g * ans * ans)
defelementwise(np.square, lambda g, ans, x: g * 2 * x)
defelementwise(np.sqrt, lambda g, ans, x: g * 0.5 / ans)


@primitive
def _root(x):
    """The square root inside norms and `std`: derivative 0 where it is 0, like `abs` at 0."""
    return np.sqrt(x)


defelementwise(_root, lambda g, ans, x: g * 0.5 * _recip0(ans))
defelementwise(np.cbrt, lambda g, ans, x: g / (3 * ans * ans))
defelementwise(np.exp, lambda g, ans, x: g * ans)
defelementwise(np.exp2, lambda g, ans, x: g * ans * LN2)
defelementwise(np.expm1, lambda g, ans, x: g * (ans + 1))
defelementwise(np.log, lambda g, ans, x: g / x)
defelementwise(np.log2, lambda g, ans, x: g / (x * LN2))
defelementwise(np.log10, lambda g, ans, x: g / (x * LN10))
defelementwise(np.log1p, lambda g, ans, x: g / (1 + x))
defelementwise(np.sin, lambda g, ans, x: g * np.cos(x))
defelementwise(np.cos, lambda g, ans, x: -g * np.sin(x))
defelementwise(np.tan, lambda g, ans, x: g * (1 + ans * ans))
defelementwise(np.arcsin, lambda g, ans, x: g / np.sqrt(1 - x * x))
defelementwise(np.arccos, lambda g, ans, x: -g / np.sqrt(1 - x * x))
defelementwise(np.arctan, lambda g, ans, x: g / (1 + x * x))
defelementwise(np.sinh, lambda g, ans, x: g * np.cosh(x))
defelementwise(np.cosh, lambda g, ans, x: g * np.sinh(x))
defelementwise(np.tanh, lambda g, ans, x: g * (1 - ans * ans))
defelementwise(np.arcsinh, lambda g, ans, x: g / np.sqrt(x * x + 1))
defelementwise(np.arctanh, lambda g, ans, x: g / (1 - x * x))
defelementwise(np.absolute, lambda g, ans, x: g * np.sign(x))
defelementwise(np.fabs, lambda g, ans, x: g * np.sign(x))
defelementwise(np.conjugate, lambda g, ans, x: np.conjugate(g))
defelementwise(np.maximum, _max_x, _max_y)
defelementwise(np.minimum, _min_x, _min_y)
defelementwise(
    np.where,
    None,  # the condition is a constant
    lambda g, ans, c, x, y: np.where(c, g, 0),
    lambda g, ans, c, x, y: np.where(c, 0, g),
)

# What the rules above read (see `tracing.ARGS_ONLY`): the tape keeps nothing else.
SHAPES_ONLY.update({np.add, np.subtract, np.negative, np.positive})
ANS_ONLY.update(
    {np.tanh, np.exp, np.sqrt, _root, np.expm1, np.exp2, np.reciprocal, np.cbrt, np.tan}
)
ARGS_ONLY.update(
    {
        np.multiply, np.square, np.log, np.log2, np.log10, np.log1p, np.sin, np.cos, np.arcsin,
        np.arccos, np.arctan, np.sinh, np.cosh, np.arcsinh, np.arctanh, np.absolute, np.fabs,
    }
)  # fmt: skip

# comparisons, tests and sign: derivative zero, evaluated on plain values, results not traced
NONDIFF.update(
    {
        np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
        np.logical_and, np.logical_or, np.logical_not, np.logical_xor,
        np.isfinite, np.isinf, np.isnan, np.signbit, np.sign,
        np.shape, np.ndim, np.size, np.result_type, np.ones_like, np.zeros_like, np.empty_like,
        np.argmax, np.argmin, np.argsort, np.nonzero, np.flatnonzero,
        np.count_nonzero, np.isclose, np.allclose, np.array_equal, np.any, np.all,
        np.iscomplexobj, np.isrealobj,
    }
)  # fmt: skip


def _atan2_y(g, ans, y, x):  # arctan2(y, x): the angle of the point (x, y)
    return g * x / (x * x + y * y)  # (not np.square: a Python float would become float64)


def _atan2_x(g, ans, y, x):
    return -g * y / (x * x + y * y)


defelementwise(np.arctan2, _atan2_y, _atan2_x)
defelementwise(
    np.hypot, lambda g, ans, x, y: g * x * _recip0(ans), lambda g, ans, x, y: g * y * _recip0(ans)
)
defelementwise(
    np.logaddexp,
    lambda g, ans, x, y: g * np.exp(x - ans),
    lambda g, ans, x, y: g * np.exp(y - ans),
)
defelementwise(
    np.logaddexp2,
    lambda g, ans, x, y: g * np.exp2(x - ans),
    lambda g, ans, x, y: g * np.exp2(y - ans),
)


def _fpick(wins, g, ans, x, y):  # fmax, fmin: as maximum, minimum, but a NaN loses to a number
    px, py = primal(x), primal(y)
    return g * _ties(wins(px, py) | (np.isnan(py) & ~np.isnan(px)), px == py, ans.dtype)


defelementwise(
    np.fmax,
    lambda g, ans, x, y: _fpick(np.greater, g, ans, x, y),
    lambda g, ans, x, y: _fpick(np.greater, g, ans, y, x),
)
defelementwise(
    np.fmin,
    lambda g, ans, x, y: _fpick(np.less, g, ans, x, y),
    lambda g, ans, x, y: _fpick(np.less, g, ans, y, x),
)
# heaviside(x, h0) is 0 for x < 0, h0 at x = 0, 1 for x > 0: a step in x, and h0 where x = 0
defelementwise(
    np.heaviside,
    lambda g, ans, x, h0: 0 * g,
    lambda g, ans, x, h0: g * np.equal(primal(x), 0),
)
defelementwise(np.float_power, _power_x, lambda g, ans, x, y: g * ans * _log0(x))
defelementwise(power_operator, *VJP_RULES[np.power])  # (`x ** y`: np.power's rules)
# What the rules of the first and of the second argument read of (x, y, ans) (see `tracing.READS`)
_NOTHING = (False, False, False)
READS.update(
    {
        np.multiply: ((False, True, False), (True, False, False)),
        np.true_divide: ((False, True, False), (False, True, True)),
        np.power: ((True, True, False), (True, False, True)),
        power_operator: ((True, True, False), (True, False, True)),
        np.float_power: ((True, True, False), (True, False, True)),
        np.heaviside: (_NOTHING, (True, False, False)),
    }
)
for _f in (np.deg2rad, np.radians):
    defelementwise(_f, lambda g, ans, x: g * (np.pi / 180))
for _f in (np.rad2deg, np.degrees):
    defelementwise(_f, lambda g, ans, x: g * (180 / np.pi))
# rounding: derivative zero almost everywhere, so the result is a constant
NONDIFF.update({np.floor, np.ceil, np.rint, np.trunc, np.fix, np.round, np.around})


def _quotient(ans, x, y):
    """The whole number n with x = n y + remainder (a constant): exact, once rounded."""
    return np.round((primal(x) - primal(ans)) / primal(y))


# remainder(x, y) = x - n y with n = floor(x / y) (fmod: n = trunc(x / y)), n piecewise constant
for _f in (np.remainder, np.fmod):
    defelementwise(_f, identity, lambda g, ans, x, y: -g * _quotient(ans, x, y))
    READS[_f] = (_NOTHING, (True, True, True))


# copysign(x, y) = |x| sign(y): slope sign(x) sign(y) in x (0 at x = 0, as |x|), 0 in y
def _copysign_x(g, ans, x, y):
    sign = np.sign(primal(x))
    return g * np.where(np.signbit(primal(y)), -sign, sign)


defelementwise(np.copysign, _copysign_x, lambda g, ans, x, y: 0 * g)
READS[np.copysign] = ((True, True, False), _NOTHING)
defelementwise(np.arccosh, lambda g, ans, x: g / np.sqrt(x * x - 1))
ARGS_ONLY.add(np.arccosh)
# floor division: piecewise constant, as np.floor; `divmod` is the pair of both
NONDIFF.update({np.floor_divide, np.searchsorted, np.digitize, np.isin})
# sinc'(x) = sum_k c_k x^(2k-1), c_k = (-1)^k pi^(2k) 2k / (2k+1)!: its Taylor series, k = 1..9
_SINC_SERIES = [
    (-1) ** k * math.pi ** (2 * k) * 2 * k / math.factorial(2 * k + 1) for k in range(1, 10)
]


@primitive
def _sinc(x):
    return np.sinc(x)


def _sinc_slope(x, ans):
    r"""$\operatorname{sinc}'(x) = (\cos \pi x - \operatorname{sinc} x)/x$, and its Taylor series
    where $|x| < 1/4$ (at 0 too, and so are the higher derivatives: $\operatorname{sinc}''(0) =
    -\pi^2/3$). The formula subtracts two numbers that agree to about $(\pi x)^2/3$: it would
    lose digits near 0, float32's most of all (a relative 1e-4 at $x = 0.01$)."""
    small = np.abs(primal(x)) < 0.25
    xs = np.where(small, 1, x)  # (the formula's branch, away from 0 where it is not chosen)
    x2 = x * x
    series = _SINC_SERIES[-1]
    for c in reversed(_SINC_SERIES[:-1]):  # (Horner's scheme in x^2)
        series = series * x2 + c
    return np.where(small, x * series, (np.cos(np.pi * xs) - ans) / xs)


defelementwise(_sinc, lambda g, ans, x: g * _sinc_slope(x, ans))
FUNCTIONS[np.sinc] = lambda x: apply(_sinc, x)


# --- reductions ---------------------------------------------------------------------------------
# The primitives take `axis` as None or a tuple of axes >= 0 (the adapters below normalise it).
# (`np.add.reduce` is the C function under `ndarray.sum`, without its Python wrapper.)
def _sum(x, axis=None, keepdims=False):
    if type(x) is np.ndarray:
        return np.add.reduce(x, axis=axis, keepdims=keepdims)
    return x.sum(axis=axis, keepdims=keepdims)


def _mean(x, axis=None, keepdims=False):
    n = x.size if axis is None else _count(x, axis)
    if type(x) is np.ndarray:
        return np.add.reduce(x, axis=axis, keepdims=keepdims) / n
    return x.sum(axis=axis, keepdims=keepdims) / n


def _prod(x, axis=None, keepdims=False):
    return x.prod(axis=axis, keepdims=keepdims)


def _max(x, axis=None, keepdims=False):
    return x.max(axis=axis, keepdims=keepdims)


def _min(x, axis=None, keepdims=False):
    return x.min(axis=axis, keepdims=keepdims)


def _sum_vjp(g, ans, x, axis=None, keepdims=False):
    if axis is not None and not keepdims:
        g = g.reshape(_kept_shape(x.shape, axis))
    return broadcast(g, x.shape)


def _sum_jvp(t, ans, x, axis=None, keepdims=False):
    if t.ndim == x.ndim:  # no batch axes
        return _sum(t, axis, keepdims)
    return t.sum(axis=_from_right(_axes(axis, x.ndim), x.ndim), keepdims=keepdims)


def _count(x, axis):
    """The number of entries of `x` that a reduction over `axis` combines into one."""
    if axis is None:
        return x.size
    shape = x.shape
    return math.prod([shape[a] for a in axis])


def _mean_vjp(g, ans, x, axis=None, keepdims=False):  # as `_sum_vjp`, for g / n
    if axis is None:
        return broadcast(g / x.size, x.shape)
    g = g / _count(x, axis)
    if not keepdims:
        g = g.reshape(_kept_shape(x.shape, axis))
    return broadcast(g, x.shape)


def _mean_jvp(t, ans, x, axis=None, keepdims=False):  # (no entries: a sum of 0 tangents, 0)
    return _sum_jvp(t, ans, x, axis, keepdims) / max(_count(x, axis), 1)


def _running_products(x):
    """Inclusive products along the last axis, by doubling: log2(n) multiplications, no division."""
    n, d = _shape(x)[-1], 1
    while d < n:
        ones = np.ones(_shape(x)[:-1] + (d,), dtype=x.dtype)
        x = x * np.concatenate([ones, x[..., :-d]], axis=-1)
        d *= 2
    return x


def _others(x, ans, axis, keepdims):
    r"""$\partial \prod_k x_k / \partial x_i = \prod_{k \ne i} x_k$ for each reduced group."""
    pa = np.abs(np.asarray(primal(ans)))
    tiny = np.finfo(np.result_type(pa, 1.0)).tiny
    if not isinstance(x, Tracer) and np.all((pa >= tiny) & (pa < np.inf)):
        return _keep(ans, x, axis, keepdims) / x  # (no zero, no overflow or underflow)
    # a zero, an infinity, an underflow, or a rule to be differentiated again (where dividing by
    # an entry near 0 would cancel digits): the products before i times those after i, exact
    if x.size == 0:  # (no entries, nothing to multiply: a group of none has no rows to reshape)
        return np.zeros(x.shape, dtype=x.dtype)
    axes = tuple(range(x.ndim)) if axis is None else axis
    last = tuple(range(x.ndim - len(axes), x.ndim))
    moved = _moveaxis(x, axes, last)
    rows = _reshape(moved, moved.shape[: x.ndim - len(axes)] + (-1,))
    one = np.ones(rows.shape[:-1] + (1,), dtype=x.dtype)
    before = np.concatenate([one, _running_products(rows)[..., :-1]], axis=-1)
    after = np.concatenate([_running_products(rows[..., ::-1])[..., -2::-1], one], axis=-1)
    return _moveaxis(_reshape(before * after, moved.shape), last, axes)


def _prod_vjp(g, ans, x, axis=None, keepdims=False):
    return _keep(g, x, axis, keepdims) * _others(x, ans, axis, keepdims)


def _prod_jvp(t, ans, x, axis=None, keepdims=False):
    return _sum_jvp(t * _others(x, ans, axis, keepdims), ans, x, axis, keepdims)


def _chosen(x, ans, axis, keepdims):
    """Weights of the entries of `x` that attain the max/min `ans`, split equally among ties."""
    px, pa = primal(x), primal(ans)
    hit = px == _keep(pa, px, axis, keepdims)
    return (hit / hit.sum(axis=axis, keepdims=True)).astype(px.dtype, copy=False)


def _extreme_vjp(g, ans, x, axis=None, keepdims=False):
    return _keep(g, x, axis, keepdims) * _chosen(x, ans, axis, keepdims)


def _extreme_jvp(t, ans, x, axis=None, keepdims=False):
    return _sum_jvp(t * _chosen(x, ans, axis, keepdims), ans, x, axis, keepdims)


for _f, _vjp, _jvp in [
    (_sum, _sum_vjp, _sum_jvp),
    (_mean, _mean_vjp, _mean_jvp),
    (_prod, _prod_vjp, _prod_jvp),
    (_max, _extreme_vjp, _extreme_jvp),
    (_min, _extreme_vjp, _extreme_jvp),
]:
    defvjp(_f, _vjp)
    defjvp(_f, _jvp)
SHAPE_OF_ARGS.update({_sum, _mean})


def _reduction(prim, name):
    prim_numpy = getattr(np, name)

    def adapter(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
        if out is not None:
            _no_extras(name, out=out)
        if (initial is not None and initial is not np._NoValue) or (
            where is not None and where is not True and where is not np._NoValue
        ):  # (written out: the common case costs three comparisons)
            return _masked_reduction(name, a, axis, dtype, keepdims, initial, where)
        if dtype is not None:  # accumulate in that dtype: cast first
            if np.dtype(dtype).kind in "biu":  # an integer result (NumPy's): a constant
                return prim_numpy(primal(a), axis=axis, dtype=dtype, keepdims=keepdims)
            a = _astype_adapter(a, dtype)
        if type(axis) is int and isinstance(a, Tracer) and 0 <= axis < a.ndim:
            axis = (axis,)  # the common case, as `_axes` normalises it
        elif axis is not None:
            axis = _axes(axis, _ndim(a))
        if keepdims is not False:
            keepdims = keepdims is True or _kd(keepdims)
        if isinstance(a, Tracer):  # `apply`, one step shorter
            return a._lift1(prim, {"axis": axis, "keepdims": keepdims})
        return prim(a, axis=axis, keepdims=keepdims)

    return adapter


@primitive
def _masked_sum(x, where, axis=None, keepdims=False):
    """NumPy's sum of the entries `where` selects (its order of addition: a sum of the entries
    replaced by 0 is not it, by an ulp or so)."""
    return np.add.reduce(x, axis=axis, keepdims=keepdims, where=where)


def _masked_sum_vjp(g, ans, x, where, axis=None, keepdims=False):
    return np.where(where, broadcast(_keep(g, x, axis, keepdims), x.shape), 0)


def _masked_sum_jvp(t, ans, x, where, axis=None, keepdims=False):
    axes = _from_right(_axes(axis, x.ndim), x.ndim)  # (a tangent's leading batch axes kept)
    return np.sum(np.where(where, t, 0), axis=axes, keepdims=keepdims)


defvjp(_masked_sum, _masked_sum_vjp)
defjvp(_masked_sum, _masked_sum_jvp)


def _selected_sum(a, where, axis, keepdims):
    """`np.sum(a, axis, keepdims=keepdims, where=where)` of a traced `a`, NumPy's value."""
    if where is True:
        return np.sum(a, axis=axis, keepdims=keepdims)
    where = np.broadcast_to(np.asarray(where, dtype=bool), np.shape(primal(a)))
    return _masked_sum(a, where, axis=_axes(axis, _ndim(a)), keepdims=bool(keepdims))


def _all_of(where):
    """Whether a reduction's `where` selects every entry (not given, or True)."""
    return where is None or where is np._NoValue or where is True


# a reduction with an `initial` value: the reduction of the rest, combined with it
_COMBINE = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}


def _masked_reduction(name, a, axis, dtype, keepdims, initial, where):
    """`np.sum`, `prod`, `mean`, `max` or `min` with NumPy's `initial` and `where`, composed.

    Sums (and a mean's) are NumPy's masked sum (`_selected_sum`, its order of addition); for the
    others masked-out entries are replaced by one that leaves the reduction alone (1 for products,
    `initial` for max and min, where NumPy requires it), and `initial` is combined with the
    result: the derivative reaches exactly the entries `where` selects. A mean divides
    by the number selected per group. NumPy checks the arguments first, on the plain values.
    """
    name = {"amax": "max", "amin": "min"}.get(name, name)  # (NumPy's aliases)
    extras = {"where": where} if not _all_of(where) else {}
    if initial is not None and initial is not np._NoValue:
        extras["initial"] = initial
    keep = _kd(keepdims)
    if dtype is not None:  # (max and min take none)
        extras["dtype"] = dtype
    expected = getattr(np, name)(primal(a), axis=axis, keepdims=keep, **extras)
    if dtype is not None:
        a = _astype_adapter(a, dtype)
    if not np.size(primal(a)):  # nothing to differentiate: NumPy's value (initial, or empty)
        return expected
    if "where" in extras and name in ("sum", "mean"):  # (NumPy's order of addition)
        out = _astype_adapter(_selected_sum(a, where, axis, keep), expected.dtype)
    else:
        x = a
        if "where" in extras:
            fill = 1 if name == "prod" else initial
            x = np.where(where, a, np.asarray(fill, dtype=expected.dtype))
        out = (np.sum if name == "mean" else getattr(np, name))(x, axis=axis, keepdims=keep)
    if name == "mean":
        count = np.sum(np.broadcast_to(where, np.shape(primal(a))), axis=axis, keepdims=keep)
        out = out / np.maximum(count, 1).astype(expected.dtype)
        if not np.all(count):  # a group where nothing is selected: NumPy's NaN, a constant
            out = np.where(count > 0, out, expected)  # (whose derivative is 0, not 0/0)
    elif "initial" in extras:
        out = _COMBINE[name](out, np.asarray(initial, dtype=expected.dtype))
    return out


for _name, _f in [("sum", _sum), ("mean", _mean), ("prod", _prod)]:
    FUNCTIONS[getattr(np, _name)] = _reduction(_f, _name)
for _alias, _f in ((np.max, _max), (np.amax, _max), (np.min, _min), (np.amin, _min)):
    _adapter = _reduction(_f, _alias.__name__)
    FUNCTIONS[_alias] = functools.partial(  # (NumPy's signature, which takes no dtype)
        lambda r, a, axis=None, out=None, keepdims=False, initial=None, where=None: r(
            a, axis, None, out, keepdims, initial, where
        ),
        _adapter,
    )


def _var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, **kwargs):
    return _variance(a, axis, dtype, out, ddof, keepdims, where, kwargs, root=False)


def _std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, **kwargs):
    return _variance(a, axis, dtype, out, ddof, keepdims, where, kwargs, root=True)


def _variance(a, axis, dtype, out, ddof, keepdims, where, kwargs, root):
    """`np.var`, or with `root` `np.std` (the root taken before an empty group's NaN is put in)."""
    correction, center = kwargs.pop("correction", np._NoValue), kwargs.pop("mean", np._NoValue)
    _no_extras("std" if root else "var", out=out, **kwargs)
    if correction is not np._NoValue:  # (the Array API's name of ddof)
        if ddof != 0:
            raise ValueError("ddof and correction can't be provided simultaneously.")
        ddof = correction
    if type(ddof) not in (int, float):  # (a NumPy number would make a float32 var float64)
        ddof = np.asarray(ddof).item()
    if dtype is not None:
        a = _astype_adapter(a, dtype)
    axes = _axes(axis, _ndim(a))
    if not _all_of(where):  # the entries `where` selects, counted per group
        keep = _kd(keepdims)  # (NumPy's checks of `where`, and its values where n <= ddof:)
        expected = np.var(primal(a), axis=axes, ddof=ddof, keepdims=keep, where=where)
        # (0, not a - mean, where not selected: an empty group's NaN mean must not reach the
        # derivatives of the other groups as 0 * NaN)
        if center is np._NoValue:
            center = np.mean(a, axis=axes, keepdims=True, where=where)
        d = np.where(where, a - center, 0)
        n = np.sum(np.broadcast_to(where, np.shape(primal(a))), axis=axes, keepdims=keep)
        fits = n - ddof > 0
        var = _selected_sum(d * d, where, axes, keep) / np.where(fits, n - ddof, 1).astype(
            expected.dtype
        )
        if root:
            var, expected = _root(var), np.sqrt(expected)
        return var if np.all(fits) else np.where(fits, var, expected)  # (NaN or inf: constants)
    # (a mean given by the caller, with the axes kept, as NumPy takes it: its derivative is theirs)
    d = a - (np.mean(a, axis=axes, keepdims=True) if center is np._NoValue else center)
    var = np.sum(d * d, axis=axes, keepdims=_kd(keepdims)) / max(_count(a, axes) - ddof, 0)
    return _root(var) if root else var


def _average(a, axis=None, weights=None, returned=False, *, keepdims=np._NoValue):
    keep, a = _kd(keepdims), _array(a)
    weights = None if weights is None else _array(weights)
    if weights is None:
        avg = np.mean(a, axis=axis, keepdims=keep)
        if not math.prod(np.shape(avg)):  # (no results: NumPy divides a.size by avg.size, 0 / 0)
            raise ZeroDivisionError("division by zero")
        count = _count(a, None if axis is None else _axes(axis, _ndim(a)))
        total = np.result_type(primal(avg)).type(count)  # (avg's dtype, as NumPy's)
        if np.shape(avg):
            total = np.full(np.shape(avg), total)
    else:
        w, shape = weights, tuple(_shape(a))
        if tuple(_shape(w)) != shape:  # weights along the axes named, in the order named
            if axis is None:
                raise TypeError("Axis must be specified when shapes of a and weights differ.")
            axes = np.lib.array_utils.normalize_axis_tuple(axis, len(shape), "axis")
            if tuple(_shape(w)) != tuple(shape[ax] for ax in axes):
                raise ValueError(
                    "Shape of weights must be consistent with shape of a along specified axis."
                )
            w = _reshape(np.transpose(w, np.argsort(axes)),
                         tuple(n if i in axes else 1 for i, n in enumerate(shape)))  # fmt: skip
        kinds = (np.result_type(primal(a)), np.result_type(primal(w)))
        dtype = np.result_type(*kinds, *(np.float64,) * (kinds[0].kind in "biu"))
        total = np.sum(w, axis=axis, keepdims=keep, dtype=dtype)  # (of w as given: NumPy's sum)
        if np.any(np.asarray(primal(total)) == 0.0):
            raise ZeroDivisionError("Weights sum to zero, can't be normalized")
        avg = np.sum(_astype_adapter(a, dtype) * _astype_adapter(w, dtype), axis=axis,
                     keepdims=keep) / total  # fmt: skip
        if returned and tuple(_shape(total)) != tuple(_shape(avg)):
            total = np.broadcast_to(total, _shape(avg)).copy()
    return (avg, total) if returned else avg


FUNCTIONS[np.var] = _var
FUNCTIONS[np.std] = _std
FUNCTIONS[np.average] = _average


# --- shapes: reshape, transpose, broadcasts, flips, rotations, repeat, tile, roll, meshgrid -----
@primitive
def _copy(x, order="K"):
    """A new array with the values of `x` (a 0-d array stays an array, as `ndarray.copy` gives),
    laid out in memory as `order` says (np.ravel(..., order="A") reads the layout)."""
    return np.array(x, copy=True, order=order)


defvjp(_copy, identity)
defjvp(_copy, identity)
SHAPES_ONLY.add(_copy)
FUNCTIONS["copy"] = _copy


def _laid_out(r, order):
    """`r`, copied if it is not already, laid out in memory as NumPy lays out its result: 'C',
    'F', or a list of the axes from outermost to innermost (`_keep_order` of the input, for a
    copy in order='K'). A sum of the result then adds its entries in NumPy's order."""
    v = np.asarray(primal(r))
    if order in ("C", "F"):
        return r if v.flags[order + "_CONTIGUOUS"] else _copy(r, order)
    if list(order) == list(range(v.ndim)):
        return _laid_out(r, "C")
    return _transpose(_laid_out(_transpose(r, order), "C"), np.argsort(order).tolist())


def _layout_of(a):
    """The axes of `a`, outermost first, as NumPy's copies in order='K' lay them out (`copy`,
    `empty_like`: an axis of stride 0 goes innermost, unlike `_keep_order`'s iterator order)."""
    strides = np.empty_like(np.asarray(primal(a))).strides
    return np.argsort([-abs(s) for s in strides], kind="stable").tolist()


def _reshape_prim(x, shape):
    return x.reshape(shape)


defvjp(_reshape_prim, lambda g, ans, x, shape: g.reshape(x.shape))
defjvp(_reshape_prim, lambda t, ans, x, shape: t.reshape(t.shape[: _nb(t, x)] + ans.shape))
defvjp(np.transpose, lambda g, ans, x, axes: np.transpose(g, tuple(np.argsort(axes))))


def _transpose_jvp(t, ans, x, axes):
    nb = _nb(t, x)
    return np.transpose(t, tuple(range(nb)) + tuple(nb + a for a in axes))


defjvp(np.transpose, _transpose_jvp)
defvjp(np.broadcast_to, lambda g, ans, x, shape: unbroadcast(g, x.shape))


def _broadcast_to_jvp(t, ans, x, shape):
    nb = _nb(t, x)
    t = np.reshape(t, np.shape(t)[:nb] + (1,) * (ans.ndim - x.ndim) + x.shape)
    return np.broadcast_to(t, np.shape(t)[:nb] + ans.shape)


defjvp(np.broadcast_to, _broadcast_to_jvp)
SHAPE_OF_ARGS.update({_reshape_prim, np.transpose, np.broadcast_to})
defvjp(broadcast, lambda g, ans, x, shape: unbroadcast(g, x.shape))
SHAPE_OF_ARGS.add(broadcast)


def _broadcast_jvp(t, ans, x, shape):
    nb = _nb(t, x)
    t = t.reshape(t.shape[:nb] + (1,) * (ans.ndim - x.ndim) + x.shape)
    return broadcast(t, t.shape[:nb] + ans.shape)


defjvp(broadcast, _broadcast_jvp)


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    shape = newshape if shape is None else shape
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    shape = tuple(operator.index(n) for n in shape)  # (2.0 is refused, as by NumPy)
    size, given = math.prod(_shape(a)), shape
    unknown = sum(n < 0 for n in shape)
    if unknown > 1:
        raise ValueError("can only specify one unknown dimension")
    known = math.prod(n for n in shape if n >= 0)
    if unknown:  # resolve -1 so that the rules see the actual shape
        shape = tuple(size // known if known and n < 0 else n for n in shape)
    if math.prod(shape) != size or (unknown and not known):
        spelled = ",".join("newaxis" if n < 0 else str(n) for n in given)
        spelled += "," if len(given) == 1 else ""  # (a lone -1 always fits)
        raise ValueError(f"cannot reshape array of size {size} into shape ({spelled})")
    if _shape(a) == shape:
        return a
    if _memory_order(a, order, "np.reshape") == "F":  # column-major: reshape the reversed axes
        return _transpose(_reshape(_transpose(a), shape[::-1]))
    if not isinstance(a, Tracer):  # a constant, possibly a list
        return np.reshape(a, shape)
    return mark_view(a, apply(_reshape_prim, a, shape=shape))


def _memory_order(a, order, name):
    """The index order, 'C' or 'F', that NumPy's `order` argument means for `a`."""
    if order == "C" or order is None:
        return "C"
    if order == "F":
        return "F"
    if order == "A" or order == "K" and name == "np.ravel":  # as the layout in memory
        flags = np.asarray(primal(a)).flags
        if flags.f_contiguous and not flags.c_contiguous:
            return "F"
        if order == "A" or flags.c_contiguous:
            return "C"
        return "K"  # (neither C- nor Fortran-contiguous: see `_ravel`)
    raise ValueError(f"{name}: order must be 'C', 'F' or 'A', or also 'K' for ravel; got {order!r}")


def _ravel(a, order="C"):
    """`np.ravel`: the entries in the index order `order` means for `a` (`_memory_order`). With
    order='K' of an array that is neither C- nor Fortran-contiguous (a strided or permuted view),
    the axes are taken in the order NumPy's iterator puts them (`_keep_order`), then in C order."""
    index_order = _memory_order(a, order, "np.ravel")
    if index_order != "K":
        return _reshape(a, (-1,), index_order)
    v = np.asarray(primal(a))
    return _reshape(_transpose(a, _keep_order(v.shape, v.strides)), (-1,))


def _keep_order(shape, strides):
    """The axes of an array of `shape` and `strides`, outermost first, as NumPy's iterator orders
    them for order='K' (its insertion sort, innermost first, by the strides' sizes): an axis of
    stride 0 (broadcast, or of size 1) is not compared, and keeps its place among the others."""
    size = [0 if n == 1 else abs(s) for n, s in zip(shape, strides, strict=True)]
    perm = list(range(len(shape)))[::-1]
    for i in range(1, len(perm)):
        axis, place = perm[i], i
        for j in range(i - 1, -1, -1):
            if size[axis] and size[perm[j]]:
                if size[perm[j]] <= size[axis]:
                    break
                place = j
        perm.insert(place, perm.pop(i))
    return perm[::-1]


def _transpose(a, axes=None):
    nd = _ndim(a)
    axes = tuple(range(nd))[::-1] if axes is None else tuple(_axis(i, nd) for i in axes)
    if axes == tuple(range(nd)):
        return a
    return mark_view(a, apply(np.transpose, a, axes=axes))


def _swapaxes(a, axis1, axis2):
    nd = _ndim(a)
    axes = list(range(nd))
    i, j = _axis(axis1, nd), _axis(axis2, nd)
    axes[i], axes[j] = axes[j], axes[i]
    return _transpose(a, axes)


def _moveaxis(a, source, destination):
    nd = _ndim(a)
    src = _no_repeats([_axis(s, nd) for s in np.atleast_1d(source)], "moveaxis source")
    dst = _no_repeats([_axis(d, nd) for d in np.atleast_1d(destination)], "moveaxis destination")
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return _transpose(a, order)


def _expand_dims(a, axis):
    shape = list(_shape(a))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = len(shape) + len(axes)
    for ax in sorted(_no_repeats([_axis(i, out) for i in axes], "expand_dims")):
        shape.insert(ax, 1)
    return _reshape(a, tuple(shape))


def _squeeze(a, axis=None):
    shape = _shape(a)
    if axis is None:
        return _reshape(a, tuple(n for n in shape if n != 1))
    axes = _axes(axis, len(shape))
    for ax in axes:
        if shape[ax] != 1:
            raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return _reshape(a, tuple(n for i, n in enumerate(shape) if i not in axes))


def _broadcast_to(array, shape, subok=False):
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if _shape(array) == shape:
        return array
    return mark_view(array, apply(np.broadcast_to, array, shape=shape))


def _flip(m, axis=None):
    axes = _axes(axis, _ndim(m))
    return m[tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(_ndim(m)))]


def _flipud(m):
    if _ndim(m) < 1:
        raise ValueError("Input must be >= 1-d.")
    return _flip(m, 0)


def _fliplr(m):
    if _ndim(m) < 2:
        raise ValueError("Input must be >= 2-d.")
    return _flip(m, 1)


def _rot90(m, k=1, axes=(0, 1)):
    if len(axes) != 2:
        raise ValueError("len(axes) must be 2.")
    nd = _ndim(m)
    a0, a1 = _axis(axes[0], nd), _axis(axes[1], nd)
    if a0 == a1:
        raise ValueError("Axes must be different.")
    k %= 4
    if k == 0:
        return m[...]
    if k == 2:
        return _flip(_flip(m, a0), a1)
    order = list(range(nd))
    order[a0], order[a1] = a1, a0
    return _transpose(_flip(m, a1), order) if k == 1 else _flip(_transpose(m, order), a1)


def _repeat(a, repeats, axis=None):
    if axis is None:
        a, axis = _reshape(a, (-1,)), 0
    axis = _axes(axis, _ndim(a))[0]
    index = np.repeat(np.arange(_shape(a)[axis]), primal(repeats))
    return _laid_out(a[(slice(None),) * axis + (index,)], "C")  # (NumPy's new array)


def _tile(A, reps):
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    shape = (1,) * (len(reps) - _ndim(A)) + tuple(_shape(A))
    reps = (1,) * (len(shape) - len(reps)) + reps
    if all(r == 1 for r in reps):  # (NumPy's copy of A, in A's layout)
        return _copy(_reshape(A, shape), "K")
    spread = _reshape(A, tuple(x for n in shape for x in (1, n)))
    full = _broadcast_to(spread, tuple(x for r, n in zip(reps, shape, strict=True) for x in (r, n)))
    full = _reshape(full, tuple(r * n for r, n in zip(reps, shape, strict=True)))
    return _laid_out(full, "C")  # (a new array in NumPy, not a broadcast view)


@primitive
def _roll_prim(x, shift, axis):
    """NumPy's roll along one `axis` (negative): a copy laid out as `x` is (`empty_like`)."""
    return np.roll(x, shift, axis)


defvjp(_roll_prim, lambda g, ans, x, shift, axis: _roll_prim(g, -shift, axis))
defjvp(_roll_prim, lambda t, ans, x, shift, axis: _roll_prim(t, shift, axis))
SHAPE_OF_ARGS.add(_roll_prim)


def _roll(a, shift, axis=None):
    if axis is None:
        return _reshape(_roll(_reshape(a, (-1,)), shift, 0), _shape(a))
    shifts, axes = np.broadcast_arrays(shift, axis)
    for s, ax in zip(shifts.ravel(), axes.ravel(), strict=True):
        ax = _axes(int(ax), _ndim(a))[0]
        a = _roll_prim(a, int(s), ax - _ndim(a))  # (NumPy's copy keeps the layout, as a gather
    return a  # along an inner axis does not: a sum of the result then adds in another order)


def _atleast_shape(shape, k):
    """The shape numpy.atleast_{k}d gives: a vector becomes a row (2-D) or (1, n, 1) (3-D)."""
    if len(shape) >= k:
        return shape
    if k == 3 and len(shape) == 2:
        return shape + (1,)
    if k == 3 and len(shape) == 1:
        return (1,) + shape + (1,)
    return (1,) * (k - len(shape)) + shape


def _atleast(k):
    def adapter(*arys):
        out = [_reshape(a, _atleast_shape(tuple(_shape(a)), k)) for a in arys]
        return out[0] if len(out) == 1 else tuple(out)  # (a tuple, as NumPy 2's)

    return adapter


def _meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    nd = len(xi)
    out = []
    for i, x in enumerate(xi):
        shape = [1] * nd
        shape[i] = -1
        out.append(_reshape(x, tuple(shape)))
    if indexing == "xy" and nd > 1:
        out[0] = _reshape(out[0], (1, -1) + (1,) * (nd - 2))
        out[1] = _reshape(out[1], (-1, 1) + (1,) * (nd - 2))
    if not sparse:
        full = np.broadcast_shapes(*(np.shape(primal(o)) for o in out))
        # (copies in C order, NumPy's x.copy() of each broadcast array)
        out = [_copy(_broadcast_to(o, full), "C") if copy else _broadcast_to(o, full) for o in out]
    return tuple(out)


FUNCTIONS.update(
    {
        np.reshape: _reshape,
        np.transpose: _transpose,
        np.swapaxes: _swapaxes,
        np.moveaxis: _moveaxis,
        np.expand_dims: _expand_dims,
        np.squeeze: _squeeze,
        np.ravel: _ravel,
        np.broadcast_to: _broadcast_to,
        np.flip: _flip,
        np.copy: lambda a, order="K", subok=False: _copy(a, order=order),
        np.permute_dims: _transpose,
        np.matrix_transpose: _mT,
        np.flipud: _flipud,
        np.fliplr: _fliplr,
        np.rot90: _rot90,
        np.repeat: _repeat,
        np.tile: _tile,
        np.roll: _roll,
        np.atleast_1d: _atleast(1),
        np.atleast_2d: _atleast(2),
        np.atleast_3d: _atleast(3),
        np.meshgrid: _meshgrid,
    }
)  # fmt: skip


# --- indexing: getitem, take, pad, sliding windows, delete, bincount ----------------------------
def _normalise_index(index):
    if type(index) is slice or type(index) is int:  # the common cases
        return (index,)
    if not isinstance(index, tuple):
        index = (index,)
    return tuple(_index_array(i) if isinstance(i, (list, Tracer)) else i for i in index)


def _index_array(i):
    """A list (or traced array) used as an index, as NumPy reads it: [] selects nothing."""
    i = np.asarray(primal(i))
    return i.astype(np.intp) if i.size == 0 and i.dtype.kind == "f" else i


def _is_basic(index):
    for i in index:  # (a loop: faster than `all` for the usual one or two entries)
        t = type(i)
        if t is slice or t is int:  # (the common entries first)
            continue
        if not (
            i is None or i is Ellipsis or isinstance(i, (slice, int, np.integer))
            and not isinstance(i, (bool, np.bool_))
        ):  # fmt: skip
            return False
    return True


def _expand_ellipsis(index, ndim):
    """Replace `...` by explicit slices, so that the index leaves trailing axes alone."""
    used = sum(
        0 if i is None else i.ndim if isinstance(i, np.ndarray) and i.dtype == np.bool_ else 1
        for i in index
        if i is not Ellipsis
    )
    out = []
    for i in index:
        out.extend([slice(None)] * (ndim - used) if i is Ellipsis else [i])
    return tuple(out)


def _batch_last(fun, t, nb, nd, index):
    """Apply `fun(t, index)` to the non-batch axes of `t` by moving its batch axes last."""
    moved = np.transpose(t, tuple(range(nb, nb + nd)) + tuple(range(nb)))
    r = fun(moved, _expand_ellipsis(index, nd))
    k = np.ndim(r) - nb
    return np.transpose(r, tuple(range(k, k + nb)) + tuple(range(k)))


def _getitem(x, index):
    if isinstance(x, Tracer):  # a primitive: `index` is a parameter
        if type(x) is RevTracer:  # the tape reads index arrays in the backward pass
            for i in index:
                if type(i) is np.ndarray:
                    hold(x._level, i)
        r = x._lift1(_getitem, {"index": index})
        # (a view for basic indices; integer-array and boolean indices make a copy in NumPy)
        return mark_view(x, r) if _is_basic(index) else r
    return x[index]


def scatter_add(g, index, shape):
    """Zeros of `shape` with `g` added at `index` (repeated indices accumulate)."""
    if isinstance(g, Tracer):  # a primitive: `index` and `shape` are parameters
        return g._lift1(scatter_add, {"index": index, "shape": shape})
    out = np.zeros(shape, dtype=g.dtype)
    if _is_basic(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


def _getitem_jvp(t, ans, x, index):
    nb = t.ndim - x.ndim
    if nb == 0:
        return t[index]
    if _is_basic(index):
        return t[(slice(None),) * nb + index]
    return _batch_last(lambda m, i: m[i], t, nb, x.ndim, index)


def _scatter_add_jvp(t, ans, g, index, shape):
    nb = t.ndim - g.ndim
    if nb == 0:
        return scatter_add(t, index, shape)
    batch = np.shape(t)[:nb]
    if _is_basic(index):
        return scatter_add(t, (slice(None),) * nb + index, batch + shape)
    nd = np.ndim(g)  # move the batch axes last, scatter, move them back first
    moved = np.transpose(t, tuple(range(nb, nb + nd)) + tuple(range(nb)))
    r = scatter_add(moved, _expand_ellipsis(index, len(shape)), shape + batch)
    k = len(shape)
    return np.transpose(r, tuple(range(k, k + nb)) + tuple(range(k)))


defvjp(_getitem, lambda g, ans, x, index: scatter_add(g, index, x.shape))
defjvp(_getitem, _getitem_jvp)
defvjp(scatter_add, lambda g, ans, t, index, shape: g[index])
defjvp(scatter_add, _scatter_add_jvp)
SHAPE_OF_ARGS.update({_getitem, scatter_add})
FUNCTIONS["getitem"] = lambda x, index: _getitem(x, _normalise_index(index))


def _take_along_axis(arr, indices, axis=-1):
    indices = np.asarray(primal(indices))
    nd = _ndim(arr)
    if axis is None:
        if indices.ndim != 1:
            raise ValueError("when axis=None, `indices` must have a single dimension.")
        return _reshape(arr, (-1,))[indices]
    if indices.ndim != nd:  # (NumPy's message; indexing would broadcast them silently)
        raise ValueError("`indices` and `arr` must have the same number of dimensions")
    axis = _axes(axis, nd)[0]
    index = [np.arange(n).reshape((1,) * i + (n,) + (1,) * (nd - i - 1)) for i, n in
             enumerate(_shape(arr))]  # fmt: skip
    index[axis] = indices
    return arr[tuple(index)]


def _take(a, indices, axis=None, out=None, mode="raise"):
    _no_extras("take", out=out)
    indices = np.asarray(primal(indices))
    if indices.dtype.kind == "f":  # (NumPy casts them, as it does any index array it is given)
        indices = indices.astype(np.intp)
    if axis is None:
        a, axis = _reshape(a, (-1,)), 0
    axis = _axes(axis, _ndim(a))[0]
    if mode != "raise":  # out-of-range indices wrap around or are clipped to the ends
        n = _shape(a)[axis]
        if mode not in ("wrap", "clip"):
            raise ValueError(f"mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
        if n == 0 and indices.size:
            raise IndexError("cannot do a non-empty take from an empty axes.")
        indices = indices % max(n, 1) if mode == "wrap" else np.clip(indices, 0, n - 1)
    return _laid_out(a[(slice(None),) * axis + (indices,)], "C")  # (NumPy's new array)


_PAD_GATHER = ("edge", "reflect", "symmetric", "wrap")  # each entry a copy of one of x's
_PAD_STATS = {"maximum": np.max, "minimum": np.min, "mean": np.mean, "median": np.median}


def _pad(array, pad_width, mode="constant", **kwargs):
    v = np.asarray(primal(array))  # (NumPy pads into a new array, Fortran-ordered if array is)
    order = "F" if v.flags.f_contiguous and not v.flags.c_contiguous else "C"
    return _laid_out(_padded(array, pad_width, mode, **kwargs), order)


def _padded(array, pad_width, mode="constant", **kwargs):
    shape = _shape(array)
    nd = len(shape)
    if isinstance(pad_width, dict):  # {axis: width or (before, after)}, the other axes 0
        widths = [(0, 0)] * nd
        for axis, width in pad_width.items():
            widths[axis] = np.broadcast_to(width, 2).tolist()
        pad_width = widths
    given = np.asarray(pad_width)
    if given.dtype.kind not in "iu":  # (a width of 1.5 would be cut to 1)
        raise TypeError("`pad_width` must be of integral type.")
    widths = np.broadcast_to(given.astype(int), (nd, 2))
    if np.any(widths < 0):
        raise ValueError("index can't contain negative values")
    value = kwargs.get("constant_values", 0)
    if mode == "constant" and not kwargs.keys() - {"constant_values"} and np.ndim(value) == 0:
        # (the common case: one op, the array scattered into zeros of the padded shape)
        index = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, shape, strict=True))
        padded = tuple(int(n + lo + hi) for (lo, hi), n in zip(widths, shape, strict=True))
        out = scatter_add(array, index, padded)
        if value is not None and (isinstance(value, Tracer) or value != 0):
            dtype = np.result_type(primal(array))  # (NumPy casts the value to it)
            inside = scatter_add(np.ones(shape, dtype), index, padded)
            out = out + _astype_adapter(_array(value), dtype) * (1 - inside)
        return out
    if nd == 0:  # (nothing to pad: a copy, as NumPy's)
        return _copy(array)
    affine = mode == "linear_ramp" or kwargs.get("reflect_type") == "odd"
    if mode not in ("constant", "linear_ramp", *_PAD_GATHER, *_PAD_STATS):
        raise NotImplementedError(
            f"numpy.pad(..., mode={mode!r}) is not supported on traced arrays; the modes "
            f"'constant', {', '.join(map(repr, _PAD_GATHER + tuple(_PAD_STATS)))} are."
        )
    np.pad(np.zeros((1,) * nd), widths, mode, **_primal_tree(kwargs))  # (NumPy's own checks)
    if mode == "constant":  # (traced values keep their derivative: one per axis and side)
        values = _broadcast_to(_array(value), (nd, 2))
    stat = np.broadcast_to(np.asarray(kwargs.get("stat_length") or -1, dtype=int), (nd, 2))
    # axis by axis, each padding the array the axes before it padded, as NumPy does
    for ax in range(nd):
        lo, hi = (int(w) for w in widths[ax])
        n = _shape(array)[ax]
        if not (lo or hi):
            continue
        block = list(_shape(array))
        if n == 0 and mode != "constant":
            raise ValueError(f"can't extend empty axis {ax} using modes other than 'constant'")
        if affine:  # padded = M x + c along the axis, M and c found by NumPy's pad itself
            array = _pad_affine(array, ax, lo, hi, mode, kwargs)
            continue
        if mode in _PAD_GATHER:  # pad the indices 0..n-1 the same way: which entry goes where
            array = _take(array, np.pad(np.arange(n), (lo, hi), mode, **kwargs), axis=ax)
            continue
        ends = []
        for width, side in ((lo, 0), (hi, 1)):
            block[ax] = width
            if mode == "constant":  # (in the array's dtype, as NumPy casts them)
                fill = _astype_adapter(values[ax, side], np.result_type(primal(array)))
                ends.append(_broadcast_to(fill, tuple(block)))
                continue
            k = n if stat[ax][side] < 0 else min(int(stat[ax][side]), n)
            part = array[(slice(None),) * ax + (slice(0, k) if side == 0 else slice(n - k, n),)]
            ends.append(_broadcast_to(_PAD_STATS[mode](part, axis=ax, keepdims=True), block))
        array = _concatenate_adapter([ends[0], array, ends[1]], axis=ax)
    return array


def _pad_affine(array, ax, lo, hi, mode, kwargs):
    """Pad `array` along axis `ax` by a mode that is affine in the entries: NumPy's linear ramps
    (to end values, which may be traced) and odd reflections (2 x_edge - x_mirror). NumPy's pad
    of each unit vector gives the matrix M of the map; of zeros, with one end value 1, the
    offset's part from that end value."""
    n, nd = _shape(array)[ax], _ndim(array)
    dtype = np.result_type(primal(array))
    one = dict(kwargs, end_values=0) if mode == "linear_ramp" else kwargs
    m = np.pad(np.eye(n), ((lo, hi), (0, 0)), mode, **one)
    out = np.moveaxis(np.tensordot(m.astype(dtype), array, axes=(1, ax)), 0, ax)
    if mode != "linear_ramp":
        return out
    ends = _broadcast_to(_array(kwargs.get("end_values", 0)), (nd, 2))  # (this axis's row)
    along = [-1 if i == ax else 1 for i in range(nd)]
    for side, unit in enumerate(((1, 0), (0, 1))):
        ramp = np.pad(np.zeros(n), (lo, hi), mode, end_values=unit).astype(dtype).reshape(along)
        out = out + ramp * _astype_adapter(ends[ax, side], dtype)  # (cast, as NumPy casts it)
    return out


def _sliding_window_view(x, window_shape, axis=None, *, subok=False, writeable=False):
    if writeable:
        raise _mutation_error("sliding_window_view(..., writeable=True)")
    window = tuple(window_shape) if np.iterable(window_shape) else (window_shape,)
    nd = _ndim(x)
    axes = tuple(range(nd)) if axis is None else tuple(np.atleast_1d(axis))
    if len(window) != len(axes):
        raise ValueError(
            f"window_shape has {len(window)} entries for {len(axes)} axes"
            + (" (axis=None: one per dimension of x)" if axis is None else "")
        )
    out = x
    for ax, w in zip(axes, window, strict=True):
        ax, w = _axis(ax, nd), operator.index(w)
        n = _shape(out)[ax]
        if w < 0 or w > n:
            raise ValueError(
                "`window_shape` cannot contain negative values" if w < 0
                else "window shape cannot be larger than input array shape"
            )  # fmt: skip
        # the windows side by side: entry (i, j) is x[i + j], a gather that repeats entries
        out = _moveaxis(
            _take(out, np.arange(n - w + 1)[:, None] + np.arange(w), axis=ax), ax + 1, -1
        )
    return out


def _delete(arr, obj, axis=None):
    if axis is None:
        arr, axis = _reshape(arr, (-1,)), 0
    axis = _axis(axis, _ndim(arr))
    keep = np.ones(_shape(arr)[axis], dtype=bool)
    keep[primal(obj)] = False
    return _take(arr, np.flatnonzero(keep), axis=axis)


def _bincount(x, /, weights=None, minlength=0):
    index = np.asarray(primal(x))
    if index.dtype.kind in "bu":  # (as NumPy counts them: bools as 0 and 1, no unsigned -1)
        index = index.astype(np.intp)
    if weights is None or not isinstance(weights, Tracer):  # (a traced x: NumPy's own error)
        return np.bincount(index, None if weights is None else primal(weights), minlength)
    if index.ndim != 1 or _shape(weights) != index.shape:
        raise ValueError("The weights and list don't have the same length.")
    n = max(int(index.max(initial=-1)) + 1, minlength)
    np.bincount(index, minlength=minlength)  # (NumPy's checks: non-negative integers)
    # (summed in float64, as NumPy sums the weights: float32 ones are converted first)
    return scatter_add(_astype_adapter(weights, np.float64), (index,), (n,))


FUNCTIONS.update(
    {
        np.take_along_axis: _take_along_axis, np.take: _take, np.pad: _pad,
        np.lib.stride_tricks.sliding_window_view: _sliding_window_view, np.delete: _delete,
        np.bincount: _bincount,
    }
)  # fmt: skip


# --- joining and splitting ----------------------------------------------------------------------
def _concatenate(*arrays, axis, ends):
    """`np.concatenate(arrays, axis)`; `ends` are where the pieces end along `axis`."""
    return np.concatenate(arrays, axis=axis)


def _concatenate_vjp(i):
    def rule(g, ans, *arrays, axis, ends):
        return g[(slice(None),) * axis + (slice(ends[i - 1] if i else 0, ends[i]),)]

    return rule


def _concatenate_jvp(tangents, ans, *arrays, axis, ends):
    first = next(i for i, t in enumerate(tangents) if t is not None)
    batch = np.shape(tangents[first])[: _nb(tangents[first], arrays[first])]
    full = [
        np.zeros(batch + _shape(a), dtype=ans.dtype) if t is None else t
        for t, a in zip(tangents, arrays, strict=True)
    ]
    return np.concatenate(full, axis=axis - ans.ndim)


class _PerArgument(tuple):
    """VJP rules for a function of any number of arguments, built on demand."""

    def __new__(cls, make):
        self = super().__new__(cls)
        self.make = make
        self.cache = {}
        return self

    def __getitem__(self, i):
        rule = self.cache.get(i)
        if rule is None:
            rule = self.cache[i] = self.make(i)
        return rule


VJP_RULES[_concatenate] = _PerArgument(_concatenate_vjp)
defjvp_all(_concatenate, _concatenate_jvp)


def _concatenate_adapter(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    _no_extras("concatenate", out=out)
    arrays = list(arrays)
    if dtype is not None or casting != "same_kind":  # (NumPy's checks of the casts, then casts)
        plain = [primal(a) for a in arrays]
        dtype = np.concatenate(plain, axis=axis, dtype=dtype, casting=casting).dtype
        arrays = [_astype_adapter(_array(a), dtype) for a in arrays]
    if axis is None:
        arrays, axis = [_reshape(a, (-1,)) for a in arrays], 0
    nd = _ndim(arrays[0])
    if nd == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    axis = _axis(axis, nd)
    ends = tuple(itertools.accumulate(_shape(a)[axis] if _ndim(a) == nd else 0 for a in arrays))
    return apply(_concatenate, *arrays, axis=axis, ends=ends)


def _stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    arrays = list(arrays)
    axis = _axis(axis, _ndim(arrays[0]) + 1)
    return _concatenate_adapter(
        [_expand_dims(a, axis) for a in arrays], axis, out, dtype=dtype, casting=casting
    )


def _hstack(tup, *, dtype=None, casting="same_kind"):
    arrays = [_atleast(1)(a) for a in tup]
    axis = 0 if _ndim(arrays[0]) == 1 else 1
    return _concatenate_adapter(arrays, axis, dtype=dtype, casting=casting)


def _vstack(tup, *, dtype=None, casting="same_kind"):
    return _concatenate_adapter([_atleast(2)(a) for a in tup], 0, dtype=dtype, casting=casting)


def _dstack(tup):
    return _concatenate_adapter([_atleast(3)(a) for a in tup], 2)


def _column_stack(tup):
    return _concatenate_adapter([_reshape(a, (-1, 1)) if _ndim(a) < 2 else a for a in tup], 1)


def _append(arr, values, axis=None):
    if axis is None:
        return _concatenate_adapter([_reshape(arr, (-1,)), _reshape(values, (-1,))], 0)
    return _concatenate_adapter([arr, values], axis)


def _split_bounds(n, sections, equal):
    try:
        len(sections)
    except TypeError:  # a number of sections (as in NumPy, any number int() takes: 2.0 too)
        if equal and n % sections:
            raise ValueError("array split does not result in an equal division") from None
        count = int(sections)
        if count <= 0:
            raise ValueError("number sections must be larger than 0.") from None
        sizes = [n // count + (i < n % count) for i in range(count)]
        bounds = [0, *itertools.accumulate(sizes)]
    else:  # the indices to split at (integers: NumPy slices with them)
        bounds = [0, *(operator.index(i) for i in sections), n]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _splitter(equal):
    def split(ary, indices_or_sections, axis=0):
        axis = _axes(axis, _ndim(ary))[0]
        n = _shape(ary)[axis]
        return [ary[(slice(None),) * axis + (slice(int(lo), int(hi)),)]
                for lo, hi in _split_bounds(n, indices_or_sections, equal)]  # fmt: skip

    return split


FUNCTIONS[np.concatenate] = _concatenate_adapter
FUNCTIONS[np.stack] = _stack
FUNCTIONS.update(
    {
        np.concat: _concatenate_adapter, np.hstack: _hstack, np.vstack: _vstack, np.dstack: _dstack,
        np.column_stack: _column_stack, np.append: _append, np.split: _splitter(True),
        np.array_split: _splitter(False),
    }
)  # fmt: skip


# --- products: matmul, dot, outer, einsum, tensordot, inner, vdot, kron, cross ------------------
def _matmul_vjp_x(g, ans, x, y):
    if x.ndim == 2 and y.ndim == 2:
        return g @ y.T
    if x.ndim == 1 and y.ndim == 1:
        return g * y
    if y.ndim == 1:
        return unbroadcast(g[..., None] * y, x.shape)
    yt = y.T if y.ndim == 2 else np.swapaxes(y, -1, -2)
    if x.ndim == 1:
        return unbroadcast((g[..., None, :] @ yt)[..., 0, :], x.shape)
    return unbroadcast(g @ yt, x.shape)


def _matmul_vjp_y(g, ans, x, y):
    if x.ndim == 2 and y.ndim == 2:
        return x.T @ g
    if x.ndim == 1 and y.ndim == 1:
        return g * x
    if x.ndim == 1:
        return unbroadcast(x[:, None] * g[..., None, :], y.shape)
    xt = x.T if x.ndim == 2 else np.swapaxes(x, -1, -2)
    if y.ndim == 1:
        return unbroadcast((xt @ g[..., None])[..., 0], y.shape)
    return unbroadcast(xt @ g, y.shape)


def _matmul_batched(a, b, nb, a_nd, b_nd, tangent_left):
    """`a @ b` where one factor is a tangent with `nb` leading batch axes."""
    if nb == 0:
        return a @ b
    squeeze_a, squeeze_b = a_nd == 1, b_nd == 1
    if squeeze_a:
        a, a_nd = a[..., None, :], 2
    if squeeze_b:
        b, b_nd = b[..., None], 2
    pad = (b_nd - a_nd) if tangent_left else (a_nd - b_nd)
    if pad > 0:  # line the stacking axes of the tangent up with those of the other factor
        t = a if tangent_left else b
        shape = np.shape(t)
        t = np.reshape(t, shape[:nb] + (1,) * pad + shape[nb:])
        a, b = (t, b) if tangent_left else (a, t)
    r = a @ b
    if squeeze_b:
        r = r[..., 0]
    if squeeze_a:
        r = r[..., 0] if squeeze_b else r[..., 0, :]
    return r


defvjp(np.matmul, _matmul_vjp_x, _matmul_vjp_y)
ARGS_ONLY.add(np.matmul)
defjvp(
    np.matmul,
    lambda t, ans, x, y: _matmul_batched(t, y, _nb(t, x), x.ndim, y.ndim, True),
    lambda t, ans, x, y: _matmul_batched(x, t, _nb(t, y), x.ndim, y.ndim, False),
)
UFUNCS[np.matmul] = np.matmul


def _dot(a, b, out=None):
    _no_extras("dot", out=out)
    a, b = _array(a), _array(b)  # (a number is a float64 array to NumPy here, not a weak float)
    if _ndim(a) == 0 or _ndim(b) == 0:
        return a * b
    if _ndim(b) > 2:  # a sum over the last axis of a and the next-to-last of b
        return _rows_times_columns(a, _swapaxes(b, -1, -2))
    return apply(np.matmul, a, b)


def _rows_times_columns(a, b):
    """`r[i..., j...] = a[i..., :] . b[j..., :]`, one BLAS dot product per entry as NumPy's N-D
    `dot` and `inner` take them (a row times a column; `b` a view, strides and all)."""
    k = _shape(a)[-1]
    rows = _reshape(a, tuple(_shape(a)[:-1]) + (1,) * (_ndim(b) - 1) + (1, k))
    return _laid_out((rows @ b[..., :, None])[..., 0, 0], "C")  # (NumPy's new C-ordered array)


def _outer(a, b, out=None):
    _no_extras("outer", out=out)
    return _reshape(a, (-1, 1)) * _reshape(b, (1, -1))


FUNCTIONS[np.dot] = _dot
FUNCTIONS[np.outer] = _outer


@functools.lru_cache(maxsize=256)
def _einsum_spec(subscripts, ndims):
    """Explicit form of an einsum specification: every axis named by a letter, output given."""
    s = subscripts.replace(" ", "")
    ins, out = s.split("->") if "->" in s else (s, None)
    ins = ins.split(",")
    if len(ins) != len(ndims):
        raise ValueError(
            f"einsum subscripts {subscripts!r} name {len(ins)} operands, got {len(ndims)}"
        )
    free = [c for c in string.ascii_letters if c not in s]
    n_ell = max(
        (nd - len(t) + 3 for t, nd in zip(ins, ndims, strict=True) if "..." in t), default=0
    )
    ell = "".join(free[:n_ell])
    explicit = []
    for t, nd in zip(ins, ndims, strict=True):
        k = nd - len(t) + 3
        explicit.append(t.replace("...", ell[n_ell - k :]) if "..." in t else t)
    if out is None:
        counts = Counter("".join(ins).replace(".", ""))
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1))
    else:
        out = out.replace("...", ell)
    return ",".join(explicit), out


def _einsum(*operands, spec, optimize):
    return np.einsum(spec, *operands, optimize=optimize)


def _diagonal_factors(target, x, spec):
    """Rename the repeats of a letter in `target` ("ii" -> "iA"), with identity matrices "iA".

    An operand with a repeated index (`einsum("ii->i", x)`) reads only its diagonal, so its
    cotangent is zero off the diagonal: the identity factors put it there.
    """
    free = (c for c in string.ascii_letters if c not in spec)
    letters, subscripts, eyes = [], [], []
    for n, c in zip(x.shape, target, strict=True):
        if c in letters:
            d = next(free)
            subscripts.append(c + d)
            eyes.append(np.eye(n, dtype=x.dtype))
            c = d
        letters.append(c)
    return "".join(letters), subscripts, eyes


def _einsum_vjp(i):
    def rule(g, ans, *operands, spec, optimize):
        ins, out = spec.split("->")
        ins = ins.split(",")
        x = operands[i]
        sources = [out] + ins[:i] + ins[i + 1 :]
        args = (g, *operands[:i], *operands[i + 1 :])
        target = ins[i]
        if len(set(target)) != len(target):  # a repeated index: its diagonal
            target, subscripts, eyes = _diagonal_factors(target, x, spec)
            sources, args = sources + subscripts, args + tuple(eyes)
        kept = "".join(c for c in target if c in "".join(sources))
        r = np.einsum(",".join(sources) + "->" + kept, *args, optimize=optimize)
        if kept != target:
            r = np.reshape(r, tuple(np.shape(r)[kept.index(c)] if c in kept else 1 for c in target))
        return np.broadcast_to(unbroadcast(r, x.shape), x.shape)

    return rule


def _einsum_jvp(i):
    def rule(t, ans, *operands, spec, optimize):
        nb = _nb(t, operands[i])
        ins, out = spec.split("->")
        ins = ins.split(",")
        batch = "".join([c for c in string.ascii_letters if c not in spec][:nb])
        ins[i] = batch + ins[i]
        args = (*operands[:i], t, *operands[i + 1 :])
        return np.einsum(",".join(ins) + "->" + batch + out, *args, optimize=optimize)

    return rule


VJP_RULES[_einsum] = _PerArgument(_einsum_vjp)
JVP_RULES[_einsum] = _PerArgument(_einsum_jvp)


def _einsum_adapter(subscripts, *operands, out=None, optimize=False, **kwargs):
    if not isinstance(subscripts, str):  # the sublist form: op, [0, 1], op, [1, 2], [0, 2]
        subscripts, operands = _sublists_as_string((subscripts, *operands))
    _no_extras("einsum", out=out, **kwargs)
    ins, out_subs = _einsum_spec(subscripts, tuple(_ndim(a) for a in operands))
    r = apply(_einsum, *operands, spec=ins + "->" + out_subs, optimize=optimize)
    return mark_view(operands[0], r) if len(operands) == 1 else r  # ("ij->ji": a view)


FUNCTIONS[np.einsum] = _einsum_adapter


def _sublists_as_string(args):
    """`np.einsum(a, [0, 1], b, [1, 2], [0, 2])` as `("AB,BC->AC", (a, b))`: integer `k` is the
    `k`-th of A-Z then a-z, as in NumPy, so that an output left implicit comes out in the same
    order of axes."""

    def letters(sub):
        out = []
        for k in sub:
            if k is Ellipsis:
                out.append("...")
                continue
            k = operator.index(k)
            if not 0 <= k < 52:
                raise ValueError(f"einsum: subscript {k} in sublist format is not in [0, 52)")
            out.append((string.ascii_uppercase + string.ascii_lowercase)[k])
        return "".join(out)

    operands, subs = args[0::2], args[1::2]
    if len(operands) > len(subs):  # (an odd count: the last item is the output's sublist)
        operands, target = operands[:-1], operands[-1]
        return ",".join(map(letters, subs)) + "->" + letters(target), operands
    return ",".join(map(letters, subs)), operands


def _letters(k, start=0):
    return string.ascii_letters[start : start + k]


def _tensordot(a, b, axes=2):
    """NumPy's steps: the summed axes moved last in `a` and first in `b`, both reshaped to
    matrices, one matrix product (NumPy's `dot`, BLAS), reshaped back: NumPy's values exactly."""
    a, b = _array(a), _array(b)
    na, nb = _ndim(a), _ndim(b)
    if isinstance(axes, (int, np.integer)):
        ax_a, ax_b = list(range(na - axes, na)), list(range(axes))
    else:
        ax_a, ax_b = ([axes_i] if isinstance(axes_i, (int, np.integer)) else list(axes_i)
                      for axes_i in axes)  # fmt: skip
        ax_a, ax_b = [i % na for i in ax_a], [i % nb for i in ax_b]
    sa, sb = tuple(_shape(a)), tuple(_shape(b))
    if len(ax_a) != len(ax_b) or any(sa[i] != sb[j] for i, j in zip(ax_a, ax_b, strict=False)):
        raise ValueError("shape-mismatch for sum")  # (NumPy's check and message)
    free_a = [i for i in range(na) if i not in ax_a]
    free_b = [j for j in range(nb) if j not in ax_b]
    k = math.prod(sa[i] for i in ax_a)
    at = _reshape(_transpose(a, free_a + ax_a), (math.prod(sa[i] for i in free_a), k))
    bt = _reshape(_transpose(b, ax_b + free_b), (k, math.prod(sb[j] for j in free_b)))
    product = _laid_out(at @ bt, "C")  # (NumPy's dot: a new C-ordered array)
    return _reshape(product, tuple(sa[i] for i in free_a) + tuple(sb[j] for j in free_b))


def _inner(a, b):
    a, b = _array(a), _array(b)
    if _ndim(a) == 0 or _ndim(b) == 0:
        return a * b
    if _ndim(a) <= 2 and _ndim(b) <= 2:  # NumPy's dot of a and b's transpose (BLAS)
        return a @ _transpose(b)
    return _rows_times_columns(a, b)


def _vdot(a, b):  # NumPy's dot of the flattened arrays (BLAS), which must be of one size
    return apply(np.matmul, _reshape(_array(a), (-1,)), _reshape(_array(b), (-1,)))


def _kron(a, b):
    nd = max(_ndim(a), _ndim(b))
    sa = (1,) * (nd - _ndim(a)) + tuple(_shape(a))
    sb = (1,) * (nd - _ndim(b)) + tuple(_shape(b))
    wide = _reshape(a, tuple(x for n in sa for x in (n, 1))) * _reshape(
        b, tuple(x for n in sb for x in (1, n)))  # fmt: skip
    return _reshape(wide, tuple(p * q for p, q in zip(sa, sb, strict=True)))


def _cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = _moveaxis(_array(a), axisa, -1), _moveaxis(_array(b), axisb, -1)
    na, nb = _shape(a)[-1], _shape(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):  # (NumPy's checks, message and warning)
        raise ValueError("incompatible dimensions for cross product\n(dimension must be 2 or 3)")
    if na == 2 or nb == 2:
        warnings.warn(
            "Arrays of 2-dimensional vectors are deprecated. Use arrays of 3-dimensional vectors "
            "instead. (deprecated in NumPy 2.0)",
            DeprecationWarning,
            stacklevel=4,
        )
    # the components, a missing third one (of a 2-vector) being 0
    a, b = [a[..., i] if i < na else None for i in range(3)], [b[..., i] for i in range(nb)]
    b += [None] * (3 - nb)
    if na == nb == 2:  # the third component of the cross product alone, a scalar per pair
        return a[0] * b[1] - a[1] * b[0]

    def term(i, j):  # a_i b_j - a_j b_i, leaving out a product with a missing component
        left = None if a[i] is None or b[j] is None else a[i] * b[j]
        right = None if a[j] is None or b[i] is None else a[j] * b[i]
        if right is None:
            return left
        return -right if left is None else left - right

    c = _stack([term(i, j) for i, j in ((1, 2), (2, 0), (0, 1))], axis=-1)
    return _moveaxis(_laid_out(c, "C"), -1, axisc)  # (NumPy's C-ordered result, axis moved)


FUNCTIONS.update(
    {
        np.tensordot: _tensordot, np.inner: _inner, np.vdot: _vdot, np.kron: _kron,
        np.cross: _cross,
    }
)  # fmt: skip


# --- diagonals and triangles: diagonal, trace, diag, tril, triu ---------------------------------
def _diagonal(a, offset=0, axis1=0, axis2=1):
    nd, offset = _ndim(a), operator.index(offset)  # (NumPy's checks and messages)
    if nd < 2:
        raise ValueError("diag requires an array of at least two dimensions")
    if _axes(axis1, nd) == _axes(axis2, nd):
        raise ValueError("axis1 and axis2 cannot be the same")
    a1, a2 = (_axes(ax, nd)[0] - nd for ax in (axis1, axis2))
    return mark_view(a, _diagonal_prim(a, offset, a1, a2))  # (NumPy's view, strides and all)


@primitive
def _diagonal_prim(x, offset, axis1, axis2):
    """NumPy's diagonal (a view) of `x` along `axis1` and `axis2`, axes counted from the right."""
    return np.diagonal(x, offset, axis1, axis2)


def _diagonal_vjp(g, ans, x, offset, axis1, axis2):  # g on the diagonal, zeros elsewhere
    nd = len(x.shape)
    n1, n2 = x.shape[axis1], x.shape[axis2]
    rest = [n for k, n in enumerate(x.shape) if k not in (axis1 % nd, axis2 % nd)]
    i = np.arange(max(0, min(n1 - max(0, -offset), n2 - max(0, offset))))
    placed = scatter_add(g, (Ellipsis, i + max(0, -offset), i + max(0, offset)), (*rest, n1, n2))
    return np.moveaxis(placed, (-2, -1), (axis1 % nd, axis2 % nd))


defvjp(_diagonal_prim, _diagonal_vjp)
defjvp(
    _diagonal_prim, lambda t, ans, x, offset, axis1, axis2: _diagonal_prim(t, offset, axis1, axis2)
)
SHAPE_OF_ARGS.add(_diagonal_prim)


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _no_extras("trace", out=out)
    d = _diagonal(a, offset, axis1, axis2)
    return np.sum(d if dtype is None else _astype_adapter(d, dtype), axis=-1)


def _diag(v, k=0):
    if _ndim(v) == 2:
        return _diagonal(v, k)
    if _ndim(v) != 1:
        raise ValueError("Input must be 1- or 2-d.")
    n, i = _shape(v)[0], np.arange(_shape(v)[0])
    size = n + abs(k)
    return scatter_add(v, (i + max(0, -k), i + max(0, k)), (size, size))


def _triangle(m, k, lower):
    n, p = _shape(m)[-2:] if _ndim(m) != 1 else _shape(m) * 2  # (1-D: rows of a square matrix)
    keep = np.tri(n, p, k, dtype=bool)
    return np.where(keep if lower else ~np.tri(n, p, k - 1, dtype=bool), m, 0)


FUNCTIONS.update(
    {
        np.diagonal: _diagonal, np.trace: _trace, np.diag: _diag,
        np.tril: lambda m, k=0: _triangle(m, k, True),
        np.triu: lambda m, k=0: _triangle(m, k, False),
    }
)  # fmt: skip


# --- elementwise functions called through __array_function__ ------------------------------------
def _where(condition, *xy):
    if not xy:
        return np.nonzero(primal(condition))
    return apply(np.where, primal(condition), *xy)


def _clip(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=None, max=None, **kw):  # noqa: A002
    dtype = kw.pop("dtype", None)
    _no_extras("clip", out=out, **kw)
    lo = min if a_min is np._NoValue else a_min
    hi = max if a_max is np._NoValue else a_max
    a = _array(a)  # (a number to clip is a float64 array to NumPy, not a weak float)
    if dtype is not None:  # computed in `dtype`, as the ufunc np.clip does (its cast checks)
        dtype = np.clip(*(primal(v) for v in (a, lo, hi)), dtype=dtype).dtype
        a, lo, hi = (v if v is None else _astype_adapter(_array(v), dtype) for v in (a, lo, hi))
    if lo is not None:
        a = np.maximum(a, lo)
    if hi is not None:
        a = np.minimum(a, hi)
    return a if lo is not None or hi is not None else a.copy()  # (a new array, as NumPy's)


@primitive
def _astype(x, dtype):
    return x.astype(dtype)


defvjp(_astype, lambda g, ans, x, dtype: _astype(g, x.dtype))
defjvp(_astype, lambda t, ans, x, dtype: _astype(t, dtype))
SHAPE_OF_ARGS.add(_astype)


def _astype_adapter(x, dtype):
    dtype = np.dtype(dtype)
    if dtype == x.dtype:
        return x
    if dtype.kind == "c":
        raise complex_error(f"a cast of a traced array to {dtype}")
    if not np.issubdtype(dtype, np.inexact):  # integers and booleans: derivative zero
        return primal(x).astype(dtype)
    return apply(_astype, x, dtype=dtype)


def _full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, **kwargs):
    """An array of the shape (and dtype) of `a` filled with `fill_value`, which may be traced."""
    if not isinstance(fill_value, Tracer):  # then only `a` is traced: a constant
        return np.full_like(primal(a), fill_value, dtype, order, subok, shape, **kwargs)
    dtype = np.asarray(primal(a)).dtype if dtype is None else np.dtype(dtype)
    shape = _shape(a) if shape is None else shape
    return _astype_adapter(fill_value, dtype) + np.zeros(shape, dtype)  # (broadcast, and new)


def _copyto(dst, src, casting="same_kind", where=True):
    if isinstance(dst, Tracer):
        raise _mutation_error("numpy.copyto(traced, ...)")
    raise TracerError(  # (NumPy's np.full_like(plain, traced) and np.full(shape, traced) end here)
        "numpy.copyto(plain, traced) would store a traced array in a plain one, dropping its "
        "derivative. For np.full(shape, v) or np.full_like(plain, v) write "
        "v + np.zeros(shape) instead."
    )


def _nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    px = np.asarray(primal(x))
    if px.dtype.kind != "f":
        return x
    big = np.finfo(px.dtype).max
    # the replacements in x's dtype, as NumPy writes them into x (a traced one: as it is)
    nan, posinf, neginf = (
        v if v is None or isinstance(v, Tracer) else np.asarray(v).astype(px.dtype)
        for v in (nan, posinf, neginf)
    )
    y = np.where(np.isnan(px), nan, x)
    y = np.where(np.isposinf(px), big if posinf is None else posinf, y)
    return np.where(np.isneginf(px), -big if neginf is None else neginf, y)


def _select(condlist, choicelist, default=0):
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    result = default
    for cond, choice in reversed(list(zip(condlist, choicelist, strict=True))):
        result = np.where(primal(cond), choice, result)  # (the first true condition wins)
    return _laid_out(_in_dtype_of(result, [*choicelist, default]), "C")  # (NumPy's np.full)


FUNCTIONS.update(
    {
        np.where: _where, np.clip: _clip, "astype": _astype_adapter, np.full_like: _full_like,
        np.copyto: _copyto, np.nan_to_num: _nan_to_num, np.select: _select,
    }
)  # fmt: skip


# NumPy's other functions that write into their first argument, and what to write instead
_WRITERS = {
    np.put: "np.where(mask, full, a), the mask marking the flat indices (np.isin(np.arange("
    "a.size), ind).reshape(a.shape)) and full an array of a's shape with the new values there (or "
    "a number)",
    np.putmask: "np.where(mask, values, a)",
    np.place: "np.where(mask, full, a), full an array of a's shape with the new values at the "
    "True places (or a number)",
    np.put_along_axis: "np.where(mask, values, arr), the mask made by np.put_along_axis on a "
    "boolean array of zeros",
    np.fill_diagonal: "np.where(np.eye(n, dtype=bool), val, a)",
}


def _writer(fun, hint):
    name = fun.__name__

    def refuse(a, *args, **kwargs):
        if isinstance(a, Tracer):
            what = f"numpy.{name}(traced, ...) would modify a traced array in place, which would "
            what += "corrupt its derivative"
        else:
            what = f"numpy.{name}(plain, ..., traced) would store a traced array in a plain one, "
            what += "dropping its derivative"
        raise TracerError(f"{what}. Build a new array instead: {hint}.")

    return refuse


FUNCTIONS.update({fun: _writer(fun, hint) for fun, hint in _WRITERS.items()})
_REFUSED = {np.copyto, *_WRITERS}  # adapters that only say why (not listed by `supported`)


# --- cumulative sums and products: primitives whose rules are cumulative sums -------------------
@primitive
def _cumsum(x, axis):
    """Cumulative sum along `axis`, an axis counted from the right (negative)."""
    return np.cumsum(x, axis=axis)


def _reverse(x, axis):
    return x[(Ellipsis, slice(None, None, -1)) + (slice(None),) * (-1 - axis)]


def _cumsum_from_right(g, axis):
    r"""$\sum_{j \ge i} g_j$ along `axis`: the transpose of a cumulative sum."""
    return _reverse(_cumsum(_reverse(g, axis), axis), axis)


defvjp(_cumsum, lambda g, ans, x, axis: _cumsum_from_right(g, axis))
defjvp(_cumsum, lambda t, ans, x, axis: _cumsum(t, axis))
SHAPE_OF_ARGS.add(_cumsum)


def _cumulative(name, a, axis, dtype, out):
    """The array and axis (counted from the right) of a cumulative function, as NumPy reads them."""
    _no_extras(name, out=out)
    if dtype is not None:
        a = _astype_adapter(a, dtype)
    if axis is None:
        a, axis = _reshape(a, (-1,)), 0
    return a, _axes(axis, _ndim(a))[0] - _ndim(a)


def _cumsum_adapter(a, axis=None, dtype=None, out=None):
    a, axis = _cumulative("cumsum", a, axis, dtype, out)
    return apply(_cumsum, a, axis=axis)


@primitive
def _cumprod(x, axis):
    """Cumulative product along `axis` (negative), of an `x` without zeros (see the adapter)."""
    return np.cumprod(x, axis=axis)


# y_j = x_1 ... x_j, so dy_j / dx_i = y_j / x_i for i <= j (and 0 for i > j)
defvjp(_cumprod, lambda g, ans, x, axis: _cumsum_from_right(g * ans, axis) / x)
defjvp(_cumprod, lambda t, ans, x, axis: ans * _cumsum(t / x, axis))


def _cumprod_adapter(a, axis=None, dtype=None, out=None):
    a, axis = _cumulative("cumprod", a, axis, dtype, out)
    pa = np.abs(np.asarray(primal(a)))
    info = np.finfo(np.result_type(pa, 1.0))
    # the quotient rule divides by each entry: its first derivative loses nothing to an entry
    # near 0, but its second cancels terms of size y / x^2 (with x small against the terms of the
    # Hessian, whatever the row's scale), so a rule that will be differentiated again never divides
    nested = isinstance(a, Tracer) and isinstance(a._value, Tracer)
    near = info.eps**0.5 * np.max(pa, axis=axis, keepdims=True, initial=0)
    if not nested and not np.any((pa <= near) | (pa < info.tiny)):
        return apply(_cumprod, a, axis=axis)
    rows = _moveaxis(a, axis, -1)
    n = _shape(rows)[-1]
    if n * pa.size > 10**6:  # products by doubling: n log n work, equal to NumPy's to a few ulps
        return _moveaxis(_running_products(rows), -1, axis)
    # y_j = prod_i (x_i if i <= j else 1): a triangle of n x n factors, NumPy's values exactly
    wide = np.where(np.tri(n, dtype=bool), rows[..., None, :], 1)
    return _moveaxis(np.prod(wide, axis=-1), -1, axis)


FUNCTIONS.update({np.cumsum: _cumsum_adapter, np.cumprod: _cumprod_adapter})


# --- reductions that skip NaN, order statistics -------------------------------------------------
def _nan_filled(a, fill):
    """`a` with `fill` for its NaNs, laid out as NumPy's copy of `a` (`_replace_nan`) is."""
    nan = np.isnan(primal(a))
    return _laid_out(np.where(nan, fill, a), _layout_of(a)), nan


def _given(**extras):
    """The keyword arguments among `extras` that the caller gave (not `np._NoValue`)."""
    return {k: v for k, v in extras.items() if v is not np._NoValue}


def _nansum(a, axis=None, dtype=None, out=None, keepdims=np._NoValue, initial=np._NoValue,
            where=np._NoValue):  # fmt: skip
    _no_extras("nansum", out=out)
    return np.sum(_nan_filled(a, 0)[0], axis=axis, dtype=dtype, keepdims=_kd(keepdims),
                  **_given(initial=initial, where=where))  # fmt: skip


def _nanprod(a, axis=None, dtype=None, out=None, keepdims=np._NoValue, initial=np._NoValue,
             where=np._NoValue):  # fmt: skip
    _no_extras("nanprod", out=out)
    return np.prod(_nan_filled(a, 1)[0], axis=axis, dtype=dtype, keepdims=_kd(keepdims),
                   **_given(initial=initial, where=where))  # fmt: skip


def _nanmean(a, axis=None, dtype=None, out=None, keepdims=np._NoValue, *, where=np._NoValue):
    _no_extras("nanmean", out=out)
    filled, nan = _nan_filled(a, 0)
    counted = ~nan if where is np._NoValue else ~nan & where  # (the numbers `where` selects)
    count = np.sum(counted, axis=axis, keepdims=_kd(keepdims))
    total = np.sum(filled, axis=axis, dtype=dtype, keepdims=_kd(keepdims), **_given(where=where))
    if not np.all(count):  # all NaN: NaN, and no derivative through 0 / 0 (NaN in a tangent)
        warnings.warn("Mean of empty slice", RuntimeWarning, stacklevel=3)
        mean = total / np.maximum(count, 1).astype(total.dtype)
        return np.where(count > 0, mean, np.nan)
    return total / count.astype(total.dtype)  # (the dtype asked for, as NumPy's)


def _nan_extreme(name, fill, reduce):
    def adapter(a, axis=None, out=None, keepdims=np._NoValue, initial=np._NoValue,
                where=np._NoValue):  # fmt: skip
        _no_extras(name, out=out)
        filled, nan = _nan_filled(a, fill)
        kd, extras = _kd(keepdims), _given(initial=initial, where=where)
        r = reduce(filled, axis=axis, keepdims=kd, **extras)
        if "initial" in extras:  # (NumPy's: the initial value where only NaN are selected)
            return r
        return np.where(np.all(nan, axis=axis, keepdims=kd), np.nan, r)  # (all NaN: NaN)

    return adapter


def _sort(a, axis=-1, kind=None, order=None, stable=None):
    if axis is None:
        a, axis = _reshape(a, (-1,)), -1
    order = np.argsort(primal(a), axis=axis, kind=kind, stable=stable)
    return _laid_out(_take_along_axis(a, order, axis), _layout_of(a))  # (NumPy sorts a copy)


def _quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
              keepdims=False, *, weights=None, interpolation=None, _name="quantile",
              _skip_nan=False):  # fmt: skip
    _no_extras(_name, out=out, interpolation=interpolation)
    a = _array(a)
    weak = type(q) in (int, float)  # (NumPy finds a Python number's fraction in float64)
    given_q = q if weak else np.asanyarray(primal(q))  # (NumPy's q)
    # the result's dtype, as NumPy's: a's for a number q (float32 stays), else promoted with q's;
    # a whole-number q (NumPy takes entries) leaves a's dtype
    given = 0.5 if np.result_type(given_q).kind in "iub" else given_q
    dtype = np.result_type(primal(a), given, 0.5)
    pq = np.asarray(primal(q), dtype=np.float64)
    if not isinstance(q, Tracer):
        q = np.asarray(q, dtype=dtype)
    if not np.all((pq >= 0) & (pq <= 1)):
        raise ValueError("Quantiles must be in the range [0, 1]" if "quantile" in _name else
                         "Percentiles must be in the range [0, 100]")  # fmt: skip
    nd = _ndim(a)
    axes = _axes(axis, nd)
    kept = _kept_shape(_shape(a), axes) if keepdims else [
        n for i, n in enumerate(_shape(a)) if i not in axes]  # fmt: skip
    # NumPy's places for every method but a median's, or linear with a traced q (whose slope at
    # q = 1 is taken from the left, below)
    by_method = method != "linear" or weights is not None or (
        not isinstance(q, Tracer) and "median" not in _name)  # fmt: skip
    if by_method:  # (NumPy's checks of method and weights)
        expected = _numpy_quantile(a, given_q, axis, method, keepdims, weights, _skip_nan)
    if not np.size(primal(a)):  # no entries: NumPy's result (empty, NaN, or its error), which
        # no derivative reaches
        if by_method:
            return expected
        if "median" in _name:
            return getattr(np, _name)(np.asarray(primal(a)), axis=axis, keepdims=keepdims)
        quantile = np.nanquantile if _skip_nan else np.quantile  # (at q's own dtype, as NumPy)
        return quantile(np.asarray(primal(a)), given_q, axis=axis, keepdims=keepdims)
    last = tuple(range(nd - len(axes), nd))
    moved = _moveaxis(a, axes, last) if nd else _reshape(a, (1,))
    rows = _reshape(moved, tuple(_shape(moved)[: nd - len(axes)]) + (-1,))
    n = _shape(rows)[-1]
    order = np.argsort(primal(rows), axis=-1)
    ordered = _take_along_axis(rows, order, -1)  # (NaNs last)
    nan = np.isnan(primal(rows))
    lead = np.shape(nan)[:-1]
    # per row, the number of entries that count (all of them, or those that are not NaN), with
    # axes for q: q * (count - 1) is the position of the quantile among the sorted entries
    count = np.full(lead, n) if not _skip_nan else np.sum(~nan, axis=-1)
    count = count.reshape(lead + (1,) * pq.ndim)
    invalid = count == 0 if _skip_nan else np.any(nan, axis=-1).reshape(count.shape)
    if np.any(invalid):  # (a row whose result is NaN: its entries 0, so that no NaN gap reaches
        # a traced q's derivative through the other rows; its NaN is put back below)
        ordered = np.where(invalid.reshape(lead + (-1,))[..., :1], 0.0, ordered)
    if by_method:
        if weights is not None:  # (as the rows: NumPy's weights broadcast along the axes)
            listed = axes if isinstance(axis, int) or axis is None else tuple(
                operator.index(i) % nd for i in axis)  # (in the caller's order)  # fmt: skip
            weights = _weight_rows(weights, _shape(a), axes, listed, nd - len(axes), _shape(rows))
        r = _by_method(ordered, order, nan, count, q, given_q, method, weights, _skip_nan)
        r = np.where(invalid, np.nan, r)
        r = _moveaxis(r, tuple(range(r.ndim - pq.ndim, r.ndim)), tuple(range(pq.ndim)))
        return _astype_adapter(_reshape(r, pq.shape + tuple(kept)), expected.dtype)
    # (traced if q is: the slope in q is a gap of entries; in q's dtype, as NumPy finds it)
    pos = q * (count - 1).astype(np.result_type(primal(q)) if isinstance(q, Tracer) else dtype)
    # the segment [lo, lo + 1] that holds pos; at q = 1 the last one, so that d/dq there is the
    # slope from the left (q cannot go further), as at q = 0 it is the slope from the right
    at = pq * (count - 1) if weak else np.asarray(primal(pos), dtype=np.float64)
    lo = np.minimum(np.floor(at), np.maximum(count - 2, 0))
    if weak:  # (a Python number: NumPy's fraction, and 1 less it, in float64, then rounded)
        f64 = pq * (count - 1) - lo
        frac, rest, upper = f64.astype(dtype), (1 - f64).astype(dtype), f64 >= 0.5
    else:
        frac = pos - lo.astype(dtype)
        rest, upper = 1 - frac, np.asarray(primal(frac)) >= 0.5
    lo = lo.astype(np.intp)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
    if not _skip_nan:  # (the same entries for every row)
        below, above = ordered[..., lo[(0,) * len(lead)]], ordered[..., hi[(0,) * len(lead)]]
    else:  # (rows..., *q.shape) from each row's own places
        below, above = (_along_rows(ordered, np.broadcast_to(i, lead + pq.shape)) for i in (lo, hi))
    gap = above - below  # (NumPy's interpolation: from the nearer end, exact at both ends)
    r = np.where(upper, above - gap * rest, below + gap * frac)
    if _name in ("median", "nanmedian"):  # (NumPy's median: the mean of the two middle entries)
        if np.dtype(dtype).itemsize < 4:  # (float16: NumPy's mean adds in float32, no overflow)
            mid = _astype_adapter((_astype_adapter(below, np.float32) + above) / 2, dtype)
        else:
            mid = (below + above) / 2
        r = np.where(count % 2 == 0, mid, r)
    r = np.where(invalid, np.nan, r)  # (NumPy's NaN for a row with a NaN, or with none left)
    # NumPy's layout: the axes of q first, then the kept axes of a
    r = _moveaxis(r, tuple(range(r.ndim - pq.ndim, r.ndim)), tuple(range(pq.ndim)))
    return _reshape(r, pq.shape + tuple(kept))


# NumPy's quantile methods that take one order statistic; the others interpolate between two
# neighbours, and of those the continuous ones move with q at a slope (n + 1 - alpha - beta)
_ORDER_STATISTICS = ("inverted_cdf", "closest_observation", "lower", "higher", "nearest")
_CONTINUOUS = ("interpolated_inverted_cdf", "hazen", "weibull", "median_unbiased",
               "normal_unbiased")  # fmt: skip


def _numpy_quantile(a, q, axis, method, keepdims, weights, skip_nan):
    """NumPy's quantile of the plain values (its checks, its dtype), warnings silenced."""
    quantile = np.nanquantile if skip_nan else np.quantile
    extras = {} if weights is None else {"weights": np.asarray(primal(weights))}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(quantile(np.asarray(primal(a)), q, axis=axis, method=method,
                                   keepdims=keepdims, **extras))  # fmt: skip


def _weight_rows(weights, shape, axes, listed, first, rows_shape):
    """The weights laid out as the rows: broadcast along `axes`, as NumPy does (the weights'
    axes are those of `a` that `listed`, the caller's axis, names, in its order). They are
    constants: a weighted quantile is a step function of them (derivative 0 between steps)."""
    w = np.asarray(primal(weights))
    if w.shape != tuple(shape):
        w = w.transpose(np.argsort(listed)).reshape(
            tuple(n if i in axes else 1 for i, n in enumerate(shape)))  # fmt: skip
    w = np.broadcast_to(w, tuple(shape))
    moved = np.moveaxis(w, axes, tuple(range(first, len(shape)))) if len(shape) else w
    return moved.reshape(tuple(rows_shape))


def _by_method(ordered, order, nan, count, q, given_q, method, weights, skip_nan):
    """Each row's quantile by NumPy's `method`, shaped (rows..., *q.shape).

    NumPy picks the places: an order statistic is its quantile of the ranks (each entry's place
    in the sorted row, with the same weights), an interpolation its own places and weight. The
    result is the traced entries there, so its derivative is that of the selection.
    """
    lead, qshape = np.shape(nan)[:-1], np.shape(given_q)
    if method in _ORDER_STATISTICS:
        ranks = np.argsort(order, axis=-1).astype(np.float64)
        if skip_nan:
            ranks[nan] = np.nan
        k = _numpy_quantile(ranks, given_q, -1, method, False, weights, skip_nan)
        k = np.moveaxis(np.nan_to_num(k), tuple(range(len(qshape))),
                        tuple(range(k.ndim - len(qshape), k.ndim))).astype(np.intp)  # fmt: skip
        return _along_rows(ordered, k)
    lo, hi, t, slope = _interpolation_places(method, count, given_q, lead)
    below, above = _along_rows(ordered, lo), _along_rows(ordered, hi)
    if type(given_q) in (int, float):  # (NumPy's weak q: a float64 weight, then rounded)
        dtype = np.result_type(primal(ordered))
        frac, rest, upper = t.astype(dtype), (1 - t).astype(dtype), t >= 0.5
    else:
        frac = t if not isinstance(q, Tracer) else t + (q - primal(q)) * slope.astype(t.dtype)
        rest, upper = 1 - frac, t >= 0.5
    gap = above - below  # (NumPy's interpolation: from the nearer end)
    return np.where(upper, above - gap * rest, below + gap * frac)


# Hyndman and Fan's (1996) places of a quantile, as NumPy's quantile documents them: among n
# sorted entries (counted from 0), v = n q + alpha + q (1 - alpha - beta) - 1
_ALPHA_BETA = {
    "interpolated_inverted_cdf": (0, 1), "hazen": (0.5, 0.5), "weibull": (0, 0),
    "median_unbiased": (1 / 3.0, 1 / 3.0), "normal_unbiased": (3 / 8.0, 3 / 8.0),
}  # fmt: skip


def _virtual_index(method, n, q):
    """The place v of the q-quantile among `n` sorted entries, by an interpolating method."""
    if method == "linear":
        return (n - 1) * q  # (alpha = beta = 1, in NumPy's rounding)
    if method == "averaged_inverted_cdf":
        return n * q - 1
    if method == "midpoint":
        return 0.5 * (np.floor((n - 1) * q) + np.ceil((n - 1) * q))
    alpha, beta = _ALPHA_BETA[method]
    return n * q + (alpha + q * (1 - alpha - beta)) - 1


def _places(method, n, q):
    """The two neighbouring places (below, above) of the q-quantile among `n` sorted entries and
    the weight of `above`, as NumPy's quantile takes them: the last entry (-1) from v >= n - 1 on
    or for a NaN v, the first below 0; the weight v - below, but 1/2 or 1 (averaged inverted
    CDF, where v is whole or not) and 0 or 1/2 (midpoint)."""
    v = np.asanyarray(_virtual_index(method, n, q))
    below = np.floor(v, out=...)
    above = np.add(below, 1, out=...)
    for where, place in ((v >= n - 1, -1), (v < 0, 0), (np.isnan(v), -1)):
        below[where] = above[where] = place
    below, above = below.astype(np.intp), above.astype(np.intp)
    gamma = np.asanyarray(v - below)
    if method == "averaged_inverted_cdf":
        gamma = np.where(gamma == 0, 0.5, 1.0)
    elif method == "midpoint":
        gamma = np.where(v % 1 == 0, 0.0, 0.5)
    return below, above, np.asanyarray(gamma, dtype=v.dtype)


def _interpolation_places(method, count, q, lead):
    """NumPy's two places and weight for each row (by its count of entries) and each q, with the
    slope of the weight in q (0 where it is clamped or fixed)."""
    q = np.asanyarray(q)
    shape = tuple(lead) + q.shape
    lo, hi = np.zeros(shape, np.intp), np.zeros(shape, np.intp)
    t, slope = None, np.zeros(shape)
    for n in np.unique(count[count > 0]).tolist():
        below, above, gamma = _places(method, n, q)
        t = np.zeros(shape, gamma.dtype) if t is None else t
        rows = np.broadcast_to(count == n, shape)
        for full, part in ((lo, below % n), (hi, above % n), (t, gamma)):
            full[rows] = np.broadcast_to(part, shape)[rows]
        if method in _CONTINUOUS:
            step = float(_virtual_index(method, n, 1.0) - _virtual_index(method, n, 0.0))
            slope[rows] = np.broadcast_to(np.where(below == above, 0.0, step), shape)[rows]
    return lo, hi, np.zeros(shape) if t is None else t, slope


def _along_rows(ordered, index):
    """`ordered[r..., index[r..., k...]]` for each row r: entries at per-row places."""
    lead = index.shape[: np.ndim(primal(ordered)) - 1]
    flat = index.reshape(lead + (-1,))
    return _reshape(_take_along_axis(ordered, flat, -1), index.shape)


def _percentile(a, q, *args, _name="percentile", **kwargs):
    if not isinstance(q, (Tracer, float, int)):  # (float32 q stays float32, as in NumPy)
        q = np.asarray(q)
        q = q if q.dtype.kind == "f" else q.astype(np.float64)
    q = q / 100
    return _quantile(a, q, *args, _name=_name, **kwargs)


def _median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    return _quantile(a, 0.5, axis, out, keepdims=keepdims, _name="median")


def _nan_skipping(name, quantile):
    """The NaN-skipping variant `np.nan<name>`: NumPy's checks and warnings (an all-NaN row),
    then the quantile of each row's entries that are not NaN."""
    numpy_fun = getattr(np, f"nan{name}")

    def adapter(a, *args, **kwargs):
        expected = numpy_fun(primal(a), *(primal(v) for v in args), **_primal_tree(kwargs))
        r = quantile(a, *args, _name=f"nan{name}", _skip_nan=True, **kwargs)
        return _astype_adapter(r, np.result_type(expected))  # (NumPy's for all-NaN rows: a's)

    return adapter


def _ptp(a, axis=None, out=None, keepdims=np._NoValue):
    _no_extras("ptp", out=out)
    kd = _kd(keepdims)
    return np.max(a, axis=axis, keepdims=kd) - np.min(a, axis=axis, keepdims=kd)


FUNCTIONS.update(
    {
        np.nansum: _nansum, np.nanprod: _nanprod, np.nanmean: _nanmean,
        np.nanmax: _nan_extreme("nanmax", -np.inf, np.max),
        np.nanmin: _nan_extreme("nanmin", np.inf, np.min), np.sort: _sort, np.quantile: _quantile,
        np.percentile: _percentile, np.median: _median, np.ptp: _ptp,
        np.nanquantile: _nan_skipping("quantile", _quantile),
        np.nanpercentile: _nan_skipping("percentile", _percentile),
        np.nanmedian: _nan_skipping(
            "median", lambda a, axis=None, out=None, overwrite_input=False, keepdims=False, **kw:
            _quantile(a, 0.5, axis, out, keepdims=keepdims, **kw)),
    }
)  # fmt: skip


# --- sampling, differences, integrals, polynomials, convolutions --------------------------------
def _linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *,
              device=None):  # fmt: skip
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    # (lists as arrays; a Python number stays weak, as in NumPy's result_type)
    start, stop = (_array(v) if isinstance(v, (list, tuple)) else v for v in (start, stop))
    div = num - 1 if endpoint else num
    delta = stop - start
    nd = max(_ndim(start), _ndim(stop))
    steps = np.arange(num, dtype=np.result_type(primal(start), primal(stop), 1.0))
    steps = steps.reshape((-1,) + (1,) * nd)
    if div > 0:
        step = delta / div
        y = steps * step + start
    else:  # (one sample, or none: NumPy's step is then NaN)
        step, y = np.nan * delta, steps * delta + start
    if endpoint and num > 1:  # the last sample is `stop` itself, as NumPy makes it
        y = _concatenate_adapter([y[:-1], _expand_dims(stop + 0 * delta, 0)], 0)
    if axis != 0:
        y = _moveaxis(y, 0, axis)
    if dtype is not None:
        y = _astype_adapter(y, dtype)
    return (y, step) if retstep else y


def _diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n!r}")
    if _ndim(a) == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    if n == 0:
        return a
    axis = _axes(axis, _ndim(a))[0]
    ends = [prepend, append]
    for k, end in enumerate(ends):  # (as NumPy: a number is broadcast to one slice along axis)
        if end is not np._NoValue and _ndim(end) == 0:
            ends[k] = _broadcast_to(end, _shape(a)[:axis] + (1,) + _shape(a)[axis + 1 :])
    if any(e is not np._NoValue for e in ends):
        a = _concatenate_adapter([e for e in (ends[0], a, ends[1]) if e is not np._NoValue], axis)
    lead = (slice(None),) * axis
    for _ in range(n):
        a = a[lead + (slice(1, None),)] - a[lead + (slice(None, -1),)]
    return a


def _trapezoid(y, x=None, dx=1.0, axis=-1):
    y, x = _array(y), None if x is None else _array(x)
    nd = _ndim(y)
    axis = _axis(axis, nd)
    if x is None:
        d = dx
    elif _ndim(x) == 1:
        d = _reshape(_diff(x), tuple(-1 if i == axis else 1 for i in range(nd)))
    else:
        d = _diff(x, axis=axis)
    n = _shape(y)[axis]
    head = (slice(None),) * axis
    return np.sum(d * (y[head + (slice(1, n),)] + y[head + (slice(0, n - 1),)]) / 2, axis=axis)


def _polyval(p, x):
    p, x = _array(p), _array(x)
    y = np.zeros_like(primal(x))
    for i in range(_shape(p)[0]):  # Horner: ((p0 x + p1) x + p2) x + ...
        y = y * x + p[i]
    return y


def _convolve(a, v, mode="full"):
    a, v = _array(a), _array(v)
    if _ndim(a) != 1 or _ndim(v) != 1:
        a, v = _reshape(a, (-1,)), _reshape(v, (-1,))  # (NumPy flattens too, 0-d included)
    if not _shape(a)[0] or not _shape(v)[0]:
        raise ValueError(("a" if not _shape(a)[0] else "v") + " cannot be empty")
    if _shape(v)[0] > _shape(a)[0]:
        a, v = v, a
    n, m = _shape(a)[0], _shape(v)[0]
    # full: c_k = sum_j v_j a_{k-j}, one shifted copy of a per entry of the shorter v
    zeros = np.zeros(m - 1, dtype=np.result_type(primal(a), primal(v)))
    padded = _concatenate_adapter([zeros, a, zeros])
    c = None
    for j in range(m):
        term = v[j] * padded[m - 1 - j : m - 1 - j + n + m - 1]
        c = term if c is None else c + term
    if mode == "full":
        return c
    if mode == "same":
        start = (m - 1) // 2
        return c[start : start + n]
    if mode == "valid":
        return c[m - 1 : n]
    raise ValueError(f"mode must be one of 'full', 'same', or 'valid' (got {mode!r})")


def _correlate(a, v, mode="valid"):  # c_k = sum_n a_(n+k) v_n: a convolution with v reversed
    a, v = _reshape(_array(a), (-1,)), _flip(_reshape(_array(v), (-1,)), 0)
    n, m = _shape(a)[0], _shape(v)[0]
    if mode != "same" or m <= n:
        return _convolve(a, v, mode)
    return _convolve(a, v)[n // 2 : n // 2 + m]  # (NumPy centres this case one entry later)


FUNCTIONS.update(
    {
        np.linspace: _linspace, np.diff: _diff, np.trapezoid: _trapezoid, np.polyval: _polyval,
        np.convolve: _convolve, np.correlate: _correlate,
    }
)  # fmt: skip


# --- piecewise-linear interpolation -------------------------------------------------------------
def _interp(x, xp, fp, left=None, right=None, period=None):
    xp, fp = (v if isinstance(v, Tracer) else np.asarray(v, dtype=np.float64) for v in (xp, fp))
    if period is not None:  # NumPy's steps: all taken modulo the period, one more at each end
        np.interp(*(np.asarray(primal(v)) for v in (x, xp, fp)), period=primal(period))  # (checks)
        period = abs(period)
        x, xp = _array(x) % period, xp % period
        order = np.argsort(primal(xp))
        xp, fp = xp[order], fp[order]
        xp = _concatenate_adapter([xp[-1:] - period, xp, xp[:1] + period])
        fp = _concatenate_adapter([fp[-1:], fp, fp[:1]])
        left = right = None
    pxp = np.asarray(primal(xp))
    if pxp.ndim != 1 or np.ndim(primal(fp)) != 1 or pxp.size != np.size(primal(fp)):
        raise ValueError("fp and xp are not of the same length.")
    px = np.asarray(primal(x))
    if pxp.size == 1:
        y = fp[0] + 0 * x
    else:  # the segment [xp_i, xp_i+1] holding x (at a knot: the one to its right)
        i = np.clip(np.searchsorted(pxp, px, side="right") - 1, 0, pxp.size - 2)
        x0, f0 = xp[i], fp[i]
        y = f0 + (x - x0) * (fp[i + 1] - f0) / (xp[i + 1] - x0)
    y = np.where(px < pxp[0], fp[0] if left is None else left, y)
    y = np.where(px > pxp[-1], fp[-1] if right is None else right, y)
    return y.astype(np.float64, copy=False)  # (NumPy's interp computes in float64)


FUNCTIONS[np.interp] = _interp


# --- more array functions, composed from the rules above ----------------------------------------
def _gradient(f, *varargs, axis=None, edge_order=1):
    r"""`np.gradient`: second-order central differences inside, one-sided ones at the ends.

    With spacings $h_1 = x_i - x_{i-1}$, $h_2 = x_{i+1} - x_i$ (coordinates `x`, or a number),
    $f'_i \approx -\frac{h_2}{h_1 (h_1 + h_2)} f_{i-1} + \frac{h_2 - h_1}{h_1 h_2} f_i
    + \frac{h_1}{h_2 (h_1 + h_2)} f_{i+1}$: a linear map of `f` (and smooth in the spacings).
    """
    f = _array(f)
    nd = _ndim(f)
    # (in the order given, as NumPy pairs them with the spacings and returns the derivatives)
    axes = tuple(range(nd)) if axis is None else np.lib.array_utils.normalize_axis_tuple(axis, nd)
    if len(varargs) == 0:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1 and _ndim(varargs[0]) == 0:
        spacings = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacings = list(varargs)
    else:
        raise TypeError("invalid number of arguments")
    if edge_order not in (1, 2):
        raise ValueError("'edge_order' greater than 2 not supported")
    if np.result_type(primal(f)).kind not in "fc":
        f = _astype_adapter(f, np.float64)
    dtype = np.result_type(primal(f))  # (NumPy's result: computed in float64, stored in f's dtype)
    out = []
    for ax, h in zip(axes, spacings, strict=True):
        n = _shape(f)[ax]
        if n < edge_order + 1:
            raise ValueError(
                "Shape of array too small to calculate a numerical gradient, "
                "at least (edge_order + 1) elements are required."
            )
        d = _gradient_along(f, h, ax, nd, n, edge_order)
        out.append(_laid_out(_astype_adapter(d, dtype), _layout_of(f)))  # (NumPy's empty_like(f))
    return out[0] if len(out) == 1 else tuple(out)


def _gradient_along(f, h, ax, nd, n, edge_order):
    def at(s):  # f sliced along `ax`
        return f[(slice(None),) * ax + (s,)]

    if _ndim(h) == 0:
        inner = (at(slice(2, None)) - at(slice(None, -2))) / (2.0 * h)
        if edge_order == 1:
            first = (at(slice(1, 2)) - at(slice(0, 1))) / h
            last = (at(slice(-1, None)) - at(slice(-2, -1))) / h
        else:  # (coefficients divided by h first, as NumPy does: the same rounding)
            first = (-1.5 / h) * at(slice(0, 1)) + (2.0 / h) * at(slice(1, 2))
            first = first + (-0.5 / h) * at(slice(2, 3))
            last = (0.5 / h) * at(slice(-3, -2)) + (-2.0 / h) * at(slice(-2, -1))
            last = last + (1.5 / h) * at(slice(-1, None))
        return _concatenate_adapter([first, inner, last], ax)
    h = _array(h)
    if _ndim(h) != 1:
        raise ValueError("distances must be either scalars or 1d")
    if _shape(h)[0] != n:
        raise ValueError("when 1d, distances must match the length of the corresponding dimension")
    if np.result_type(primal(h)).kind not in "fc":
        h = _astype_adapter(h, np.float64)
    dx = _diff(h)
    if not isinstance(dx, Tracer) and np.all(dx == dx[0]):  # (evenly spaced: NumPy's formula)
        return _gradient_along(f, dx[0], ax, nd, n, edge_order)

    def along(c):  # a coefficient per position along `ax`, broadcast against f
        return _reshape(c, (-1,) + (1,) * (nd - ax - 1))

    d1, d2 = dx[:-1], dx[1:]
    a, b, c = -d2 / (d1 * (d1 + d2)), (d2 - d1) / (d1 * d2), d1 / (d2 * (d1 + d2))
    inner = (
        along(a) * at(slice(None, -2)) + along(b) * at(slice(1, -1)) + along(c) * at(slice(2, None))
    )
    if edge_order == 1:
        first = (at(slice(1, 2)) - at(slice(0, 1))) / dx[0]
        last = (at(slice(-1, None)) - at(slice(-2, -1))) / dx[-1]
    else:
        d1, d2 = dx[0], dx[1]
        a, b, c = -(2.0 * d1 + d2) / (d1 * (d1 + d2)), (d1 + d2) / (d1 * d2), -d1 / (d2 * (d1 + d2))
        first = a * at(slice(0, 1)) + b * at(slice(1, 2)) + c * at(slice(2, 3))
        d1, d2 = dx[-2], dx[-1]
        a, b, c = d2 / (d1 * (d1 + d2)), -(d2 + d1) / (d1 * d2), (2.0 * d2 + d1) / (d2 * (d1 + d2))
        last = a * at(slice(-3, -2)) + b * at(slice(-2, -1)) + c * at(slice(-1, None))
    return _concatenate_adapter([first, inner, last], ax)


def _ediff1d(ary, to_end=None, to_begin=None):
    ary = _array(ary)
    flat = _reshape(ary, (-1,))
    dtype = np.result_type(primal(ary))
    parts = [flat[1:] - flat[:-1]]
    for end, name in ((to_begin, "to_begin"), (to_end, "to_end")):
        if end is not None:
            end = _array(end)
            if not np.can_cast(np.result_type(primal(end)), dtype, casting="same_kind"):
                raise TypeError(
                    f"dtype of `{name}` must be compatible with input `ary` under the "
                    "`same_kind` rule."
                )
            end = _astype_adapter(_reshape(end, (-1,)), dtype)
            parts.insert(0 if name == "to_begin" else len(parts), end)
    return _concatenate_adapter(parts) if len(parts) > 1 else parts[0]


def _broadcast_arrays(*args, subok=False):
    shape = np.broadcast_shapes(*(_shape(a) for a in args))
    return tuple(_broadcast_to(a, shape) for a in args)


def _rollaxis(a, axis, start=0):
    n = _ndim(a)
    axis = _axis(axis, n)
    if not -n <= start <= n:
        raise np.exceptions.AxisError(
            f"'start' arg requires {-n} <= start < {n + 1}, but {start} was passed in"
        )
    start = start + n if start < 0 else start
    if axis < start:
        start -= 1
    if axis == start:
        return a[...]
    order = [i for i in range(n) if i != axis]
    order.insert(start, axis)
    return _transpose(a, order)


def _real(val):
    if np.result_type(primal(val)).kind == "c":
        raise unsupported(np.real)
    return val


def _imag(val):  # of a real array: zeros, a constant
    if np.result_type(primal(val)).kind == "c":
        raise unsupported(np.imag)
    return np.zeros_like(primal(val))


def _nanvar_or_std(name, a, axis, dtype, out, ddof, keepdims, kw):
    """NumPy's steps: the mean of the numbers `where` selects, the squares of their deviations
    (0 elsewhere), their sum over the degrees of freedom. Where those are 0 or fewer, NumPy's
    value (NaN, with its warning), a constant: derivative 0 there."""
    correction, center = kw.pop("correction", np._NoValue), kw.pop("mean", np._NoValue)
    where = kw.pop("where", np._NoValue)
    _no_extras(name, out=out, **kw)
    keep = _kd(keepdims)
    given = _given(correction=correction, where=where)
    if center is not np._NoValue:
        given["mean"] = primal(center)
    # (NumPy's checks and warnings; ddof and correction both given are refused there)
    expected = getattr(np, name)(primal(a), axis=axis, dtype=dtype, ddof=ddof, keepdims=keep,
                                 **given)  # fmt: skip
    ddof = given.get("correction", ddof)
    if dtype is not None:
        a = _astype_adapter(a, dtype)
    filled, nan = _nan_filled(a, 0)
    counted = ~nan if where is np._NoValue else ~nan & np.asarray(where, dtype=bool)
    axes = None if axis is None else _axes(axis, _ndim(a))
    dtype = np.result_type(primal(filled))
    count = np.sum(counted, axis=axes, keepdims=True)
    # (NumPy's sums: of the entries `where` selects, NaNs 0, in its order of addition)
    selected = True if where is np._NoValue else where
    if center is np._NoValue:
        total = _selected_sum(filled, selected, axes, True)
        center = total / np.maximum(count, 1).astype(dtype)
    d = _laid_out(np.where(counted, filled - center, 0), _layout_of(a))  # (in NumPy's array)
    dof = np.sum(counted, axis=axes, keepdims=keep) - ddof
    var = _selected_sum(d * d, selected, axes, keep) / np.maximum(dof, 1).astype(dtype)
    if name == "nanstd":  # (the root of a safe value: its slope at 0 would be inf, then NaN)
        var = _root(np.where(dof > 0, var, 1))
    return np.where(dof > 0, var, expected)  # (a safe denominator first: no NaN in derivatives)


def _nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=np._NoValue, **kw):
    return _nanvar_or_std("nanvar", a, axis, dtype, out, ddof, keepdims, kw)


def _nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=np._NoValue, **kw):
    return _nanvar_or_std("nanstd", a, axis, dtype, out, ddof, keepdims, kw)


def _compress(condition, a, axis=None, out=None):
    _no_extras("compress", out=out)
    cond = np.asarray(primal(condition))
    if cond.ndim != 1:
        raise ValueError("condition must be a 1-d array")
    return _take(a, np.flatnonzero(cond), axis=axis)


def _extract(condition, arr):
    return _take(_reshape(arr, (-1,)), np.flatnonzero(np.ravel(primal(condition))))


def _partition(a, kth, axis=-1, kind="introselect", order=None):
    """NumPy's partition, as values of `a` taken where NumPy put them (each entry's slope 1)."""
    if order is not None:
        raise NotImplementedError(
            "numpy.partition(..., order=...) is not supported on traced arrays"
        )
    if axis is None:
        a, axis = _reshape(a, (-1,)), -1
    pa = np.asarray(primal(a))
    axis = _axis(axis, pa.ndim)
    done = np.partition(pa, kth, axis=axis, kind=kind)
    # the entries of `a` in the order NumPy left them: match the two arrays' sorted orders
    ia, idone = np.argsort(pa, axis=axis, kind="stable"), np.argsort(done, axis=axis, kind="stable")
    index = np.empty_like(ia)
    np.put_along_axis(index, idone, ia, axis=axis)
    return _laid_out(_take_along_axis(a, index, axis), _layout_of(a))  # (NumPy's copy of a)


def _block_depth(x, index):
    """The index of the first leaf of `x` (a None at its end if it is an empty list) and the
    largest ndim of its leaves: as NumPy's `np.block` checks the nesting, with its messages."""
    where = "arrays" + "".join(f"[{i}]" for i in index if i is not None)
    if type(x) is tuple:
        raise TypeError(
            f"{where} is a tuple. Only lists can be used to arrange blocks, and np.block does "
            "not allow implicit conversion from tuple to ndarray."
        )
    if type(x) is not list:
        return index, _ndim(x)
    if not x:
        return [*index, None], 0
    first, ndim = _block_depth(x[0], [*index, 0])
    for i, e in enumerate(x[1:], 1):
        found, n = _block_depth(e, [*index, i])
        ndim = max(ndim, n)
        if len(found) != len(first):
            raise ValueError(
                f"List depths are mismatched. First element was at depth {len(first)}, but there "
                f"is an element at depth {len(found)} "
                f"({'arrays' + ''.join(f'[{k}]' for k in found if k is not None)})"
            )
        if found[-1] is None:  # (an empty list at the bottom: reported below)
            first = found
    return first, ndim


def _block(arrays):
    first, ndim = _block_depth(arrays, [])
    if first and first[-1] is None:
        where = "arrays" + "".join(f"[{i}]" for i in first[:-1])
        raise ValueError(f"List at {where} cannot be empty")
    d = len(first)
    ndim = max(ndim, d)

    def build(x, level):
        if type(x) is list:
            return _concatenate_adapter([build(e, level + 1) for e in x], axis=-(d - level))
        shape = _shape(x)
        return _reshape(x, (1,) * (ndim - len(shape)) + tuple(shape))

    return build(arrays, 0) if d else _copy(arrays)


def _vander(x, N=None, increasing=False):
    x = _array(x)
    if _ndim(x) != 1:
        raise ValueError("x must be a one-dimensional array or sequence.")
    n = _shape(x)[0]
    N = n if N is None else N
    dtype = np.promote_types(np.result_type(primal(x)), int)
    x = _astype_adapter(x, dtype)
    ones = np.ones((n, min(N, 1)), dtype=dtype)
    if N > 1:  # powers by repeated products, as NumPy forms them
        powers = _cumprod_adapter(_broadcast_to(_reshape(x, (n, 1)), (n, N - 1)), axis=1)
        columns = _concatenate_adapter([ones, powers], axis=1)
    else:
        columns = ones
    return _laid_out(columns if increasing else _flip(columns, 1), "C")  # (NumPy's new array)


def _polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    x, y = _array(x), _array(y)
    w = None if w is None else _array(w)
    deg = int(deg)  # (as NumPy: 2.0 is 2)
    if deg < 0:
        raise ValueError("expected deg >= 0")
    if _ndim(x) != 1:
        raise TypeError("expected 1D vector for x")
    if _shape(x)[0] == 0:
        raise TypeError("expected non-empty vector for x")
    if _ndim(y) < 1 or _ndim(y) > 2:
        raise TypeError("expected 1D or 2D array for y")
    if _shape(x)[0] != _shape(y)[0]:
        raise TypeError("expected x and y to have same length")
    eps = np.finfo(np.result_type(primal(x), 0.0)).eps  # (NumPy's: of x's dtype alone)
    dtype = np.result_type(primal(x), primal(y), 0.0)
    x, y = _astype_adapter(x, dtype), _astype_adapter(y, dtype)
    rcond = _shape(x)[0] * eps if rcond is None else rcond
    lhs, rhs = _vander(x, deg + 1), y
    if w is not None:
        if _ndim(w) != 1:
            raise TypeError("expected a 1-d array for weights")
        if _shape(w)[0] != _shape(y)[0]:
            raise TypeError("expected w and y to have the same length")
        lhs = lhs * _reshape(w, (-1, 1))
        rhs = rhs * (w if _ndim(rhs) == 1 else _reshape(w, (-1, 1)))
    scale = np.sqrt(np.sum(lhs * lhs, axis=0))  # (NumPy scales the columns to condition lstsq)
    lhs = lhs / scale
    c, resids, rank, s = np.linalg.lstsq(lhs, rhs, rcond)
    c = c / (scale if _ndim(c) == 1 else _reshape(scale, (-1, 1)))
    if rank != deg + 1 and not full:
        warnings.warn("Polyfit may be poorly conditioned", np.exceptions.RankWarning, stacklevel=4)
    if full:
        return c, resids, rank, s, rcond
    if not cov:
        return c
    # the coefficients' covariance, as NumPy's: (L^T L)^-1 of the scaled columns L, unscaled, then
    # times the residual variance resids / (n - deg - 1) unless cov="unscaled"
    base = np.linalg.inv(_mT(lhs) @ lhs) / np.outer(scale, scale)
    if isinstance(cov, str) and cov == "unscaled":
        fac = 1
    elif _shape(x)[0] <= deg + 1:
        raise ValueError(
            "the number of data points must exceed order to scale the covariance matrix"
        )
    else:
        fac = resids / (_shape(x)[0] - (deg + 1))
    return c, base * fac if _ndim(y) == 1 else base[:, :, None] * fac


def _choose(a, choices, out=None, mode="raise"):
    _no_extras("choose", out=out)
    index = np.asarray(primal(a))
    np.choose(index, [primal(c) for c in choices], mode=mode)  # (NumPy's checks and messages)
    n = len(choices)
    index = index % n if mode == "wrap" else np.clip(index, 0, n - 1)
    shape = np.broadcast_shapes(*(_shape(c) for c in choices), index.shape)
    stacked = _stack([_broadcast_to(c, shape) for c in choices])
    picked = _take_along_axis(stacked, np.broadcast_to(index, shape)[None].astype(np.intp), 0)
    return _in_dtype_of(picked[0], choices)


def _in_dtype_of(result, values):
    """`result` in NumPy's dtype for a choice among `values`, Python numbers weak (np.select's
    and np.choose's: a float32 array beside 1.7 gives float32, where np.where makes 1.7 float64)."""
    dtype = np.result_type(
        *(np.asarray(v) if isinstance(v, (list, tuple)) else primal(v) for v in values)
    )
    return result if primal(result).dtype == dtype else _astype_adapter(result, dtype)


def _piecewise(x, condlist, funclist, *args, **kw):
    """`np.piecewise`: each function on the entries its condition selects (the last one wins)."""
    px = np.asarray(primal(x))
    if np.isscalar(condlist) or (
        not isinstance(condlist[0], (list, np.ndarray)) and px.ndim != 0
    ):  # (as NumPy: one condition, given alone)
        condlist = [condlist]
    conds = np.asarray([primal(c) for c in condlist], dtype=bool)
    n = len(conds)
    if n == len(funclist) - 1:  # an "otherwise" function: where no condition holds
        conds = np.concatenate([conds, ~np.any(conds, axis=0, keepdims=True)], axis=0)
    elif n != len(funclist):
        raise ValueError(f"with {n} condition(s), either {n} or {n + 1} functions are expected")
    if px.ndim == 0:  # (NumPy selects the one entry as an array of shape (1,) or (0,))
        r = _piecewise(_reshape(x, (1,)), list(conds.reshape(-1, 1)), funclist, *args, **kw)
        return _reshape(r, ())
    y = np.zeros(px.shape, dtype=px.dtype)
    for cond, func in zip(conds, funclist, strict=True):
        if cond.shape != px.shape[: cond.ndim]:
            px[cond]  # (NumPy's IndexError for a condition that does not fit)
        mask = cond.reshape(cond.shape + (1,) * (px.ndim - cond.ndim))
        if not callable(func):
            y = np.where(mask, np.asarray(func, dtype=px.dtype), y)
            continue
        where = np.nonzero(cond)
        if not where[0].size:
            continue
        vals = func(x[where], *args, **kw)
        vals = _astype_adapter(_array(vals), px.dtype)
        picked = (where[0].size,) + px.shape[cond.ndim :]
        y = np.where(mask, scatter_add(_broadcast_to(vals, picked), where, px.shape), y)
    return _laid_out(y, _layout_of(x))  # (NumPy fills its zeros_like(x))


def _nancumsum(a, axis=None, dtype=None, out=None):
    return _cumsum_adapter(_nan_filled(a, 0)[0], axis, dtype, out)


def _nancumprod(a, axis=None, dtype=None, out=None):
    return _cumprod_adapter(_nan_filled(a, 1)[0], axis, dtype, out)


FUNCTIONS.update(
    {
        np.gradient: _gradient, np.ediff1d: _ediff1d,
        np.diagflat: lambda v, k=0: _diag(_reshape(v, (-1,)), k),
        np.broadcast_arrays: _broadcast_arrays, np.rollaxis: _rollaxis, np.real: _real,
        np.imag: _imag, np.nanvar: _nanvar, np.nanstd: _nanstd, np.nancumsum: _nancumsum,
        np.nancumprod: _nancumprod, np.compress: _compress, np.extract: _extract,
        np.partition: _partition, np.block: _block, np.vander: _vander, np.polyfit: _polyfit,
        np.choose: _choose, np.piecewise: _piecewise,
    }
)  # fmt: skip
NONDIFF.add(np.argpartition)


# --- statistics, polynomials and more joins, composed ------------------------------------------
def _cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *,
         dtype=None):  # fmt: skip
    """NumPy's `cov`, step by step: the weighted means, the deviations, `X @ (X w).T / fact`."""
    np.cov(*(None if v is None else primal(v) for v in (m, y)), rowvar, bias, ddof,
           *(None if v is None else primal(v) for v in (fweights, aweights)),
           dtype=dtype)  # (NumPy's checks and warnings)  # fmt: skip
    given = [_array(v) for v in (m, y) if v is not None]
    if dtype is None:
        dtype = np.result_type(*(primal(v) for v in given), np.float64)

    def rows(v, flip):  # (at least 2-D, in dtype, one variable per row)
        v = _astype_adapter(v, dtype)
        v = _reshape(v, (1, -1)) if _ndim(v) < 2 else v
        return _transpose(v) if flip(v) else v

    X = rows(given[0], lambda _: not rowvar and _ndim(given[0]) != 1)  # (NumPy's two tests)
    if _shape(X)[0] == 0:
        return np.array([]).reshape(0, 0)
    if y is not None:
        X = _concatenate_adapter([X, rows(given[1], lambda v: not rowvar and _shape(v)[0] != 1)])
    ddof = (0 if bias else 1) if ddof is None else ddof
    w = None
    if fweights is not None:
        w = np.asarray(fweights, dtype=float)
    if aweights is not None:  # (which may be traced: fweights are integers, constants)
        aweights = _astype_adapter(_array(aweights), np.float64)
        w = aweights if w is None else w * aweights
    avg = np.average(X, axis=1, weights=w)
    n = _shape(X)[1]
    w_sum = n if w is None else np.sum(w)
    if w is None:
        fact = n - ddof
    elif ddof == 0:
        fact = w_sum
    elif aweights is None:
        fact = w_sum - ddof
    else:
        fact = w_sum - ddof * np.sum(w * aweights) / w_sum
    fact = np.maximum(fact, 0.0)
    X = _astype_adapter(X - _reshape(avg, (-1, 1)), dtype)  # (NumPy's in-place steps keep dtypes)
    X_T = _transpose(X if w is None else X * w)
    c = X @ X_T
    with np.errstate(divide="ignore"):
        c = _astype_adapter(c * np.true_divide(1, fact), c.dtype)
    return _squeeze(c)


def _corrcoef(x, y=None, rowvar=True, *, dtype=None):
    c = _cov(x, y, rowvar, dtype=dtype)
    if _ndim(c) == 0:  # (one variable: nan for a variance of 0, nan or inf, else 1)
        return c / c
    d = _diagonal(c)
    stddev = np.sqrt(d)
    c = c / _reshape(stddev, (-1, 1))
    c = c / _reshape(stddev, (1, -1))
    return np.clip(c, -1, 1)


def _split_along(axis, minimum, name):
    def split(ary, indices_or_sections):
        if _ndim(ary) < minimum:
            raise ValueError(f"{name} only works on arrays of {minimum} or more dimensions")
        along = 0 if axis == 1 and _ndim(ary) == 1 else axis  # (hsplit of a 1-D array: axis 0)
        return _splitter(True)(ary, indices_or_sections, along)

    return split


def _cumulative_api(name, x, axis, dtype, out, include_initial):
    """NumPy 2's array-API `cumulative_sum` / `cumulative_prod`: with an initial 0 or 1."""
    _no_extras(f"cumulative_{name}", out=out)
    if axis is None:
        if _ndim(x) > 1:
            raise ValueError(
                "For arrays which have more than one dimension ``axis`` argument is required."
            )
        axis = 0
    r = (_cumsum_adapter if name == "sum" else _cumprod_adapter)(x, axis, dtype)
    if include_initial:
        ax = _axis(axis, _ndim(r))
        shape = list(_shape(r))
        shape[ax] = 1
        # (NumPy's full_like of the result, so that the concatenation is laid out as NumPy's)
        first = np.full_like(np.asarray(primal(r)), 0 if name == "sum" else 1, shape=shape)
        r = _concatenate_adapter([first, r], ax)
    return r


def _unstack(x, /, *, axis=0):
    if _ndim(x) == 0:
        raise ValueError("Input array must be at least 1-d.")
    ax = _axis(axis, _ndim(x))
    return tuple(x[(slice(None),) * ax + (i,)] for i in range(_shape(x)[ax]))


def _polyder(p, m=1):
    m = int(m)
    if m < 0:
        raise ValueError("Order of derivative must be positive (see polyint)")
    p = _array(p)
    for _ in range(m):
        n = _shape(p)[0] - 1
        p = p[:-1] * np.arange(n, 0, -1)
    return p


def _polyint(p, m=1, k=None):
    m = int(m)
    if m < 0:
        raise ValueError("Order of integral must be positive (see polyder)")
    k = np.zeros(m, float) if k is None else k
    k = _reshape(k, (-1,)) if isinstance(k, Tracer) else np.atleast_1d(k)
    if _shape(k)[0] == 1 and m > 1:
        k = k[0] * np.ones(m, float)
    if _shape(k)[0] < m:
        raise ValueError("k must be a scalar or a rank-1 array of length 1 or >m.")
    p = _array(p)
    for i in range(m):
        p = _concatenate_adapter([p / np.arange(_shape(p)[0], 0, -1), _reshape(k[i], (1,))])
    return p


def _polyadd(a1, a2, subtract=False):
    a1 = _reshape(_array(a1), (-1,)) if _ndim(a1) == 0 else _array(a1)
    a2 = _reshape(_array(a2), (-1,)) if _ndim(a2) == 0 else _array(a2)
    diff = _shape(a2)[0] - _shape(a1)[0]
    if diff > 0:
        a1 = _concatenate_adapter([np.zeros(diff, np.result_type(primal(a1))), a1])
    elif diff < 0:
        a2 = _concatenate_adapter([np.zeros(-diff, np.result_type(primal(a2))), a2])
    return a1 - a2 if subtract else a1 + a2


def _poly1d(c):
    """Coefficients as NumPy's poly1d reads them: 1-D, leading zeros dropped, at least [0]."""
    c = _array(c)
    if _ndim(c) > 1:
        raise ValueError("Polynomial must be 1d only.")
    c = _reshape(c, (-1,))
    nz = np.flatnonzero(np.asarray(primal(c)))
    return c[nz[0] :] if nz.size else np.zeros(1, np.result_type(primal(c), 0.0))


def _apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """`func1d` on each 1-D slice along `axis`; its results stacked where the axis was."""
    arr = _array(arr)
    nd = _ndim(arr)
    axis = _axis(axis, nd)
    moved = _moveaxis(arr, axis, -1)
    rest = _shape(moved)[:-1]
    if not math.prod(rest):
        raise ValueError("Cannot apply_along_axis when any iteration dimensions are 0")
    results = [_array(func1d(moved[i], *args, **kwargs)) for i in np.ndindex(*rest)]
    first = np.result_type(primal(results[0]))  # (NumPy's output has the first result's dtype)
    out = _stack([_astype_adapter(r, first) for r in results])
    inner = tuple(_shape(out)[1:])
    out = _reshape(out, tuple(rest) + inner)
    return _moveaxis(out, tuple(range(len(rest), len(rest) + len(inner))),
                     tuple(range(axis, axis + len(inner))))  # fmt: skip


def _trim_zeros(filt, trim="fb", axis=None):
    """The entries NumPy keeps: the box from the first to the last hyperplane with a nonzero."""
    expected = np.trim_zeros(np.asarray(primal(filt)), trim, axis)  # (NumPy's checks)
    nz = np.asarray(primal(filt)) != 0
    nd = nz.ndim
    axes = range(nd) if axis is None else np.lib.array_utils.normalize_axis_tuple(axis, nd)
    index = [slice(None)] * nd
    for ax in axes:
        hits = np.flatnonzero(np.any(nz, axis=tuple(i for i in range(nd) if i != ax)))
        if not hits.size:
            index[ax] = slice(0, 0)
            continue
        start = hits[0] if "f" in trim.lower() else 0
        stop = hits[-1] + 1 if "b" in trim.lower() else nz.shape[ax]
        index[ax] = slice(int(start), int(stop))
    r = filt[tuple(index)]
    return r if _shape(r) == np.shape(expected) else expected  # (NumPy's other cases: constants)


def _resize(a, new_shape):
    a = _array(a)
    new_shape = (new_shape,) if isinstance(new_shape, (int, np.integer)) else tuple(new_shape)
    if any(n < 0 for n in new_shape):
        raise ValueError("all elements of `new_shape` must be non-negative")
    size = math.prod(new_shape)
    flat = _reshape(a, (-1,))
    if not _shape(flat)[0] or not size:
        return np.resize(np.asarray(primal(a)), new_shape)  # (zeros or empty: a constant)
    return _reshape(flat[np.arange(size) % _shape(flat)[0]], new_shape)


FUNCTIONS.update(
    {
        np.cov: _cov, np.corrcoef: _corrcoef,
        np.hsplit: _split_along(1, 1, "hsplit"), np.vsplit: _split_along(0, 2, "vsplit"),
        np.dsplit: _split_along(2, 3, "dsplit"),
        np.cumulative_sum: lambda x, /, *, axis=None, dtype=None, out=None, include_initial=False:
        _cumulative_api("sum", x, axis, dtype, out, include_initial),
        np.cumulative_prod: lambda x, /, *, axis=None, dtype=None, out=None, include_initial=False:
        _cumulative_api("prod", x, axis, dtype, out, include_initial),
        np.unstack: _unstack, np.polyder: _polyder, np.polyint: _polyint, np.polyadd: _polyadd,
        np.polysub: lambda a1, a2: _polyadd(a1, a2, subtract=True),
        np.polymul: lambda a1, a2: _convolve(_poly1d(a1), _poly1d(a2)),
        np.apply_along_axis: _apply_along_axis, np.trim_zeros: _trim_zeros, np.resize: _resize,
    }
)  # fmt: skip
NONDIFF.update({np.nanargmax, np.nanargmin, np.lexsort, np.einsum_path})
CALLS_BACK.update({np.piecewise, np.apply_along_axis})  # (they call the user's functions)


# --- a fourth batch: insert, unique, unwrap, apply_over_axes, np.astype, real constants --------
def _insert(arr, obj, values, axis=None):
    """NumPy's np.insert run on place numbers, then one gather from `arr` and `values` joined.

    Running NumPy's own function on index arrays reproduces all of its rules (scalar or array
    `obj`, slices, how `values` broadcasts, `axis=None` flattening) without restating them.
    """
    arr, values = _array(arr), _array(values)
    flags = np.asarray(primal(arr)).flags  # (NumPy's new array: Fortran-ordered if arr is)
    order = "F" if flags.f_contiguous and not flags.c_contiguous else "C"
    a_shape = tuple(_shape(arr))
    v_places = np.arange(math.prod(_shape(values))).reshape(_shape(values))
    from_arr = np.insert(np.arange(math.prod(a_shape)).reshape(a_shape), obj, -1 - v_places, axis)
    from_values = np.insert(np.full(a_shape, -1), obj, v_places, axis)
    dtype = np.result_type(primal(arr))  # (NumPy casts the values to arr's dtype)
    pool = _concatenate_adapter(
        [_reshape(arr, (-1,)), _reshape(_astype_adapter(values, dtype), (-1,))]
    )
    return _laid_out(
        pool[np.where(from_arr >= 0, from_arr, math.prod(a_shape) + from_values)], order
    )


def _unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, **kw):
    """The distinct values (or slices along `axis`) of `ar`, sorted, each taken where it first
    occurs.

    At a repeated value the derivative goes to its first occurrence (the value has none there:
    moving one copy splits it in two), as NumPy's `return_index` names it.
    """
    ar = _array(ar)
    px = np.asarray(primal(ar))
    found = np.unique(px, True, return_inverse, return_counts, axis=axis, **kw)
    if axis is None:
        values = _reshape(ar, (-1,))[found[1]]
    else:  # (the distinct slices along `axis`, each where it first occurs)
        values = np.take(ar, found[1], axis=axis)
    if not (return_index or return_inverse or return_counts):
        return values
    return (values, *found[1 if return_index else 2 :])  # (NumPy's order: index, inverse, counts)


@primitive
def _unwrap(p, discont=None, axis=-1, period=2 * np.pi):
    return np.unwrap(p, discont, axis, period=period)


# its result is p plus multiples of the period chosen from p's differences: a constant where
# those differences are not at the threshold, so both derivatives pass through unchanged
defvjp(_unwrap, lambda g, ans, p, **params: _astype_adapter(g, np.result_type(primal(p))))
defjvp(_unwrap, lambda t, ans, p, **params: _astype_adapter(t, np.result_type(primal(ans))))


def _unwrap_adapter(p, discont=None, axis=-1, *, period=2 * np.pi):
    return apply(_unwrap, _array(p), discont=discont, axis=axis, period=period)


def _apply_over_axes(func, a, axes):
    """`func(a, axis)` for each axis in turn, each result given its axis back if it dropped it."""
    a = _array(a)
    nd = _ndim(a)
    for axis in (axes,) if np.ndim(axes) == 0 else axes:
        axis = axis + nd if axis < 0 else axis
        r = func(a, axis)
        if _ndim(r) != nd:
            r = np.expand_dims(r, axis)
            if _ndim(r) != nd:
                raise ValueError("function is not returning an array of the correct shape")
        a = r
    return a


def _np_astype(x, dtype, /, *, copy=True, device=None):
    if device is not None:  # (NumPy's check of it, and its message)
        np.astype(np.empty(0), dtype, device=device)
    return _array(x).astype(dtype, copy=copy)


FUNCTIONS.update(
    {
        np.insert: _insert, np.unique: _unique, np.unwrap: _unwrap_adapter,
        np.apply_over_axes: _apply_over_axes, np.astype: _np_astype,
        np.real_if_close: lambda a, tol=100: _array(a),  # (a real array is returned as it is)
    }
)  # fmt: skip
CALLS_BACK.add(np.apply_over_axes)
NONDIFF.update({np.isposinf, np.isneginf, np.isreal, np.iscomplex, np.angle, np.spacing})


# --- hints for functions without rules ----------------------------------------------------------
_FFT = (
    "Complex results are not supported; the DFT of a real x is two real matrix products: with "
    "k = np.arange(n) and A = 2 * np.pi * np.outer(k, k) / n, the real part is np.cos(A) @ x "
    "and the imaginary part -np.sin(A) @ x."
)
_SETS = (
    "The result is made of entries of x: np.unique (supported) gives the distinct values; "
    "select the others with a boolean mask from np.isin (a constant), e.g. x[~np.isin(x, y)]."
)
HINTS.update(
    {
        np.array: "Use np.stack or np.concatenate to build arrays from traced pieces.",
        np.divmod: "Use np.floor_divide (a constant) and np.remainder, or divmod(x, y).",
        np.modf: "The fractional part is x - np.trunc(x) (slope 1); the integral part "
        "np.trunc(x) is a constant.",
        np.frexp: "With e = np.floor(np.log2(np.abs(x))) + 1 (a constant), the mantissa is "
        "x * 2.0 ** -e.",
        np.ldexp: "Write x * 2.0 ** n.",
        np.nextafter: "x + np.spacing(x) moves x up by one unit in the last place (slope 1).",
        np.linalg.eig: "For a symmetric matrix use np.linalg.eigh (supported); the eigenvalues "
        "of a general real matrix may be complex.",
        np.linalg.eigvals: "For a symmetric matrix use np.linalg.eigvalsh (supported); the "
        "eigenvalues of a general real matrix may be complex.",
        np.roots: "Roots are eigenvalues of the companion matrix, complex in general; at a "
        "simple real root r of p its derivative is -dp(r) / p'(r) (np.polyval, np.polyder).",
        np.histogram: "Counts are piecewise constant: count the plain values outside f; for a "
        "smooth estimate, sum a kernel, e.g. np.exp(-0.5 * ((x[:, None] - centers) / w) ** 2)"
        ".sum(axis=0) with a bandwidth w.",
        np.i0: "Sum its power series, the sum over k of (x / 2) ** (2 k) / (k!) ** 2, with "
        "the factorials as constants (30 terms reach double precision for |x| < 10).",
        np.sort_complex: "Use np.sort: complex numbers are not supported.",
        np.poly: "Multiply the factors: p = [1.0], then p = np.polymul(p, [1.0, -r]) for each "
        "root r.",
        np.polydiv: "Solve for the quotient's coefficients with np.linalg.solve on the "
        "convolution matrix, or divide by hand with np.polysub and np.polymul.",
        **dict.fromkeys((np.union1d, np.intersect1d, np.setdiff1d, np.setxor1d), _SETS),
        **dict.fromkeys(
            (np.unique_values, np.unique_counts, np.unique_inverse, np.unique_all),
            "Use np.unique (supported), with return_index, return_inverse and return_counts.",
        ),
        **dict.fromkeys(
            (np.histogram2d, np.histogramdd, np.histogram_bin_edges),
            "Counts and bin edges are computed from plain values: compute them outside f.",
        ),
        **dict.fromkeys(
            (getattr(np.fft, n) for n in ("fft", "ifft", "rfft", "irfft", "fft2", "ifft2",
                                          "fftn", "ifftn", "rfft2", "irfft2", "rfftn", "irfftn",
                                          "hfft", "ihfft")),
            _FFT,
        ),
    }
)  # fmt: skip


# --- logsumexp: a primitive, for stability and speed --------------------------------------------
_FINITE = {}  # float dtype -> (lowest, highest) finite numbers, as scalars of that dtype


def _shift(x, axis, clamp=True):
    """The maximum of `x` over `axis` (axes kept), clamped to the finite numbers.

    An infinite maximum would turn `x - max` into `inf - inf = nan`: a row of -inf (or a row
    with an inf) is shifted by the lowest (or highest) finite number instead, given as `initial`
    to the reduction and by one `minimum`; cheaper than testing the maxima for finiteness. With
    `clamp=False` the `minimum` is left out, for a caller that checks its result instead.
    """
    if x.size == 0:  # (nothing to shift: a sum over no terms is 0, its logarithm -inf)
        return np.zeros_like(np.add.reduce(x, axis=axis, keepdims=True))
    if x.dtype.kind != "f":
        m = np.maximum.reduce(x, axis=axis, keepdims=True)
        return np.where(np.isfinite(m), m, 0)
    lowest, highest = _FINITE.get(x.dtype) or _finite_range(x.dtype)
    m = np.maximum.reduce(x, axis=axis, keepdims=True, initial=lowest)
    return np.minimum(m, highest) if clamp else m


def _finite_range(dtype):
    info = np.finfo(dtype)
    bounds = _FINITE[dtype] = (dtype.type(info.min), dtype.type(info.max))
    return bounds


@primitive
def logsumexp(x, axis=None, keepdims=False):
    r"""$\log \sum_i e^{x_i}$ over `axis` (a tuple of axes >= 0, or None), computed stably."""
    m = _shift(x, axis)
    out = np.log(np.add.reduce(np.exp(x - m), axis=axis, keepdims=keepdims))
    return out + (m if keepdims else m.reshape(np.shape(out)))


# The derivative of logsumexp is the softmax, computed as such: exp(x - logsumexp(x)) would
# exponentiate the rounding of logsumexp, which is large beside 1 when |x| is large
def _logsumexp_vjp(g, ans, x, axis=None, keepdims=False):
    return _keep(g, x, axis, keepdims) * softmax(x, axis)


def _logsumexp_jvp(t, ans, x, axis=None, keepdims=False):
    return _sum_jvp(t * softmax(x, axis), ans, x, axis, keepdims)


defvjp(logsumexp, _logsumexp_vjp)
defjvp(logsumexp, _logsumexp_jvp)


def log_softmax(x, axis=None):
    r"""$x - \operatorname{logsumexp}(x)$ over `axis` (a tuple of axes >= 0, or None)."""
    if isinstance(x, Tracer):  # a primitive (as `@primitive` makes it, one call shorter)
        return x._lift1(log_softmax, {"axis": axis})
    if x.size == 0:  # (no entries: nothing to normalise, and no log(0) to warn about)
        return np.zeros(x.shape, np.result_type(x, 0.0))
    s, _, total = _softmax_parts(x, axis)
    return s - np.log(total)


def softmax(x, axis=None):
    r"""$e^{x_i} / \sum_j e^{x_j}$ over `axis` (a tuple of axes >= 0, or None), computed stably."""
    if isinstance(x, Tracer):  # a primitive (as `@primitive` makes it, one call shorter)
        return x._lift1(softmax, {"axis": axis})
    if x.size == 0:
        return np.zeros(x.shape, np.result_type(x, 0.0))
    _, e, total = _softmax_parts(x, axis)
    return e / total  # (exp(x - logsumexp(x)) would exponentiate the rounding of logsumexp)


def _softmax_vjp(g, ans, x, axis=None):  # J = diag(p) - p p^T, so J g = p (g - <p, g>)
    gp = g * ans
    return gp - ans * _sum(gp, axis, True)


def _softmax_jvp(t, ans, x, axis=None):
    tp = t * ans
    return tp - ans * tp.sum(axis=_from_right(_axes(axis, x.ndim), x.ndim), keepdims=True)


def _softmax_parts(z, axis, clamp=True):
    """`s = z - max z`, `e = exp(s)` and `total = sum(e)` (axes kept): softmax `e / total`.

    The shift is a constant taken from the primal value: the softmax does not depend on it.
    """
    s = z - _shift(primal(z), axis, clamp)
    e = np.exp(s)
    return s, e, _sum(e, axis, True)


def _log_softmax_vjp(g, ans, x, axis=None):
    if type(g) is np.ndarray:  # (as below, with `_sum` written out)
        return g - np.exp(ans) * np.add.reduce(g, axis=axis, keepdims=True)
    return g - np.exp(ans) * _sum(g, axis, True)


def _log_softmax_jvp(t, ans, x, axis=None):
    axes = _from_right(_axes(axis, x.ndim), x.ndim)
    return t - (t * np.exp(ans)).sum(axis=axes, keepdims=True)


defvjp(softmax, _softmax_vjp)
ANS_ONLY.add(softmax)
defjvp(softmax, _softmax_jvp)
defvjp(log_softmax, _log_softmax_vjp)
ANS_ONLY.add(log_softmax)
defjvp(log_softmax, _log_softmax_jvp)


# --- softmax cross-entropy: one fused function --------------------------------------------------
def _cross_entropy(z, y, axis, reduction, clamp=False):
    r"""$-\sum_{\text{axis}} y \log \operatorname{softmax}(z)$ per example, then `reduction`.

    Returns the loss and the residuals `(e, total, logp, n)`, with the softmax `e / total`, its
    logarithm `logp` and the number of examples `n`, which the rules below reuse. A scalar loss
    of plain arrays is checked for finiteness instead of clamping the maxima (one operation
    fewer): an infinite maximum makes it NaN, and then it is computed again with `clamp`.
    """
    checked = not clamp and reduction != "none" and type(z) is type(y) is np.ndarray
    s, e, total = _softmax_parts(z, axis, not checked)
    logp = s - np.log(total)
    if reduction == "none":
        loss = -_sum(y * logp, axis)
        n = loss.size
    else:  # (one dot product instead of a product and two sums)
        n = logp.size // logp.shape[axis] if logp.size else 0
        loss = (0.0 - np.vdot(y, logp)) / (n if reduction == "mean" else 1)  # (+0 if empty)
    if checked and not math.isfinite(loss):
        return _cross_entropy(z, y, axis, reduction, clamp=True)
    return loss, (e, total, logp, n)


def _scale(g, n, axis, reduction):
    """The cotangent of one example's loss, shaped to broadcast against the logits."""
    if reduction == "mean":
        return g / n
    return g if reduction == "sum" else np.expand_dims(g, axis)


def _cross_entropy_vjp_z(g, res, z, y, axis, reduction):  # (softmax sum(y) - y) g
    e, total, logp, n = res
    d, scale = e * (_sum(y, axis, True) / total), _scale(g, n, axis, reduction)
    if type(d) is np.ndarray and type(y) is np.ndarray and not isinstance(scale, Tracer):
        d -= y  # (in place: d is new, and nothing traced reads it)
        d *= scale
        return d
    return (d - y) * scale


def _cross_entropy_vjp_y(g, res, z, y, axis, reduction):  # -log softmax g
    return res[2] * -_scale(g, res[3], axis, reduction)


cross_entropy = fused(_cross_entropy, _cross_entropy_vjp_z, _cross_entropy_vjp_y)


def _cross_entropy_labels(z, onehot, axis, reduction):
    """The same with class indices, given as a boolean one-hot array `onehot`."""
    s, e, total = _softmax_parts(z, axis)
    log_total = np.log(total)
    if reduction == "none":  # (`where`, not a product: -inf logits of other classes are fine)
        loss = np.squeeze(log_total, axis) - _sum(np.where(onehot, s, 0), axis)
        n = loss.size
    else:
        n = log_total.size
        loss = (_sum(log_total) - _sum(np.where(onehot, s, 0))) / (n if reduction == "mean" else 1)
    return loss, (e, total, n)


def _cross_entropy_labels_vjp(g, res, z, onehot, axis, reduction):  # (softmax - onehot) g
    e, total, n = res
    return (e / total - onehot) * _scale(g, n, axis, reduction)


cross_entropy_labels = fused(_cross_entropy_labels, _cross_entropy_labels_vjp, None)


# --- linear algebra -----------------------------------------------------------------------------
# `calcbook.linalg_rules` registers np.linalg's rules, written with the helpers above. It
# imports this module, so it is imported last; then importing this module fills the whole table.
from . import linalg_rules  # noqa: E402, F401


# --- the type of a 0-d result, as NumPy's -------------------------------------------------------
def _scalar_result(adapter):
    """`adapter` returning a NumPy scalar (not a 0-d array) for a 0-d result, as NumPy's does."""

    def scalar(*args, **kwargs):
        r = adapter(*args, **kwargs)
        return r[()] if type(primal(r)) is np.ndarray and not np.ndim(primal(r)) else r

    return scalar


def _array_result(adapter):
    """`adapter` returning a 0-d array (not a NumPy scalar) for a 0-d result, as NumPy's does."""

    def array(*args, **kwargs):
        r = adapter(*args, **kwargs)
        return _copy(r) if isinstance(primal(r), np.generic) else r  # (np.array(r): 0-d)

    return array


def _quantile_result(adapter, keepdims_at):
    """A quantile's or median's 0-d result as NumPy's type: a 0-d array with weights (of some
    entries) or with keepdims (of a 0-d `a`), else a NumPy scalar. `keepdims_at`: its place
    among the arguments."""
    scalar, array = _scalar_result(adapter), _array_result(adapter)

    def result(*args, **kwargs):
        keep = kwargs.get("keepdims", args[keepdims_at] if len(args) > keepdims_at else False)
        weighted = kwargs.get("weights") is not None and np.size(primal(args[0]))
        if weighted or keep is True:  # (of no entries: nanquantile's NaN, a scalar, weights or not)
            return array(*args, **kwargs)
        return scalar(*args, **kwargs)

    return result


for _f in (np.nanmax, np.nanmin, np.nanvar, np.nanstd, np.linalg.norm, np.linalg.matrix_norm,
           np.interp, np.nan_to_num):  # fmt: skip
    FUNCTIONS[_f] = _scalar_result(FUNCTIONS[_f])
for _f, _at in ((np.median, 4), (np.nanmedian, 4), (np.quantile, 6), (np.nanquantile, 6),
                (np.percentile, 6), (np.nanpercentile, 6)):  # fmt: skip
    FUNCTIONS[_f] = _quantile_result(FUNCTIONS[_f], _at)
for _f in (np.tensordot, np.cross):
    FUNCTIONS[_f] = _array_result(FUNCTIONS[_f])
