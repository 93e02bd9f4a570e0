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

Conventions at kinks: `abs` has derivative `sign(x)` (0 at 0); `maximum`/`minimum` and the
reductions `max`/`min` split the derivative equally among tied arguments; `clip` is
`minimum(maximum(x, lo), hi)`, so it gets one half at the boundaries.
"""

from __future__ import annotations

import functools
import math
import string
from collections import Counter

import numpy as np

from .tracing import (
    BROADCASTING,
    FUNCTIONS,
    HINTS,
    JVP_RULES,
    NONDIFF,
    UFUNCS,
    VJP_RULES,
    Tracer,
    _mutation_error,
    apply,
    primal,
    unbroadcast,
)

__all__ = [
    "defelementwise",
    "defjvp",
    "defjvp_all",
    "defvjp",
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
    assert "numpy.sort" not in names
    ```
    """
    funs = [*UFUNCS, *(f for f in FUNCTIONS if not isinstance(f, str)), *NONDIFF]
    names = {f"numpy.{f.__name__}" for f in funs}
    return sorted(names)


# --- helpers shared by several rules ------------------------------------------------------------
def _axes(axis, ndim):
    """Normalise `axis` (None, int or tuple; may be negative) to a sorted tuple of axes >= 0."""
    if axis is None:
        return tuple(range(ndim))
    if not isinstance(axis, (tuple, list)):
        axis = (axis,)
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise np.exceptions.AxisError(a, ndim)
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(out))


def _from_right(axes, ndim):
    """Axes counted from the right, so that they ignore leading batch axes of a tangent."""
    return tuple(a - ndim for a in axes)


def _keep(g, x, axis, keepdims):
    """Reshape a reduction's cotangent so that it broadcasts against the operand `x`."""
    if keepdims or axis is None:
        return g
    shape = list(x.shape)
    for a in axis:
        shape[a] = 1
    return g.reshape(shape)


def _nb(t, x):
    """Number of leading batch axes of the tangent `t` of `x`."""
    return t.ndim - x.ndim


def _ndim(a):
    return a.ndim if isinstance(a, (np.ndarray, np.generic, Tracer)) else np.ndim(a)


def _shape(a):
    return a.shape if isinstance(a, (np.ndarray, np.generic, Tracer)) else np.shape(a)


@primitive
def broadcast(g, shape):
    """`g` broadcast to `shape`, as a new array (cheaper than `np.broadcast_to` for small ones)."""
    out = np.empty(shape, dtype=g.dtype)
    out[...] = g
    return out


def _no_extras(name, **given):
    for key, value in given.items():
        if key == "out" and value is not None:
            raise _mutation_error(f"numpy.{name}(..., out=...)")
        if value is not None and value is not np._NoValue:
            raise NotImplementedError(
                f"numpy.{name}(..., {key}=...) is not supported on traced arrays; "
                "use np.where for masks and .astype for dtypes."
            )


def _kd(keepdims):
    return bool(keepdims) if keepdims is not np._NoValue else False


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


defelementwise(np.add, lambda g, ans, x, y: g, lambda g, ans, x, y: g)
defelementwise(np.subtract, lambda g, ans, x, y: g, lambda g, ans, x, y: -g)
defelementwise(np.multiply, lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)
defelementwise(np.true_divide, lambda g, ans, x, y: g / y, lambda g, ans, x, y: -g * ans / y)


def _power_x(g, ans, x, y):
    if type(y) is int and 0 <= y <= 3:  # the common exponents, with fewer operations
        return (0 * g, g, g * (2 * x), g * (3 * x * x))[y]
    return g * y * x ** (y - 1)


