"""Every derivative rule against central differences, in forward and reverse mode, to order two.

`check_rule` is the whole method: for random directions `v` (inputs) and `u` (outputs) it checks

- forward mode: `jvp(f)(v)` against the central difference of `f` along `v`;
- reverse mode: `<vjp(f)(u), v>` against `<u, central difference>` (the dot-product test), with
  every cotangent shaped like its input, and `<u, jvp(v)> == <vjp(u), v>` to rounding;
- second order: the derivative of the gradient of `s = <u, f>`, forward-over-reverse
  (`jvp(grad(s))`, the Hessian-vector product) and reverse-over-reverse (`grad(<w, grad(s)>)`),
  against the central difference of `grad(s)`;
- batched forward mode: `jacfwd(f) == jacrev(f)` (one pass with all basis tangents at once).

The finite differences are computed here, independently of `calcbook.numdiff` and the engine.
Shapes come from hypothesis, including broadcasting, size-1 and size-0 axes.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import calcbook as cb
from calcbook.rules import supported
from calcbook.tracing import TracerError

H = 1e-6  # central-difference step (see `fd`): rounding ~ eps |f| / H, about 1e-10 here
RTOL, ATOL = 1e-6, 1e-6
SETTINGS = settings(max_examples=25, deadline=None)

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
NONEMPTY = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
PAIRS = hnp.mutually_broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3
)
SEEDS = st.integers(0, 2**32 - 1)


def fd(f, args, vs):
    """Central differences of `f` at `args` along the directions `vs` (float64), at the steps H
    and H/2 and extrapolated, (4 D(H/2) - D(H)) / 3: the error is O(H**4), where a single step's
    H**2 f'''/6 is not small for a large f''' (sin of a square near 2500: 0.03 of a slope of 5792).
    """

    def central(h):
        plus = f(*[a + h * v for a, v in zip(args, vs, strict=True)])
        minus = f(*[a - h * v for a, v in zip(args, vs, strict=True)])
        return (np.asarray(plus, dtype=np.float64) - np.asarray(minus, dtype=np.float64)) / (2 * h)

    return (4 * central(H / 2) - central(H)) / 3


def flat(arrays):
    return np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.zeros(0)


def close(actual, expected, what, scale=1.0):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL * scale, err_msg=what)


def traced_values_differ(f, xs, same_type=False):
    """How many values of `f` under vjp and jvp, at the points `xs`, are not NumPy's `f(x)`
    bit for bit (and, with `same_type`, not of its type: a NumPy scalar where NumPy gives one)."""
    differing = 0
    for x in xs:
        want = f(x)
        for got in (cb.vjp(f, x)[0], cb.jvp(f, (x,), (x,))[0]):
            differing += not np.array_equal(got, want)
            assert not same_type or type(got) is type(want)
    return differing


def check_rule(f, *args, seed=0, second=True, batched=True):
    """Check the first and second derivatives of `f` at `args` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    args = [np.asarray(a, dtype=np.float64) for a in args]
    argnums = tuple(range(len(args)))
    out = f(*args)
    vs = [rng.standard_normal(a.shape) for a in args]
    u = rng.standard_normal(np.shape(out))
    scale = 1 + float(np.max(np.abs(out), initial=0.0))
    jv_fd = fd(f, args, vs)

    y, jv = cb.jvp(f, tuple(args), tuple(vs))
    close(y, out, "jvp primal output")
    assert np.shape(jv) == np.shape(out)
    close(jv, jv_fd, "forward mode vs finite differences", scale)

    y, vjp_fn = cb.vjp(f, *args)
    cts = vjp_fn(u)
    assert [np.shape(c) for c in cts] == [a.shape for a in args]
    ct_v = sum(float(np.vdot(c, v)) for c, v in zip(cts, vs, strict=True))
    close(ct_v, float(np.vdot(u, jv_fd)), "reverse mode vs finite differences", scale * u.size)
    np.testing.assert_allclose(ct_v, np.vdot(u, jv), rtol=1e-10, atol=1e-10 * scale * u.size)

    if batched:
        for i in argnums:
            jf, jr = cb.jacfwd(f, argnums=i)(*args), cb.jacrev(f, argnums=i)(*args)
            assert jf.shape == jr.shape == np.shape(out) + args[i].shape
            np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-12 * scale)

    if second:

        def s(*a):
            return np.sum(u * f(*a))

        grad_s = cb.grad(s, argnums=argnums)
        hv_fd = fd(lambda *a: flat(grad_s(*a)), args, vs)
        _, hv = cb.jvp(grad_s, tuple(args), tuple(vs))  # forward-over-reverse
        close(flat(hv), hv_fd, "forward-over-reverse vs finite differences", scale * u.size)
        w = [rng.standard_normal(a.shape) for a in args]

        def w_dot_grad(*a):
            return sum(np.sum(wi * gi) for wi, gi in zip(w, grad_s(*a), strict=True))

        rr = cb.grad(w_dot_grad, argnums)
        w_hv = sum(float(np.vdot(r, v)) for r, v in zip(rr(*args), vs, strict=True))
        close(w_hv, float(np.vdot(flat(w), hv_fd)), "reverse-over-reverse", scale * u.size)


def uniform(rng, lo, hi, shape):
    return rng.uniform(lo, hi, size=shape)


def away_from_zero(rng, shape):
    return rng.uniform(0.2, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


# --- elementwise functions ----------------------------------------------------------------------
UNARY = [  # function, lower and upper end of the test domain
    (np.negative, -2, 2), (np.positive, -2, 2), (np.square, -2, 2), (np.exp, -2, 2),
    (np.exp2, -2, 2), (np.expm1, -2, 2), (np.sin, -3, 3), (np.cos, -3, 3), (np.tan, -1, 1),
    (np.arcsin, -0.8, 0.8), (np.arccos, -0.8, 0.8), (np.arctan, -3, 3), (np.sinh, -2, 2),
    (np.cosh, -2, 2), (np.tanh, -2, 2), (np.arcsinh, -2, 2), (np.arctanh, -0.8, 0.8),
    (np.log, 0.3, 3), (np.log2, 0.3, 3), (np.log10, 0.3, 3), (np.log1p, -0.5, 3),
    (np.sqrt, 0.3, 3), (np.cbrt, 0.3, 3), (np.reciprocal, 0.3, 3), (np.deg2rad, -3, 3),
    (np.rad2deg, -3, 3), (np.radians, -3, 3), (np.degrees, -3, 3), (np.arccosh, 1.2, 3),
    (np.conjugate, -2, 2), (np.sinc, -3, 3),
]  # fmt: skip


@pytest.mark.parametrize("fn, lo, hi", UNARY, ids=[u[0].__name__ for u in UNARY])
@SETTINGS
@given(shape=SHAPES, seed=SEEDS)
def test_unary(fn, lo, hi, shape, seed):
    x = uniform(np.random.default_rng(seed), lo, hi, shape)
    check_rule(fn, x, seed=seed)


@SETTINGS
@given(shape=SHAPES, seed=SEEDS)
def test_abs_away_from_zero(shape, seed):
    x = away_from_zero(np.random.default_rng(seed), shape)
    check_rule(np.abs, x, seed=seed)
    check_rule(abs, x, seed=seed)
    check_rule(np.fabs, x, seed=seed)


BINARY = {
    "add": (lambda x, y: x + y, None),
    "radd": (lambda x, y: np.add(y, x), None),
    "subtract": (lambda x, y: x - y, None),
    "multiply": (lambda x, y: x * y, None),
    "divide": (lambda x, y: x / y, "y_nonzero"),
    "np.divide": (lambda x, y: np.divide(x, y), "y_nonzero"),
    "power": (lambda x, y: x**y, "x_positive"),
    "maximum": (np.maximum, "apart"),
    "minimum": (np.minimum, "apart"),
    "where": (lambda x, y: np.where(x > 0.3, x, y), None),
    "arctan2": (np.arctan2, None),
    "hypot": (np.hypot, None),
    "logaddexp": (np.logaddexp, None),
    "logaddexp2": (np.logaddexp2, None),
    "fmax": (np.fmax, "apart"),
    "fmin": (np.fmin, "apart"),
    "float_power": (np.float_power, "x_positive"),
}


@pytest.mark.parametrize("name", list(BINARY))
@SETTINGS
@given(shapes=PAIRS, seed=SEEDS)
def test_binary_with_broadcasting(name, shapes, seed):
    f, domain = BINARY[name]
    rng = np.random.default_rng(seed)
    sx, sy = shapes.input_shapes
    x, y = rng.uniform(-2, 2, sx), rng.uniform(-2, 2, sy)
    if domain == "y_nonzero":
        y = away_from_zero(rng, sy)
    if domain == "x_positive":
        x = rng.uniform(0.5, 2, sx)
    if domain == "apart":  # a kink where x = y: the central difference must not straddle it
        assume(np.all(np.abs(x - y) > 1e3 * H))
    check_rule(f, x, y, seed=seed)


@pytest.mark.parametrize("f", [np.subtract, np.true_divide])
@SETTINGS
@given(shapes=PAIRS, seed=SEEDS)
def test_jacfwd_of_a_difference_and_a_quotient_of_two_traced_arrays(f, shapes, seed):
    # (forward mode has one expression for each, tangents of both arguments at once, lifted
    # past the batch axis of jacfwd when an argument is broadcast: checked against reverse mode)
    rng = np.random.default_rng(seed)
    sx, sy = shapes.input_shapes
    x, y = rng.uniform(-2, 2, sx), away_from_zero(rng, sy)
    for k in (0, 1):
        np.testing.assert_allclose(
            cb.jacfwd(f, argnums=k)(x, y), cb.jacrev(f, argnums=k)(x, y), rtol=1e-12, atol=1e-12
        )
    both = cb.jacfwd(lambda x: f(x, x + 1.5 * np.sign(x) + 0.5))(x)
    np.testing.assert_allclose(both, cb.jacrev(lambda x: f(x, x + 1.5 * np.sign(x) + 0.5))(x))


@SETTINGS
@given(shape=SHAPES, seed=SEEDS, c=st.floats(-2, 2))
def test_python_scalar_operands(shape, seed, c):
    x = np.random.default_rng(seed).uniform(0.5, 2, shape)
    check_rule(lambda x: (c - x) * 3 + x / 2.5 - 1 / x + 2.0**x + x**3 + x ** (-0.5), x, seed=seed)


@SETTINGS
@given(shape=SHAPES, seed=SEEDS)
def test_clip_inside_and_outside(shape, seed):
    x = away_from_zero(np.random.default_rng(seed), shape)  # never at the bounds +-0.1
    check_rule(lambda x: np.clip(x, -0.1, 0.1) + x.clip(min=-1.0) * np.clip(x, None, 0.5), x)


# --- ties and kinks: the documented conventions -------------------------------------------------
def test_max_min_split_the_gradient_equally_among_ties():
    x = np.array([1.0, 3.0, 3.0, 2.0])
    np.testing.assert_array_equal(cb.grad(np.max)(x), [0, 0.5, 0.5, 0])
    np.testing.assert_array_equal(cb.grad(lambda x: x.min())(-x), [0, 0.5, 0.5, 0])
    v = np.array([1.0, 2.0, 4.0, 8.0])
    assert cb.jvp(np.max, (x,), (v,))[1] == 3.0  # the mean of the tied directions
    m = np.array([[1.0, 1.0], [0.0, 2.0]])
    np.testing.assert_array_equal(
        cb.grad(lambda m: np.sum(np.max(m, axis=1)))(m), [[0.5, 0.5], [0, 1]]
    )


@pytest.mark.parametrize("power", [np.power, np.float_power, lambda x, y: x**y])
def test_power_with_exponent_zero_has_derivative_zero_at_zero(power):
    # x ** 0 == 1 for every x, 0 included (NumPy's 0 ** 0 == 1): the derivative is 0 there, where
    # the general rule y * x ** (y - 1) would be 0 * inf
    x = np.array([0.0, 0.0, 2.0])
    y = np.array([0.0, 2.5, 0.0])
    with np.errstate(all="raise"):  # and no 0 * inf computed on the way
        np.testing.assert_array_equal(cb.grad(lambda x: np.sum(power(x, 0.0)))(x), 0)
    np.testing.assert_array_equal(cb.grad(lambda x: np.sum(power(x, y)))(x), [0, 0, 0])
    np.testing.assert_array_equal(cb.jacfwd(lambda x: power(x, 0.0))(x), np.zeros((3, 3)))
    # the mixed second derivative d/dy (y x^(y-1)) = 1/x at y = 0, x != 0 is kept
    dxdy = cb.jacfwd(cb.grad(lambda x, y: np.sum(power(x, y))), argnums=1)(x[2:], y[2:])
    np.testing.assert_allclose(dxdy, [[0.5]])


def test_maximum_minimum_split_ties_and_abs_is_zero_at_zero():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 5.0])
    gx, gy = cb.grad(lambda x, y: np.sum(np.maximum(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [0.5, 1, 0])
    np.testing.assert_array_equal(gy, [0.5, 0, 1])
    gx, gy = cb.grad(lambda x, y: np.sum(np.minimum(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [0.5, 0, 1])
    np.testing.assert_array_equal(gy, [0.5, 1, 0])
    assert cb.grad(np.abs)(0.0) == 0.0
    np.testing.assert_array_equal(
        cb.grad(lambda x: np.sum(np.clip(x, -1, 1)))(x - 2), [0.5, 1, 0.5]
    )
    relu = cb.grad(lambda x: np.sum(np.maximum(x, 0)))
    np.testing.assert_array_equal(relu(np.array([-1.0, 0.0, 2.0])), [0, 0.5, 1])


# --- reductions ---------------------------------------------------------------------------------
@st.composite
def shape_and_axis(draw, min_side=1):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=min_side, max_side=3))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "negative", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(0, nd - 1))
    elif kind == "negative":
        axis = draw(st.integers(-nd, -1))
    else:
        axis = tuple(draw(st.sets(st.integers(-nd, nd - 1).map(lambda a: a % nd), min_size=1)))
    return shape, axis, draw(st.booleans())


REDUCTIONS = {
    "sum": (lambda x, a, k: np.sum(x, axis=a, keepdims=k), (-2, 2)),
    "sum method": (lambda x, a, k: x.sum(axis=a, keepdims=k), (-2, 2)),
    "mean": (lambda x, a, k: np.mean(x, axis=a, keepdims=k), (-2, 2)),
    "mean method": (lambda x, a, k: x.mean(axis=a, keepdims=k), (-2, 2)),
    "prod": (lambda x, a, k: np.prod(x, axis=a, keepdims=k), (0.5, 1.5)),
    "max": (lambda x, a, k: np.max(x, axis=a, keepdims=k), (-2, 2)),
    "amax": (lambda x, a, k: np.amax(x, axis=a, keepdims=k), (-2, 2)),
    "min method": (lambda x, a, k: x.min(axis=a, keepdims=k), (-2, 2)),
    "max method": (lambda x, a, k: x.max(axis=a, keepdims=k), (-2, 2)),
    "var": (lambda x, a, k: np.var(x, axis=a, keepdims=k), (-2, 2)),
    "std": (lambda x, a, k: x.std(axis=a, keepdims=k), (-2, 2)),
    "logsumexp": (lambda x, a, k: cb.logsumexp(x, axis=a, keepdims=k), (-3, 3)),
    "softmax": (lambda x, a, k: cb.softmax(x, axis=-1 if a is None else a), (-3, 3)),
    "log_softmax": (lambda x, a, k: cb.log_softmax(x, axis=-1 if a is None else a), (-3, 3)),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@SETTINGS
@given(case=shape_and_axis(), seed=SEEDS)
def test_reductions(name, case, seed):
    shape, axis, keepdims = case
    f, (lo, hi) = REDUCTIONS[name]
    x = np.random.default_rng(seed).uniform(lo, hi, shape)  # continuous: no ties
    if name == "std":  # keep the variance away from 0
        axes = range(len(shape)) if axis is None else np.atleast_1d(axis) % len(shape)
        reduced = [shape[a] for a in set(axes)]
        assume(np.prod(reduced) > 1)
        x = x + 3 * np.arange(x.size).reshape(shape)
    check_rule(lambda x: f(x, axis, keepdims), x, seed=seed)


EMPTY_AXES = {  # the reductions NumPy takes over no entries: an identity or a constant
    "sum": lambda x, a, k: np.sum(x, axis=a, keepdims=k) * 2.0,
    "prod": lambda x, a, k: np.prod(x, axis=a, keepdims=k),
    "max initial": lambda x, a, k: np.max(x, axis=a, keepdims=k, initial=-9.0),
    "min initial method": lambda x, a, k: x.min(axis=a, keepdims=k, initial=9.0),
    "nansum": lambda x, a, k: np.nansum(x, axis=a, keepdims=k),
    "nanprod": lambda x, a, k: np.nanprod(x, axis=a, keepdims=k),
    "softmax": lambda x, a, k: cb.softmax(x, axis=-1 if a is None else a),
    "log_softmax": lambda x, a, k: cb.log_softmax(x, axis=-1 if a is None else a),
    "vector_norm": lambda x, a, k: np.linalg.vector_norm(x, axis=a, keepdims=k),
    "vector_norm inf": lambda x, a, k: np.linalg.vector_norm(x, axis=a, keepdims=k, ord=np.inf),
    "vector_norm 3": lambda x, a, k: np.linalg.vector_norm(x, axis=a, keepdims=k, ord=3),
    "norm 0.5": lambda x, a, k: np.linalg.norm(x, 0.5, axis=-1, keepdims=k),
}


@pytest.mark.parametrize("name", list(EMPTY_AXES))
@SETTINGS
@given(case=shape_and_axis(min_side=0), seed=SEEDS)
def test_reductions_over_empty_axes(name, case, seed):
    shape, axis, keepdims = case
    x = np.random.default_rng(seed).uniform(0.5, 1.5, shape)  # (away from the kinks at 0)
    check_rule(lambda x: EMPTY_AXES[name](x, axis, keepdims), x, seed=seed)


MASKED = {  # f(x, axis, keepdims, where): NumPy's `where` and `initial`
    "sum where": lambda x, a, k, w: np.sum(x, axis=a, keepdims=k, where=w),
    "sum where initial": lambda x, a, k, w: np.sum(x, axis=a, keepdims=k, where=w, initial=0.5),
    "sum initial": lambda x, a, k, w: x.sum(axis=a, keepdims=k, initial=-1.5),
    "prod where initial": lambda x, a, k, w: np.prod(x, axis=a, keepdims=k, where=w, initial=2),
    "mean where": lambda x, a, k, w: np.mean(x, axis=a, keepdims=k, where=w),
    "max where initial": lambda x, a, k, w: np.max(x, axis=a, keepdims=k, where=w, initial=-9),
    "max initial": lambda x, a, k, w: np.max(x, axis=a, keepdims=k, initial=0.3),
    "min where initial": lambda x, a, k, w: x.min(axis=a, keepdims=k, where=w, initial=0.3),
    "var where": lambda x, a, k, w: np.var(x, axis=a, keepdims=k, where=w),
    "var where ddof method": lambda x, a, k, w: x.var(axis=a, keepdims=k, where=w, ddof=1),
    "nanvar where": lambda x, a, k, w: np.nanvar(x, axis=a, keepdims=k, where=w),
    "nanstd where ddof": lambda x, a, k, w: np.nanstd(x, axis=a, keepdims=k, where=w, ddof=1),
}


@pytest.mark.parametrize("name", list(MASKED))
@SETTINGS
@given(case=shape_and_axis(), seed=SEEDS, broadcast=st.booleans())
def test_reductions_with_where_and_initial(name, case, seed, broadcast):
    shape, axis, keepdims = case
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)  # continuous: no ties
    where = rng.random(shape[-1:] if broadcast else shape) < 0.7  # (a mask may broadcast)
    f = MASKED[name]
    if name.startswith(("mean", "var", "nan")):  # every group needs entries (more than ddof)
        selected = np.sum(np.broadcast_to(where, shape), axis=axis)
        assume(np.all(selected > ("ddof" in name)))
    with np.errstate(all="ignore"):
        expected = f(x, axis, keepdims, where)
    value = cb.vjp(lambda x: f(x, axis, keepdims, where), x)[0]
    np.testing.assert_allclose(value, expected, rtol=1e-13, atol=1e-15)
    assert np.asarray(value).dtype == np.asarray(expected).dtype
    check_rule(lambda x: f(x, axis, keepdims, where), x, seed=seed)
    g = cb.grad(lambda x: np.sum(f(x, axis, keepdims, where)))(x)
    if name.startswith("sum where"):  # exactly the entries `where` selects
        np.testing.assert_array_equal(g, np.broadcast_to(where, shape).astype(float))
    x32 = x.astype(np.float32)
    assert cb.grad(lambda x: np.sum(f(x, axis, keepdims, where)))(x32).dtype == np.float32


@pytest.mark.parametrize(
    "name",
    ["mean where", "var where", "var where ddof method", "std where", "std where ddof",
     "nanvar where", "nanstd where ddof"],
)  # fmt: skip
def test_a_group_where_selects_nothing_has_numpys_value_and_leaves_the_others_alone(name):
    # row 1 selects nothing and row 2 one entry (with ddof=1, n - ddof = 0): NumPy's NaN
    f = {
        **MASKED,
        "std where": lambda x, a, k, w: np.std(x, axis=a, keepdims=k, where=w),
        "std where ddof": lambda x, a, k, w: x.std(axis=a, keepdims=k, where=w, ddof=1),
    }[name]
    x = np.array([[0.5, -1.25, 2.0, 0.75], [1.0, 2.0, 3.0, 4.0], [1.5, -0.5, 0.25, 3.0]])
    where = np.array([[True, False, True, True], [False] * 4, [False, True, False, False]])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = f(x, 1, False, where)
        value, tangent = cb.jvp(lambda t: f(t, 1, False, where), (x,), (np.ones_like(x),))
        jf = cb.jacfwd(lambda t: f(t, 1, False, where))(x)
        jr = cb.jacrev(lambda t: f(t, 1, False, where))(x)
    np.testing.assert_allclose(value, expected, rtol=1e-14)  # (NaN where NumPy has it)
    assert np.isnan(expected[1])
    np.testing.assert_allclose(jf, jr, rtol=1e-14, atol=1e-15)  # both modes, no NaN anywhere
    assert np.all(np.isfinite(jf))
    degenerate = np.isnan(expected)
    assert not np.any(jf[degenerate]) and not np.any(tangent[degenerate])  # a constant there
    # the other rows: the derivative of the row alone, and nothing from the other rows
    for i in np.flatnonzero(~degenerate):
        alone = cb.jacrev(lambda r, i=i: f(r, 0, False, where[i]))(x[i])
        np.testing.assert_allclose(jf[i, i], alone, rtol=1e-14)
        assert not np.any(np.delete(jf[i], i, axis=0))
        cb.check_grads(lambda r, i=i: f(r, 0, False, where[i]), (x[i],), order=2)


@pytest.mark.parametrize("name", ["nanvar", "nanstd"])
@SETTINGS
@given(case=shape_and_axis(), seed=SEEDS, ddof=st.integers(0, 2), dtype=st.booleans())
def test_nanvar_and_nanstd_with_where_are_numpys(name, case, seed, ddof, dtype):
    shape, axis, keepdims = case
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)
    nan, where = rng.random(shape) < 0.2, rng.random(shape) < 0.7
    dtype = np.float32 if dtype else np.float64

    def f(x, mean=np._NoValue):
        return getattr(np, name)(np.where(nan, np.nan, x), axis=axis, keepdims=keepdims,
                                 ddof=ddof, where=where, mean=mean)  # fmt: skip

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (groups with no degrees of freedom)
        expected, value = f(x.astype(dtype)), cb.vjp(f, x.astype(dtype))[0]
        # (NumPy's NaN, or inf without NaNs, where the degrees of freedom run out)
        np.testing.assert_allclose(value, expected, rtol=1e-5 if dtype == np.float32 else 1e-13)
        assert np.result_type(value) == np.result_type(expected)
        jf, jr = cb.jacfwd(f)(x), cb.jacrev(f)(x)
    np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-14)
    assert np.all(np.isfinite(jf))  # (a constant where there are no degrees of freedom)
    selected = np.sum(where & ~nan, axis=axis, keepdims=keepdims)
    if np.all(selected > ddof + (name == "nanstd")):  # (std: away from a variance of 0)
        check_rule(f, x, seed=seed)
        center = np.mean(np.where(nan, 0, x), axis=axis, keepdims=True, where=where & ~nan)
        check_rule(lambda x: f(x, center), x, seed=seed)  # (a mean given)


def test_reductions_with_where_refuse_what_numpy_refuses():
    x = cb.tracing.primal(np.ones((2, 3)))
    with pytest.raises(ValueError, match="initial"):  # max has no identity for masked entries
        cb.grad(lambda x: np.max(x, where=x > 0))(x)
    with pytest.raises(ValueError, match="broadcast"):
        cb.grad(lambda x: np.sum(x, where=np.ones(4, dtype=bool)))(x)
    assert cb.grad(lambda x: np.max(x[:, :0], axis=1, initial=1.0).sum())(x).shape == (2, 3)


@pytest.mark.parametrize(
    "f",
    [
        np.max,
        lambda a: np.min(a, axis=0),
        lambda a: np.ptp(a, axis=(0, 1)),
        np.amin,
        lambda a: np.average(a, axis=1),  # (no results: NumPy's a.size / avg.size is 0 / 0)
    ],
)
def test_reductions_of_no_entries_without_an_identity_refuse_as_numpy(f):
    x = np.zeros((0, 3))
    with pytest.raises((ValueError, ZeroDivisionError)) as refusal:  # (NumPy's, the reference)
        f(x)
    for transform in (cb.grad(lambda a: np.sum(f(a))), lambda a: cb.jvp(f, (a,), (a,))):
        with pytest.raises(type(refusal.value), match=re.escape(str(refusal.value))):
            transform(x)


@pytest.mark.parametrize("cast", [lambda a: np.astype(a, np.float32), lambda a: a.astype("f4")])
def test_casts_between_float_dtypes_are_differentiated_twice_as_the_uncast_function(cast):
    # (in float32 finite differences are too coarse: against the uncast function instead)
    x = np.array([0.7, -1.3, 2.1])
    g = lambda a: np.sum(np.sin(a) * a**2)  # noqa: E731
    f = lambda a: g(cast(a))  # noqa: E731
    back = lambda a: g(cast(a).astype(np.float64))  # noqa: E731
    expected = cb.hessian(g)(x)
    for h in (cb.hessian, lambda k: cb.jacfwd(cb.grad(k)), lambda k: cb.jacrev(cb.grad(k))):
        np.testing.assert_allclose(h(f)(x), expected, rtol=2e-6, atol=2e-6)
        np.testing.assert_allclose(h(back)(x), expected, rtol=2e-6, atol=2e-6)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(cb.hessian(back)(x32), cb.hessian(g)(x32.astype(np.float64)), 2e-6)


def test_logsumexp_and_softmax_are_stable():
    x = np.array([[1000.0, 1000.0, -np.inf], [-1000.0, -1001.0, -1002.0]])
    expected = [1000 + np.log(2), -1000 + np.log(1 + np.exp(-1) + np.exp(-2))]
    np.testing.assert_allclose(cb.logsumexp(x, axis=1), expected)
    g = cb.grad(lambda x: cb.logsumexp(x, axis=1).sum())(x)
    np.testing.assert_allclose(g, cb.softmax(x, axis=1))
    np.testing.assert_allclose(g[0], [0.5, 0.5, 0.0])
    assert np.all(np.isfinite(cb.grad(lambda x: np.sum(cb.log_softmax(x[1])))(x)))


def test_logsumexp_and_log_softmax_at_infinities():
    # rows of -inf, rows with +inf and NaN: the shift by the maximum never makes inf - inf where
    # the formula has a limit; float32 and float64 alike
    inf, nan = np.inf, np.nan
    x = np.array([[-inf, -inf], [inf, 1.0], [-inf, 0.0], [nan, 1.0], [-3e38, 0.0]])
    with np.errstate(all="ignore"):
        for dtype in (np.float64, np.float32):
            lse = cb.logsumexp(x.astype(dtype), axis=1)
            assert lse.dtype == dtype
            np.testing.assert_array_equal(lse, np.array([-inf, inf, 0.0, nan, 0.0], dtype))
            lsm = cb.log_softmax(x.astype(dtype), axis=1)
            np.testing.assert_array_equal(lsm[2], [-inf, 0.0])
            np.testing.assert_array_equal(lsm[1], [nan, -inf])
            assert np.isnan(lsm[0]).all() and np.isnan(lsm[3]).all()
            np.testing.assert_array_equal(cb.softmax(x[2:3].astype(dtype), axis=1), [[0.0, 1.0]])
    np.testing.assert_array_equal(cb.log_softmax(np.zeros((0, 3)), axis=1), np.zeros((0, 3)))


# --- shapes -------------------------------------------------------------------------------------
@SETTINGS
@given(shape=SHAPES, seed=SEEDS, data=st.data())
def test_reshape_transpose_and_friends(shape, seed, data):
    x = np.random.default_rng(seed).standard_normal(shape)
    nd = len(shape)
    perm = data.draw(st.permutations(range(nd)))
    check_rule(lambda x: np.reshape(x, (-1,)) * 1.0, x, second=False)
    check_rule(lambda x: x.reshape(tuple(reversed(shape))), x, second=False)
    check_rule(lambda x: np.transpose(x, perm), x, second=False)
    check_rule(lambda x: x.T, x, second=False)
    check_rule(lambda x: x.transpose() * x.T, x)
    check_rule(lambda x: np.expand_dims(x, 0), x, second=False)
    check_rule(lambda x: np.ravel(x), x, second=False)
    check_rule(lambda x: x.flatten() + x.ravel(), x, second=False)
    check_rule(lambda x: np.broadcast_to(x, (2, *shape)), x, second=False)
    if nd:
        a, b = data.draw(st.integers(0, nd - 1)), data.draw(st.integers(-nd, nd - 1))
        check_rule(lambda x: np.swapaxes(x, a, b), x, second=False)
        check_rule(lambda x: np.moveaxis(x, a, b), x, second=False)
        check_rule(lambda x: x.swapaxes(a, b), x, second=False)
        check_rule(lambda x: np.flip(x, axis=a), x, second=False)
        check_rule(lambda x: np.expand_dims(x, (-1, a)), x, second=False)


@SETTINGS
@given(shape=SHAPES, seed=SEEDS)
def test_squeeze(shape, seed):
    padded = (1, *shape, 1)
    x = np.random.default_rng(seed).standard_normal(padded)
    check_rule(np.squeeze, x, second=False)
    check_rule(lambda x: np.squeeze(x, axis=0), x, second=False)
    check_rule(lambda x: x.squeeze(axis=(0, -1)), x, second=False)


@SETTINGS
@given(shape=NONEMPTY, seed=SEEDS, data=st.data())
def test_concatenate_and_stack(shape, seed, data):
    rng = np.random.default_rng(seed)
    if not shape:
        shape = (2,)
    nd = len(shape)
    axis = data.draw(st.integers(-nd, nd - 1))
    other = list(shape)
    other[axis] = data.draw(st.integers(0, 3))
    x, y = rng.standard_normal(shape), rng.standard_normal(other)
    check_rule(lambda x, y: np.concatenate([x, y, x], axis=axis), x, y, second=False)
    check_rule(lambda x: np.concatenate([x, np.ones(shape)], axis=None), x, second=False)
    axis_new = data.draw(st.integers(-nd - 1, nd))
    check_rule(lambda x: np.stack([x, 2 * x, np.zeros(shape)], axis=axis_new), x, second=False)


# --- indexing -----------------------------------------------------------------------------------
@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), seed=SEEDS, data=st.data())
def test_basic_indexing(shape, seed, data):
    x = np.random.default_rng(seed).standard_normal(shape)
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    check_rule(lambda x: x[index] * x[index], x)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), seed=SEEDS, data=st.data())
def test_integer_array_indexing_accumulates_repeats(shape, seed, data):
    x = np.random.default_rng(seed).standard_normal(shape)
    index = data.draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(max_dims=2)))
    check_rule(lambda x: x[index] ** 2, x)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4), seed=SEEDS)
def test_boolean_mask_indexing(shape, seed):
    rng = np.random.default_rng(seed)
    x, mask = rng.standard_normal(shape), rng.random(shape) < 0.5
    check_rule(lambda x: x[mask] * 3.0, x)
    row_mask = rng.random(shape[0]) < 0.5
    check_rule(lambda x: np.sin(x[row_mask]), x)


def test_repeated_indices_accumulate_and_mixed_indexing():
    x = np.arange(5.0)
    np.testing.assert_array_equal(cb.grad(lambda x: np.sum(x[[0, 0, 3, 0]]))(x), [3, 0, 0, 1, 0])
    a = np.random.default_rng(1).standard_normal((3, 4, 5))
    check_rule(lambda a: a[[0, 2, 0], :, [1, 1, 4]], a)  # advanced axes split by a slice
    check_rule(lambda a: a[1:, [0, 0, 3]], a)
    check_rule(lambda a: a[..., [4, 0], None], a)
    check_rule(lambda a: a[np.array([True, False, True]), 1:3], a)
    check_rule(lambda a: a[2, 3, 4] * a[-1], a)
    check_rule(lambda a: sum(row for row in a), a)  # iteration