defelementwise(np.power, _power_x, lambda g, ans, x, y: g * ans * np.log(x))
defelementwise(np.negative, lambda g, ans, x: -g)
defelementwise(np.positive, lambda g, ans, x: g)
defelementwise(np.reciprocal, lambda g, ans, x: -g * ans * ans)
defelementwise(np.square, lambda g, ans, x: g * 2 * x)
defelementwise(np.sqrt, lambda g, ans, x: g * 0.5 / ans)
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
defelementwise(np.maximum, _max_x, _max_y)
defelementwise(np.minimum, _min_x, _min_y)
defelementwise(
    np.where,
    None,  # the condition is a constant
    lambda g, ans, c, x, y: np.where(c, g, 0),
    lambda g, ans, c, x, y: np.where(c, 0, g),
)

# comparisons, tests and sign: derivative zero, evaluated on plain values, results not traced
NONDIFF.update(
    {
        np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
        np.logical_and, np.logical_or, np.logical_not, np.logical_xor,
        np.isfinite, np.isinf, np.isnan, np.signbit, np.sign,
        np.shape, np.ndim, np.size, np.result_type, np.ones_like, np.zeros_like, np.empty_like,
        np.full_like, np.argmax, np.argmin, np.argsort, np.nonzero, np.flatnonzero,
        np.count_nonzero, np.isclose, np.allclose, np.array_equal, np.any, np.all,
        np.iscomplexobj, np.isrealobj,
    }
)  # fmt: skip


# --- reductions ---------------------------------------------------------------------------------
# The primitives take `axis` as None or a tuple of axes >= 0 (the adapters below normalise it).
# (`np.add.reduce` is the C function under `ndarray.sum`, without its Python wrapper.)
def _sum(x, axis=None, keepdims=False):
    if type(x) is np.ndarray:
        return np.add.reduce(x, axis=axis, keepdims=keepdims)
    return x.sum(axis=axis, keepdims=keepdims)


def _mean(x, axis=None, keepdims=False):
    return _sum(x, axis, keepdims) / _count(x, axis)


def _prod(x, axis=None, keepdims=False):
    return x.prod(axis=axis, keepdims=keepdims)


def _max(x, axis=None, keepdims=False):
    return x.max(axis=axis, keepdims=keepdims)


def _min(x, axis=None, keepdims=False):
    return x.min(axis=axis, keepdims=keepdims)


def _sum_vjp(g, ans, x, axis=None, keepdims=False):
    return broadcast(_keep(g, x, axis, keepdims), x.shape)


def _sum_jvp(t, ans, x, axis=None, keepdims=False):
    return t.sum(axis=_from_right(_axes(axis, x.ndim), x.ndim), keepdims=keepdims)


def _count(x, axis):
    if axis is None:
        return x.size
    shape = x.shape
    return math.prod([shape[a] for a in axis])


def _mean_vjp(g, ans, x, axis=None, keepdims=False):
    return broadcast(_keep(g / _count(x, axis), x, axis, keepdims), x.shape)


def _mean_jvp(t, ans, x, axis=None, keepdims=False):
    return _sum_jvp(t, ans, x, axis, keepdims) / _count(x, axis)


def _prod_vjp(g, ans, x, axis=None, keepdims=False):  # needs x != 0
    return _keep(g * ans, x, axis, keepdims) / x


def _prod_jvp(t, ans, x, axis=None, keepdims=False):
    ratio = _keep(ans, x, axis, keepdims) / x
    return _sum_jvp(t * ratio, ans, x, axis, keepdims)


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


def _reduction(prim, name):
    def adapter(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
        if out is not None or initial is not None or where is not None:
            _no_extras(name, out=out, initial=initial, where=where)
        if dtype is not None:  # accumulate in that dtype: cast first
            a = _astype_adapter(a, dtype)
        if axis is not None:
            axis = _axes(axis, _ndim(a))
        keepdims = keepdims is True or (keepdims is not False and _kd(keepdims))
        return apply(prim, a, axis=axis, keepdims=keepdims)

    return adapter


for _name, _f in [("sum", _sum), ("mean", _mean), ("prod", _prod)]:
    FUNCTIONS[getattr(np, _name)] = _reduction(_f, _name)
for _alias, _f in ((np.max, _max), (np.amax, _max), (np.min, _min), (np.amin, _min)):
    _adapter = _reduction(_f, _alias.__name__)
    FUNCTIONS[_alias] = lambda a, axis=None, out=None, keepdims=False, _r=_adapter, **kw: _r(
        a, axis, None, out, keepdims, **kw
    )


def _var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    _no_extras("var", out=out, **kwargs)
    if dtype is not None:
        a = _astype_adapter(a, dtype)
    axes = _axes(axis, _ndim(a))
    d = a - np.mean(a, axis=axes, keepdims=True)
    return np.sum(d * d, axis=axes, keepdims=_kd(keepdims)) / (_count(a, axes) - ddof)


def _std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    return np.sqrt(_var(a, axis, dtype, out, ddof, keepdims, **kwargs))


FUNCTIONS[np.var] = _var
FUNCTIONS[np.std] = _std


# --- shapes: reshape, transpose, broadcast_to ---------------------------------------------------
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
defvjp(broadcast, lambda g, ans, x, shape: unbroadcast(g, x.shape))


def _broadcast_jvp(t, ans, x, shape):
    nb = _nb(t, x)
    t = t.reshape(t.shape[:nb] + (1,) * (ans.ndim - x.ndim) + x.shape)
    return broadcast(t, t.shape[:nb] + ans.shape)


defjvp(broadcast, _broadcast_jvp)


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise NotImplementedError("np.reshape on traced arrays supports only order='C'")
    shape = newshape if shape is None else shape
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    size = math.prod(_shape(a))
    if -1 in shape:  # resolve -1 so that the rules see the actual shape
        known = math.prod(n for n in shape if n != -1)
        shape = tuple(size // known if known and n == -1 else n for n in shape)
    if _shape(a) == shape:
        return a
    return apply(_reshape_prim, a, shape=shape)


def _transpose(a, axes=None):
    nd = _ndim(a)
    axes = tuple(range(nd))[::-1] if axes is None else tuple(int(i) % nd for i in axes)
    if axes == tuple(range(nd)):
        return a
    return apply(np.transpose, a, axes=axes)


def _swapaxes(a, axis1, axis2):
    nd = _ndim(a)
    axes = list(range(nd))
    i, j = int(axis1) % nd, int(axis2) % nd
    axes[i], axes[j] = axes[j], axes[i]
    return _transpose(a, axes)


def _moveaxis(a, source, destination):
    nd = _ndim(a)
    src = [int(s) % nd for s in np.atleast_1d(source)]
    dst = [int(d) % nd for d in np.atleast_1d(destination)]
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return _transpose(a, order)


def _expand_dims(a, axis):
    shape = list(_shape(a))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    for ax in sorted(int(i) % (len(shape) + len(axes)) for i in axes):
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
    return array if _shape(array) == shape else apply(np.broadcast_to, array, shape=shape)


def _flip(m, axis=None):
    axes = _axes(axis, _ndim(m))
    return m[tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(_ndim(m)))]


FUNCTIONS.update(
    {
        np.reshape: _reshape,
        np.transpose: _transpose,
        np.swapaxes: _swapaxes,
        np.moveaxis: _moveaxis,
        np.expand_dims: _expand_dims,
        np.squeeze: _squeeze,
        np.ravel: lambda a, order="C": _reshape(a, (-1,), order),
        np.broadcast_to: _broadcast_to,
        np.flip: _flip,
        np.copy: lambda a, order="K", subok=False: a,
    }
)  # fmt: skip


# --- indexing -----------------------------------------------------------------------------------
def _normalise_index(index):
    if not isinstance(index, tuple):
        index = (index,)
    return tuple(np.asarray(primal(i)) if isinstance(i, (list, Tracer)) else i for i in index)


def _is_basic(index):
    return all(
        i is None or i is Ellipsis or isinstance(i, (slice, int, np.integer))
        and not isinstance(i, (bool, np.bool_))
        for i in index
    )  # fmt: skip


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


@primitive
def _getitem(x, index):
    return x[index]


@primitive
def scatter_add(g, index, shape):
    """Zeros of `shape` with `g` added at `index` (repeated indices accumulate)."""
    out = np.zeros(shape, dtype=g.dtype)
    if _is_basic(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


def _getitem_jvp(t, ans, x, index):
    nb = _nb(t, x)
    if nb == 0:
        return t[index]
    if _is_basic(index):
        return t[(slice(None),) * nb + index]
    return _batch_last(lambda m, i: m[i], t, nb, x.ndim, index)


def _scatter_add_jvp(t, ans, g, index, shape):
    nb = _nb(t, g)
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
FUNCTIONS["getitem"] = lambda x, index: apply(_getitem, x, index=_normalise_index(index))


# --- joining ------------------------------------------------------------------------------------
def _concatenate(*arrays, axis):
    return np.concatenate(arrays, axis=axis)


def _concatenate_vjp(i):
    def rule(g, ans, *arrays, axis):
        start = sum(_shape(a)[axis] for a in arrays[:i])
        stop = start + np.shape(arrays[i])[axis]
        return g[(slice(None),) * axis + (slice(start, stop),)]

    return rule


def _concatenate_jvp(tangents, ans, *arrays, axis):
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
    _no_extras("concatenate", out=out, dtype=dtype)
    arrays = list(arrays)
    if axis is None:
        arrays, axis = [_reshape(a, (-1,)) for a in arrays], 0
    axis = int(axis) % max(_ndim(arrays[0]), 1)
    return apply(_concatenate, *arrays, axis=axis)


def _stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    arrays = list(arrays)
    axis = int(axis) % (_ndim(arrays[0]) + 1)
    return _concatenate_adapter([_expand_dims(a, axis) for a in arrays], axis, out, dtype=dtype)


FUNCTIONS[np.concatenate] = _concatenate_adapter
FUNCTIONS[np.stack] = _stack


# --- products: matmul, dot, outer, einsum -------------------------------------------------------
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
defjvp(
    np.matmul,
    lambda t, ans, x, y: _matmul_batched(t, y, _nb(t, x), x.ndim, y.ndim, True),
    lambda t, ans, x, y: _matmul_batched(x, t, _nb(t, y), x.ndim, y.ndim, False),
)
UFUNCS[np.matmul] = np.matmul


def _dot(a, b, out=None):
    _no_extras("dot", out=out)
    if _ndim(a) == 0 or _ndim(b) == 0:
        return a * b
    if _ndim(b) > 2:
        raise NotImplementedError(
            "numpy.dot with a second argument of more than 2 dimensions is not supported on "
            "traced arrays; use np.einsum or np.matmul."
        )
    return apply(np.matmul, a, b)


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


def _einsum_vjp(i):
    def rule(g, ans, *operands, spec, optimize):
        ins, out = spec.split("->")
        ins = ins.split(",")
        target = ins[i]
        if len(set(target)) != len(target):
            raise NotImplementedError(
                f"the derivative of einsum with a repeated index in one operand ({target!r}) "
                "is not supported; take the diagonal with indexing instead."
            )
        sources = [out] + ins[:i] + ins[i + 1 :]
        kept = "".join(c for c in target if c in "".join(sources))
        args = (g, *operands[:i], *operands[i + 1 :])
        r = np.einsum(",".join(sources) + "->" + kept, *args, optimize=optimize)
        x = operands[i]
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
    if not isinstance(subscripts, str):
        raise NotImplementedError("np.einsum on traced arrays needs a subscripts string")
    _no_extras("einsum", out=out, **kwargs)
    ins, out_subs = _einsum_spec(subscripts, tuple(_ndim(a) for a in operands))
    return apply(_einsum, *operands, spec=ins + "->" + out_subs, optimize=optimize)


FUNCTIONS[np.einsum] = _einsum_adapter


# --- elementwise functions called through __array_function__ ------------------------------------
def _where(condition, *xy):
    if not xy:
        return np.nonzero(primal(condition))
    return apply(np.where, primal(condition), *xy)


def _clip(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=None, max=None, **kw):  # noqa: A002
    _no_extras("clip", out=out, **kw)
    lo = min if a_min is np._NoValue else a_min
    hi = max if a_max is np._NoValue else a_max
    if lo is not None:
        a = np.maximum(a, lo)
    if hi is not None:
        a = np.minimum(a, hi)
    return a


@primitive
def _astype(x, dtype):
    return x.astype(dtype)


defvjp(_astype, lambda g, ans, x, dtype: _astype(g, x.dtype))
defjvp(_astype, lambda t, ans, x, dtype: _astype(t, dtype))


def _astype_adapter(x, dtype):
    dtype = np.dtype(dtype)
    if dtype == x.dtype:
        return x
    if not np.issubdtype(dtype, np.inexact):  # integers and booleans: derivative zero
        return primal(x).astype(dtype)
    return apply(_astype, x, dtype=dtype)


FUNCTIONS.update({np.where: _where, np.clip: _clip, "astype": _astype_adapter})


# --- hints for functions without rules ----------------------------------------------------------
_ZERO = "Its derivative is zero almost everywhere, so apply it to a plain (non-traced) value."
HINTS.update(
    {
        np.floor: _ZERO, np.ceil: _ZERO, np.round: _ZERO, np.rint: _ZERO, np.trunc: _ZERO,
        np.fix: _ZERO, np.floor_divide: _ZERO, np.remainder: _ZERO, np.mod: _ZERO,
        np.sort: "To sort a traced array x, index it: x[np.argsort(x)] (np.argsort works on it).",
        np.cumsum: "Write it with a lower-triangular matrix: np.tril(np.ones((n, n))) @ x.",
        np.linalg.norm: "Write the norm out, e.g. np.sqrt(np.sum(x * x)).",
        np.array: "Use np.stack or np.concatenate to build arrays from traced pieces.",
        np.tensordot: "Use np.einsum or np.matmul.",
    }
)  # fmt: skip


# --- logsumexp: a primitive, for stability and speed --------------------------------------------
def _shift(x, axis):
    """The maximum of `x` over `axis` (axes kept), replaced by 0 where it is not finite."""
    m = np.maximum.reduce(x, axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0)  # rows of -inf (or an inf): no shift there


@primitive
def logsumexp(x, axis=None, keepdims=False):
    r"""$\log \sum_i e^{x_i}$ over `axis` (a tuple of axes >= 0, or None), computed stably."""
    m = _shift(x, axis)
    out = np.log(np.add.reduce(np.exp(x - m), axis=axis, keepdims=keepdims))
    return out + (m if keepdims else m.reshape(np.shape(out)))


def _logsumexp_vjp(g, ans, x, axis=None, keepdims=False):
    return _keep(g, x, axis, keepdims) * np.exp(x - _keep(ans, x, axis, keepdims))


def _logsumexp_jvp(t, ans, x, axis=None, keepdims=False):
    p = np.exp(x - _keep(ans, x, axis, keepdims))
    return _sum_jvp(t * p, ans, x, axis, keepdims)


defvjp(logsumexp, _logsumexp_vjp)
defjvp(logsumexp, _logsumexp_jvp)


@primitive
def log_softmax(x, axis=None):
    r"""$x - \operatorname{logsumexp}(x)$ over `axis` (a tuple of axes >= 0, or None)."""
    shifted = x - _shift(x, axis)
    return shifted - np.log(np.add.reduce(np.exp(shifted), axis=axis, keepdims=True))


def _log_softmax_vjp(g, ans, x, axis=None):
    return g - np.exp(ans) * _sum(g, axis, True)


def _log_softmax_jvp(t, ans, x, axis=None):
    axes = _from_right(_axes(axis, x.ndim), x.ndim)
    return t - (t * np.exp(ans)).sum(axis=axes, keepdims=True)


defvjp(log_softmax, _log_softmax_vjp)
defjvp(log_softmax, _log_softmax_jvp)