# --- products -----------------------------------------------------------------------------------
@st.composite
def matmul_shapes(draw):
    n, k, m = (draw(st.integers(0, 3)) for _ in range(3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    left = draw(st.sampled_from(["vector", "matrix", "stack"]))
    right = draw(st.sampled_from(["vector", "matrix", "stack"]))
    a = {"vector": (k,), "matrix": (n, k), "stack": (*batch.input_shapes[0], n, k)}[left]
    b = {"vector": (k,), "matrix": (k, m), "stack": (*batch.input_shapes[1], k, m)}[right]
    return a, b


@SETTINGS
@given(shapes=matmul_shapes(), seed=SEEDS)
def test_matmul(shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    check_rule(lambda a, b: a @ b, a, b, seed=seed)
    check_rule(lambda a, b: np.matmul(a, b), a, b, seed=seed, second=False)
    if a.ndim <= 2 and b.ndim <= 2:
        check_rule(np.dot, a, b, seed=seed, second=False)
        # ndarray.dot(tracer) cannot be intercepted, so only with `a` traced (batched=False)
        check_rule(lambda a, b: a.dot(b), a, b, seed=seed, second=False, batched=False)


def test_matmul_with_constants_on_either_side():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    check_rule(lambda b: a @ b, b)
    check_rule(lambda a: a @ b, a)
    check_rule(lambda a: np.outer(a, b[:, 0]), a[0])
    check_rule(lambda a, c: np.outer(a, c), a[0], b[:, 1])
    check_rule(lambda a: np.dot(a, 2.0) + np.dot(3.0, a), a)


EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("i,i->", [(3,), (3,)]),
    ("i,j->ij", [(2,), (3,)]),
    ("ij,ij->i", [(2, 3), (2, 3)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 2), (4, 2, 3)]),
    ("ij,k->i", [(2, 3), (4,)]),
    ("ij,j->ij", [(2, 3), (1,)]),
    ("ij->ji", [(2, 3)]),
    ("ijk->", [(2, 3, 2)]),
    ("ij->j", [(2, 3)]),
    ("ba,ac->cb", [(2, 3), (3, 0)]),
]


@pytest.mark.parametrize("spec, shapes", EINSUM, ids=[e[0] for e in EINSUM])
def test_einsum(spec, shapes):
    rng = np.random.default_rng(0)
    operands = [rng.standard_normal(s) for s in shapes]
    check_rule(lambda *ops: np.einsum(spec, *ops), *operands)
    if len(operands) == 2:  # one operand constant
        check_rule(lambda a: np.einsum(spec, a, operands[1]), operands[0], second=False)


EINSUM_SUBLISTS = {  # NumPy's other form: operand, sublist, operand, sublist[, output sublist]
    "matrix product": ([(2, 3), [0, 1], (3, 4), [1, 2], [0, 2]], "ij,jk->ik"),
    "implicit output, integers past 25": ([(2, 3), [1, 0], (3, 4), [0, 30]], "ba,ae"),
    "trace": ([(3, 3), [5, 5]], "ii"),
    "ellipsis": ([(2, 3, 4), [Ellipsis, 1], (4,), [1], [Ellipsis]], "...i,i->..."),
    "three operands": ([(2, 3), [0, 1], (3, 4), [1, 2], (4,), [2], [0]], "ij,jk,k->i"),
}


@pytest.mark.parametrize("items, spelled", EINSUM_SUBLISTS.values(), ids=EINSUM_SUBLISTS)
def test_einsum_sublist_form(items, spelled):
    rng = np.random.default_rng(0)
    places = list(range(0, len(items) - len(items) % 2, 2))  # where the operands are
    operands = [rng.standard_normal(items[i]) for i in places]

    def f(*ops):
        args = list(items)
        for i, op in zip(places, ops, strict=True):
            args[i] = op
        return np.einsum(*args)

    check_rule(f, *operands)
    # the same values and derivatives as the subscripts string that spells it
    np.testing.assert_array_equal(f(*operands), np.einsum(spelled, *operands))
    same = tuple(range(len(operands)))
    for got, want in zip(
        cb.jacrev(f, argnums=same)(*operands),
        cb.jacrev(lambda *ops: np.einsum(spelled, *ops), argnums=same)(*operands),
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)


def test_einsum_sublist_out_of_range():
    with pytest.raises(ValueError, match=r"subscript is not within the valid range \[0, 52\)"):
        np.einsum(np.ones((2, 3)), [0, 60])  # (NumPy's refusal, the reference)
    with pytest.raises(ValueError, match=r"subscript is not within the valid range \[0, 52\)"):
        cb.grad(lambda a: np.sum(np.einsum(a, [0, 60])))(np.ones((2, 3)))


# --- functions composed from the table above, or with rules of their own -----------------------
_rng = np.random.default_rng(0)
A = _rng.standard_normal((3, 3)) + 3 * np.eye(3)
As = _rng.standard_normal((2, 3, 3)) + 3 * np.eye(3)
x3 = _rng.standard_normal(3)
x23 = _rng.standard_normal((2, 3))
x234 = _rng.standard_normal((2, 3, 4))
_SPD3 = x234[0] @ x234[0].T + 3 * np.eye(3)  # symmetric, positive definite
_UPPER = np.triu(np.full((3, 3), 0.3), 1)  # (an upper triangle NumPy's eigh does not read)
_COORDS = np.array([0.1, 0.4, 1.2, 1.5])  # (increasing, unevenly spaced)
x21, x13, e03 = x23[:, :1], x23[:1], np.zeros((0, 3))  # size-1 and empty axes
S11, E033 = np.full((1, 1, 1), 2.3), np.zeros((0, 3, 3))  # a 1 x 1 matrix, no 3 x 3 matrices
MORE = {  # function, arguments
    "arctan2": (np.arctan2, [x23, _rng.standard_normal(3) + 2]),
    "hypot": (np.hypot, [x23, x3 + 2]),
    "logaddexp": (np.logaddexp, [x23, x3]),
    "logaddexp2": (np.logaddexp2, [x23, x3]),
    "fmax": (np.fmax, [x23, x3 + 0.1]),
    "deg2rad": (np.deg2rad, [x23]),
    "degrees": (np.degrees, [x23]),
    "cumsum0": (lambda a: np.cumsum(a, axis=0), [x234]),
    "cumsum-1": (lambda a: np.cumsum(a, axis=-1), [x234]),
    "cumsumNone": (lambda a: np.cumsum(a), [x23]),
    "sort": (lambda a: np.sort(a, axis=1), [x234]),
    "sortNone": (lambda a: np.sort(a, axis=None), [x23]),
    "take": (lambda a: np.take(a, [2, 0, 2], axis=1), [x234]),
    "takeNone": (lambda a: np.take(a, [[5, 0], [1, 1]]), [x23]),
    "flat": (lambda a: a.flat[[[5, 0], [1, 1]]], [x23]),
    "flat_slice": (lambda a: a.flat[-2::-3], [x234]),
    "compress_method": (lambda a: a.compress([False, True, True], axis=1), [x234]),
    "take_along": (
        lambda a: np.take_along_axis(a, np.argsort(x234, axis=2)[..., :2], axis=2),
        [x234],
    ),
    "diagonal": (lambda a: np.diagonal(a, 1, 1, 2), [x234]),
    "diagonal-": (lambda a: np.diagonal(a, -1), [_rng.standard_normal((4, 3))]),
    "trace": (lambda a: np.trace(a), [_rng.standard_normal((3, 4))]),
    "trace3": (lambda a: np.trace(a, 1, 0, 2), [x234]),
    "diag1": (lambda v: np.diag(v, 1), [x3]),
    "diag-2": (lambda v: np.diag(v, -2), [x3]),
    "diag2": (lambda m: np.diag(m), [_rng.standard_normal((3, 4))]),
    "tril": (lambda m: np.tril(m, -1), [x234]),
    "triu": (lambda m: np.triu(m, 1), [_rng.standard_normal((3, 4))]),
    "norm": (lambda a: np.linalg.norm(a), [x234]),
    "norm_axis": (lambda a: np.linalg.norm(a, axis=1, keepdims=True), [x234]),
    "norm1": (lambda a: np.linalg.norm(a, 1), [x3 + 0.05]),
    "norm_inf": (lambda a: np.linalg.norm(a, np.inf), [x3]),
    "norm3": (lambda a: np.linalg.norm(a, 3, axis=0), [x23]),
    "norm_fro": (lambda a: np.linalg.norm(a, "fro"), [x23]),
    "norm_mat1": (lambda a: np.linalg.norm(a, 1), [x23]),
    "norm_matinf": (lambda a: np.linalg.norm(a, -np.inf, axis=(2, 1)), [x234]),
    "tensordot2": (lambda a, b: np.tensordot(a, b), [x234, _rng.standard_normal((3, 4, 2))]),
    "tensordot_ax": (
        lambda a, b: np.tensordot(a, b, axes=([0, 2], [2, 0])),
        [x234, _rng.standard_normal((4, 5, 2))],
    ),
    "tensordot0": (lambda a, b: np.tensordot(a, b, 0), [x3, x23]),
    "inner": (lambda a, b: np.inner(a, b), [x234, _rng.standard_normal((5, 4))]),
    "vdot": (lambda a, b: np.vdot(a, b), [x23, x23[::-1]]),
    "diff": (lambda a: np.diff(a, 2, axis=2), [x234]),
    "repeat": (lambda a: np.repeat(a, [1, 0, 2], axis=1), [x234]),
    "repeatNone": (lambda a: np.repeat(a, 2), [x23]),
    "tile": (lambda a: np.tile(a, (2, 1, 2)), [x23]),
    "roll": (lambda a: np.roll(a, (1, -2), axis=(0, 2)), [x234]),
    "rollNone": (lambda a: np.roll(a, 4), [x23]),
    "atleast": (lambda a: np.atleast_3d(a) * 1.0, [x3]),
    "hstack": (lambda a, b: np.hstack([a, b]), [x3, x3]),
    "vstack": (lambda a, b: np.vstack([a, b]), [x3, x23]),
    "column_stack": (lambda a, b: np.column_stack([a, b]), [x3, x23.T]),
    "dstack": (lambda a, b: np.dstack([a, b]), [x23, x23]),
    "append": (lambda a, b: np.append(a, b), [x23, x3]),
    "average": (lambda a, w: np.average(a, axis=1, weights=w), [x234, np.abs(x3) + 0.5]),
    "average_full": (lambda a, w: np.average(a, weights=w), [x23, np.abs(x23) + 0.5]),
    "split": (lambda a: np.split(a, 2, axis=2)[1] * 1.0, [x234]),
    "array_split": (lambda a: np.stack(np.array_split(a, 2, axis=1)[0:1]), [x234]),
    "pad": (lambda a: np.pad(a, ((1, 0), (2, 1))), [x23]),
    "pad_c": (lambda a: np.pad(a, 1, constant_values=2.5), [x23]),
    "concat": (lambda a, b: np.concat([a, b], axis=1), [x23, x23]),
    "permute_dims": (lambda a: np.permute_dims(a, (2, 0, 1)), [x234]),
    "inv": (lambda a: np.linalg.inv(a), [A]),
    "inv_b": (lambda a: np.linalg.inv(a), [As]),
    "det": (lambda a: np.linalg.det(a), [A]),
    "det_b": (lambda a: np.linalg.det(a), [As]),
    "slogdet": (lambda a: np.linalg.slogdet(a)[1], [As]),
    "slogdet_name": (lambda a: np.linalg.slogdet(a).logabsdet, [A]),
    "solve_v": (lambda a, b: np.linalg.solve(a, b), [A, x3]),
    "solve_m": (lambda a, b: np.linalg.solve(a, b), [A, x23.T]),
    "solve_bv": (lambda a, b: np.linalg.solve(a, b), [As, x3]),
    "solve_bm": (lambda a, b: np.linalg.solve(a, b), [As, _rng.standard_normal((3, 2))]),
    "full_like": (lambda a, v: np.full_like(a * v[0], v[1]) * a, [x23, x3]),
    "full_like_b": (lambda a, v: np.full_like(a + v, v, shape=(4, 3)), [x23, x3]),
    "heaviside": (lambda a, h: np.heaviside(np.round(a), h), [x23 / 4, x3]),
    "take_clip": (lambda a: np.take(a, [-2, 0, 7], axis=1, mode="clip"), [x234]),
    "take_wrap": (lambda a: np.take(a, [-7, 3, 5], mode="wrap"), [x23]),
    "softmax": (lambda a: cb.softmax(a, axis=(0, 2)), [x234]),
    "tril_1d": (lambda a: np.tril(a, -1), [x3]),
    "triu_1d": (lambda a: np.triu(a), [x3]),
    "concatenate_many": (lambda a: np.concatenate([a[i : i + 1] for i in range(3)] * 2), [x3]),
    "reshape_F": (lambda a: np.reshape(a, (4, 6), order="F"), [x234]),
    "reshape_A": (lambda a: np.reshape(a.T, (6, 4), order="A"), [x234]),
    "ravel_F": (lambda a: np.ravel(a, order="F") * a.ravel("F"), [x234]),
    "ravel_K": (lambda a: np.ravel(np.swapaxes(a, 0, 2), order="K"), [x234]),
    "diff_prepend": (lambda a: np.diff(a, axis=1, prepend=0.5), [x234]),
    "diff_both": (lambda a, b: np.diff(a, 2, axis=0, prepend=b[None], append=1.0), [x23, x3]),
    "dot_3d": (lambda a, b: np.dot(a, b), [x23, _rng.standard_normal((2, 3, 4))]),
    "dot_1d_3d": (lambda a, b: np.dot(a, b), [x3, _rng.standard_normal((2, 3, 4))]),
    # remainders, copysign, arccosh, sinc
    "remainder": (np.remainder, [3 * x23, np.abs(x3) + 0.5]),
    "mod_operator": (lambda x, y: x % y + 7.5 % (y + 3), [3 * x23, np.abs(x3) + 0.5]),
    "fmod": (np.fmod, [3 * x23, -np.abs(x3) - 0.5]),
    "divmod": (lambda x: divmod(x, 0.7)[1] * divmod(x, 0.7)[0], [3 * x23]),
    "copysign": (np.copysign, [x23, x3]),
    "arccosh": (np.arccosh, [np.abs(x23) + 1.2]),
    "sinc": (np.sinc, [2 * x23]),
    "sinc_near_0": (np.sinc, [1e-3 * x23]),
    # cumulative products, NaN-skipping reductions, order statistics
    "cumprod": (lambda a: np.cumprod(a, axis=1), [x234]),
    "cumprodNone": (np.cumprod, [x23]),
    "cumprod_zeros": (lambda a: np.cumprod(a * np.array([1.0, 0.0, 1.0]), axis=-1), [x23]),
    "cumprod_method": (lambda a: a.cumprod(axis=0), [x23]),
    "nansum": (lambda a: np.nansum(np.where(np.abs(a) > 1.2, np.nan, a), axis=1), [x234]),
    "nanmean": (lambda a: np.nanmean(np.where(np.abs(a) > 1.2, np.nan, a), axis=(0, 2)), [x234]),
    "nanprod": (lambda a: np.nanprod(np.where(a > 1.2, np.nan, a), 0, keepdims=True), [x234]),
    "nanmax": (lambda a: np.nanmax(np.where(a > 1.2, np.nan, a), axis=-1), [x234]),
    "nanmin": (lambda a: np.nanmin(np.where(a > 1.2, np.nan, a)), [x234]),
    "median": (lambda a: np.median(a, axis=1), [x234]),
    "medianNone": (np.median, [x234]),
    "median_keepdims": (lambda a: np.median(a, axis=(0, 2), keepdims=True), [x234]),
    "quantile": (lambda a: np.quantile(a, [0.1, 0.5, 0.93], axis=-1), [x234]),
    "quantile_traced_q": (lambda a, q: np.quantile(a, q), [x234, np.array([0.3, 0.77])]),
    "percentile": (lambda a: np.percentile(a, 30, axis=0), [x234]),
    "quantile_hazen_traced_q": (
        lambda a, q: np.quantile(a, q, axis=(0, 2), method="hazen"),
        [x234, np.array([0.3, 0.77])],
    ),
    "percentile_midpoint": (lambda a: np.percentile(a, [10, 55], 1, method="midpoint"), [x234]),
    "percentile_weighted": (
        lambda a: np.percentile(a, 45, axis=-1, method="inverted_cdf", weights=[1, 3, 0.5, 2]),
        [x234],
    ),
    "ptp": (lambda a: np.ptp(a, axis=1), [x234]),
    # flips, rotations, kron, cross, meshgrid
    "flipud": (np.flipud, [x23]),
    "fliplr": (np.fliplr, [x234]),
    "rot90": (np.rot90, [x234]),
    "rot90_k3": (lambda m: np.rot90(m, 3, axes=(2, 0)), [x234]),
    "rot90_k-2": (lambda m: np.rot90(m, -2), [x23]),
    "kron": (np.kron, [x23, x3]),
    "kron_2d": (np.kron, [x23, x23.T]),
    "cross": (np.cross, [x23, x3]),
    "cross_axis": (lambda a, b: np.cross(a, b, axis=0), [x23.T, x23.T[:, ::-1]]),
    "meshgrid": (lambda a, b: np.stack(np.meshgrid(a, b)) * 1.0, [x3, x23[0, :2]]),
    "meshgrid_ij": (
        lambda a, b, c: (
            np.meshgrid(a, b, c, indexing="ij")[2]
            * np.meshgrid(a, b, c, indexing="ij", sparse=True)[0]
        ),
        [x3, x23[0, :2], x234[0, 0]],
    ),
    # integrals, polynomials, convolutions, interpolation
    "trapezoid": (lambda y: np.trapezoid(y, axis=1), [x234]),
    "trapezoid_x": (np.trapezoid, [x234, np.cumsum(np.abs(x234[0, 0]))]),
    "trapezoid_x_nd": (lambda y, x: np.trapezoid(y, x, axis=0), [x23, x23**2]),
    "trapezoid_dx": (lambda y, d: np.trapezoid(y, dx=d[0]), [x23, x3]),
    "polyval": (np.polyval, [x3, x23]),
    "convolve": (np.convolve, [x234[0, 0], x3]),
    "convolve_same": (lambda a, v: np.convolve(a, v, "same"), [x234[0, 0], x3]),
    "convolve_same_long_v": (lambda a, v: np.convolve(a, v, "same"), [x3, x234[0, 0]]),
    "convolve_valid": (lambda a, v: np.convolve(a, v, "valid"), [x3, x234[0, 0]]),
    "correlate": (np.correlate, [x234[0, 0], x3]),
    "correlate_full": (lambda a, v: np.correlate(a, v, "full"), [x3, x234[0, 0]]),
    "interp": (np.interp, [np.array([-1.0, 0.3, 1.7, 2.5, 5.0]), np.cumsum(x3**2), x3]),
    "interp_period": (  # (x, xp and fp all traced: modulo the period, the ends added)
        lambda x, xp, fp: np.interp(x, xp, fp, period=3.0),
        [np.array([-1.3, 0.2, 1.7, 2.9, 7.4]), np.array([2.5, 0.5, 1.0, 2.0]), x234[0, 0]],
    ),
    "interp_ends": (
        lambda x, fp: np.interp(x, [0.0, 1.0, 2.0, 4.0], fp, left=-3.0, right=fp[0]),
        [np.array([-1.0, 0.3, 1.7, 2.5, 5.0]), x234[0, 0]],
    ),
    # matrix powers, Cholesky (of a symmetric positive definite matrix; NumPy reads one triangle)
    "matrix_power": (lambda a: np.linalg.matrix_power(a, 5), [A]),
    "matrix_power-2": (lambda a: np.linalg.matrix_power(a, -2), [As]),
    "cholesky": (np.linalg.cholesky, [A @ A.T]),
    "cholesky_b": (np.linalg.cholesky, [As @ np.swapaxes(As, 1, 2)]),
    "cholesky_upper": (lambda a: np.linalg.cholesky(a, upper=True), [A @ A.T]),
    # symmetric eigendecomposition (NumPy reads one triangle), SVD, norms by singular values
    "eigh_values": (lambda a: np.linalg.eigh(a)[0], [A]),
    "eigh_vectors": (lambda a: np.linalg.eigh(a).eigenvectors, [As]),
    "eigh_upper": (
        lambda a: np.linalg.eigh(a, UPLO="U")[1] * np.linalg.eigh(a, "U")[0][..., None, :],
        [As],
    ),
    "eigvalsh": (np.linalg.eigvalsh, [As]),
    "eigvalsh_upper": (lambda a: np.linalg.eigvalsh(a, "U"), [A]),
    "svd_square": (
        lambda a: np.stack(np.linalg.svd(a)[::2]) * np.linalg.svd(a)[1][..., None],
        [As],
    ),
    "svd_tall": (lambda a: np.linalg.svd(a, full_matrices=False)[0], [x234[0].T]),
    "svd_wide": (lambda a: np.linalg.svd(a, full_matrices=False).Vh, [x234]),
    "svd_values": (lambda a: np.linalg.svd(a, compute_uv=False), [x234]),
    "svdvals": (np.linalg.svdvals, [x23]),
    "norm2": (lambda a: np.linalg.norm(a, 2), [x23]),
    "norm-2": (lambda a: np.linalg.norm(a, -2, axis=(2, 1)), [x234]),
    "norm_nuc": (lambda a: np.linalg.norm(a, "nuc", axis=(2, 0), keepdims=True), [x234]),
    "matrix_norm": (lambda a: np.linalg.matrix_norm(a, ord=2), [x234]),
    "vector_norm": (
        lambda a: np.linalg.vector_norm(a, ord=3, axis=1) + np.linalg.vector_norm(a),
        [x23],
    ),
    # pseudo-inverse, least squares, condition numbers, products of NumPy 2 and the array API
    "pinv_tall": (np.linalg.pinv, [x234[0].T]),
    "pinv_wide": (np.linalg.pinv, [x23]),
    "pinv_batch": (np.linalg.pinv, [_rng.standard_normal((2, 4, 3))]),
    "lstsq_x": (lambda a, b: np.linalg.lstsq(a, b)[0], [x234[0].T, _rng.standard_normal(4)]),
    "lstsq_res": (lambda a, b: np.linalg.lstsq(a, b)[1], [x234[0].T, x234[1].T[:, :2]]),
    "lstsq_s": (lambda a, b: np.linalg.lstsq(a, b)[3], [x234[0].T, _rng.standard_normal(4)]),
    "lstsq_wide": (lambda a, b: np.linalg.lstsq(a, b)[0], [x23, _rng.standard_normal(2)]),
    "cond": (np.linalg.cond, [A]),
    "cond_fro": (lambda a: np.linalg.cond(a, "fro"), [As]),
    "cond-2": (lambda a: np.linalg.cond(a, -2), [x234[0].T]),
    "multi_dot": (lambda a, b, c: np.linalg.multi_dot([a, b, c]), [x3, A, x23.T]),
    "vecdot": (np.vecdot, [x23, x3]),
    "vecdot_axis": (lambda a, b: np.vecdot(a, b, axis=0), [x23, x23[::-1]]),
    "matvec": (np.matvec, [np.swapaxes(x234, 1, 2), x3]),
    "vecmat": (np.vecmat, [x3, x234]),
    "linalg.vecdot": (np.linalg.vecdot, [x23, x3]),
    # generalised ufuncs with their core axes placed by axes=
    "matmul_axes": (
        lambda a, b: np.matmul(a, b, axes=[(0, 2), (0, 1), (0, 1)]),
        [x234, x234[0].T],
    ),
    "matmul_axes_T": (
        lambda a, b: np.matmul(a, b, axes=[(-1, -2), (-2, -1), (0, 2)]),
        [np.swapaxes(x234, 1, 2), np.swapaxes(x234, 1, 2)[::-1]],
    ),
    "matmul_axes_vector": (lambda a, b: np.matmul(a, b, axes=[(1, 0), (0,), (0,)]), [x23, x3[:2]]),
    "vecdot_axes": (lambda a, b: np.vecdot(a, b, axes=[(0,), (1,)]), [x23, x23.T]),
    "matvec_axes": (lambda a, b: np.matvec(a, b, axes=[(0, 1), (0,), (0,)]), [x234.T, x23.T]),
    "vecmat_axes": (lambda a, b: np.vecmat(a, b, axes=[(0,), (1, 0), (0,)]), [x23, x23.T]),
    "linalg.matmul": (np.linalg.matmul, [x23, A]),
    "linalg.outer": (np.linalg.outer, [x3, x23[0]]),
    "linalg.cross": (np.linalg.cross, [x23, x3]),
    "linalg.diagonal": (lambda a: np.linalg.diagonal(a, offset=1), [x234]),
    "linalg.trace": (np.linalg.trace, [x234]),
    "linalg.tensordot": (lambda a, b: np.linalg.tensordot(a, b, axes=1), [x23, x234[0]]),
    "linalg.matrix_transpose": (np.linalg.matrix_transpose, [x234]),
    # bincount, linspace, nan_to_num, select, delete, and constants of traced arrays
    "bincount": (lambda w: np.bincount([0, 2, 2, 5], weights=w, minlength=7), [x234[0, 0]]),
    "linspace": (lambda a, b: np.linspace(a, b, 5), [x3, x3 + 2]),
    "linspace_open": (lambda a: np.linspace(0.0, a[0], 4, endpoint=False), [x3]),
    "linspace_axis": (lambda a, b: np.linspace(a, b, 3, axis=-1, retstep=True)[0], [x23, x3]),
    "nan_to_num": (
        lambda a: np.nan_to_num(
            np.where(a > 1, np.nan, np.where(a < -1, -np.inf, np.where(a > 0.8, np.inf, a))),
            nan=2.0,
            posinf=5.0,
            neginf=-5.0,
        ),
        [x234],
    ),
    "select": (lambda a, b: np.select([a > 0.5, b < 0], [a, 2 * b], default=a**2), [x23, x3]),
    "delete": (lambda a: np.delete(a, [0, 2], axis=1), [x234]),
    "deleteNone": (lambda a: np.delete(a, slice(1, 4)), [x23]),
    "delete_mask": (lambda a: np.delete(a, np.array([True, False, False]), axis=0), [x23.T]),
    "searchsorted_digitize_isin": (
        lambda a: (
            a * np.searchsorted(np.sort(a), 0.1)
            + a * np.digitize(a, [-1, 0, 1])
            + a * np.isin(a, a[:1])
            + np.linalg.matrix_rank(np.outer(a, a))
        ),
        [x3],
    ),
    # the third batch: finite differences on a grid, more joins, selections and NaN statistics
    "gradient": (lambda f: np.stack(np.gradient(f)), [x234]),
    "gradient_h_axis": (lambda f: np.gradient(f, 0.5, axis=1), [x234]),
    "gradient_coords": (lambda f, x: np.gradient(f, x, axis=-1), [x234, _COORDS]),
    "gradient_coords_2": (lambda f, x: np.gradient(f, x, axis=-1, edge_order=2), [x234, _COORDS]),
    "gradient_axes_unsorted": (
        lambda f, x: np.stack(np.gradient(f, 0.5, x, axis=(2, 0))),
        [x234, np.array([0.0, 0.4])],
    ),
    "gradient_2_axes": (
        lambda f: np.stack(np.gradient(f, 2.0, 0.5, axis=(0, 2), edge_order=2)),
        [x234.transpose(1, 0, 2)],
    ),
    "ediff1d": (lambda a: np.ediff1d(a, to_end=[1.0, 2.0], to_begin=-1.0), [x23]),
    "ediff1d_plain": (np.ediff1d, [x234]),
    "diagflat": (lambda v: np.diagflat(v, 1), [x23]),
    "broadcast_arrays": (lambda a, b: np.stack(np.broadcast_arrays(a, b)) * 1.0, [x23, x3]),
    "rollaxis": (lambda a: np.rollaxis(a, 2) * 1.0, [x234]),
    "rollaxis_start": (lambda a: np.rollaxis(a, 0, 3) * 1.0, [x234]),
    "real_imag": (lambda a: np.real(a) * 2.0 + np.imag(a), [x23]),
    "nanvar": (lambda a: np.nanvar(np.where(a > 1.2, np.nan, a), axis=2, ddof=1), [x234]),
    "nanstd": (
        lambda a: np.nanstd(np.where(a > 1.2, np.nan, a), axis=(0, 2), keepdims=True),
        [x234],
    ),
    "nancumsum": (lambda a: np.nancumsum(np.where(a > 1.2, np.nan, a), axis=1), [x234]),
    "nancumprod": (lambda a: np.nancumprod(np.where(a > 1.2, np.nan, a)), [x234]),
    "compress": (lambda a: np.compress([True, False, True], a, axis=1), [x234]),
    "compressNone": (lambda a: np.compress([False, True, True, False, True], a), [x234]),
    "extract": (lambda a: np.extract(x234 > 0, a), [x234]),
    "partition": (lambda a: np.partition(a, 1, axis=1), [x234]),
    "partition_kths": (lambda a: np.partition(a, [0, 2]), [x234]),
    "partitionNone": (lambda a: np.partition(a, 5, axis=None), [x234]),
    "block": (lambda a, b: np.block([[a, b[:2, None]], [np.ones((1, 3)), b[2:, None]]]), [x23, x3]),
    "block_1d": (lambda a, b: np.block([a, b]), [x3, x3[:2]]),
    "block_3d": (lambda a: np.block([[[a]], [[a]]]), [x23]),
    "vander": (np.vander, [x3]),
    "vander_increasing": (lambda x: np.vander(x, 5, increasing=True), [x3]),
    "polyfit": (lambda x, y: np.polyfit(x, y, 2), [_COORDS + [0.0, 0.1, 0.0, 0.3], x234[0, 0]]),
    "polyfit_weights_2d": (
        lambda x, y, w: np.polyfit(x, y, 1, w=w),
        [np.linspace(0.0, 2.0, 4), x234[0].T, np.abs(x234[1, 0]) + 1.0],
    ),
    # the coefficients' covariance: scaled by the residuals, unscaled, of several right sides
    "polyfit_cov": (
        lambda x, y: np.polyfit(x, y, 2, cov=True)[1],
        [_COORDS + [0.0, 0.1, 0.0, 0.3], x234[0, 0]],
    ),
    "polyfit_cov_unscaled": (
        lambda x, w: np.polyfit(x, x234[0, 0], 1, w=w, cov="unscaled")[1],
        [_COORDS + [0.0, 0.1, 0.0, 0.3], np.abs(x234[1, 0]) + 1.0],
    ),
    "polyfit_cov_2d": (
        lambda x, y, w: np.polyfit(x, y, 1, w=w, cov=True)[1],
        [np.linspace(0.0, 2.0, 4), x234[0].T, np.abs(x234[1, 0]) + 1.0],
    ),
    "choose": (
        lambda a, b, c: np.choose(np.array([[0, 1, 2], [2, 0, 1]]), [a, b, c]),
        [x23, x3, x23[::-1]],
    ),
    "choose_wrap": (lambda a, b: np.choose(np.array([0, 3, -1]), [a, b], mode="wrap"), [x3, x3]),
    "piecewise": (
        lambda x: np.piecewise(x, [x23 < 0, x23 > 0.5], [lambda v: v**2, np.sin, 0.25]),
        [x23],
    ),
    "piecewise_otherwise": (lambda x: np.piecewise(x, [x23 > 0], [np.exp, lambda v: 3 * v]), [x23]),
    "piecewise_rows": (
        lambda x: np.piecewise(x, [np.array([True, False])], [lambda v: v * v[:, :1], -1.0]),
        [x23],
    ),
    "nanmedian": (lambda a: np.nanmedian(np.where(a > 0.9, np.nan, a), axis=-1), [x234]),
    "nanmedianNone": (lambda a: np.nanmedian(np.where(a > 0.9, np.nan, a)), [x234]),
    "nanquantile": (
        lambda a: np.nanquantile(np.where(a > 0.9, np.nan, a), [0.2, 1.0], axis=1, keepdims=True),
        [x234],
    ),
    "nanquantile_traced_q": (
        lambda a, q: np.nanquantile(np.where(a > 0.9, np.nan, a), q, axis=(0, 2)),
        [x234, np.array([0.35, 0.81])],  # (no position q (count - 1) a whole number: a kink)
    ),
    "nanquantile_weibull_traced_q": (
        lambda a, q: np.nanquantile(np.where(a > 0.9, np.nan, a), q, axis=-1, method="weibull"),
        [x234, np.array([0.35, 0.63])],
    ),
    "nanpercentile_nearest": (
        lambda a: np.nanpercentile(np.where(a < -0.5, np.nan, a), [15, 70], 0, method="nearest"),
        [x234],
    ),
    "nanpercentile": (
        lambda a: np.nanpercentile(np.where(a < -0.5, np.nan, a), 40.0, axis=0),
        [x234],
    ),
    # statistics, polynomials, array-API cumulative functions, more splits (the fourth batch)
    "cov": (np.cov, [x234[0]]),
    "cov_y": (lambda a, b: np.cov(a, b), [x23, x23[::-1] * 2]),
    "cov_columns_ddof0": (lambda a: np.cov(a, rowvar=False, ddof=0), [x234[0]]),
    "cov_weights": (
        lambda a: np.cov(a, fweights=[1, 2, 1, 3], aweights=[0.5, 1.0, 2.0, 1.5]),
        [x234[0]],
    ),
    "cov_traced_aweights": (  # (with the data: NumPy dispatches on m and y alone)
        lambda a, w: np.cov(a, fweights=[1, 2, 1, 3], aweights=w, ddof=2),
        [x234[0], np.array([0.5, 1.0, 2.0, 1.5])],
    ),
    "cov_1d": (np.cov, [x3]),
    "corrcoef": (np.corrcoef, [x234[0]]),
    "corrcoef_y": (lambda a, b: np.corrcoef(a, b, rowvar=False), [x234[0].T, x234[1].T]),
    "hsplit": (lambda a: np.stack(np.hsplit(a, 2)) * 1.0, [x234[0]]),
    "hsplit_1d": (lambda a: np.stack(np.hsplit(a, 3)) * 1.0, [x3]),
    "cov_list_y": (lambda a: np.cov(a, [1.0, 2.0, 3.0, 5.0]), [x234[0, 0]]),
    "polymul_leading_zeros": (lambda a: np.polymul(a * [0.0, 1.0, 1.0], [0.0, 1.0, 1.0]), [x3]),
    "polymul_empty": (lambda a: np.polymul(a, []), [x3]),
    "vsplit": (lambda a: np.vsplit(a, 2)[1] * 1.0, [x234[0].T]),
    "dsplit": (lambda a: np.dsplit(a, [1])[1] * 1.0, [x234]),
    "cumulative_sum": (lambda a: np.cumulative_sum(a, axis=1, include_initial=True), [x234]),
    "cumulative_prod": (lambda a: np.cumulative_prod(a, include_initial=True), [x3]),
    "unstack": (lambda a: np.unstack(a, axis=1)[2] * 1.0, [x234]),
    "polyder": (lambda p: np.polyder(p, 2), [x234[0, 0]]),
    "polyint": (lambda p: np.polyint(p, 2, k=[1.0, 2.0]), [x3]),
    "polyadd": (np.polyadd, [x3, x234[0, 0]]),
    "polysub": (np.polysub, [x234[0, 0], x3]),
    "polymul": (np.polymul, [x3, x234[0, 0]]),
    "apply_along_axis": (
        lambda a: np.apply_along_axis(lambda r: np.sum(r**2) * r[:2], 1, a),
        [x234],
    ),
    "apply_along_axis_scalar": (lambda a: np.apply_along_axis(np.max, 0, a), [x23]),
    "trim_zeros": (lambda a: np.trim_zeros(np.concatenate([np.zeros(2), a, np.zeros(1)])), [x3]),
    "trim_zeros_front": (
        lambda a: np.trim_zeros(np.concatenate([np.zeros(2), a, np.zeros(1)]), "f"),
        [x3],
    ),
    "resize": (lambda a: np.resize(a, (3, 5)), [x23]),
    "piecewise_0d": (
        lambda x: np.piecewise(x, [x > 0.1, x < -5], [np.sin, np.cos, lambda v: v**3]),
        [np.array(0.7)],
    ),
    # pinv(hermitian=True) reads the lower triangle, as NumPy's (through eigh): not symmetrised
    "pinv_hermitian": (lambda a: np.linalg.pinv(a, hermitian=True), [_SPD3]),
    "pinv_hermitian_lower": (lambda a: np.linalg.pinv(a, hermitian=True), [_SPD3 + _UPPER]),
    # a fourth batch
    "insert": (lambda a: np.insert(a, 1, 5.0), [x3]),
    "insert_traced_values": (lambda a, v: np.insert(a, [0, 2, 2], v), [x3, x3]),
    "insert_row": (lambda a, v: np.insert(a, 1, v, axis=0), [x23, x3]),
    # (a scalar obj with 2-D values inserts values.shape[0] columns: NumPy moves that axis)
    "insert_block": (lambda a, v: np.insert(a, 3, v, axis=1), [x23, x234[0, :, :2]]),
    "insert_block_2": (lambda a, v: np.insert(a, 1, v.T, axis=1), [x23, x23]),
    "insert_columns": (
        lambda a, v: np.insert(a, slice(0, 3, 2), v[:, None], axis=1),
        [x23, x23[:, 0]],
    ),
    "unique": (lambda a: np.unique(np.concatenate([a, a[:1], a[2:]])), [x3]),
    "unique_counts": (lambda a: np.unique(a[0], return_counts=True)[0] * 1.0, [x234[0]]),
    "unique_rows": (lambda a: np.unique(np.concatenate([a, a[:1], a], axis=0), axis=0), [x23]),
    "unique_columns": (lambda a: np.unique(np.concatenate([a, a[:, 1:]], axis=1), axis=-1), [x23]),
    "unwrap": (lambda a: np.unwrap(a * 5, axis=1), [x23]),
    "unwrap_period": (lambda a: np.unwrap(a * 3, discont=2.5, period=4.0), [x3]),
    "apply_over_axes": (lambda a: np.apply_over_axes(np.sum, a, [0, -1]), [x234]),
    "np_astype": (lambda a: np.astype(a, np.float64) * a, [x3]),
    "real_constants": (
        lambda a: (
            np.real_if_close(a)
            + np.angle(a)
            + np.isposinf(a)
            + np.isneginf(a)
            + np.isreal(a)
            + np.iscomplex(a)
            + np.spacing(a)
        ),
        [x23],
    ),
    # size-1 and empty axes for the rules no hypothesis test gives them to (the fifth batch)
    "remainder_size1": (np.remainder, [3 * x21, np.abs(x13) + 0.5]),
    "remainder_empty": (np.remainder, [e03, np.abs(x13) + 0.5]),
    "fmod_size1": (np.fmod, [3 * x21, -np.abs(x13) - 0.5]),
    "fmod_empty": (np.fmod, [e03, -np.abs(x3) - 0.5]),
    "copysign_size1": (np.copysign, [x21, x13]),
    "copysign_empty": (np.copysign, [e03, x13]),
    "heaviside_size1": (lambda a, h: np.heaviside(np.round(a), h) * h, [x21 / 4, x13]),
    "heaviside_empty": (lambda a, h: np.heaviside(np.round(a), h), [e03, x13]),
    "max_empty": (lambda a: np.max(a, axis=1), [e03]),
    "min_empty": (lambda a: np.min(a, axis=-1, keepdims=True), [e03]),
    "cumsum_empty": (lambda a: np.cumsum(a, axis=1), [e03]),
    "diagonal_empty": (lambda a: np.diagonal(a, 0, 1, 2), [E033]),
    "sum_where_empty": (lambda a: np.sum(a, axis=1, where=np.array([True, False, True])), [e03]),
    "roll_empty": (lambda a: np.roll(a, 1, axis=1), [e03]),
    "std_empty": (lambda a: np.std(a, axis=1), [e03]),
    "vector_norm_empty": (lambda a: np.linalg.vector_norm(a, axis=1), [e03]),
    "logsumexp_empty": (lambda a: cb.logsumexp(a, axis=1), [e03]),
    "broadcast_to_empty": (lambda a: np.broadcast_to(a, (2, 0, 3)), [x3]),
    "astype_empty": (lambda a: np.astype(a, np.float64) * a, [e03]),
    "unwrap_size1": (lambda a: np.unwrap(a * 5, axis=0), [x13]),
    "unwrap_size1_rows": (lambda a: np.unwrap(a * 5, axis=1), [x21]),
    "unwrap_empty": (lambda a: np.unwrap(a * 5, axis=1), [e03]),
    "inv_1x1": (np.linalg.inv, [S11]),
    "inv_empty": (np.linalg.inv, [E033]),
    "inv_0x0": (np.linalg.inv, [np.zeros((0, 0))]),
    "det_1x1": (np.linalg.det, [S11]),
    "det_empty": (np.linalg.det, [E033]),
    "det_0x0": (np.linalg.det, [np.zeros((0, 0))]),
    "slogdet_1x1": (lambda a: np.linalg.slogdet(a)[1], [S11]),
    "slogdet_empty": (lambda a: np.linalg.slogdet(a)[1], [E033]),
    "solve_1x1": (np.linalg.solve, [S11, x13.T[None, :1]]),
    "solve_empty": (np.linalg.solve, [E033, np.zeros((0, 3, 2))]),
    "cholesky_1x1": (np.linalg.cholesky, [S11]),
    "cholesky_empty": (np.linalg.cholesky, [E033]),
    "eigh_1x1": (lambda a: np.linalg.eigh(a)[0] + np.linalg.eigh(a)[1] ** 2, [S11]),
    "eigh_empty": (lambda a: np.linalg.eigh(a)[1], [E033]),
    "eigvalsh_1x1": (np.linalg.eigvalsh, [S11]),
    "eigvalsh_empty": (np.linalg.eigvalsh, [E033]),
    "svd_1xn": (
        lambda a: np.linalg.svd(a, full_matrices=False)[2] * np.linalg.svdvals(a)[..., None],
        [x13[None]],
    ),
    "svdvals_1xn": (np.linalg.svdvals, [x13]),
    "svd_empty": (lambda a: np.linalg.svd(a, compute_uv=False), [E033]),
    "svd_empty_uv": (lambda a: np.linalg.svd(a)[0], [E033]),
    "pinv_1xn": (np.linalg.pinv, [x13]),
    "pinv_empty": (np.linalg.pinv, [E033]),
    "lstsq_1xn": (lambda a, b: np.linalg.lstsq(a, b)[0], [x13, x3[:1]]),
    "lstsq_s_1xn": (lambda a, b: np.linalg.lstsq(a, b)[3], [x13.T, x3]),
    "lstsq_empty_rhs": (lambda a, b: np.linalg.lstsq(a, b)[0], [x23.T, np.zeros((3, 0))]),
    "lstsq_res_empty_rhs": (lambda a, b: np.linalg.lstsq(a, b)[1], [x23.T, np.zeros((3, 0))]),
    "matrix_norm_1_empty": (lambda a: np.linalg.matrix_norm(a, ord=1), [np.zeros((2, 3, 0))]),
    "matrix_norm_inf_empty": (lambda a: np.linalg.matrix_norm(a, ord=np.inf), [E033[:, :0]]),
    "norm_inf_empty": (lambda a: np.linalg.norm(a, np.inf, axis=0), [e03[:, :2]]),
    "lstsq_s_empty": (lambda a, b: np.linalg.lstsq(a, b)[3], [e03, np.zeros(0)]),
    "cross_entropy_empty": (
        lambda z, y: cb.losses.cross_entropy(z, y, reduction="sum"),
        [e03, e03],
    ),
    "cross_entropy_labels_empty": (
        lambda z: cb.losses.cross_entropy(z, np.zeros(0, int), reduction="none"),
        [e03],
    ),
}


@pytest.mark.parametrize("name", list(MORE))
def test_more_functions(name):
    f, args = MORE[name]
    check_rule(f, *args, seed=1)


def test_values_match_numpy_for_the_new_modes_and_shapes():
    x = np.arange(6.0).reshape(2, 3)
    for f in (
        lambda a: np.take(a, [-2, 0, 7], axis=1, mode="clip"),
        lambda a: np.take(a, [-7, 3, 5], mode="wrap"),
        lambda a: np.tril(a[0], 1),
        lambda a: np.full_like(a, a[0, 1]),
    ):
        y, _ = cb.vjp(f, x)
        np.testing.assert_array_equal(y, f(x))
    with pytest.raises(ValueError, match="mode must be"):
        cb.grad(lambda a: np.sum(np.take(a, [0], mode="bogus")))(x)


def test_index_orders_diff_ends_and_dot_of_stacks_give_numpys_values():
    x = np.arange(24.0).reshape(2, 3, 4)
    for f in (
        lambda a: np.reshape(a, (4, 6), order="F"),
        lambda a: np.reshape(a.T, (6, 4), order="A"),
        lambda a: a.reshape((6, 4), order="A"),
        lambda a: np.ravel(np.swapaxes(a, 0, 2), order="K"),
        lambda a: np.ravel(a.T, order="F"),
        lambda a: np.diff(a, axis=1, prepend=0.5, append=a[:, :1]),
        lambda a: np.diff(a, 0, prepend=1.0),
        lambda a: np.dot(a[0], np.ones((5, 4, 2))),
    ):
        y, _ = cb.vjp(f, x)
        np.testing.assert_array_equal(y, f(x))
    with pytest.raises(ValueError, match="order must be non-negative but got -1"):
        cb.grad(lambda a: np.sum(np.diff(a, -1)))(x)
    with pytest.raises(ValueError, match="order 'K' is not permitted for reshaping"):  # NumPy's
        cb.grad(lambda a: np.sum(np.reshape(a, -1, order="K")))(x)
    for view in (  # order='K' of views neither C- nor Fortran-contiguous: the order in memory
        lambda a: a[:, ::2],
        lambda a: a[::-1, :, 1::2].transpose(2, 0, 1),
        lambda a: np.swapaxes(a, 1, 2)[:, ::-1],
    ):
        f = lambda a, view=view: np.ravel(view(a), order="K") * np.arange(1.0, 1 + view(a).size)  # noqa: E731
        for y in (cb.vjp(f, x)[0], cb.jvp(f, (x,), (x,))[0]):
            np.testing.assert_array_equal(y, f(x))
        cb.check_grads(f, (x,), order=2)
        np.testing.assert_array_equal(
            cb.vjp(lambda a, v=view: v(a).flatten("K"), x)[0], view(x).flatten("K")
        )


NEW_FUNCTIONS = [  # (the second and third batches of MORE) values and dtypes against NumPy's
    name for name in MORE if list(MORE).index(name) >= list(MORE).index("remainder")
]
THIRD_BATCH = NEW_FUNCTIONS[NEW_FUNCTIONS.index("gradient") :]


@SETTINGS
@given(n=st.integers(3, 8), seed=SEEDS, edge_order=st.sampled_from([1, 2]))
def test_gradient_gives_numpys_values_on_every_kind_of_grid(n, seed, edge_order):
    rng = np.random.default_rng(seed)
    grids = [  # a number, evenly spaced coordinates (NumPy's formula for a number then), uneven
        0.1 + rng.random(),
        np.arange(n) * rng.choice([0.25, 0.1, 3.0]),
        np.linspace(0.0, 1.0 + rng.random(), n),
        np.cumsum(0.1 + rng.random(n)),
    ]
    for dtype in (np.float64, np.float32):
        f = rng.standard_normal((2, n)).astype(dtype)
        for x in grids:
            g = lambda f, x=x: np.gradient(f, x, axis=1, edge_order=edge_order)  # noqa: E731
            y, _ = cb.vjp(g, f)
            np.testing.assert_array_equal(y, g(f))
            assert y.dtype == g(f).dtype == dtype


@SETTINGS
@given(
    n=st.integers(1, 7),
    q=st.floats(0, 1),
    seed=SEEDS,
    dtype=st.sampled_from([np.float16, np.float32, np.float64]),
)
def test_quantiles_of_a_python_number_q_are_numpys_to_the_last_bit(n, q, seed, dtype):
    # (NumPy finds the fraction of a Python-number q in float64 and rounds it afterwards)
    x = np.random.default_rng(seed).standard_normal((2, n)).astype(dtype)
    for f in (
        lambda x: np.quantile(x, q, axis=1),
        lambda x: np.percentile(x, 100 * q),
        lambda x: np.nanquantile(x, q, axis=-1),
    ):
        y = cb.vjp(f, x)[0]
        np.testing.assert_array_equal(y, f(x))
        assert np.result_type(y) == np.result_type(f(x))
    for whole in (np.int64(1), np.array([0, 1])):  # (NumPy takes entries: the dtype of x)
        y = cb.vjp(lambda x, w=whole: np.quantile(x, w), x)[0]
        np.testing.assert_array_equal(y, np.quantile(x, whole))
        assert y.dtype == dtype


def test_nan_skipping_quantiles_of_rows_with_different_counts_and_an_all_nan_row():
    x = np.array([[3.0, np.nan, 1.0, 2.0], [np.nan, np.nan, np.nan, np.nan], [5.0, 4.0, 0.5, 6.0]])
    for f in (
        lambda a: np.nanmedian(a, axis=1),
        lambda a: np.nanquantile(a, [0.0, 0.25, 1.0], axis=1),
        lambda a: np.nanpercentile(a, 90, axis=1, keepdims=True),
    ):
        with pytest.warns(RuntimeWarning, match="All-NaN slice"):
            expected = f(x)
        with pytest.warns(RuntimeWarning, match="All-NaN slice"):
            got = cb.vjp(f, x)[0]
        np.testing.assert_array_equal(got, expected)  # (NaN for the row with no numbers)
    # the slope in q at q = 1 is each row's last gap among its own numbers: (3 - 2) * 2 entries
    slopes = cb.jacfwd(lambda q: np.nanquantile(x[[0, 2]], q, axis=1))(1.0)
    np.testing.assert_array_equal(slopes, [(3.0 - 2.0) * 2, (6.0 - 5.0) * 3])
    # the gradient in x reaches the numbers that make up each row's median, never a NaN
    g = cb.grad(lambda a: np.nansum(np.nanmedian(a[[0, 2]], axis=1)))(x)
    np.testing.assert_array_equal(g, [[0, 0, 0, 1], [0, 0, 0, 0], [0.5, 0.5, 0, 0]])


def test_the_third_batch_takes_lists_where_numpy_does_and_numpys_edge_cases():
    x = np.array([1.0, 2.0, 5.0])
    for f in (
        lambda f: np.gradient(f, [0.0, 1.0, 3.0]),  # coordinates as a list
        lambda y: np.polyfit([0.0, 1.0, 2.0], y, 1.0),  # (a float degree, as NumPy takes it)
        lambda t: np.ediff1d([1.0, 3.0], to_end=t),
        lambda q: np.quantile([1.0, 5.0, 2.0], q[0] / 8),
        lambda q: np.nanpercentile([1.0, np.nan, 2.0], q),
    ):
        np.testing.assert_allclose(cb.vjp(f, x)[0], f(x), rtol=1e-14, atol=1e-14)
        check_rule(f, x)
    # nanvar and nanstd are NaN where the degrees of freedom run out, as NumPy's, and pass no NaN
    # to the gradient of the other rows; var divides by max(n - ddof, 0), as NumPy
    a = np.array([[1.0, 3.0, np.nan], [1.0, 2.0, 4.0]])
    with pytest.warns(RuntimeWarning, match="Degrees of freedom"):
        expected = np.nanvar(a, axis=1, ddof=2)  # [nan, 14/3]
    with pytest.warns(RuntimeWarning, match="Degrees of freedom"):
        got = cb.vjp(lambda a: np.nanvar(a, axis=1, ddof=2), a)[0]
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(got[0]) and got[1] == expected[1]
    with pytest.warns(RuntimeWarning):
        g = cb.grad(lambda a: np.nansum(np.nanstd(a, axis=1, ddof=2)))(a)
    assert np.all(np.isfinite(g)) and np.all(g[0] == 0)
    with pytest.warns(RuntimeWarning):
        assert cb.vjp(lambda a: np.var(a, ddof=3), np.array([1.0, 3.0]))[0] == np.inf
    # float16 medians add in float32, as NumPy's mean does; no rows: NumPy's empty result
    h = np.array([6e4, 6e4, 1.0, 6.5e4], np.float16)
    assert cb.vjp(np.median, h)[0] == np.median(h) == np.float16(6e4)
    for f in (lambda a: np.median(a, axis=1), lambda a: np.quantile(a, [0.2, 0.5], axis=1)):
        z = np.zeros((0, 3))
        assert (
            cb.vjp(f, z)[0].shape == f(z).shape
            and cb.grad(lambda a, f=f: np.sum(f(a)))(z).shape == z.shape
        )
    # polyfit's default rcond takes eps from x's dtype alone, as NumPy's
    x32, y = np.float32([0, 1, 2, 3]), np.array([1.0, 2.0, 4.0, 3.0])
    assert (
        cb.vjp(lambda y: np.polyfit(x32, y, 1, full=True)[4], y)[0]
        == np.polyfit(x32, y, 1, full=True)[4]
    )


def test_apply_along_axis_takes_the_dtype_of_the_first_result_as_numpy():
    f = lambda a: np.apply_along_axis(lambda r: r[0] if r[0] > 0 else 0, 0, a)  # noqa: E731
    x = np.array([[-1.0, 2.5]])  # (the first result is the integer 0: NumPy's output is int)
    y = cb.vjp(f, x)[0]
    np.testing.assert_array_equal(y, f(x))
    assert y.dtype == f(x).dtype


def test_cov_and_corrcoef_keep_the_dtype_numpy_computes_in():
    x = np.arange(4.0) ** 2
    for f in (
        lambda a: np.cov(a, dtype=np.float32),  # float32
        lambda a: np.cov(a, aweights=[1, 2, 1, 1], dtype=np.float32),  # (float64: the weights)
        lambda a: np.corrcoef(a + 1, (a + 1) ** 2, dtype=np.float32),
    ):
        y = cb.vjp(f, x)[0]
        np.testing.assert_array_equal(y, f(x))
        assert y.dtype == f(x).dtype


@pytest.mark.parametrize(
    "bad",
    [
        lambda a: np.gradient(a[:1]),  # too short for a difference
        lambda a: np.gradient(a, edge_order=3),
        lambda a: np.gradient(a, 1.0, 2.0),  # one spacing per axis, or one for all
        lambda a: np.gradient(a, np.ones(3)),  # coordinates of the wrong length
        lambda a: np.gradient(a, axis=(0, 0)),
        lambda a: np.block([a, [a]]),  # mismatched depths
        lambda a: np.block([[a], []]),  # an empty list
        lambda a: np.block((a, a)),  # a tuple
        lambda a: np.compress([[True]], a),
        lambda a: np.choose(np.array([0, 2]), [a, a]),  # no third choice
        lambda a: np.piecewise(a, [a > 0], [np.sin, np.cos, np.tan]),
        lambda a: np.piecewise(a, [np.ones(3, dtype=bool)], [np.sin]),  # does not fit a
        lambda a: np.vander(np.ones((2, 2)) * a[0]),
        lambda a: np.rollaxis(a, 0, 7),
        lambda a: np.ediff1d(a, to_begin=np.array([1 + 2j])),
        lambda a: np.cov(np.ones((2, 2, 2)) * a[0]),
        lambda a: np.polyder(a, -1),
        lambda a: np.polyint(a, 3, k=[1.0, 2.0]),
        lambda a: np.cumulative_sum(np.ones((2, 2)) * a[0]),
        lambda a: np.vsplit(a, 2),
        lambda a: np.unstack(a[0]),
        lambda a: np.resize(a, (-1, 2)),
        lambda a: np.polymul(np.ones((2, 2)) * a[0], a),
    ],
)
def test_the_third_batch_refuses_what_numpy_refuses_with_numpys_message(bad):
    a = np.linspace(0.5, 2.0, 4)
    with pytest.raises(Exception) as expected:
        bad(a)
    with pytest.raises(type(expected.value)) as got:
        cb.grad(lambda a: np.sum(bad(a)))(a)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize(
    "name", [n for n in THIRD_BATCH if not n.startswith(("polyfit", "polymul"))]
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_third_batch_gives_numpys_values_to_the_last_bit(name, dtype):
    f, args = MORE[name]
    args = [a.astype(dtype) for a in args]
    np.testing.assert_array_equal(cb.vjp(f, *args)[0], f(*args))


@pytest.mark.parametrize("name", NEW_FUNCTIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_values_and_dtypes_of_the_second_batch_match_numpy(name, dtype):
    f, args = MORE[name]
    args = [a.astype(dtype) for a in args]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (NumPy warns for none of these inputs: neither may we)
        expected = f(*args)
        y, pullback = cb.vjp(f, *args)
    tol = 1e-13 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)
    assert np.result_type(y) == np.result_type(expected)
    for a, g in zip(args, pullback(np.ones_like(expected)), strict=True):
        assert g.shape == a.shape and g.dtype == dtype


def test_remainder_has_slope_1_in_x_and_minus_the_quotient_in_y():
    x, y = np.array([7.5, -7.5, 2.0]), np.array([2.0, 2.0, -0.75])
    gx, gy = cb.grad(lambda x, y: np.sum(x % y), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, 1.0)
    np.testing.assert_array_equal(gy, -np.floor_divide(x, y))  # [-3, 4, 3]
    gx, gy = cb.grad(lambda x, y: np.sum(np.fmod(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gy, -np.trunc(x / y))  # [-3, 3, 2]
    q, r = cb.jvp(lambda x: divmod(x, 2.0), (x,), (np.ones(3),))[1]
    np.testing.assert_array_equal(q, 0)  # floor division is piecewise constant
    np.testing.assert_array_equal(r, 1)


def test_sinc_derivatives_at_zero():
    sinc1 = cb.grad(np.sinc)
    assert sinc1(0.0) == 0.0
    np.testing.assert_allclose(cb.grad(sinc1)(0.0), -(np.pi**2) / 3, rtol=1e-14)
    np.testing.assert_allclose(cb.grad(cb.grad(sinc1))(0.0), 0.0, atol=1e-14)
    # either side of the switch to the Taylor series (at 1/4) the slope is continuous, and
    # float32 keeps its digits where the formula would cancel them (a relative 2e-4 at 0.01)
    for x in (0.0099999, 0.01, 0.0100001, 0.2499999, 0.25, 0.2500001, 0.3, -2.5):
        exact = (np.cos(np.pi * x) - np.sinc(x)) / x if abs(x) > 0.2 else sum(
            (-1) ** k * np.pi ** (2 * k) * 2 * k * x ** (2 * k - 1) / math.factorial(2 * k + 1)
            for k in range(1, 12))  # fmt: skip
        np.testing.assert_allclose(sinc1(x), exact, rtol=1e-13)
        np.testing.assert_allclose(sinc1(np.float32(x)), exact, rtol=5e-6)


@SETTINGS
@given(case=shape_and_axis(), seed=SEEDS)
def test_cumprod_with_and_without_zeros(case, seed):
    shape, axis, _ = case
    axis = axis if axis is None or isinstance(axis, int) else axis[0]
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    check_rule(lambda x: np.cumprod(x, axis=axis), x, seed=seed)
    x = x * (rng.random(shape) < 0.7)  # about 30% zeros
    check_rule(lambda x: np.cumprod(x, axis=axis), x, seed=seed)


def test_cumprod_near_zero_entries_take_the_exact_branch():
    # dividing by an entry near 0 would cancel digits in the second derivative, or overflow
    sum_cumprod = cb.hessian(lambda x: np.sum(np.cumprod(x)))
    np.testing.assert_array_equal(sum_cumprod(np.array([1e-8, 2.0])), [[0.0, 1.0], [1.0, 0.0]])
    h = sum_cumprod(np.float32([1e-8, 0.7, 1.3]))
    assert h.dtype == np.float32 and h[0, 0] == 0.0
    np.testing.assert_allclose(h[0], [0.0, 2.3, 0.7], rtol=1e-6)
    np.testing.assert_array_equal(
        cb.jacfwd(np.cumprod)(np.array([1e-310, 2.0, 3.0]))[:, 0], [1, 2, 6]
    )
    # (a product is linear in each entry: the diagonal of its Hessian is 0, exactly)
    for x in (np.array([1e-5, 2.0, 0.5]), np.float32([1e-3, 0.7, 1.3, -2.0])):
        assert np.all(np.diagonal(sum_cumprod(x)) == 0)


@SETTINGS
@given(case=shape_and_axis(), seed=SEEDS, q=st.lists(st.floats(0, 1), min_size=1, max_size=3))
def test_quantiles_along_axes(case, seed, q):
    shape, axis, keepdims = case
    x = np.random.default_rng(seed).standard_normal(shape)  # continuous: no ties
    for f in (
        lambda x: np.quantile(x, q, axis=axis, keepdims=keepdims),
        lambda x: np.median(x, axis=axis, keepdims=keepdims),
        lambda x: np.percentile(x, 100 * q[0], axis=axis, keepdims=keepdims),
    ):
        np.testing.assert_array_equal(cb.vjp(f, x)[0], f(x))  # (NumPy's rounding too)
        # (smooth in x away from ties, a q landing on an entry included: that is a kink in q)
        check_rule(f, x, seed=seed)


QUANTILE_METHODS = [
    "inverted_cdf", "averaged_inverted_cdf", "closest_observation", "interpolated_inverted_cdf",
    "hazen", "weibull", "median_unbiased", "normal_unbiased", "lower", "higher", "midpoint",
    "nearest", "linear",
]  # fmt: skip


@pytest.mark.parametrize("method", QUANTILE_METHODS)
@SETTINGS
@given(
    case=shape_and_axis(),
    seed=SEEDS,
    q=st.one_of(st.floats(0, 1), st.lists(st.floats(0, 1), min_size=1, max_size=3)),
    dtype=st.sampled_from([np.float32, np.float64]),
    q32=st.booleans(),
)
def test_every_quantile_method_is_numpys(method, case, seed, q, dtype, q32):
    shape, axis, keepdims = case
    x = np.random.default_rng(seed).standard_normal(shape)  # continuous: no ties
    if q32:  # (a float32 q: NumPy finds the places in float32)
        q = np.float32(q) if isinstance(q, float) else np.array(q, np.float32)
    p = 100 * q if not isinstance(q, float) else q * 100
    nan = np.where(x > 1.0, np.nan, x)
    for f, arg in (
        (lambda x: np.quantile(x, q, axis=axis, keepdims=keepdims, method=method), x),
        (lambda x: np.percentile(x, p, axis=axis, keepdims=keepdims, method=method), x),
        (lambda x: np.nanquantile(x, q, axis=axis, keepdims=keepdims, method=method), nan),
        (lambda x: np.nanpercentile(x, p, axis=axis, method=method), nan),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # (all-NaN rows)
            expected, got = f(arg.astype(dtype)), cb.vjp(f, arg.astype(dtype))[0]
            np.testing.assert_array_equal(got, expected)  # (NumPy's rounding, NaN where it is)
            assert np.result_type(got) == np.result_type(expected)
            if not np.any(np.isnan(arg)):  # (smooth in x away from ties)
                check_rule(f, arg, seed=seed)


@SETTINGS
@given(n=st.integers(1, 8), seed=SEEDS, nan=st.booleans(), q32=st.booleans())
def test_quantiles_at_a_traced_q_are_numpys_to_the_last_bit(n, seed, nan, q32):
    # (NumPy finds the places in q's dtype: a float32 q of float64 entries too)
    rng = np.random.default_rng(seed)
    x, q = rng.standard_normal((3, n)), rng.random(3).astype(np.float32 if q32 else np.float64)
    q[0] = 1.0
    if nan:
        x[rng.random(x.shape) < 0.3] = np.nan
    f = (lambda x, q: np.nanquantile(x, q, axis=1)) if nan else (lambda x, q: np.quantile(x, q))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (all-NaN rows)
        expected, got = f(x, q), cb.vjp(f, x, q)[0]
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype


@pytest.mark.parametrize(
    "method",
    [*QUANTILE_METHODS[3:8], "midpoint", "lower"],  # (the continuous ones, two steps)
)
def test_quantile_methods_move_with_q_at_numpys_slope(method):
    x = np.array([0.5, -1.0, 2.0, 0.25, 3.5, 1.0])
    q = np.array([0.27, 0.64])
    check_rule(lambda x, q: np.quantile(x, q, method=method), x, q)
    # the slope in q is the gap of the two entries times d position / dq, n + 1 - alpha - beta
    # for the continuous methods; the others are steps in q (midpoint: 0.5 or 0, lower: 0)
    slope = np.diag(cb.jacfwd(lambda q: np.quantile(x, q, method=method))(q))
    h = 1e-7
    fd = (np.quantile(x, q + h, method=method) - np.quantile(x, q - h, method=method)) / (2 * h)
    np.testing.assert_allclose(slope, fd, rtol=1e-6, atol=1e-8)
    assert np.all(slope == 0) == (method in ("midpoint", "lower"))


@pytest.mark.parametrize("method", ["lower", "hazen", "midpoint"])
def test_quantile_methods_of_no_entries_are_numpys(method):
    for z, axis in (
        (np.zeros((0, 3), np.float32), 0),
        (np.zeros((0, 3)), 1),
        (np.zeros((2, 0)), None),
    ):
        for f in (
            lambda a, axis=axis: np.quantile(a, [0.2, 0.5], axis=axis, method=method),
            lambda a, axis=axis: np.nanpercentile(a, 30.0, axis=axis, method=method),
        ):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    expected = f(z)
                except IndexError:  # (NumPy's, for some methods along an empty axis)
                    with pytest.raises(IndexError):
                        cb.vjp(f, z)
                    continue
                got = cb.vjp(f, z)[0]
                np.testing.assert_array_equal(got, expected)
                assert np.result_type(got) == np.result_type(expected)
                assert cb.grad(lambda a, f=f: np.sum(f(a)))(z).shape == z.shape


def test_weighted_quantiles_are_numpys_and_their_weights_constants():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((3, 4, 5)), rng.uniform(0.5, 2.0, (3, 4, 5))
    w[0, 0, :2] = 0.0  # (weights of 0 are skipped, as NumPy skips them)
    nan = np.where(x > 1.0, np.nan, x)
    for f, arg in (
        (lambda x, w: np.quantile(x, [0.2, 0.6], axis=1, method="inverted_cdf", weights=w), x),
        (lambda x, w: np.quantile(x, 0.3, method="inverted_cdf", weights=w), x),
        (lambda x, w: np.percentile(x, 45.0, -1, method="inverted_cdf", weights=w[0, 0]), x),
        (lambda x, w: np.nanquantile(x, 0.5, (0, 2), method="inverted_cdf", weights=w), nan),
        (lambda x, w: np.nanpercentile(x, [5, 95], 2, method="inverted_cdf", weights=w), nan),
    ):
        for dtype in (np.float32, np.float64):
            got, expected = cb.vjp(f, arg.astype(dtype), w)[0], f(arg.astype(dtype), w)
            np.testing.assert_array_equal(got, expected)
            assert np.result_type(got) == np.result_type(expected)
        # (a step function of the weights: derivative 0 in them, away from the steps)
        if not np.any(np.isnan(arg)):
            check_rule(f, arg, w + 0.5)  # (positive under the steps of the differences)
        assert not np.any(cb.grad(lambda w, f=f, arg=arg: np.nansum(f(arg, w)))(w))
    with pytest.raises(ValueError, match="Only method 'inverted_cdf' supports weights"):
        cb.grad(lambda x: np.quantile(x, 0.5, weights=w[0, 0]))(x[0, 0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_quantile_slopes_in_q_at_the_ends_point_into_the_range(dtype):
    x = np.array([0.5, -1.0, 2.0, 0.25, 3.5], dtype=dtype)  # sorted: -1, 0.25, 0.5, 2, 3.5
    slope = cb.grad(lambda q: np.quantile(x, q))
    assert slope(dtype(1.0)) == 4 * (3.5 - 2.0)  # from the left: q cannot exceed 1
    assert slope(dtype(0.0)) == 4 * (0.25 - -1.0)  # from the right
    assert slope(dtype(1.0)).dtype == dtype
    np.testing.assert_allclose(cb.grad(lambda p: np.percentile(x, p))(100.0), 6.0 / 100)
    # the value at q = 1 is the largest entry, exactly, and its gradient in x picks it alone
    assert cb.value_and_grad(lambda x: np.quantile(x, 1.0))(x)[0] == 3.5
    np.testing.assert_array_equal(cb.grad(lambda x: np.quantile(x, 1.0))(x), [0, 0, 0, 0, 1])
    # one-sided differences inside [0, 1] agree with these slopes
    from calcbook.numdiff import derivative

    f = lambda q: np.quantile(x.astype(np.float64), q)  # noqa: E731
    assert abs(derivative(f, 1.0, method="backward") - 6.0) < 1e-6
    assert abs(derivative(f, 0.0, method="forward") - 5.0) < 1e-6


@SETTINGS
@given(n=st.integers(1, 6), m=st.integers(1, 6), seed=SEEDS)
def test_convolve_and_correlate_in_every_mode(n, m, seed):
    rng = np.random.default_rng(seed)
    a, v = rng.standard_normal(n), rng.standard_normal(m)
    for mode in ("full", "same", "valid"):
        for f in (np.convolve, np.correlate):
            g = lambda a, v, f=f, mode=mode: f(a, v, mode)  # noqa: E731
            np.testing.assert_allclose(cb.vjp(g, a, v)[0], g(a, v), rtol=1e-13, atol=1e-13)
            check_rule(g, a, v, seed=seed)


def test_cholesky_reads_one_triangle_as_numpy_does():
    rng = np.random.default_rng(3)
    b = rng.standard_normal((4, 4))
    a = b @ b.T + 4 * np.eye(4)
    w = rng.standard_normal((4, 4))
    g = cb.grad(lambda a: np.sum(w * np.linalg.cholesky(a)))(a)
    assert np.all(np.triu(g, 1) == 0)  # NumPy never reads the strict upper triangle
    gu = cb.grad(lambda a: np.sum(w.T * np.linalg.cholesky(a, upper=True)))(a)
    assert np.all(np.tril(gu, -1) == 0)
    # through a symmetric parametrisation a = b b^T + 4 I, both triangles count, as the chain
    # rule says: against central differences in b
    f = lambda b: np.sum(w * np.linalg.cholesky(b @ b.T + 4 * np.eye(4)))  # noqa: E731
    check_rule(f, b)


def test_vectors_of_repeated_values_are_refused_and_the_values_are_not():
    # at a repeated eigenvalue (singular value) any basis of its space is an answer, so its
    # vectors have no derivative; the values alone do
    a = np.diag([1.0, 1.0, 3.0])
    for transform in (cb.jacrev, cb.jacfwd):
        with pytest.raises(ValueError, match="eigenvectors of a repeated value are not unique"):
            transform(lambda a: np.linalg.eigh(a)[1])(a)
        with pytest.raises(ValueError, match="singular vectors of a repeated value"):
            transform(lambda a: np.linalg.svd(a)[0])(2 * np.eye(2))

    def rebuilt(a):  # U S V^T = a: a function of the whole space, but through its vectors
        u, s, vh = np.linalg.svd(a)
        return (u * s) @ vh

    with pytest.raises(ValueError, match="singular vectors of a repeated value"):
        cb.jacrev(rebuilt)(2 * np.eye(2))  # (rather than a wrong number: its limit is not seen)
    np.testing.assert_allclose(
        cb.jacrev(rebuilt)(np.diag([2.0, 1.0])), cb.jacrev(lambda a: a)(a[:2, :2])
    )
    np.testing.assert_allclose(cb.grad(lambda a: np.sum(np.linalg.eigvalsh(a)))(a), np.eye(3))
    np.testing.assert_allclose(cb.jacfwd(np.linalg.eigvalsh)(a), cb.jacrev(np.linalg.eigvalsh)(a))
    np.testing.assert_allclose(cb.grad(lambda a: np.linalg.eigh(a)[0] @ [1.0, 1.0, 2.0])(a),
                               np.diag([1.0, 1.0, 2.0]))  # fmt: skip
    np.testing.assert_allclose(
        cb.grad(lambda a: np.linalg.norm(a, "nuc"))(2 * np.eye(2)), np.eye(2)
    )
    with pytest.raises(ValueError, match="lower rank"):
        cb.jacrev(lambda a: np.linalg.svd(a, full_matrices=False)[0])(np.ones((3, 2)))


def test_pinv_lstsq_linspace_and_nan_to_num_match_numpy_where_the_table_does_not_reach():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    for rhs in (b, b[:, 0]):
        got, want = cb.vjp(lambda a, r=rhs: np.linalg.lstsq(a, r), a)[0], np.linalg.lstsq(a, rhs)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
            assert np.shape(g) == np.shape(w)
    x = np.array([1.0, -2.0])
    for f in (
        lambda x: np.linspace(x[0], x[1], 1),
        lambda x: np.linspace(x[0], x[1], 0),
        lambda x: np.linspace(x, 2 * x, 4, retstep=True)[1],
        lambda x: np.nan_to_num(np.where(x > 0, np.inf, x)),
    ):
        np.testing.assert_allclose(cb.vjp(f, x)[0], f(x))
    g = cb.grad(lambda x: np.sum(np.nan_to_num(np.where(x > 0, np.inf, x))))(x)
    np.testing.assert_array_equal(g, [0.0, 1.0])
    with pytest.raises(ValueError, match="full rank"):
        cb.jacrev(np.linalg.pinv)(np.ones((3, 2)))
    with pytest.raises(ValueError, match="same length"):
        cb.grad(lambda w: np.sum(np.bincount([0, 1], weights=w)))(np.ones(3))
    with pytest.raises(ValueError, match="negative"):
        cb.grad(lambda w: np.sum(np.bincount([0, -1], weights=w)))(np.ones(2))


PAD_MODES = ["edge", "reflect", "symmetric", "wrap", "maximum", "minimum", "mean", "median"]


@pytest.mark.parametrize("mode", PAD_MODES)
@SETTINGS
@given(shape=NONEMPTY, seed=SEEDS, data=st.data())
def test_pad_modes(mode, shape, seed, data):
    x = np.random.default_rng(seed).standard_normal(shape)  # continuous: no ties in max/median
    widths = [(data.draw(st.integers(0, 4)), data.draw(st.integers(0, 4))) for _ in shape] or 1
    f = lambda x: np.pad(x, widths, mode=mode)  # noqa: E731
    np.testing.assert_allclose(cb.vjp(f, x)[0], f(x), rtol=1e-14, atol=1e-14)
    check_rule(f, x, seed=seed)


def test_pad_with_per_axis_constants_and_stat_lengths_and_the_refusals():
    x = np.random.default_rng(4).standard_normal((2, 3))
    for f in (
        lambda x: np.pad(x, ((1, 1), (2, 1)), constant_values=((7, 8), (9, 10))),
        lambda x: np.pad(x, ((1, 2), (2, 1)), mode="mean", stat_length=((1, 2), (2, 1))),
        lambda x: np.pad(x, 5, mode="reflect"),  # (wider than the axis: reflected again)
        # the modes affine in the entries: linear ramps and odd reflections
        lambda x: np.pad(x, ((1, 3), (2, 0)), mode="linear_ramp"),
        lambda x: np.pad(x, 2, mode="linear_ramp", end_values=((1.5, -2.0), (0.5, 3.0))),
        lambda x: np.pad(x, 7, mode="reflect", reflect_type="odd"),  # (reflected again)
        lambda x: np.pad(x, ((2, 1), (0, 4)), mode="symmetric", reflect_type="odd"),
    ):
        np.testing.assert_allclose(cb.vjp(f, x)[0], f(x), rtol=1e-14)
        check_rule(f, x)
    x32 = x.astype(np.float32)
    for mode, extra in (("linear_ramp", {"end_values": 2.0}), ("reflect", {"reflect_type": "odd"})):
        got = cb.vjp(lambda t, m=mode, e=extra: np.pad(t, 3, mode=m, **e), x32)[0]
        want = np.pad(x32, 3, mode=mode, **extra)
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())

    def ramp(t, ends):  # traced end values
        return np.pad(t, (2, 3), mode="linear_ramp", end_values=ends)

    for ends in (np.array([1.5, -2.0]), np.array(0.7), np.array([[1.0, 2.0]])):
        np.testing.assert_allclose(cb.vjp(ramp, x[0], ends)[0], ramp(x[0], ends), rtol=1e-14)
        check_rule(ramp, x[0], ends, batched=False)  # (argnums=1 alone: NumPy does not dispatch)
    for call, match in [
        (lambda x: np.pad(x, 1, mode="edge", bogus=1), "unsupported keyword"),
        (lambda x: np.pad(x, -1), "negative"),
        (lambda x: np.pad(x[:0], 1, mode="wrap"), "empty axis"),
    ]:
        with pytest.raises((ValueError, NotImplementedError), match=match):
            cb.jacrev(call)(x)


@SETTINGS
@given(shape=NONEMPTY, seed=SEEDS, data=st.data())
def test_sliding_window_view(shape, seed, data):
    assume(len(shape) >= 1)
    x = np.random.default_rng(seed).standard_normal(shape)
    axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=2))
    window = [data.draw(st.integers(0, shape[a])) for a in axes]
    sw = np.lib.stride_tricks.sliding_window_view
    try:
        want = sw(x, window, axis=axes)
    except ValueError:
        with pytest.raises(ValueError):
            cb.vjp(lambda x: sw(x, window, axis=axes), x)
        return
    f = lambda x: sw(x, window, axis=axes) * 1.0  # noqa: E731
    np.testing.assert_array_equal(cb.vjp(f, x)[0], want)
    check_rule(f, x, seed=seed)


def test_a_two_dimensional_convolution_from_windows():
    # the usual NumPy idiom for a convolution layer: windows of the padded image, then einsum
    rng = np.random.default_rng(5)
    image, kernel = rng.standard_normal((4, 5)), rng.standard_normal((3, 3))
    sw = np.lib.stride_tricks.sliding_window_view

    def conv(image, kernel):
        return np.einsum("ijkl,kl->ij", sw(np.pad(image, 1, mode="reflect"), (3, 3)), kernel)

    check_rule(conv, image, kernel)
    with pytest.raises(TracerError, match="writeable"):
        cb.grad(lambda x: np.sum(sw(x, 2, writeable=True)))(image[0])


def test_the_second_batch_refuses_what_it_does_not_cover():
    x = np.ones(3)
    for call, match in [
        (lambda x: np.quantile(x, 0.5, method="bogus"), "not a valid method"),
        (lambda x: np.quantile(x, 1.5), r"range \[0, 1\]"),
        (lambda x: np.percentile(x, -5), r"range \[0, 100\]"),
        (lambda x: np.convolve(x, x[:0]), "v cannot be empty"),
        (lambda x: np.convolve(x, x, mode="bogus"), "mode must be"),
        (lambda x: np.linalg.matrix_power(x, 2), "at least two-dimensional"),  # (NumPy's)
        (lambda x: np.rot90(np.outer(x, x), axes=(1, 1)), "different"),
        (lambda x: np.fliplr(x), ">= 2-d"),
        (lambda x: np.meshgrid(x, indexing="xx"), "indexing"),
        (lambda x: np.linalg.svd(np.outer(x, x[:2])), "full_matrices=False"),
        (lambda x: np.linalg.svd(np.outer(x, x), hermitian=True), "repeated value"),
        (lambda x: np.linalg.eigh(np.outer(x, x[:2])), "square"),
        (lambda x: np.linalg.eigh(np.outer(x, x), UPLO="X"), "UPLO"),
        (lambda x: np.linalg.norm(np.outer(x, x), "bogus"), "Invalid norm order"),
    ]:
        with pytest.raises((ValueError, NotImplementedError, np.linalg.LinAlgError), match=match):
            cb.jacrev(call)(x)


def test_fmax_and_fmin_pass_the_gradient_to_the_number_beside_a_nan():
    for f in (np.fmax, np.fmin):
        assert cb.grad(lambda y, f=f: f(np.nan, y))(1.0) == 1.0
        assert cb.grad(lambda y, f=f: f(y, np.nan))(1.0) == 1.0
        gx, gy = cb.grad(lambda x, y, f=f: f(x, y), argnums=(0, 1))(np.nan, np.nan)
        assert gx == gy == 0.0


def test_heaviside_derivative_is_zero_in_x_and_one_in_h0_where_x_is_zero():
    x, h0 = np.array([-1.0, 0.0, 2.0]), np.array([0.3, 0.4, 0.5])
    gx, gh = cb.grad(lambda x, h: np.sum(np.heaviside(x, h)), argnums=(0, 1))(x, h0)
    np.testing.assert_array_equal(gx, 0)
    np.testing.assert_array_equal(gh, [0, 1, 0])


@pytest.mark.parametrize(
    "f",
    [
        lambda a: np.concatenate([a, a], axis=2),
        lambda a: np.concatenate([a, a], axis=-3),
        lambda a: np.stack([a, a], axis=5),
        lambda a: np.swapaxes(a, 0, 3),
        lambda a: np.transpose(a, (0, 3)),
        lambda a: np.moveaxis(a, 0, 2),
        lambda a: np.expand_dims(a, 5),
    ],
)
def test_out_of_range_axes_raise_as_in_numpy(f):
    a = np.ones((2, 3))
    with pytest.raises(np.exceptions.AxisError):
        f(a)
    for transform in (cb.jacrev, cb.jacfwd):
        with pytest.raises(np.exceptions.AxisError):
            transform(f)(a)


def test_repeated_axes_and_bad_sections_raise_as_in_numpy():
    a = np.ones((2, 3))
    for f in (lambda a: np.moveaxis(a, [0, 0], [1, 0]), lambda a: np.expand_dims(a, (0, 0))):
        with pytest.raises(ValueError, match="repeated axis"):
            cb.jacrev(f)(a)
    with pytest.raises(ValueError, match="larger than 0"):
        cb.jacrev(lambda a: np.array_split(a, 0)[0])(a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_sums_to_one_for_huge_logits(dtype):
    # exp(x - logsumexp(x)) would exponentiate the rounding error of logsumexp (about 0.6% at
    # 1e6 in float32); e^(x - max) / sum keeps each entry within a few ulp
    for big in (3e4, 1e6, 1e16 if dtype == np.float64 else 1e30):
        p = cb.softmax(np.full(3, big, dtype))
        assert p.dtype == dtype
        np.testing.assert_allclose(p, 1 / 3, rtol=4 * np.finfo(dtype).eps)


def test_float32_stays_float32_through_pad_power_and_arctan2():
    x = np.array([0.5, 1.5], np.float32)
    for f in (
        lambda x: np.pad(x, 1, constant_values=2.0),
        lambda x: 2.0**x,
        lambda x: np.arctan2(x, 2.0),
        lambda x: np.arctan2(2.0, x),
        lambda x: np.heaviside(x, 0.5) * x,
    ):
        y, t = cb.jvp(f, (x,), (x,))
        assert y.dtype == t.dtype == np.float32
        assert cb.jacfwd(f)(x).dtype == cb.jacrev(f)(x).dtype == np.float32
        assert cb.vjp(f, x)[1](np.ones_like(y))[0].dtype == np.float32


def test_det_of_a_singular_matrix_has_its_cofactors_as_gradient():
    rank2 = np.arange(1.0, 10.0).reshape(3, 3)  # cofactors by hand: 2x2 minors with signs
    cof = np.array([[-3.0, 6.0, -3.0], [6.0, -12.0, 6.0], [-3.0, 6.0, -3.0]])
    rank1 = np.outer([1.0, 2.0, 3.0], [1.0, -1.0, 2.0])  # every 2x2 minor is zero
    stack = np.stack([rank2, np.diag([2.0, 3.0, 4.0])])  # one singular, one not, batched
    for transform in (cb.grad, lambda f: lambda a: cb.jacfwd(f)(a)):
        np.testing.assert_allclose(transform(np.linalg.det)(rank2), cof, atol=1e-12)
        np.testing.assert_allclose(transform(np.linalg.det)(rank1), 0, atol=1e-12)
    g = cb.grad(lambda s: np.sum(np.linalg.det(s)))(stack)
    np.testing.assert_allclose(g, [cof, np.diag([12.0, 8.0, 6.0])], atol=1e-12)
    # second derivatives: at rank n - 1 through the SVD (its values distinct), refused below
    np.testing.assert_allclose(cb.hessian(np.linalg.det)(rank2), _det3_hessian(rank2), atol=1e-13)
    np.testing.assert_allclose(
        cb.jacrev(cb.grad(np.linalg.det))(rank2), _det3_hessian(rank2), atol=1e-13
    )
    even = np.stack([rank2, np.diag([2.0, 2.0, 4.0])])  # (the other's singular values repeat)
    h = cb.hessian(lambda s: np.sum(np.linalg.det(s)))(even)
    for k in range(2):
        np.testing.assert_allclose(h[k, :, :, k], _det3_hessian(even[k]), atol=1e-13)
    with pytest.raises(NotImplementedError, match="rank n - 2 or less"):
        cb.hessian(np.linalg.det)(rank1)
    with pytest.raises(NotImplementedError, match="other singular values repeat"):
        cb.hessian(np.linalg.det)(np.diag([0.0, 1.0, 1.0]))


def _det3_hessian(a):
    r"""$\partial^2 \det A / \partial a_{ij} \partial a_{kq}$ of a 3 x 3 matrix, from the
    permutation expansion: the sign of the permutation $i \to j, k \to q, m \to n$ times
    $a_{mn}$ ($m$, $n$ the row and column left), 0 where $i = k$ or $j = q$."""
    h = np.zeros((3, 3, 3, 3))
    for i, j, k, q in itertools.product(range(3), repeat=4):
        if i != k and j != q:
            m, n = 3 - i - k, 3 - j - q
            perm = {i: j, k: q, m: n}
            inversions = sum(perm[p] > perm[r] for p in range(3) for r in range(p + 1, 3))
            h[i, j, k, q] = (-1) ** inversions * a[m, n]
    return h


def test_many_pieces_concatenate_to_the_right_gradient():
    n = 500  # (each piece's rule finds its place in O(1): the pieces' ends are a parameter)
    x = np.arange(float(n))
    g = cb.grad(lambda x: np.sum(np.stack([x[i] * i for i in range(n)]) ** 2))(x)
    np.testing.assert_allclose(g, 2 * x * np.arange(n) ** 2)


AXIS_FUNCTIONS = {  # (f(x, axis), smallest number of axes)
    "cumsum": (lambda x, a: np.cumsum(x, axis=a), 1),
    "sort": (lambda x, a: np.sort(x, axis=a), 1),
    "diff": (lambda x, a: np.diff(x, axis=a), 1),
    "roll": (lambda x, a: np.roll(x, 2, axis=a), 1),
    "take": (lambda x, a: np.take(x, [0, -1, 0], axis=a), 1),
    "repeat": (lambda x, a: np.repeat(x, 2, axis=a), 1),
    "norm": (lambda x, a: np.linalg.norm(x + 3, axis=a, keepdims=True), 1),
    "norm 1": (lambda x, a: np.linalg.norm(x + 3, 1, axis=a), 1),
    "norm 3": (lambda x, a: np.linalg.norm(x, 3, axis=a), 1),
    "norm inf": (lambda x, a: np.linalg.norm(x, np.inf, axis=a), 1),
    "trace": (lambda x, a: np.trace(x, 0, a, -1), 2),
    "diagonal": (lambda x, a: np.diagonal(x, 1, a, -1), 2),
}


@pytest.mark.parametrize("name", list(AXIS_FUNCTIONS))
@SETTINGS
@given(shape=NONEMPTY, seed=SEEDS, data=st.data())
def test_functions_along_an_axis(name, shape, seed, data):
    f, min_dims = AXIS_FUNCTIONS[name]
    assume(len(shape) >= min_dims and (min_dims == 1 or len(shape) >= 2))
    last = len(shape) - 1 if min_dims == 1 else len(shape) - 2  # (2: the other axis is -1)
    axis = data.draw(st.integers(-len(shape) if min_dims == 1 else 0, last))
    x = np.random.default_rng(seed).uniform(-2, 2, shape)  # continuous: no ties in sort
    check_rule(lambda x: f(x, axis), x, seed=seed)


@SETTINGS
@given(case=shape_and_axis(), seed=SEEDS)
def test_prod_with_zeros_is_exact(case, seed):
    shape, axis, keepdims = case
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 1.5, shape) * (rng.random(shape) < 0.6)  # about 40% zeros
    check_rule(lambda x: np.prod(x, axis=axis, keepdims=keepdims), x, seed=seed)


def test_prod_derivative_at_zeros_by_hand():
    row = np.array([0.0, 0.0, 1.5, 2.0])
    np.testing.assert_array_equal(cb.grad(np.prod)(np.array([0.0, 2.0, 3.0])), [6.0, 0.0, 0.0])
    np.testing.assert_array_equal(cb.grad(np.prod)(row), np.zeros(4))  # two zeros: all 0
    H = cb.hessian(np.prod)(row)  # but d2/dx0 dx1 = 1.5 * 2
    assert H[0, 1] == H[1, 0] == 3.0 and np.count_nonzero(H) == 2


def _hessian_of_weighted_products(x, w, running):
    """The Hessian of sum_j w_j prod_{k <= j} x_k (running) or of prod_k x_k, term by term."""
    n, H = len(x), np.zeros((len(x), len(x)))
    for i, j in itertools.permutations(range(n), 2):
        for m in range(max(i, j), n) if running else [n - 1]:
            H[i, j] += (w[m] if running else 1.0) * math.prod(np.delete(x[: m + 1], [i, j]))
    return H


SECOND_ORDER = {
    "rev-rev": lambda f: cb.jacrev(cb.grad(f)),
    "fwd-rev": cb.hessian,
    "fwd-fwd": lambda f: cb.jacfwd(cb.jacfwd(f)),
}


@pytest.mark.parametrize("mode", SECOND_ORDER)
def test_second_derivatives_of_products_are_exact_near_zero(mode):
    # differentiating a quotient y / x_i again cancels terms of size y / x_i^2: at x_0 = 1e-9
    # reverse-over-reverse gave d2 prod / dx0^2 = -9.5e-7 where it is 0, and an entry near 0 in
    # a row of small entries (no threshold relative to the row sees it) did the same in cumprod
    rng = np.random.default_rng(4)
    hessian = SECOND_ORDER[mode]
    for trial in range(60):
        n = 2 + trial % 4
        x = rng.normal(size=n)
        x[trial % n] = rng.choice([-1, 1]) * 10.0 ** rng.uniform(-12, -1)
        if trial % 3 == 0:
            x *= 10.0 ** rng.uniform(-9, -5)  # every entry small
        w = rng.normal(size=n)
        weighted = lambda x, w=w: np.sum(w * np.cumprod(x))  # noqa: E731
        for f, running in ((np.prod, False), (weighted, True)):
            exact = _hessian_of_weighted_products(x, w, running)
            scale = np.max(np.abs(exact))
            np.testing.assert_allclose(hessian(f)(x), exact, rtol=1e-13, atol=1e-13 * scale)
    x = np.array([1e-9, 2.0, 3.0])
    np.testing.assert_array_equal(np.diagonal(hessian(np.prod)(x)), 0.0)


def test_prod_derivative_when_the_product_underflows_or_is_infinite():
    # the product of the others is no quotient ans / x_i when ans underflows or is infinite
    x = np.array([1e-200, 1e-200, 1e200])
    assert np.prod(x) == 0.0
    np.testing.assert_array_equal(cb.grad(np.prod)(x), [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(cb.jacfwd(np.prod)(x), [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(cb.grad(np.prod)(np.array([np.inf, 2.0])), [2.0, np.inf])
    with np.errstate(over="ignore"):  # (NumPy's product overflows: 1e200 * 1e200 first)
        big = np.array([1e200, 1e200, 1e-200])
        np.testing.assert_array_equal(cb.grad(np.prod)(big), [1.0, 1.0, np.inf])
    rows = np.array([[1e-200, 1e-200, 1e200], [1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(cb.jacrev(lambda a: np.prod(a, axis=1))(rows)[0, 0], [1, 1, 0])


def test_cumprod_with_a_zero_in_a_long_row():
    # past n x size = 10**6 the running products are formed by doubling, not as an n x n
    # triangle (which refused rows this long); the gradient against the recurrence
    # r_i = w_i + x_{i+1} r_{i+1}
    rng = np.random.default_rng(5)
    x, w = rng.uniform(0.5, 1.5, 3000), rng.normal(size=3000)
    x[1000] = 0.0
    value, g = cb.value_and_grad(lambda x: np.sum(w * np.cumprod(x)))(x)
    np.testing.assert_allclose(value, np.sum(w * np.cumprod(x)), rtol=1e-12)
    before, r, expected = np.cumprod(np.r_[1.0, x[:-1]]), 0.0, np.zeros_like(x)
    for i in reversed(range(x.size)):
        r = w[i] + (x[i + 1] * r if i + 1 < x.size else 0.0)
        expected[i] = before[i] * r
    np.testing.assert_allclose(g, expected, rtol=1e-11, atol=1e-14)
    assert g[1000] != 0 and np.all(g[1001:] == 0)


def test_rounding_functions_are_constants():
    x = np.array([0.4, 1.6, -2.5])
    f = lambda x: np.sum(np.round(x) * x + np.floor(x) + np.ceil(x) * np.trunc(x) + np.rint(x))  # noqa: E731
    np.testing.assert_array_equal(cb.grad(f)(x), np.round(x))


def test_unsupported_linear_algebra_names_itself():
    with pytest.raises(NotImplementedError, match=r"numpy\.linalg\.eigvals is not supported"):
        cb.grad(lambda A: np.sum(np.linalg.eigvals(A)))(np.eye(2))
    with pytest.raises(NotImplementedError, match=r"numpy\.linalg\.eig is not supported"):
        cb.grad(lambda A: np.sum(np.linalg.eig(A)[0]))(np.eye(2))


# --- dtypes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn, lo, hi", UNARY, ids=[u[0].__name__ for u in UNARY])
def test_float32_in_float32_out(fn, lo, hi):
    x = np.random.default_rng(0).uniform(lo, hi, (3, 2)).astype(np.float32)

    def f(x):
        return np.mean(fn(x) * 2.0 + 1) + np.sum(x.max(axis=0)) + cb.logsumexp(x)

    g = cb.grad(f)(x)
    assert g.dtype == np.float32
    assert cb.jvp(f, (x,), (np.ones_like(x),))[1].dtype == np.float32
    assert cb.hessian(lambda x: np.sum(fn(x) * x))(x).dtype == np.float32
    g64 = cb.grad(f)(x.astype(np.float64))
    np.testing.assert_allclose(g, g64, rtol=1e-4, atol=1e-5)


def test_astype_round_trip_and_integer_casts():
    x = np.array([0.5, 1.5])
    g = cb.grad(lambda x: np.sum(x.astype(np.float32) ** 2))(x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, 2 * x)
    assert cb.grad(lambda x: np.sum(x.astype(int) * x))(x).tolist() == [0.0, 1.0]
    x32 = np.array([1.0, 2.0, 4.0], dtype=np.float32)

    def f(x):  # reductions accumulating in float64
        return np.sum(x, dtype=np.float64) + x.mean(dtype=np.float64) + np.var(x, dtype=np.float64)

    g = cb.grad(f)(x32)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 1 + 1 / 3 + 2 * (x32 - x32.mean()) / 3, rtol=1e-6)


def test_every_supported_name_is_a_numpy_function():
    names = supported()
    assert names == sorted(names)
    for name in names:
        obj = np
        for part in name.split(".")[1:]:
            obj = getattr(obj, part)
        assert callable(obj), name
    for expected in [
        "numpy.exp",
        "numpy.matmul",
        "numpy.einsum",
        "numpy.where",
        "numpy.max",
        "numpy.cumsum",
        "numpy.linalg.norm",
        "numpy.linalg.solve",
    ]:
        assert expected in names


def test_logsumexp_and_softmax_over_an_empty_axis():
    # a sum of no terms is 0, so its logarithm is -inf (as in SciPy, PyTorch and JAX)
    x = np.zeros((2, 0))
    with pytest.warns(RuntimeWarning, match="divide by zero"):  # log 0, as np.log(0) warns
        np.testing.assert_array_equal(cb.logsumexp(x, axis=1), [-np.inf, -np.inf])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty result: nothing to warn about
        for f in (cb.softmax, cb.log_softmax):
            assert f(x, axis=1).shape == (2, 0)
            assert f(np.zeros((0, 3), np.float32), axis=1).dtype == np.float32
            assert cb.grad(lambda x, f=f: np.sum(f(x, axis=1)))(x).shape == (2, 0)
            assert cb.jacfwd(lambda x, f=f: f(x, axis=1))(x).shape == (2, 0, 2, 0)


def test_an_axis_that_is_not_an_integer_is_refused_as_numpy_refuses_it():
    x = np.ones((2, 3))
    for axis in (0.9, 1.5, "1"):
        for f in (
            lambda a, axis=axis: cb.softmax(a, axis=axis),
            lambda a, axis=axis: cb.logsumexp(a, axis=axis),
            lambda a, axis=axis: np.sum(np.sum(a, axis=axis) ** 2),
        ):
            with pytest.raises(TypeError, match="cannot be interpreted as an integer"):
                f(x)
            with pytest.raises(TypeError, match="cannot be interpreted as an integer"):
                cb.grad(lambda a, f=f: np.sum(f(a)))(x)


def test_logsumexp_derivatives_are_the_softmax_even_for_huge_inputs():
    # exp(x - logsumexp(x)) exponentiates the rounding of logsumexp: at 1e17 it gave [1, 1]
    for x in (np.full(3, 1e6, np.float32), np.array([1e15, 1e15]), np.array([1e17, 1e17, -1e17])):
        p = cb.softmax(x)
        np.testing.assert_allclose(cb.grad(cb.logsumexp)(x), p, rtol=1e-6)
        v = np.arange(1.0, x.size + 1).astype(x.dtype)
        np.testing.assert_allclose(cb.jvp(cb.logsumexp, (x,), (v,))[1], p @ v, rtol=1e-6)
        np.testing.assert_allclose(
            cb.hessian(cb.logsumexp)(x), np.diag(p) - np.outer(p, p), rtol=1e-6, atol=1e-7
        )


def test_decompositions_return_numpys_named_tuples_through_every_transform():
    a = np.random.default_rng(6).standard_normal((3, 3))
    s = a + a.T
    assert type(cb.vjp(np.linalg.eigh, s)[0]).__name__ == "EighResult"
    j = cb.jacrev(np.linalg.svd)(a)
    assert type(j).__name__ == "SVDResult" and j.U.shape == (3, 3, 3, 3)
    np.testing.assert_allclose(
        cb.jacfwd(np.linalg.eigh)(s).eigenvalues, cb.jacrev(np.linalg.eigvalsh)(s)
    )


def test_pinv_and_lstsq_refuse_a_cutoff_that_drops_a_singular_value():
    d = np.diag([1.0, 1e-3, 0.5])  # full rank, but rcond=1e-2 drops 1e-3: the derivative jumps
    for f in (
        lambda a: np.linalg.pinv(a, rcond=1e-2),
        lambda a: np.linalg.lstsq(a, np.ones(3), rcond=1e-2)[0],
    ):
        with pytest.raises(ValueError, match="full rank"):
            cb.jacrev(f)(d)
    np.testing.assert_allclose(cb.jacrev(np.linalg.pinv)(d), cb.jacfwd(np.linalg.pinv)(d))


def test_the_fourth_batch_returns_numpys_extras_and_refuses_what_numpy_refuses():
    x = np.array([0.5, -1.0, 0.5, 2.0, -1.0])
    got = cb.vjp(
        lambda a: np.unique(a, return_index=True, return_inverse=True, return_counts=True), x
    )
    for g, want in zip(got[0], np.unique(x, True, True, True), strict=True):
        np.testing.assert_array_equal(g, want)
        assert np.result_type(g) == want.dtype
    (ct,) = got[1]((np.ones(3), np.zeros(3), np.zeros(5), np.zeros(3)))
    np.testing.assert_array_equal(ct, [1.0, 1.0, 0.0, 1.0, 0.0])  # each first occurrence
    rows = np.array([[2.0, 1.0], [0.5, 3.0], [2.0, 1.0], [0.5, -3.0]])  # (row 2 repeats row 0)
    got = cb.vjp(lambda a: np.unique(a, return_inverse=True, return_counts=True, axis=0), rows)
    for g, want in zip(got[0], np.unique(rows, False, True, True, axis=0), strict=True):
        np.testing.assert_array_equal(g, want)
        assert np.result_type(g) == want.dtype and np.shape(g) == want.shape
    (ct,) = got[1]((np.arange(6.0).reshape(3, 2), np.zeros(4), np.zeros(3)))
    np.testing.assert_array_equal(ct, [[4, 5], [2, 3], [0, 0], [0, 1]])  # first occurrences
    for bad in (
        lambda a: np.insert(a, 9, 1.0),  # out of bounds: NumPy's IndexError
        lambda a: np.apply_over_axes(lambda v, axis: np.sum(v), a.reshape(5, 1), [0]),
        lambda a: np.astype(a, np.float32, device="gpu"),
    ):
        with pytest.raises(Exception) as expected:
            bad(x)
        with pytest.raises(type(expected.value)) as got:
            cb.grad(lambda a, bad=bad: np.sum(bad(a)))(x)
        assert str(got.value) == str(expected.value)
    # np.astype to the same dtype copies, as NumPy's: the copy may be changed in place
    z = cb.grad(lambda a: np.sum(_updated(np.astype(a, a.dtype))))(x)
    np.testing.assert_array_equal(z, np.full(5, 2.0))


def _updated(c):
    c *= 2.0  # (c is a copy made inside f: updating it in place is allowed)
    return c


@pytest.mark.parametrize(
    "call",
    [
        lambda a: np.fft.rfft(a),
        lambda a: np.linalg.eigvals(a[:2, None] * a[None, :2]),
        lambda a: np.union1d(a, a),
        lambda a: np.unique_values(a),
        lambda a: np.modf(a),
        lambda a: np.histogram(a),
        lambda a: np.i0(a),
    ],
)
def test_unsupported_functions_name_an_alternative(call):
    x = np.array([0.5, 1.0, 2.0])
    with pytest.raises(NotImplementedError) as err:
        cb.grad(lambda a: np.sum(call(a)))(x)
    message = str(err.value)
    assert "is not supported on traced arrays" in message
    hint = message.split("differentiation engine. ")[1]
    starts = ("Complex", "For a symmetric", "The result", "Use np.unique", "The fractional")
    assert hint.startswith((*starts, "Counts", "Sum its"))


def test_average_reads_weights_as_numpy_does():
    """Weights along an axis tuple (in the order named), NumPy's errors for weights that do not
    fit or sum to zero (they were broadcast, or divided by 0), and NumPy's values and dtypes."""
    a, w = x234, np.abs(x234[:, 0, :]) + 0.5  # weights along axes 0 and 2
    check_rule(lambda a, w: np.average(a, axis=(0, 2), weights=w), a, w)
    check_rule(lambda a, w: np.average(a, axis=(2, 0), weights=w.T, returned=True)[0], a, w)
    for bad in (
        lambda a: np.average(a, axis=1, weights=np.ones((1, 4))),
        lambda a: np.average(a, axis=1, weights=np.array([1.0, -1.0, 0.0, 0.0])),
        lambda a: np.average(a, weights=np.ones(4)),
    ):
        with pytest.raises(Exception) as expected:
            bad(x23.T @ x23)
        with pytest.raises(type(expected.value)) as got:
            cb.grad(lambda a, bad=bad: np.sum(bad(a)))(x23.T @ x23)
        assert str(got.value) == str(expected.value)
    rng = np.random.default_rng(3)
    for _ in range(200):
        shape = tuple(rng.integers(1, 4, size=rng.integers(1, 4)))
        nd = len(shape)
        a = rng.standard_normal(shape).astype(rng.choice([np.float32, np.float64]))
        axis = tuple(int(k) - nd * int(rng.integers(0, 2)) for k in rng.permutation(nd)[:2])
        w = rng.random(tuple(shape[k] for k in axis)).astype(rng.choice([np.float32, np.float64]))
        choices = [(axis, w), (None, rng.random(shape)), (axis, None), (None, None)]
        ax, wt = choices[int(rng.integers(0, 4))]
        keepdims = bool(rng.integers(0, 2))
        f = lambda a: np.average(a, axis=ax, weights=wt, returned=True, keepdims=keepdims)  # noqa: B023, E731
        for got, want in zip(cb.vjp(f, a)[0], f(a), strict=True):
            np.testing.assert_array_equal(got, want)
            assert np.result_type(got) == np.result_type(want)
            assert type(got) is type(want) or np.ndim(want)


def test_pad_casts_its_traced_constant_values_to_the_arrays_dtype():
    x = np.ones((2, 3), np.float32)
    for c in (np.array(0.7), np.array([1.5, 2.5]), np.array([[1.0, 2.0], [3.0, 4.0]])):
        y, pullback = cb.vjp(lambda x, c: np.pad(x, 1, constant_values=c), x, c)
        np.testing.assert_array_equal(y, np.pad(x, 1, constant_values=c))
        assert y.dtype == np.float32
        gx, gc = pullback(np.ones_like(y))
        assert gx.dtype == np.float32 and gc.dtype == np.float64 and gc.shape == c.shape
        assert np.sum(gc) == y.size - x.size  # every padded entry is one of the values


@pytest.mark.parametrize("c", [x23[0, :2], x23[:, :2], np.array(0.3)], ids=["pairs", "axes", "one"])
def test_pad_differentiates_traced_constant_values(c):
    # (NumPy hands np.pad to calcbook only when the array is traced: its dispatcher names only
    # the array, so Jacobians in c alone, one argument traced at a time, cannot be taken)
    check_rule(lambda a, c: np.pad(a, ((1, 2), (0, 1)), constant_values=c), x23, c, batched=False)


@pytest.mark.parametrize("name", ["nanmean", "nanvar", "nanstd"])
def test_an_all_nan_slice_has_derivative_0_in_both_modes(name):
    """Its result is NaN whatever the other entries are; forward mode gave NaN (0 / 0 in the
    tangent, or the root's infinite slope) where reverse mode gave 0."""
    x = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, 2.0], [0.5, np.nan, 4.0]])
    f = lambda a: getattr(np, name)(a, axis=0)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (NumPy's, for the empty slice)
        want = f(x)
        value, tangent = cb.jvp(f, (x,), (np.ones_like(x),))
        jf, jr = cb.jacfwd(f)(x), cb.jacrev(f)(x)
    np.testing.assert_array_equal(value, want)
    assert np.isnan(want[1]) and tangent[1] == 0.0
    np.testing.assert_array_equal(jf, jr)
    assert not np.isnan(jf).any() and not jf[1].any()


# --- constants given as lists or Python numbers, where NumPy takes arrays ----------------------
_L3, _M3 = [1.0, 2.0, 3.0], [[2.0, 0.5, 0.2], [0.1, 2.0, 0.3], [0.2, 0.1, 3.0]]
LIST_CONSTANTS = {
    "convolve": lambda t: np.convolve(t, [1.0, 2.0]),
    "convolve, list first": lambda t: np.convolve([1.0, 2.0], t, "same"),
    "correlate": lambda t: np.correlate(t, [1.0, 2.0], "full"),
    "lstsq": lambda t: np.linalg.lstsq(np.diag(t) + 1, _L3, rcond=None)[0],
    "average, list weights": lambda t: np.average(t, weights=_L3),
    "average, list values": lambda t: np.average(_L3, weights=t),
    "trapezoid, list x": lambda t: np.trapezoid(t, x=_L3),
    "trapezoid, list y": lambda t: np.trapezoid(_L3, x=t),
    "cross": lambda t: np.cross(_L3, t),
    "polyval": lambda t: np.polyval(_L3, t),
    "dot, a number": lambda t: np.dot(t, 2.5),
    "inner, a number": lambda t: np.inner(2.5, t),
    "dot, a list matrix": lambda t: np.dot(_M3, t),
}


def test_nanmean_takes_the_dtype_asked_for():
    x = np.array([1.0, np.nan, 2.5], np.float32)
    for dtype in (np.float16, np.float64):
        out, tangent = cb.jvp(
            lambda a, d=dtype: np.nanmean(a, dtype=d), (x,), (np.ones(3, np.float32),)
        )
        assert out.dtype == tangent.dtype == np.nanmean(x, dtype=dtype).dtype == dtype


def test_a_traced_argument_numpy_does_not_dispatch_on_gets_a_pointer_to_the_fix():
    a = np.array([1.0, 2.0])
    with pytest.raises(TracerError, match=r"constant_values.*argnums=\(0, 1\)"):
        cb.grad(lambda c: np.sum(np.pad(a, 1, constant_values=c)))(0.5)


_B32 = np.array([[1.3, 0.2], [-0.5, 0.9], [0.4, -1.1]], np.float32)
ARRAY_LIKE_ARGUMENTS = {  # (f, x): constants as lists, NumPy scalars, uint8, bool, float32 arrays
    "matvec, a list vector": (lambda x: np.matvec(x, [1.0, 2.0, 3.0]), np.ones((2, 3))),
    "vecmat, a list vector": (lambda x: np.vecmat([1.0, 2.0], x), np.ones((2, 3))),
    "multi_dot, lists first": (
        lambda x: np.linalg.multi_dot([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 0.0], [0.0, 1.0]], x]),
        np.ones(2),
    ),
    "linspace, a list start": (lambda x: np.linspace([0.0, 1.0], x, 3), np.array([2.0, 3.0])),
    "bincount, uint8 index": (
        lambda x: np.bincount(np.array([0, 2, 2, 1], np.uint8), weights=x),
        np.array([0.3, -1.2, 2.1, 0.7]),
    ),
    "bincount, bool index": (
        lambda x: np.bincount(np.array([True, False, True, True]), weights=x),
        np.array([0.3, -1.2, 2.1, 0.7]),
    ),
    "take, float indices": (lambda x: np.take(x, [2.0, 0.0]), np.array([0.3, -1.2, 2.1])),
    "lstsq, a float32 matrix": (
        lambda y: np.linalg.lstsq(_B32, y, rcond=None)[0],
        np.array([0.3, -1.2, 2.1]),
    ),
    "var, ddof a NumPy integer": (
        lambda x: np.var(x, ddof=np.int64(1)),
        np.array([0.3, -1.2, 2.1, 0.7], np.float32),
    ),
    "norm, ord a NumPy integer": (
        lambda x: np.linalg.norm(x, ord=np.int64(3)),
        np.array([0.3, -1.2, 2.1, 0.7], np.float32),
    ),
    "percentile, a float32 q": (
        lambda x: np.percentile(x, np.float32(30)),
        np.array([0.3, -1.2, 2.1, 0.7], np.float32),
    ),
    "select, a number beside float32": (
        lambda x: np.select([x > 0, x <= 0], [x, 1.7]),
        np.array([0.3, -1.2, 2.1, 0.7], np.float32),
    ),
    "choose, a number beside float32": (
        lambda x: np.choose([0, 1, 1, 0], [x, 1.7]),
        np.array([0.3, -1.2, 2.1, 0.7], np.float32),
    ),
    "clip, a number clipped by float32": (
        lambda x: np.clip(1.7, x, 5.0),
        np.array([0.3, -1.2, 2.1, 0.7], np.float32),
    ),
    "nan_to_num, a float64 replacement": (
        lambda x: np.nan_to_num(x, nan=np.float64(1.0)),
        np.array([0.3, -1.2, 2.1, 0.7], np.float32),
    ),
}


for _name, _f in LIST_CONSTANTS.items():  # (each in float64 and in float32)
    for _dtype in (np.float64, np.float32):
        ARRAY_LIKE_ARGUMENTS[f"{_name}, {np.dtype(_dtype)}"] = (
            _f,
            np.array([0.3, 0.7, 1.1], _dtype),
        )


@pytest.mark.parametrize("f, x", ARRAY_LIKE_ARGUMENTS.values(), ids=ARRAY_LIKE_ARGUMENTS)
def test_array_like_arguments_as_numpy_takes_them(f, x):
    # NumPy makes arrays of them (a number beside float32 makes float64 where NumPy's asarray
    # does); each case crashed, came out in another dtype than NumPy's, or (lstsq) lost float64
    # precision
    want = f(x)
    out, tangent = cb.jvp(f, (x,), (np.ones_like(x),))
    np.testing.assert_allclose(out, want, rtol=1e-12 if want.dtype == np.float64 else 1e-6)
    assert np.result_type(out) == np.result_type(tangent) == np.result_type(want)
    check_rule(f, x.astype(np.float64))


_X23 = np.arange(6.0).reshape(2, 3)
BAD_ARGUMENTS = {  # (call, x, error, message): refused as NumPy refuses them, with its message
    "reshape, a float size": (
        lambda x: x.reshape(2.0, 3),
        _X23,
        TypeError,
        "'float' object cannot be interpreted",
    ),
    "reshape, two unknowns": (
        lambda x: x.reshape(-1, -1),
        _X23,
        ValueError,
        "can only specify one unknown dimension",
    ),
    "reshape, two unknowns at size 1": (  # (where both would fit)
        lambda x: x.reshape(-1, -1),
        np.ones(1),
        ValueError,
        "only specify one unknown",
    ),
    "reshape, the size given": (
        lambda x: x.reshape(4, -1),
        _X23,
        ValueError,
        r"size 6 into shape \(4,newaxis\)",
    ),
    "reshape, no shape": (lambda x: x.reshape(), _X23, TypeError, r"takes exactly 1 argument"),
    "take_along_axis, fewer dimensions": (
        lambda x: np.take_along_axis(x, np.array([0]), axis=0),
        _X23,
        ValueError,
        "same number of dimensions",
    ),
    "take_along_axis, axis None": (
        lambda x: np.take_along_axis(x, np.array([[4, 1]]), axis=None),
        _X23,
        ValueError,
        "must have a single dimension",
    ),
    "pad, a float width": (lambda x: np.pad(x, 1.5), _X23, TypeError, "must be of integral type"),
    "diagonal, one axis twice": (
        lambda t: np.diagonal(t, axis1=1, axis2=-1),
        _X23,
        ValueError,
        "cannot be the same",
    ),
    "diagonal, a float offset": (
        lambda t: np.diagonal(t, 1.0),
        _X23,
        TypeError,
        "cannot be interpreted",
    ),
    "trace of a vector": (np.trace, np.ones(3), ValueError, "at least two dimensions"),
    "matrix_transpose of a vector": (
        np.matrix_transpose,
        np.ones(3),
        ValueError,
        "at least 2-dimensional, but it is 1",
    ),
}


@pytest.mark.parametrize("call, x, error, message", BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS)
def test_bad_arguments_are_refused_as_numpy_refuses_them(call, x, error, message):
    with pytest.raises(error, match=message):
        call(x)  # (NumPy's own refusal, the reference)
    for transform in (lambda: cb.vjp(call, x), lambda: cb.jvp(call, (x,), (x,))):
        with pytest.raises(error, match=message):
            transform()


NUMPY_REFUSES = {  # (call, x): bad input an adapter refused with an error of its own before
    "stack of two shapes": (lambda x: np.stack([x, x[:1]]), _X23),
    "rot90 of a vector": (np.rot90, np.ones(3)),
    "tile, a negative count": (lambda x: np.tile(x, -1), _X23),
    "transpose, too many axes": (lambda x: np.transpose(x, (0, 1, 2)), _X23),
    "the method x.transpose, too many axes": (lambda x: x.transpose(0, 1, 2), _X23),
    "the method x.swapaxes, an axis out of range": (lambda x: x.swapaxes(0, 5), _X23),
    "cross of 4-vectors": (lambda x: np.cross(x, x), np.ones(4)),
    "split into unequal parts": (lambda x: np.split(x, 2.5), np.ones(4)),
    "split at a float index": (lambda x: np.split(x, [1.5]), np.ones(4)),
    "split at a string index": (lambda x: np.array_split(x, "2"), np.ones(4)),
    "matrix_power of a vector": (lambda x: np.linalg.matrix_power(x, 2), np.ones(3)),
}


@pytest.mark.parametrize("call, x", NUMPY_REFUSES.values(), ids=NUMPY_REFUSES)
def test_an_adapters_refusal_is_numpys_own(call, x):
    with pytest.raises(Exception) as numpy_refusal:  # noqa: PT011 - the reference, whatever it is
        call(x)
    want = type(numpy_refusal.value), str(numpy_refusal.value)
    assert issubclass(want[0], (ValueError, TypeError, IndexError))
    for transform in (lambda: cb.vjp(call, x), lambda: cb.jvp(call, (x,), (x,))):
        with pytest.raises(want[0]) as refusal:
            transform()
        assert (type(refusal.value), str(refusal.value)) == want


@pytest.mark.parametrize(
    "call, x, y",
    [
        (np.matvec, _X23, np.ones(4)),
        (np.vecmat, np.ones(4), _X23),
        (np.linalg.solve, np.eye(3), np.ones(4)),
    ],
    ids=["matvec", "vecmat", "solve"],
)
def test_a_core_dimension_mismatch_gives_numpys_message_and_both_shapes(call, x, y):
    with pytest.raises(ValueError, match="mismatch in its core dimension") as numpy_refusal:
        call(x, y)
    shapes = f": the arguments have shapes {x.shape} and {y.shape}"
    for argnums in (0, 1, (0, 1)):
        with pytest.raises(ValueError) as refusal:
            cb.jacrev(call, argnums=argnums)(x, y)
        assert str(refusal.value) == str(numpy_refusal.value) + shapes


def test_split_takes_what_numpys_split_takes():
    x = np.arange(6.0)
    for call in (
        lambda t: np.split(t, 2.0),
        lambda t: np.split(t, np.float64(3)),
        lambda t: np.array_split(t, 4.7),
        lambda t: np.split(t, [np.int64(1), 4]),
        lambda t: np.array_split(t, [-2]),
        lambda t: np.split(t, True),
    ):
        want = call(x)
        got, tangent = cb.jvp(call, (x,), (2 * x,))
        assert len(got) == len(want)
        for g, t, w in zip(got, tangent, want, strict=True):
            np.testing.assert_array_equal(g, w)
            np.testing.assert_array_equal(t, 2 * w)
    gs = cb.grad(lambda t: sum(np.sum(p**2) for p in np.array_split(t, 4.7)))(x)
    np.testing.assert_array_equal(gs, 2 * x)


def test_setting_shape_or_dtype_of_a_traced_array_is_refused_with_the_alternative():
    def set_shape(x):
        x.shape = (2, 2)
        return np.sum(x)

    def set_dtype(x):
        x.dtype = np.float32
        return np.sum(x)

    for f, instead in ((set_shape, "x.reshape"), (set_dtype, "x.astype")):
        for transform in (cb.grad, cb.jacfwd):
            with pytest.raises(TracerError, match=f"in place.*{instead}"):
                transform(f)(np.ones(4))


def test_cross_of_two_component_vectors_as_numpy_with_its_warning():
    rng = np.random.default_rng(7)
    cases = [((4, 2), (2,)), ((2,), (3,)), ((3,), (4, 2)), ((3, 2), (3, 3))]
    for sa, sb in cases:
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        with pytest.warns(DeprecationWarning, match="2-dimensional vectors are deprecated"):
            want = np.cross(a, b)
        with pytest.warns(DeprecationWarning, match="2-dimensional vectors are deprecated"):
            got, _ = cb.vjp(np.cross, a, b)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            check_rule(np.cross, a, b)


def test_grad_with_respect_to_integer_labels_says_why_they_are_floats():
    z, labels = np.zeros((3, 4)), np.array([0, 1, 3])
    with pytest.raises(ValueError, match="it made them floats.*leave them out of argnums"):
        cb.grad(cb.cross_entropy, argnums=1)(z, labels)
    with pytest.raises(ValueError) as plain:  # (given as floats by the caller: no such remark)
        cb.grad(cb.cross_entropy)(z, labels.astype(float))
    assert "it made them floats" not in str(plain.value)


def test_svd_values_of_a_hermitian_matrix_read_its_lower_triangle_as_numpy():
    a = np.array([[2.0, 5.0], [1.0, 3.0]])  # not symmetric: NumPy reads the lower triangle
    f = lambda a: np.linalg.svd(a, hermitian=True, compute_uv=False)  # noqa: E731
    np.testing.assert_allclose(cb.jvp(f, (a,), (a,))[0], f(a), rtol=1e-14)
    np.testing.assert_allclose(f(a), np.abs(np.linalg.eigvalsh(a))[::-1], rtol=1e-14)
    cb.check_grads(f, (a,), order=2)
    upper = cb.grad(lambda a: np.sum(f(a)))(a)[0, 1]
    assert upper == 0.0  # (the upper triangle is not read)


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_svd_of_a_hermitian_matrix_is_numpys_recipe(shape, dtype):
    """svd(hermitian=True) with its vectors: NumPy's u, s and vh to the last bit (eigh of the
    lower triangle, sizes of the eigenvalues in decreasing order, their signs in vh), in both
    modes, and derivatives of all three against finite differences."""
    a = np.random.default_rng(4).standard_normal(shape).astype(dtype)  # (not symmetric)

    def f(x):
        return np.linalg.svd(x, hermitian=True)

    want = f(a)
    for got in (cb.vjp(f, a)[0], cb.jvp(f, (a,), (a,))[0]):
        for w, g in zip(want, got, strict=True):
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)
    if dtype is np.float64:
        weights = np.cos(np.arange(a.size).reshape(shape))

        def loss(x):  # all three outputs, each column's sign as NumPy picks it
            u, s, vh = f(x)
            return np.sum(s**2) + np.sum(np.sin(u) * weights) + np.sum(vh * weights**2)

        cb.check_grads(loss, (a,), order=2)
        assert np.all(cb.grad(loss)(a)[..., 0, 1:] == 0.0)  # (the upper triangle is not read)


@pytest.mark.parametrize("layout", ["fortran", "strided"])
def test_vjp_and_check_grads_keep_the_inputs_memory_layout(layout):
    base = np.arange(24.0).reshape(4, 6) + 1
    x = np.asfortranarray(base[:2, :3]) if layout == "fortran" else base.T[::2, 1:]
    calls = [lambda t: np.reshape(t, -1, order="A"), lambda t: t.flatten("A") ** 2]
    calls.append(lambda t: np.ravel(t, order="K") * np.arange(1.0, 1 + t.size))  # (memory order)
    for f in calls:
        value, vjp_fn = cb.vjp(f, x)
        np.testing.assert_array_equal(value, f(x))  # (read in the caller's layout)
        np.testing.assert_array_equal(cb.jvp(f, (x,), (x,))[0], f(x))
        cb.check_grads(f, (x,), order=2)  # (whose differences keep the layout too)


def test_check_grads_of_an_empty_output_has_nothing_to_check():
    cb.check_grads(lambda x, y: x + y, (np.zeros((0, 4)), np.ones(4)), order=2)
    cb.check_grads(lambda x: x[:, []], (np.ones((2, 3)),), order=2)


def test_max_and_min_take_initial_and_where_by_position():
    x = np.array([[1.0, 12.0], [3.0, 4.0]])
    mask = np.array([[False, True], [True, True]])
    for f in (
        lambda t: np.max(t, 0, None, False, 10.0),
        lambda t: np.min(t, 1, None, True, 2.0, mask),
        lambda t: np.amax(t, -1, None, False, 3.5, mask),
    ):
        np.testing.assert_array_equal(cb.jvp(f, (x,), (x,))[0], f(x))
        cb.check_grads(f, (x,), order=2)


@pytest.mark.parametrize("shape", [(0, 2, 2), (0, 3, 2), (2, 0, 0), (0, 0), (3, 0), (0, 3)])
def test_linear_algebra_of_empty_stacks_and_matrices_gives_numpys_shapes(shape):
    x = np.zeros(shape)
    for f in (
        np.linalg.svdvals,
        lambda a: np.linalg.svd(a, full_matrices=False),
        np.linalg.qr,
        lambda a: np.linalg.norm(a, 2, axis=(-2, -1)),
        lambda a: np.linalg.norm(a, "nuc", axis=(-2, -1)),
    ):
        want = f(x)
        want = list(want) if isinstance(want, tuple) else [want]  # (svd and qr: named tuples)
        for got in (cb.jvp(f, (x,), (x,))[0], cb.vjp(f, x)[0]):
            got = list(got) if isinstance(got, tuple) else [got]
            assert [np.shape(g) for g in got] == [np.shape(w) for w in want]
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g, w)


def test_order_statistics_of_nothing_give_numpys_value():
    x = np.zeros((0, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for f in (
            lambda t: np.median(t, axis=0),
            lambda t: np.nanmedian(t, axis=0),
            np.median,
            lambda t: np.nanquantile(t, 0.2),
            lambda t: np.median(t, axis=-1, keepdims=True),
        ):
            want = f(x)
            value, tangent = cb.jvp(f, (x,), (x,))
            np.testing.assert_array_equal(value, want)  # (NaN, or empty)
            assert np.shape(tangent) == np.shape(want) and not np.any(tangent)
        with pytest.raises(IndexError):  # (NumPy's own, here)
            np.quantile(x, 0.5, axis=0)
        with pytest.raises(IndexError):
            cb.jvp(lambda t: np.quantile(t, 0.5, axis=0), (x,), (x,))


def test_numpy_two_forms_of_arguments():
    x = np.arange(4.0).reshape(2, 2) + 1
    for f in (
        lambda t: np.pad(t, {1: (1, 0)}),
        lambda t: np.pad(t, {-1: 2, 0: (0, 1)}, mode="reflect"),
        lambda t: t.copy(order="F").ravel("A"),
        lambda t: np.copy(t, order="F").ravel("A") * t.argmax(axis=1, keepdims=True),
        lambda t: t * t.argmin(0, None),
    ):
        np.testing.assert_array_equal(cb.vjp(f, x)[0], f(x))
        cb.check_grads(f, (x,), order=2)
    a, b = np.array(1.0), np.ones(2)
    both = cb.jvp(lambda a, b: np.atleast_2d(a, b), (a, b), (a, b))[0]
    assert type(both) is type(np.atleast_2d(a, b)) is tuple


def test_reduction_dtypes_as_numpys():
    x = np.array([[1.5, 2.5, 4.0], [0.2, -1.7, 3.3]])
    for f in (
        lambda t: np.mean(t, dtype=np.int64),
        lambda t: np.sum(t, axis=1, dtype=int),
        lambda t: t.prod(0, dtype=np.int32, keepdims=True),
    ):
        want = f(x)
        value, tangent = cb.jvp(f, (x,), (x,))
        assert value.dtype == want.dtype and np.array_equal(value, want)  # (integers: constant)
        assert not np.any(tangent)
    x32 = x.astype(np.float32)
    for ddof in (np.float64(1), np.int64(1), 1.0):
        assert cb.vjp(lambda t, d=ddof: np.var(t, ddof=d), x32)[0].dtype == np.float32
    w, index = np.array([0.1, 0.2, 0.3], np.float32), np.array([0, 1, 1])
    np.testing.assert_array_equal(  # (the float32 weights summed in float64, as NumPy does)
        cb.vjp(lambda w: np.bincount(index, weights=w), w)[0], np.bincount(index, weights=w)
    )


def test_multi_dot_multiplies_in_numpys_order_with_its_checks():
    rng = np.random.default_rng(3)

    def arrays(*shapes, dtype=np.float64):
        return [rng.standard_normal(s).astype(dtype) for s in shapes]

    f32 = np.float32
    for ops in (
        arrays((4,), (4, 5), (5, 2)),
        arrays((10, 2), (2, 10), (10, 3)),
        arrays((2, 10), (10, 2), (2, 9), (9, 3), (3,)),
        arrays((3, 3), (3, 3), dtype=f32) + arrays((3, 40)),  # (NumPy: float32 @ (float64 ...))
        arrays((4,), (4, 3), (3,)),
        arrays((2, 3, 4), (4, 5)),  # (two: np.dot, of any dimensions)
    ):
        want = np.linalg.multi_dot(ops)
        got = cb.vjp(lambda *a: np.linalg.multi_dot(list(a)), *ops)[0]
        assert np.shape(got) == np.shape(want) and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)
        if want.dtype == np.float64:
            cb.check_grads(lambda *a: np.linalg.multi_dot(list(a)), tuple(ops), order=1)
    for bad, error in (
        (arrays((3,)), "at least two arrays"),
        (arrays((3, 3), (2, 3, 3), (3, 3)), "Array must be two-dimensional"),
    ):
        with pytest.raises((ValueError, np.linalg.LinAlgError), match=error):
            np.linalg.multi_dot(bad)
        with pytest.raises((ValueError, np.linalg.LinAlgError), match=error):
            cb.vjp(lambda *a: np.linalg.multi_dot(list(a)), *bad)


def test_a_0d_result_is_a_numpy_scalar_or_a_0d_array_as_in_numpy():
    x = np.array([[1.0, 2.0, 0.5], [3.0, np.nan, 4.0]])
    y = np.nan_to_num(x, nan=-1.0)
    z = np.array(1.5)
    calls = {  # (of t = ones((2, 3)))
        "median": lambda t: np.median(y * t),
        "median of a 0-d array": lambda t: np.median(z * np.sum(t)),
        "nanmedian": lambda t: np.nanmedian(x * t),
        "quantile": lambda t: np.quantile(y * t, 0.3),
        "quantile, keepdims": lambda t: np.quantile(y * t, 0.3, keepdims=True),
        "nanpercentile": lambda t: np.nanpercentile(x * t, 30),
        "nanmax": lambda t: np.nanmax(x * t),
        "nanvar": lambda t: np.nanvar(x * t),
        "nanstd": lambda t: np.nanstd(x * t),
        "norm 1": lambda t: np.linalg.norm(y * t, 1),
        "norm inf": lambda t: np.linalg.norm(y * t, np.inf),
        "interp of a 0-d x": lambda t: np.interp(0.1 * np.sum(t), [0.0, 1.0], [1.0, 3.0]),
        "nan_to_num of a 0-d array": lambda t: np.nan_to_num(np.sum(t) * z),
        "tensordot, all axes": lambda t: np.tensordot(y * t, y, axes=2),
        "tensordot, axes listed": lambda t: np.tensordot(y * t, y.T, axes=([1, 0], [0, 1])),
        # (these two were 0-d arrays on traced arrays)
        **{
            f"matrix_norm {o}": lambda t, o=o: np.linalg.matrix_norm(y * t, ord=o)
            for o in (1, -1, np.inf, -np.inf, "fro", "nuc", 2)
        },
        "matrix_norm of no entries": lambda t: np.linalg.matrix_norm(y[:0] * t[:0], ord=1),
        "vecdot of two vectors": lambda t: np.vecdot(y[0] * t[0], y[1]),
        "vecdot, axis=0": lambda t: np.vecdot(y[0] * t[0], y[1], axis=0),
        "linalg.vecdot": lambda t: np.linalg.vecdot(y[0], y[1] * t[1]),
        "vecdot, axes": lambda t: np.vecdot(y[0] * t[0], y[1], axes=[(0,), (0,), ()]),
        "vecdot, keepdims": lambda t: np.vecdot(y[0] * t[0], y[1], keepdims=True),
    }
    t = np.ones((2, 3))
    for name, f in calls.items():
        want = f(t)
        for got in (cb.jvp(f, (t,), (t,))[0], cb.vjp(f, t)[0]):
            assert type(got) is type(want) and np.shape(got) == np.shape(want), name
    with pytest.warns(DeprecationWarning) as caught:
        got = cb.vjp(lambda a, b: np.cross(a, b), t[0, :2], t[1, :2])[0]
    assert type(got) is np.ndarray and got.shape == ()
    assert caught[0].filename == __file__  # (the warning points at the caller, as NumPy's)


def test_var_and_std_take_correction_and_a_given_mean_as_numpy():
    x = np.arange(1.0, 7.0).reshape(2, 3) ** 1.5
    mask = np.array([[True, False, True], [True, True, True]])
    calls = [
        lambda t: np.var(t, axis=1, mean=np.mean(t, axis=1, keepdims=True)),
        lambda t: np.std(t, correction=1),
        lambda t: np.var(t, axis=0, correction=1.0, mean=t.mean(0, keepdims=True)),
        lambda t: np.var(t, axis=1, where=mask, mean=np.mean(t, axis=1, keepdims=True, where=mask)),
        lambda t: np.var(t, mean=2.0),  # (a constant mean: the derivative of sum (t - 2)^2 / n)
        lambda t: np.nanvar(t, axis=1, correction=1),
        lambda t: np.nanstd(t, axis=1, mean=np.nanmean(t, axis=1, keepdims=True)),
    ]
    for f in calls:
        np.testing.assert_allclose(cb.vjp(f, x)[0], f(x), rtol=1e-14)
        cb.check_grads(f, (x,), order=2)
    np.testing.assert_allclose(cb.grad(lambda t: np.var(t, mean=2.0))(x), 2 * (x - 2.0) / x.size)
    for both in (np.var, np.nanvar):
        with pytest.raises(ValueError, match="ddof and correction can't be provided"):
            cb.grad(lambda t, f=both: f(t, ddof=1, correction=1))(x)


def test_ufuncs_take_dtype_and_compute_in_it():
    x, y = np.array([0.3, 1.2, 2.5]), np.array([1.5, -0.5, 2.0])
    for f, in_float64 in (  # (the same in float64, the reference of the derivatives)
        (lambda t: np.add(t, y, dtype=np.float32), lambda t: t + y),
        (lambda t: np.sin(t, dtype=np.float32), np.sin),
        (lambda t: np.multiply(2, t, dtype=np.float64), lambda t: 2 * t),
        (lambda t: np.exp(t.astype(np.float32), dtype=np.float64), np.exp),
    ):
        want = f(x)
        (value, tangent), got = cb.jvp(f, (x,), (x,)), cb.vjp(f, x)[0]
        assert value.dtype == tangent.dtype == got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        reference = cb.jvp(in_float64, (x,), (x,))[1]
        np.testing.assert_allclose(tangent, reference, rtol=1e-6)
        cb.check_grads(in_float64, (x,), order=2)
        gradient = cb.grad(lambda t, f=f: np.sum(f(t)))(x)
        np.testing.assert_allclose(gradient, cb.grad(lambda t, g=in_float64: np.sum(g(t)))(x), 1e-6)
    with pytest.raises(TypeError, match="Cannot cast ufunc 'add' input"):  # (NumPy's own)
        cb.grad(lambda t: np.sum(np.add(t, y, dtype=np.int64)))(x)
    with pytest.raises(NotImplementedError, match="but dtype, got \\['casting'\\]"):
        cb.grad(lambda t: np.sum(np.add(t, y, casting="unsafe")))(x)
    with pytest.raises(NotImplementedError, match=r"np\.where\(mask, numpy\.add\(\.\.\.\)"):
        cb.grad(lambda t: np.sum(np.add(t, y, where=t > 1)))(x)


def test_nan_skipping_reductions_take_where_and_initial_as_numpy():
    x = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, 2.0]])
    w = np.array([[True, True, False], [True, True, False]])
    calls = [
        lambda t: np.nansum(t, axis=1, where=w),
        lambda t: np.nansum(t, initial=5.0),
        lambda t: np.nanprod(t, axis=1, where=w, initial=2.0),
        lambda t: np.nanmean(t, axis=1, where=w),
        lambda t: np.nanmax(t, axis=1, where=w, initial=-9.0),
        lambda t: np.nanmin(t, 0, where=w, initial=9.0, keepdims=True),
    ]
    without_nan = np.array([[1.0, 0.5, 3.0], [-2.0, 0.25, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (NumPy's: a mean of nothing)
        for f in calls:
            want = f(x)
            value, jf, jr = cb.vjp(f, x)[0], cb.jacfwd(f)(x), cb.jacrev(f)(x)
            np.testing.assert_array_equal(value, want)
            assert np.asarray(value).dtype == np.asarray(want).dtype
            np.testing.assert_array_equal(jf, jr)
            assert not np.any(jf.reshape(np.size(want), -1)[:, np.isnan(x).ravel()])
            cb.check_grads(f, (without_nan,), order=2)
    with pytest.raises(ValueError, match="'fmax' does not have an identity"):  # (NumPy's)
        cb.jacrev(lambda t: np.nanmax(t, axis=1, where=w))(x)


def test_joins_and_clip_take_dtype_and_casting_as_numpy():
    x, ints = np.array([0.3, 1.2, 2.5]), np.array([1, 2, 3])
    calls = [
        lambda t: np.concatenate([t, t], dtype=np.float32),
        lambda t: np.concatenate([t, ints], dtype=np.float32),
        lambda t: np.stack([t, t], axis=1, dtype=np.float32),
        lambda t: np.hstack([t, t], dtype=np.float32),
        lambda t: np.vstack([t, t], dtype=np.float64, casting="safe"),
        lambda t: np.clip(t, 0.5, 2.0, dtype=np.float32),
        lambda t: np.clip(t, None, 2.0, dtype=np.float32),
        lambda t: np.clip(x, t - 1.0, 2.0 * t, dtype=np.float32),
    ]
    for f in calls:
        want = f(x)
        (value, tangent), got = cb.jvp(f, (x,), (x,)), cb.vjp(f, x)[0]
        assert value.dtype == tangent.dtype == got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        assert cb.grad(lambda t, f=f: np.sum(f(t)))(x).shape == x.shape
    np.testing.assert_array_equal(cb.grad(lambda t: np.sum(calls[5](t)))(x), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(cb.grad(lambda t: np.sum(calls[1](t)))(x), [1.0, 1.0, 1.0])
    for f, error in (
        (lambda t: np.concatenate([t, t], dtype=np.int64), "Cannot cast array data"),
        (lambda t: np.clip(t, 0, 1, dtype=np.int64), "Cannot cast ufunc 'clip' input"),
        (lambda t: np.stack([t, t], dtype=np.float32, casting="safe"), "rule 'safe'"),
    ):
        with pytest.raises(TypeError, match=error):  # (NumPy's own)
            cb.vjp(f, x)


def test_interp_with_a_traced_period():
    x = np.array([-1.3, 0.2, 1.7, 2.9, 7.4])

    def f(x, p):  # (p alone is not dispatched on by NumPy: x is traced with it)
        return np.interp(x, [2.5, 0.5, 1.0, 2.0], [1.0, 3.0, -1.0, 0.5], period=-p)

    np.testing.assert_allclose(cb.vjp(f, x, np.array(3.0))[0], f(x, 3.0), rtol=1e-14)
    cb.check_grads(f, (x, np.array(3.0)), order=2)
    with pytest.raises(ValueError, match="period must be a non-zero value"):  # (NumPy's)
        cb.vjp(lambda t: np.interp(t, [0.0, 1.0], [1.0, 2.0], period=0.0), x)


def test_an_empty_list_index_selects_nothing():
    x = np.arange(3.0)
    out, tangent = cb.jvp(lambda t: t[[]], (x,), (x,))
    assert out.shape == tangent.shape == x[[]].shape == (0,)
    np.testing.assert_array_equal(cb.grad(lambda t: np.sum(t[[]]) + t[0])(x), [1.0, 0.0, 0.0])


GUFUNC_AXES = [  # (gufunc, operand shapes, axes): each operand's core axes and the result's
    (np.matmul, [(3, 2, 4), (4, 5)], [(0, 2), (0, 1), (0, 1)]),
    (np.matmul, [(6, 4, 3), (6, 4, 3)], [(-1, -2), (-2, -1), (0, 2)]),
    (np.matmul, [(4,), (4, 5)], [(0,), (0, 1), (0,)]),
    (np.matmul, [(4, 5), (4,)], [(1, 0), (0,), (0,)]),
    (np.matmul, [(4,), (4,)], [(0,), (0,), ()]),
    (np.matmul, [(2, 3, 4), (2, 5, 4)], [(1, 2), (2, 1), (1, 2)]),
    (np.vecdot, [(3, 2), (3, 2)], [(0,), (0,), ()]),
    (np.vecdot, [(3, 2), (2, 3)], [(0,), (1,)]),
    (np.matvec, [(3, 4, 2), (4, 2)], [(0, 1), (0,), (0,)]),
    (np.vecmat, [(3, 2), (4, 3)], [(0,), (1, 0), (0,)]),
]


@pytest.mark.parametrize(("gufunc", "shapes", "axes"), GUFUNC_AXES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gufunc_axes_are_numpys(gufunc, shapes, axes, dtype):
    """matmul, vecdot, matvec and vecmat with axes=: NumPy's values, shape and dtype, and the
    Jacobian of each operand the same in both modes and against finite differences."""
    rng = np.random.default_rng(3)
    args = [rng.standard_normal(s).astype(dtype) for s in shapes]
    want = gufunc(*args, axes=axes)
    for k in range(len(args)):

        def f(x, k=k):
            return gufunc(*[x if i == k else a for i, a in enumerate(args)], axes=axes)

        for out in (cb.vjp(f, args[k])[0], cb.jvp(f, (args[k],), (args[k],))[0]):
            assert np.shape(out) == want.shape and out.dtype == want.dtype
            np.testing.assert_allclose(out, want, rtol=1e-6 if dtype is np.float32 else 1e-14)
        if dtype is np.float64:
            np.testing.assert_allclose(cb.jacrev(f)(args[k]), cb.jacfwd(f)(args[k]), atol=1e-14)
            cb.check_grads(f, (args[k],), order=2)


def test_gufunc_axes_errors_are_numpys():
    """Wrong axes= get NumPy's own error, not calcbook's."""
    a, b = np.ones((3, 4)), np.ones((4, 5))
    for bad in ([(0, 1), (0, 1)], [(0, 1)] * 4, [(0, 5), (0, 1), (0, 1)], [(1, 0), (0, 1), (0, 1)]):
        with pytest.raises(Exception) as numpy_error:
            np.matmul(a, b, axes=bad)
        with pytest.raises(type(numpy_error.value), match="^" + re.escape(str(numpy_error.value))):
            cb.grad(lambda a, bad=bad: np.sum(np.matmul(a, b, axes=bad)))(a)


def test_polyfit_covariance_is_numpys():
    """polyfit(cov=...): NumPy's coefficients and covariance (scaled, unscaled, of two right
    sides, float32), and NumPy's refusal to scale it with no more points than coefficients."""
    x = np.linspace(-1.0, 2.0, 9)
    y = np.sin(x) + 0.1 * np.cos(7 * x)
    for args, kw in [
        ((x, y, 2), {"cov": True}),
        ((x, y, 3), {"cov": "unscaled"}),
        ((x, np.stack([y, np.cos(x)], 1), 2), {"cov": True}),
        ((x, np.stack([y, np.cos(x)], 1), 1), {"cov": "unscaled", "w": 1 + x**2}),
        ((x.astype(np.float32), y.astype(np.float32), 2), {"cov": True}),
    ]:
        want = np.polyfit(*args, **kw)
        x_, y_, deg = args
        got = cb.vjp(lambda t, x_=x_, deg=deg, kw=kw: np.polyfit(x_, t, deg, **kw), y_)[0]
        for w, g in zip(want, got, strict=True):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=1e-5 if w.dtype == np.float32 else 1e-12)
    with pytest.raises(ValueError, match="must exceed order to scale the covariance"):
        cb.jacrev(lambda y: np.polyfit(x[:3], y, 2, cov=True)[1])(y[:3])
    np.testing.assert_allclose(  # (unscaled needs no spare points)
        cb.vjp(lambda y: np.polyfit(x[:3], y, 2, cov="unscaled")[1], y[:3])[0],
        np.polyfit(x[:3], y[:3], 2, cov="unscaled")[1],
        rtol=1e-12,
    )


@pytest.mark.parametrize("method", QUANTILE_METHODS)
def test_quantile_with_a_nan_row_at_a_traced_q(method):
    # a row whose quantile is NaN (a NaN in it, or none left to nanquantile) gave NaN to jacrev's
    # derivative in q of every other row (0 * NaN through the NaN row's gap), jacfwd 0
    x = np.array([[0.5, np.nan, -1.0, 2.0], [1.5, np.nan, 0.25, -0.5]])
    q = np.array([0.37, 0.81])
    for f in (
        lambda x, q: np.quantile(x, q, axis=1, method=method),
        lambda x, q: np.nanquantile(x, q, axis=0, method=method),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # (the all-NaN column)
            fwd, rev = cb.jacfwd(f, argnums=(0, 1))(x, q), cb.jacrev(f, argnums=(0, 1))(x, q)
        for a, b in zip(fwd, rev, strict=True):
            np.testing.assert_array_equal(a, b)
            assert not np.isnan(a).any()


@pytest.mark.parametrize("method", QUANTILE_METHODS)
def test_quantile_of_float32_at_a_traced_float32_q_is_numpys(method):
    # the slope in q (float64) made the weight float64: float32 results a bit off NumPy's
    rng = np.random.default_rng(0)
    x, q = rng.standard_normal((3, 7)).astype(np.float32), np.array([0.2, 0.7], np.float32)
    f = lambda x, q: np.quantile(x, q, axis=-1, method=method)  # noqa: E731
    expected = f(x, q)
    for got in (cb.vjp(f, x, q)[0], cb.jvp(f, (x, q), (x, q))[0]):
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == expected.dtype
    # no entries, linear at a traced float32 q: float32, as NumPy's (it was float64)
    e = np.zeros((2, 0), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = cb.vjp(lambda e, q: np.quantile(e, q, axis=0), e, q[0])[0]
        assert got.dtype == np.quantile(e, q[0], axis=0).dtype == np.float32


@pytest.mark.parametrize(
    ("shapes", "kwargs"),
    [(((3, 4), (3, 1)), {}), (((4,), (1,)), {}), (((2, 3, 4), (3, 1)), {"axis": 1}),
     (((3, 4), (3, 1)), {"axes": [(-1,), (-1,), ()]})],
)  # fmt: skip
def test_vecdot_core_axes_of_different_sizes_get_numpys_error(shapes, kwargs):
    # the product x1 * x2 broadcast a core axis of size 1 against n: a result where NumPy refuses
    x1, x2 = (np.ones(s) for s in shapes)
    with pytest.raises(ValueError, match="mismatch in its core dimension") as numpys:
        np.vecdot(x1, x2, **kwargs)
    fs = [lambda x1, x2: np.vecdot(x1, x2, **kwargs)]
    if "axes" not in kwargs:
        fs.append(lambda x1, x2: np.linalg.vecdot(x1, x2, **kwargs))
    for f in fs:
        with pytest.raises(ValueError, match="mismatch in its core dimension") as got:
            cb.vjp(f, x1, x2)
        assert str(got.value).startswith(str(numpys.value))
        with pytest.raises(ValueError, match="mismatch in its core dimension"):
            cb.jvp(f, (x1, x2), (x1, x2))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_svd_of_a_hermitian_matrix_with_a_zero_eigenvalue_is_numpys(dtype):
    # the sign moved into vh was np.sign, 0 at a zero eigenvalue: a row of vh was 0; NumPy's is
    # copysign(1, w), so u s vh is still the matrix
    v = np.array([[[0.6], [-0.8]], [[1.0], [2.0]]])
    a = (v * np.array([3.0, -2.0])[:, None, None] @ np.swapaxes(v, -1, -2)).astype(dtype)
    want = np.linalg.svd(a, hermitian=True)
    assert np.any(want.S == 0)
    f = lambda x: np.linalg.svd(x, hermitian=True)  # noqa: E731
    for got in (cb.vjp(f, a)[0], cb.jvp(f, (a,), (a,))[0]):
        for w, g in zip(want, got, strict=True):
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)
    if dtype is np.float64:

        def loss(x):  # (not vh's row at 0: its sign flips as the eigenvalue crosses 0)
            u, s, vh = f(x)
            return np.sum(s * s) + np.sum(np.sin(u * u)) + np.sum(np.cos(vh[..., 0, :] ** 2))

        cb.check_grads(loss, (a,), order=1)  # (s = |w| has slope 0 at w = 0: no second order)


@pytest.mark.parametrize(
    "view",
    [lambda b: np.broadcast_to(b[:, :1], (2, 3, 4)),
     lambda b: np.broadcast_to(b[:, :1, ::-1], (2, 3, 4)).T,
     lambda b: np.broadcast_to(b[:, :, :1], (2, 3, 5))[:, ::-1], lambda b: b[:, :1].T[..., None]],
)  # fmt: skip
def test_ravel_order_k_of_an_input_with_a_stride_of_0_is_numpys(view):
    # NumPy's iterator does not compare an axis of stride 0 (broadcast, or of size 1) with the
    # others; the memory order was read from empty_like(order='K'), which puts it innermost
    x = view(np.arange(24.0).reshape(2, 3, 4))
    for f in (lambda t: np.ravel(t, order="K"), lambda t: t.ravel("K") * 2.0):
        want = f(x)
        np.testing.assert_array_equal(cb.vjp(f, x)[0], want)
        np.testing.assert_array_equal(cb.jvp(f, (x,), (np.ones(x.shape),))[0], want)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reductions_with_where_are_numpys_to_the_last_bit(dtype):
    # sums with where= were sums of the entries replaced by 0: NumPy's masked sum adds in
    # another order, so np.sum, mean, var, std, nanvar and nanstd were an ulp off about half
    # the time; they now take NumPy's masked sum (its derivative that of the selection)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 7)).astype(dtype)
    where = rng.random((6, 7)) > 0.4
    where[:, :2] = True  # (at least two selected per row: no NaN)
    y = x.copy()
    y[rng.random(x.shape) < 0.2] = np.nan
    calls = [
        (lambda t: np.sum(t, axis=1, where=where), x),
        (lambda t: np.mean(t, axis=-1, where=where), x),
        (lambda t: np.var(t, axis=1, where=where), x),
        (lambda t: np.std(t, axis=1, where=where, keepdims=True), x),
        (lambda t: np.nanvar(t, axis=1, where=where), y),
        (lambda t: np.nanstd(t, axis=(0, 1), where=where[0]), y),
        (lambda t: np.nanvar(t, axis=1, ddof=1, where=where), x),
    ]
    for f, a in calls:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = f(a)
            for got in (cb.vjp(f, a)[0], cb.jvp(f, (a,), (np.ones_like(a),))[0]):
                np.testing.assert_array_equal(got, want)
                assert got.dtype == want.dtype
    if dtype is np.float64:
        for f, _ in calls[:4]:
            cb.check_grads(f, (x,), order=2)
        z = np.where(np.isnan(y), 0.5, y)  # (check_grads moves every entry: no NaN in it)
        cb.check_grads(calls[4][0], (z,), order=2)


@pytest.mark.parametrize("axis", [(2, 0), (-1, -3), (0, 2), (2, 1, 0)])
def test_weighted_quantile_over_axes_listed_out_of_order_is_numpys(axis):
    # weights shaped as a along `axis` follow axis's order, as NumPy's; the axes were sorted
    # first, so for (2, 0) the weights were laid along the wrong axes
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 4))
    w = rng.random(tuple(x.shape[i] for i in axis)) + 0.1
    # (not np.nanquantile: NumPy's own fails, an IndexError, with weights shaped along the axes)
    for quantile in (np.quantile, np.percentile):
        q = [0.3, 0.8] if quantile is np.quantile else [30.0, 80.0]

        def f(t, quantile=quantile, q=q):
            return quantile(t, q, axis=axis, method="inverted_cdf", weights=w)

        want = f(x)
        for got in (cb.vjp(f, x)[0], cb.jvp(f, (x,), (x,))[0]):
            np.testing.assert_array_equal(got, want)
        cb.check_grads(f, (x,), order=1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_svd_values_of_a_hermitian_matrix_are_numpys_to_the_last_bit(dtype):
    # NumPy's are |eigvalsh(a)| sorted in decreasing order; calcbook took the singular values of
    # the lower triangle's symmetric matrix (LAPACK's SVD), an ulp or so off
    a = np.random.default_rng(10).standard_normal((3, 5, 5)).astype(dtype)  # (not symmetric)
    f = lambda x: np.linalg.svd(x, hermitian=True, compute_uv=False)  # noqa: E731
    want = f(a)
    for got in (cb.vjp(f, a)[0], cb.jvp(f, (a,), (a,))[0]):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    if dtype is np.float64:
        cb.check_grads(f, (a,), order=2)


def test_quantiles_0d_results_have_numpys_type_with_weights_or_keepdims():
    # NumPy gives a 0-d array, not a NumPy scalar, for a weighted quantile and for keepdims of
    # a 0-d a; calcbook gave a scalar
    x, w, z = np.arange(5.0), np.ones(5), np.array(1.5)
    calls = [
        (lambda a: np.quantile(a, 0.3, method="inverted_cdf", weights=w), x),
        (lambda a: np.nanpercentile(a, 30, method="inverted_cdf", weights=w), x),
        (lambda a: np.median(a, keepdims=True), z),
        (lambda a: np.nanmedian(a, None, None, False, True), z),
        (lambda a: np.quantile(a, 0.3, None, None, False, "linear", True), z),
        (lambda a: np.nanquantile(a, 0.3, keepdims=True), z),
        (lambda a: np.quantile(a, 0.3), z),  # (a NumPy scalar, as before)
        (lambda a: np.median(a), x),
        (lambda a: np.nanquantile(a, 0.3, method="inverted_cdf", weights=a), np.zeros(0)),
    ]
    for f, a in calls:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # (no entries)
            want, got_rev, got_fwd = f(a), cb.vjp(f, a)[0], cb.jvp(f, (a,), (a,))[0]
        for got in (got_rev, got_fwd):
            assert type(got) is type(want)
            np.testing.assert_array_equal(got, want)


def test_second_derivatives_of_products_with_no_entries_are_empty():
    # the exact products-before-times-after rule of np.prod (taken when the rule is itself
    # differentiated, and by np.cumprod's nested path) reshaped a group of no entries to (..., -1)
    # and crashed: 'cannot reshape array of size 0 into shape (0,newaxis)'
    x = np.linspace(0.5, 1.5, 4)
    calls = [
        lambda t: np.sum(np.cumprod(t[:0])),
        lambda t: np.sum(np.cumprod(np.reshape(t[:0], (1, 0)), axis=1)),
        lambda t: np.sum(np.prod(t[:0])),
        lambda t: np.sum(np.prod(np.reshape(t[:0], (0, 3)), axis=0) * t[:3]),
        lambda t: np.sum(np.prod(np.reshape(t[:0], (2, 0)), axis=1, keepdims=True) * t[:2]),
    ]
    for f in calls:
        for hess in (cb.hessian(f), cb.jacrev(cb.jacrev(f)), cb.jacrev(cb.jacfwd(f))):
            np.testing.assert_allclose(hess(x), cb.numdiff.hessian(f, x), atol=1e-6)
        cb.check_grads(f, (x,), order=2)


def test_roll_is_laid_out_as_numpys_so_its_sums_are_numpys_to_the_last_bit():
    # np.roll copies into empty_like(a), a's own layout; calcbook gathered along the axis, which
    # for an inner axis is laid out column by column, so a sum of the result added in another
    # order and was an ulp off NumPy's in about half of the calls
    rng = np.random.default_rng(3)
    calls = [
        lambda t: np.sum(np.roll(t, -2, 1)),
        lambda t: np.sum(np.roll(t, 1, axis=-1) * t),
        lambda t: np.roll(t, (1, -1), axis=(0, 1)).sum(),
        lambda t: np.sum(np.roll(t.T, 3, 0)),
        lambda t: np.ravel(np.roll(t, 2, 1), order="K"),
    ]
    xs = rng.standard_normal((40, 6, 5))
    assert sum(traced_values_differ(f, xs) for f in calls) == 0
    for f in calls:
        cb.check_grads(f, (xs[-1],), order=2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_products_by_blas_are_numpys_to_the_last_bit(dtype):
    # np.vdot, np.inner, np.tensordot, np.vecdot and N-D np.dot are BLAS dot products in NumPy;
    # calcbook took sums of products (vdot, vecdot) and einsum (the others), an ulp or so off
    rng = np.random.default_rng(11)
    calls = [
        (np.vdot, (20,), (20,)),
        (np.vdot, (4, 5), (5, 4)),
        (np.inner, (20,), (20,)),
        (np.inner, (3, 20), (4, 20)),
        (np.inner, (3, 7), (7,)),
        (np.inner, (7,), (4, 7)),
        (np.inner, (2, 3, 6), (4, 6)),
        (np.inner, (5,), (2, 3, 5)),
        (np.dot, (3, 20), (2, 20, 3)),
        (np.dot, (20,), (2, 20, 3)),
        (lambda a, b: np.tensordot(a, b, 2), (3, 4, 5), (4, 5, 2)),
        (lambda a, b: np.tensordot(a, b, 1), (3, 17), (17, 2)),
        (lambda a, b: np.tensordot(a, b, ([1, 2], [1, 0])), (3, 4, 5), (5, 4, 2)),
        (lambda a, b: np.tensordot(a, b, 2), (4, 5), (4, 5)),  # (a 0-d array, as NumPy's)
        (lambda a, b: np.linalg.tensordot(a, b, axes=1), (3, 17), (17, 2)),
        (np.vecdot, (3, 20), (3, 20)),
        (lambda a, b: np.vecdot(a, b, axis=0), (20, 3), (20, 1)),
        (lambda a, b: np.vecdot(a, b, axis=-2, keepdims=True), (2, 20, 3), (20, 3)),
        (np.linalg.vecdot, (3, 20), (20,)),
    ]
    for f, sa, sb in calls:
        for _ in range(10):
            a, b = (rng.standard_normal(s).astype(dtype) for s in (sa, sb))
            want = f(a, b)
            for got in (
                cb.vjp(f, a, b)[0],
                cb.jvp(f, (a, b), (a, b))[0],
                cb.vjp(lambda t, b=b, f=f: f(t, b), a)[0],
            ):
                np.testing.assert_array_equal(got, want)
                assert type(got) is type(want) and got.dtype == want.dtype
        if dtype is np.float64:
            cb.check_grads(f, (a, b), order=2)
    with pytest.raises(ValueError):  # (NumPy's: the vectors must be of one length)
        cb.grad(lambda t: np.vdot(t, np.ones(3)))(np.ones(1))
    with pytest.raises(ValueError, match="shape-mismatch for sum"):
        cb.vjp(lambda t: np.tensordot(t, np.ones((3, 2)), ([0, 1], [0, 1])), np.ones((2, 3)))


def test_new_arrays_are_laid_out_as_numpys_so_their_sums_are_numpys_to_the_last_bit():
    # NumPy's repeat, take, delete and tile make C-ordered arrays, sort, gradient and
    # cumulative_sum(include_initial=True) copy in their input's layout, pad Fortran-orders a
    # Fortran-ordered input; calcbook's gathers, scatters and broadcasts were laid out otherwise
    # (tile a broadcast view), so a sum of the result added in another order, an ulp or so off
    rng = np.random.default_rng(5)
    ops = [
        lambda t: np.repeat(t, 2, axis=1),
        lambda t: np.repeat(t.T, 2, axis=1),
        lambda t: np.take(t, [0, 2, 3, 1, 4], axis=1),
        lambda t: np.delete(t, 1, axis=1),
        lambda t: np.tile(t[:, :1, 0], t.shape[2]) * t[:, 0, :],
        lambda t: np.tile(t.T, 1),
        lambda t: np.sort(t.T, axis=0),
        lambda t: np.pad(t.T, 1),
        lambda t: np.pad(t.T, ((1, 0), (0, 2), (1, 1)), mode="edge"),
        lambda t: np.cumulative_sum(np.swapaxes(t, 1, 0), axis=2, include_initial=True),
        lambda t: np.gradient(t.T, axis=0),
    ]
    differing = []
    for i, op in enumerate(ops):
        for reduce in (np.sum, lambda y: np.sum(y, axis=0), lambda y: np.mean(y, axis=-1)):
            f = lambda t, op=op, reduce=reduce: reduce(op(t))  # noqa: E731
            xs = rng.standard_normal((20, 6, 5, 7))
            if traced_values_differ(f, xs):
                differing.append(i)
        cb.check_grads(lambda t, op=op: np.sum(np.sin(op(t))), (xs[-1][:3, :5, :3],), order=2)
    assert differing == []


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lstsq_gives_numpys_values_to_the_last_bit(dtype):
    # NumPy's solution, residuals and singular values are LAPACK gelsd's; calcbook gave pinv(a) @ b,
    # sum(r * r) and svd's singular values, an ulp or so off in nearly every call
    rng = np.random.default_rng(12)
    shapes = [((5, 3), (5,)), ((5, 3), (5, 2)), ((3, 3), (3,)), ((3, 5), (3,)), ((3, 5), (3, 2))]
    for sa, sb in shapes:
        for _ in range(10):
            a, b = (rng.standard_normal(s).astype(dtype) for s in (sa, sb))
            want = np.linalg.lstsq(a, b)
            for got in (
                cb.vjp(lambda t, u: np.linalg.lstsq(t, u), a, b)[0],
                cb.jvp(lambda t, u: np.linalg.lstsq(t, u), (a, b), (a, b))[0],
            ):
                for g, w in zip(got, want, strict=True):
                    np.testing.assert_array_equal(g, w)
                    assert np.asarray(g).dtype == np.asarray(w).dtype
        if dtype is np.float64:
            for k in (0, 1, 3) if sa[0] > sa[1] else (0, 3):
                f = lambda t, u, k=k: np.sum(np.sin(np.linalg.lstsq(t, u)[k]))  # noqa: E731
                cb.check_grads(f, (a, b), order=2)


def test_diagonal_is_numpys_view_so_products_of_it_are_numpys_to_the_last_bit():
    # np.diagonal is a strided view in NumPy; calcbook gathered it into a contiguous copy, and
    # einsum adds a strided operand in another order: an ulp or so off NumPy's in most calls
    rng = np.random.default_rng(8)
    calls = [
        lambda t: np.einsum("a,b->b", np.diagonal(t, 1), t[0, :29]),
        lambda t: np.einsum("a->", np.diagonal(t, -2)),
        lambda t: np.einsum("i,i->", np.diag(t), t[1, :30]),
        lambda t: np.einsum("ij->j", np.diagonal(np.reshape(t, (40, 5, 6)), 0, 1, 2)),
        lambda t: np.einsum("ij->i", np.diagonal(np.reshape(t, (40, 5, 6)), 1, -1, 0)),
    ]
    for f in calls:
        xs = rng.standard_normal((20, 40, 30))
        assert traced_values_differ(f, xs) == 0
        small = lambda t, f=f: f(np.tile(t, (10, 10)))  # noqa: E731 (40 x 30 from 4 x 3)
        cb.check_grads(small, (xs[-1][:4, :3],), order=2)
    y = rng.standard_normal((2, 3, 4))
    for args in [(0, 0, 1), (1, 2, 0), (-1, -1, -3), (2, 1, 2)]:
        f = lambda t, args=args: np.diagonal(t, *args) * 1.5  # noqa: E731
        cb.check_grads(f, (y,), order=2)
        np.testing.assert_array_equal(cb.jacfwd(f)(y), cb.jacrev(f)(y))


@pytest.mark.parametrize("n", [2, 3, -3, 4, 5, 6, 7, -7])
def test_matrix_power_multiplies_in_numpys_order(n):
    # NumPy's a^3 is (a @ a) @ a; calcbook's binary powers took a @ (a @ a), an ulp or so off
    rng = np.random.default_rng(13)
    f = lambda t: np.linalg.matrix_power(t, n)  # noqa: E731
    for a in rng.standard_normal((10, 2, 4, 4)) + 3 * np.eye(4):
        want = f(a)
        for got in (cb.vjp(f, a)[0], cb.jvp(f, (a,), (a,))[0]):
            np.testing.assert_array_equal(got, want)
    cb.check_grads(f, (a,), order=2)


def test_copies_of_broadcast_inputs_are_laid_out_as_numpys_so_their_sums_are_numpys():
    # NumPy's copies in order='K' (np.sort's, np.gradient's empty_like, the nan functions' copy
    # with the NaNs replaced) put an axis of stride 0 innermost; calcbook laid them out in
    # iterator order or as np.where does, so a sum of one of a broadcast input was an ulp or so off
    rng = np.random.default_rng(14)
    ops = [
        np.nansum,
        np.nanmean,
        np.nanvar,
        lambda y: np.nanstd(y, ddof=1),
        np.nanprod,
        lambda y: np.nansum(y, axis=(0, -1)),
        lambda y: np.sum(np.nancumsum(y, axis=1)),
        lambda y: np.sum(np.sort(y, axis=0)),
        lambda y: np.sum(np.gradient(y, axis=1)),
        lambda y: np.sum(np.cumulative_sum(np.swapaxes(y, 0, 2), axis=1, include_initial=True)),
    ]
    views = [
        lambda t: np.broadcast_to(t, (2, 3, 4)),
        lambda t: np.broadcast_to(t[:, :1], (5, 3, 4)),
    ]
    differing = []
    for i, op in enumerate(ops):
        for view in views:
            f = lambda t, op=op, view=view: op(view(t))  # noqa: E731
            xs = rng.standard_normal((30, 3, 4))
            if traced_values_differ(f, xs):
                differing.append(i)
            cb.check_grads(f, (xs[-1] + 3,), order=2)
    assert differing == []


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_power_operator_of_a_numpy_scalar_is_numpys_to_the_last_bit(dtype):
    # `s ** e` of a NumPy scalar (np.sum's result, say) is NumPy's scalar math, the C library's
    # pow; calcbook took np.power's loop, an ulp off in about 5% (float64) to 20% (float32) of calls
    rng = np.random.default_rng(15)
    calls = [
        lambda t: np.sum(t) ** 3,
        lambda t: np.sum(t) ** 1.5,
        lambda t: np.mean(t) ** -2.5,
        lambda t: 2.5 ** np.sum(t),
        lambda t: np.sum(t) ** np.max(t),
        lambda t: np.sum(t**1.5),  # (an array: np.power's loop, as before)
    ]
    for f in calls:
        xs = rng.uniform(0.1, 0.6, (300, 3)).astype(dtype)
        assert traced_values_differ(f, xs, same_type=True) == 0
        if dtype is np.float64:
            cb.check_grads(f, (xs[-1],), order=2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_number_input_computes_as_numpy_computes_on_a_numpy_scalar(dtype):
    # a number or NumPy scalar given to a transform was traced as a 0-d array, so `x ** e` took
    # np.power's loop, where NumPy's f(x) takes its scalar math: an ulp off in about 5% of calls
    rng = np.random.default_rng(17)
    es = rng.uniform(-4, 4, 300)
    xs = rng.uniform(0.1, 10.0, 300).astype(dtype)
    for kind in (dtype, float):  # a NumPy scalar, and a Python float (pow alike, in float64)
        if kind is float and dtype is np.float32:
            continue
        for x, e in zip(xs, es, strict=True):
            x, base = kind(x), float(abs(e))
            for f in (
                lambda t, e=e: t**e,
                lambda t, base=base: base**t,
                lambda t: np.exp(t) ** 1.5,
            ):
                want = f(x)
                (got, _), (fwd, _) = cb.vjp(f, x), cb.jvp(f, (x,), (np.ones((), dtype),))
                assert got == want == fwd  # (f(1.5) is a Python float, got a NumPy one)
                assert type(got) is type(fwd) is (np.float64 if kind is float else type(want))
    cb.check_grads(lambda t: t**2.7 + 1.5**t, (np.float64(1.3),), order=2)


def test_the_gradient_of_a_0d_input_is_a_numpy_scalar_whatever_the_rule():
    # the gradient of a 0-d input was a NumPy scalar after some rules (np.sin) and a 0-d array
    # after others (np.sum, np.mean, a reshape), as the rule happened to compute it
    calls = [
        np.sin,
        np.sum,
        np.mean,
        lambda t: np.reshape(t, (1,))[0],
        lambda t: np.stack([t, t])[1],
        lambda t: t**3,
        lambda t: np.float64(2.0),  # (constant: the derivative 0)
    ]
    for x in (1.5, 2, np.float64(1.5), np.float32(1.5), np.array(1.5), np.array(1.5, np.float32)):
        dtype = np.asarray(x).dtype if np.asarray(x).dtype.kind == "f" else np.dtype(np.float64)
        for f in calls:
            g = cb.grad(f)(x)
            assert type(g) is dtype.type, (x, f, type(g))
            (gv,) = cb.vjp(f, x)[1](np.ones((), dtype))
            assert type(gv) is dtype.type
            assert type(cb.value_and_grad(f, argnums=(0,))(x)[1][0]) is dtype.type


def test_blas_products_of_strided_inputs_are_c_ordered_as_numpys():
    # NumPy's N-D inner and dot and its tensordot return new C-ordered arrays; calcbook's matmul
    # recipes were laid out as their strided inputs, so a sum or einsum of the result added in
    # another order, an ulp or so off NumPy's
    rng = np.random.default_rng(16)
    calls = [
        lambda t: np.einsum(
            "abc,dbeb->ce", np.prod(np.inner(t.T, t.T), axis=-1), np.inner(t.T, t.T)
        ),
        lambda t: np.sum(np.inner(t.T, t[:, 0].T), axis=0),
        lambda t: np.sum(np.dot(t[:, 0].T, np.transpose(t, (2, 0, 1))), axis=(0, 2)),
        lambda t: np.sum(np.tensordot(t.T, t[:, :, 0], 1), axis=1),
    ]
    for f in calls:
        xs = rng.standard_normal((30, 4, 3, 2))
        assert traced_values_differ(f, xs) == 0
        cb.check_grads(f, (xs[-1],), order=2)


def test_more_new_arrays_are_laid_out_as_numpys_so_their_sums_are_numpys():
    # NumPy's cross, select and meshgrid (copy=True) make C-ordered arrays, insert a Fortran-
    # ordered one of a Fortran-ordered input, partition and piecewise copies in their input's
    # layout; calcbook's were laid out otherwise, so a sum of the result was an ulp or so off
    rng = np.random.default_rng(17)
    ops = [
        lambda a: np.cross(a.T[..., :3], a.T[..., 1:4]),
        lambda a: np.partition(a.T, 1, axis=0),
        lambda a: np.insert(a.T, 1, 0.5, axis=1),
        lambda a: np.meshgrid(a[0, 0], a[1, 1])[0] * 1.5,
        lambda a: np.select([a.T > 0], [a.T]),
        lambda a: np.piecewise(a.T, [a.T > 0], [lambda v: v * 2, lambda v: v]),
    ]
    for op in ops:
        f = lambda t, op=op: np.sum(op(t))  # noqa: E731
        xs = rng.standard_normal((40, 6, 5, 7))
        assert traced_values_differ(f, xs) == 0
        cb.check_grads(f, (xs[-1],), order=1)


@pytest.mark.parametrize("order", [3, 0.5, -1, 1.5])
def test_forward_derivative_of_a_p_norm_of_no_entries_is_zero(order):
    # a p-norm (p not 0, 1, 2 or inf) of no entries is NumPy's constant 0 (inf for p < 0); its
    # forward derivative was 0 ** (1 / p - 1) times a sum of no tangents, NaN, where reverse mode
    # gave 0: jacfwd, jvp and hessian of a function using it were NaN
    x = np.array([0.5, 2.0, -1.5])
    calls = [
        lambda t: np.minimum(np.linalg.vector_norm(t[:0], ord=order), 5.0) + t[0] ** 2,
        lambda t: (
            np.sum(np.fmin(np.linalg.norm(t[:0].reshape(0, 2), ord=order, axis=0), 5)) + t @ t
        ),
        lambda t: np.minimum(np.linalg.vector_norm(t[:0], ord=order), 0.0) + np.sin(t[1]),
    ]
    with warnings.catch_warnings():
        # NumPy warns of 0 ** (1 / p) for p < 0, and of nothing else: neither may calcbook
        warnings.simplefilter("ignore" if order < 0 else "error", RuntimeWarning)
        for f in calls:
            want = f(x)
            value, tangent = cb.jvp(f, (x,), (np.ones(3),))
            np.testing.assert_array_equal(value, want)
            np.testing.assert_allclose(tangent, cb.jacrev(f)(x) @ np.ones(3))
            np.testing.assert_allclose(cb.jacfwd(f)(x), cb.numdiff.gradient(f, x), atol=1e-8)
            np.testing.assert_allclose(cb.hessian(f)(x), cb.numdiff.hessian(f, x), atol=1e-5)


def test_vander_is_c_ordered_as_numpys_so_products_of_it_are_numpys():
    # NumPy's vander is a new C-ordered array; calcbook's decreasing powers were a reversed view
    # (a negative stride), which np.sort then copied in that layout, and einsum added in another
    # order: an ulp or so off NumPy's
    rng = np.random.default_rng(18)
    calls = [
        lambda t: np.einsum("ab,ab->", np.sort(np.vander(t, 3), axis=1), np.vander(t, 3)),
        lambda t: np.einsum("ab->", np.sort(np.vander(t), axis=0)),
    ]
    for f in calls:
        xs = rng.uniform(-1.5, 1.5, (100, 6))
        assert traced_values_differ(f, xs) == 0
        cb.check_grads(f, (xs[-1],), order=2)
