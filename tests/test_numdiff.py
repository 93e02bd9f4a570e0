"""Tests for calcbook.numdiff, against closed-form derivatives (nothing beyond the test extras)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from calcbook import numdiff

# Smooth functions with stable closed-form derivatives, at steep, tiny and huge arguments.
REFERENCE = {
    "exp at 1": (np.exp, np.exp, 1.0),
    "sin at 1e-3": (np.sin, np.cos, 1e-3),
    "x^-3 at 0.1": (lambda x: x**-3.0, lambda x: -3.0 * x**-4.0, 0.1),
    "log at 1e-4": (np.log, lambda x: 1 / x, 1e-4),
    "exp(50x) at 0.3": (lambda x: np.exp(50 * x), lambda x: 50 * np.exp(50 * x), 0.3),
    "x^2 at 1e8": (lambda x: x * x, lambda x: 2 * x, 1e8),
    "tanh at 0.7": (np.tanh, lambda x: 1 / np.cosh(x) ** 2, 0.7),
    "rational at 2": (
        lambda x: (1 + x) / (1 + x * x),
        lambda x: (1 - 2 * x - x * x) / (1 + x * x) ** 2,
        2.0,
    ),
    "sqrt at 1e-6": (np.sqrt, lambda x: 0.5 / np.sqrt(x), 1e-6),
    "arctan at -3": (np.arctan, lambda x: 1 / (1 + x * x), -3.0),
}
# Relative accuracy each method reaches on the whole set. Forward differences are limited to
# about sqrt(eps) * |f| / |x f'|, which is 2e-7 for log at 1e-4.
BOUND = {"forward": 3e-7, "backward": 3e-7, "central": 1e-9, "richardson": 1e-12, "complex": 1e-15}
SECOND = {  # f'' in closed form, for n=2
    "exp at 1": lambda x: np.exp(x),
    "x^-3 at 0.1": lambda x: 12.0 * x**-5.0,
    "log at 1e-4": lambda x: -1 / x**2,
    "exp(50x) at 0.3": lambda x: 2500 * np.exp(50 * x),
    "tanh at 0.7": lambda x: -2 * np.tanh(x) / np.cosh(x) ** 2,
    "arctan at -3": lambda x: -2 * x / (1 + x * x) ** 2,
}
BOUND2 = {"forward": 3e-4, "backward": 3e-4, "central": 1e-6, "richardson": 1e-9}


class Counted:
    """Wrap f to count its calls independently of `info.evaluations`."""

    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, x):
        self.calls += 1
        return self.f(x)


@pytest.mark.parametrize("method", list(BOUND))
@pytest.mark.parametrize("case", list(REFERENCE))
def test_reference_accuracy_and_honest_error(case, method):
    f, df, x = REFERENCE[case]
    value, info = numdiff.derivative(f, x, method=method, full_output=True)
    exact = df(x)
    assert abs(value - exact) <= BOUND[method] * abs(exact)
    assert abs(value - exact) <= info.error  # the error bar covers the true error
    assert info.error <= 1e4 * BOUND[method] * abs(exact)  # ... and is not uselessly loose


@pytest.mark.parametrize("method", list(BOUND2))
@pytest.mark.parametrize("case", list(SECOND))
def test_second_derivative(case, method):
    f, _, x = REFERENCE[case]
    value, info = numdiff.derivative(f, x, n=2, method=method, full_output=True)
    exact = SECOND[case](x)
    assert abs(value - exact) <= BOUND2[method] * abs(exact)
    assert abs(value - exact) <= info.error


def test_elementwise_arrays_and_default_output():
    x = np.linspace(-2.0, 2.0, 7).reshape(7, 1) * np.ones((1, 3))
    d = numdiff.derivative(np.sin, x)
    assert isinstance(d, np.ndarray) and d.shape == x.shape
    np.testing.assert_allclose(d, np.cos(x), rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("method", "n", "plain", "full"),
    [
        ("forward", 1, 2, 3),
        ("forward", 2, 3, 4),
        ("backward", 1, 2, 3),
        ("backward", 2, 3, 4),
        ("central", 1, 3, 5),  # (and f(x): no derivative where f is not finite)
        ("central", 2, 3, 5),
        ("complex", 1, 1, 3),  # (f'' for the bound, at two offsets where some |x| > 1)
        ("richardson", 1, 19, 19),
        ("richardson", 2, 19, 19),
    ],
)
def test_derivative_evaluation_counts(method, n, plain, full):
    for x in (1.5, np.array([0.5, 1.5, 3.0])):  # vectorised f: one call per probe for all x
        f = Counted(np.exp)
        numdiff.derivative(f, x, n=n, method=method)
        assert f.calls == plain
        f = Counted(np.exp)
        _, info = numdiff.derivative(f, x, n=n, method=method, full_output=True)
        assert f.calls == info.evaluations == full


def test_relative_step_redone_for_offset_function():
    # At x = 1e-10 a step proportional to |x| drowns 1 + x in rounding: the entry is redone
    # with x_c = max(|x|, 1), costing 2 more calls, and the answer is exact.
    f = Counted(lambda x: 1 + x)
    assert numdiff.derivative(f, 1e-10) == pytest.approx(1.0, rel=1e-10) and f.calls == 5
    value, info = numdiff.derivative(lambda x: 1 + x, 1e-10, full_output=True)
    assert abs(value - 1.0) <= info.error <= 1e-9 and info.evaluations == 9 and info.h > 1e-7


def test_richardson_skips_steps_that_leave_the_domain():
    # log(1 - x) at 0.9: the first steps reach x > 1, where log is nan; they drop out.
    value, info = numdiff.derivative(
        lambda x: np.log1p(-x), 0.9, method="richardson", full_output=True
    )
    assert abs(value + 10.0) <= 1e-11 * 10 and abs(value + 10.0) <= info.error


@pytest.mark.parametrize(
    ("method", "calls"), [("forward", 7), ("central", 13), ("complex", 6), ("richardson", 109)]
)
def test_gradient_shape_value_and_counts(method, calls):
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    f = Counted(lambda x: np.sum(np.sin(x) * x))
    g = numdiff.gradient(f, x, method=method)
    assert g.shape == x.shape and f.calls == calls
    np.testing.assert_allclose(g, np.sin(x) + x * np.cos(x), rtol=1e-6)


@pytest.mark.parametrize("x", [0.7, np.float64(0.7), np.array(0.7)])
def test_scalar_and_zero_dim_points(x):
    for fn in (numdiff.derivative, numdiff.gradient):
        value = fn(np.sin, x)
        assert np.shape(value) == () and value == pytest.approx(np.cos(0.7), rel=1e-9)
    assert numdiff.jacobian(lambda x: np.stack([x, x**2]), x).shape == (2,)
    assert numdiff.hessian(lambda x: x**3, x).shape == ()


def test_jacobian_shapes_vector_and_matrix_valued():
    x = np.array([[0.3, -0.2], [0.1, 0.4], [1.0, 2.0]])
    J = numdiff.jacobian(lambda x: np.sum(x**2, axis=1), x)
    assert J.shape == (3, 3, 2)
    exact = np.zeros((3, 3, 2))
    for i in range(3):
        exact[i, i] = 2 * x[i]
    np.testing.assert_allclose(J, exact, atol=1e-9)
    M = numdiff.jacobian(lambda x: np.outer(x[:, 0], x[:, 1]), x, method="complex")
    assert M.shape == (3, 3) + x.shape
    np.testing.assert_allclose(M[1, 2, 1, 0], x[2, 1], rtol=1e-15)
    np.testing.assert_allclose(M[1, 2, 2, 1], x[1, 0], rtol=1e-15)


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosenbrock_hessian(x):
    m = len(x)
    H = np.zeros((m, m))
    H[np.arange(m - 1), np.arange(m - 1)] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    H[np.arange(1, m), np.arange(1, m)] += 200
    H[np.arange(m - 1), np.arange(1, m)] = H[np.arange(1, m), np.arange(m - 1)] = -400 * x[:-1]
    return H


@pytest.mark.parametrize(
    ("method", "full", "calls", "tol"),
    [
        ("central", False, lambda m: m * m + m + 1, 1e-2),
        ("central", True, lambda m: 2 * m * m + 2 * m + 1, 1e-2),
        ("forward", False, lambda m: m * m + m + 1, 1.0),
        # Richardson scans each axis until it converges: at most 5 steps on this quartic
        ("richardson", False, lambda m: 2 * m * m + 8 * m + 1, 1e-10),
        ("richardson", True, lambda m: 3 * m * m + 7 * m + 1, 1e-10),
    ],
)
def test_hessian_rosenbrock_counts_symmetry_and_error(method, full, calls, tol):
    x = np.tile([-1.2, 1.0], 4)
    f = Counted(rosenbrock)
    out = numdiff.hessian(f, x, method=method, full_output=full)
    H = out[0] if full else out
    if method == "richardson":
        assert 2 * x.size * (x.size - 1) + 6 * x.size < f.calls <= calls(x.size)
    else:
        assert f.calls == calls(x.size)
    assert np.array_equal(H, H.T)
    err = np.abs(H - rosenbrock_hessian(x))
    assert err.max() <= tol
    if full:
        assert out[1].evaluations == f.calls and np.all(err <= out[1].error)


def _hessian_cases():
    """(f, x, closed-form Hessian): flat far away, oscillating, growing fast, a softmax."""
    a = np.array([1.0, 2.0, 3.0])
    A = np.array([[0.5, -1.0, 0.2], [0.3, 0.8, -0.6], [-0.9, 0.1, 0.4]])
    coupling = np.array([[0.0, 5.0, 0.0], [5.0, 0.0, 0.0], [0.0, 0.0, 0.0]])

    def bump_hessian(x):
        q = 1 + x @ x
        return -2 * np.eye(x.size) / q**2 + 8 * np.outer(x, x) / q**3

    def lse_hessian(x):
        p = np.exp(A @ x) / np.sum(np.exp(A @ x))
        return A.T @ (np.diag(p) - np.outer(p, p)) @ A

    return [
        (lambda x: 1 / (1 + x @ x), [0.0, 0.0, 1e-3], bump_hessian),
        (lambda x: np.sum(np.sin(20 * x)) + 5 * x[0] * x[1], [0.1, 0.2, 0.3],
         lambda x: np.diag(-400 * np.sin(20 * x)) + coupling),
        (lambda x: np.exp(a @ x), [0.5, -0.2, 0.1], lambda x: np.exp(a @ x) * np.outer(a, a)),
        (lambda x: np.log(np.sum(np.exp(A @ x))), [0.3, -0.1, 2.0], lse_hessian),
    ]  # fmt: skip


@pytest.mark.parametrize("x", [np.random.default_rng(0).uniform(-1, 1, 10), np.tile([-1.2, 1], 5)])
def test_hessian_richardson_goal_on_rosenbrock(x):
    """The benchmark's goal, loosely: numdifftools' Hessian takes 3,001 calls for 2.6e-12."""
    f = Counted(rosenbrock)
    H = numdiff.hessian(f, x, method="richardson")
    assert f.calls <= 300 and np.abs(H - rosenbrock_hessian(x)).max() <= 1e-11


@pytest.mark.parametrize("case", range(4))
def test_hessian_richardson_scan_stops_only_when_converged(case):
    f, x, exact = _hessian_cases()[case]
    x = np.array(x)
    H, info = numdiff.hessian(f, x, method="richardson", full_output=True)
    err = np.abs(H - exact(x))
    assert err.max() <= 1e-8 * np.abs(exact(x)).max() and np.all(err <= info.error)


def test_hessian_richardson_axes_are_not_fooled_by_steps_that_alias_a_sinusoid():
    # |x| ~ 1e5 makes the first scan's steps (4 |x|, 2 |x|, ...) far longer than the period of
    # cos(2.56 x_1); some of them agreed by aliasing, and H_11 came out as -2.3e-4 +- 5.4e-6
    # (exact -0.140): the second scan, from steps of 4, disagreed beyond both bounds but lost
    a = np.array([2.9491193, 2.56261357])
    x = np.array([-105959.79022618, 669724.0894023])
    f = lambda z: np.sin(a[0] * z[0]) * np.cos(a[1] * z[1]) + 0.1 * z[0] * z[1]  # noqa: E731
    (s0, s1), (c0, c1) = np.sin(a * x), np.cos(a * x)
    off = 0.1 - a[0] * a[1] * c0 * s1
    exact = np.array([[-(a[0] ** 2) * s0 * c1, off], [off, -(a[1] ** 2) * s0 * c1]])
    H, info = numdiff.hessian(f, x, method="richardson", full_output=True)
    # (f(x) is about 7e9, so its rounding leaves the pairs no better than about 10 percent)
    assert np.all(np.abs(H - exact) <= info.error) and np.all(info.error <= 0.2 * np.abs(exact))


def test_hessian_2d_point_and_general_function():
    x = np.array([[0.3, -0.5], [0.8, 0.1]])
    f = lambda x: np.log(np.sum(np.exp(x))) + x[0, 0] * x[1, 1] ** 2  # noqa: E731
    H, info = numdiff.hessian(f, x, method="richardson", full_output=True)
    p = np.exp(x.ravel()) / np.sum(np.exp(x))
    exact = np.diag(p) - np.outer(p, p)
    exact[0, 3] += 2 * x[1, 1]
    exact[3, 0] += 2 * x[1, 1]
    exact[3, 3] += 2 * x[0, 0]
    assert H.shape == (2, 2, 2, 2) and np.array_equal(H, H.transpose(2, 3, 0, 1))
    err = np.abs(H - exact.reshape(2, 2, 2, 2))
    assert err.max() <= 1e-8 and np.all(err <= info.error)


def test_directional_derivative_matches_gradient():
    x, v = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, -0.5])
    f = Counted(lambda x: np.sum(np.exp(x) * x))
    d, info = numdiff.directional_derivative(f, x, v, full_output=True)
    exact = ((1 + x) * np.exp(x)) @ v
    assert d == pytest.approx(exact, rel=1e-9) and abs(d - exact) <= info.error
    assert f.calls == info.evaluations == 5  # f(x), 2, and 2 more for the error estimate
    Jv = numdiff.directional_derivative(lambda x: np.stack([x, x**2]), x, v, method="richardson")
    np.testing.assert_allclose(Jv, np.stack([v, 2 * x * v]), rtol=1e-12)


def test_integer_point_is_promoted_not_truncated():
    assert numdiff.derivative(lambda x: x**3, 2) == pytest.approx(12.0, rel=1e-9)
    assert numdiff.derivative(lambda x: x**3, 2, method="complex") == 12.0
    g = numdiff.gradient(lambda x: np.sum(x**2), np.array([1, 2, 3]))
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, [2.0, 4.0, 6.0], rtol=1e-10)


def test_info_is_a_frozen_dataclass():
    _, info = numdiff.derivative(np.exp, 1.0, full_output=True)
    assert dataclasses.is_dataclass(info) and {"error", "evaluations", "h"} <= set(vars(info))
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.h = 1.0


# --- bad input: a clear error, never a silently wrong number ---


@pytest.mark.parametrize(
    "call",
    [
        lambda m: numdiff.derivative(lambda x: 1 / x**2, 0.0, method=m),
        lambda m: numdiff.derivative(lambda x: np.log(np.abs(x)), np.array([1.0, 0.0]), method=m),
        lambda m: numdiff.gradient(lambda x: np.sum(1 / np.abs(x)), np.array([0.0, 1.0]), method=m),
        lambda m: numdiff.jacobian(lambda x: 1 / x**2, np.array([0.0, 1.0]), method=m),
        lambda m: numdiff.directional_derivative(
            lambda x: 1 / np.sum(x**2), np.zeros(2), np.ones(2), method=m
        ),
        lambda m: numdiff.hessian(lambda x: np.sum(1 / x**2), np.array([0.0, 1.0]), method=m),
    ],
)
@pytest.mark.parametrize("method", ["central", "richardson", "forward"])
def test_no_derivative_where_f_itself_is_not_finite(call, method):
    # central differences never evaluate f(x): at the pole of an even function each of them is
    # exactly 0, and an estimate of 0 with an error of 0 came back before f(x) was checked
    with pytest.raises(
        ValueError, match=r"f returned -?inf at the probe point (0\.0|\[0\. [01]\.\]); f has no"
    ):
        call(method)


def test_non_finite_value_names_the_point():
    with pytest.raises(ValueError, match=r"nan at the probe point -1\.0; f has no derivative"):
        numdiff.derivative(np.log, np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"nan at the probe point -\d\.\d+e-06; .*finite near x"):
        numdiff.derivative(np.sqrt, np.array([1.0, 0.0]))  # finite at x, not at x - h
    with pytest.raises(ValueError, match="not finite|nan|inf"):
        numdiff.gradient(lambda x: 1 / x[0], np.array([0.0, 1.0]), method="forward")
    for method in ("central", "richardson"):  # every axis is probed in one batch: still named
        with pytest.raises(ValueError, match=r"inf at the probe point \[0\. "):
            numdiff.hessian(lambda x: 1 / x[0] + x[1], np.array([0.0, 1.0]), method=method)


def test_complex_step_detects_dropped_imaginary_part():
    with pytest.raises(ValueError, match="drops the imaginary part"):
        numdiff.derivative(lambda x: np.asarray(x).real ** 2, 1.5, method="complex")
    with pytest.raises(ValueError, match="drops the imaginary part"):
        numdiff.derivative(lambda x: np.abs(x) ** 2, 1.5, method="complex")
    with pytest.raises(ValueError, match="drops the imaginary part"):
        numdiff.gradient(lambda x: np.sum(x.real * (1 + 0j)), np.ones(3), method="complex")
    # a derivative that is truly 0 is no error
    assert numdiff.derivative(lambda x: x * x, 0.0, method="complex") == 0.0


def test_non_scalar_function_in_gradient_and_hessian():
    with pytest.raises(ValueError, match=r"scalar-valued f.*shape \(3,\).*jacobian"):
        numdiff.gradient(lambda x: x**2, np.ones(3))
    with pytest.raises(ValueError, match="scalar-valued f"):
        numdiff.hessian(lambda x: x**2, np.ones(3))
    with pytest.raises(ValueError, match=r"elementwise.*\(3,\).*not \(\).*jacobian"):
        numdiff.derivative(np.sum, np.ones(3))


def test_unknown_method_unsupported_order_and_bad_step():
    with pytest.raises(
        ValueError, match="'forward', 'backward', 'central', 'complex', 'richardson'"
    ):
        numdiff.derivative(np.exp, 1.0, method="five-point")
    with pytest.raises(ValueError, match="n=3 is not supported by method='central'"):
        numdiff.derivative(np.exp, 1.0, n=3)
    with pytest.raises(ValueError, match="n=2 is not supported by method='complex'"):
        numdiff.derivative(np.exp, 1.0, n=2, method="complex")
    with pytest.raises(ValueError, match="n=2 is not supported by method='complex'"):
        numdiff.hessian(rosenbrock, np.ones(3), method="complex")
    for h in (0.0, -1e-3, np.nan, [1e-3, 0.0]):
        with pytest.raises(ValueError, match="h must be positive"):
            numdiff.gradient(rosenbrock, np.ones(2), h=h)
    with pytest.raises(ValueError, match=r"h must be a number, the step along v, got shape \(3,\)"):
        numdiff.directional_derivative(np.sum, np.ones(3), np.ones(3), h=np.full(3, 1e-3))
    for h in ("0.1", True, [1e-3, "a"]):  # (a string or a bool is a mistake, not a step)
        with pytest.raises(TypeError, match="h must be a positive number"):
            numdiff.gradient(rosenbrock, np.ones(2), h=h)
    with pytest.raises(TypeError, match="x must be real"):
        numdiff.derivative(np.exp, 1.0 + 2.0j)


def test_direction_of_wrong_shape_or_zero():
    with pytest.raises(ValueError, match=r"x's shape \(3,\), got shape \(2,\)"):
        numdiff.directional_derivative(rosenbrock, np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="v is zero"):
        numdiff.directional_derivative(rosenbrock, np.ones(3), np.zeros(3))


def test_explicit_step_is_used_and_made_exact():
    _, info = numdiff.derivative(np.exp, 0.1, h=1e-5, full_output=True)
    assert (0.1 + info.h) - 0.1 == info.h and info.h == pytest.approx(1e-5, rel=1e-10)
    d = numdiff.derivative(lambda x: x**3, 1.0, method="forward", h=0.5)
    assert d == pytest.approx((1.5**3 - 1) / 0.5, rel=1e-15)


# --- properties ---

# 0 or 1e-3 <= |v| <= 3: tinier values make f's values underflow, which no step survives
finite = st.one_of(st.just(0.0), st.floats(1e-3, 3), st.floats(-3, -1e-3))


@settings(max_examples=40, deadline=None)
@given(coef=st.lists(finite, min_size=1, max_size=6), x=finite)
def test_polynomial_derivatives(coef, x):
    p = np.polynomial.Polynomial(coef)
    scale = np.polynomial.Polynomial(np.abs(coef))(abs(x) + 1)  # bounds |p| and its rounding
    for method, tol in (("central", 1e-8), ("richardson", 1e-11), ("complex", 1e-14)):
        d = numdiff.derivative(p, x, method=method)
        assert abs(d - p.deriv()(x)) <= tol * scale * 10
    d2 = numdiff.derivative(p, x, n=2, method="richardson")
    assert abs(d2 - p.deriv(2)(x)) <= 1e-9 * scale * 10


shapes = hnp.array_shapes(min_dims=1, max_dims=2, max_side=4)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), shape=shapes)
def test_gradient_of_quadratic_form(data, shape):
    m = int(np.prod(shape))
    A = data.draw(hnp.arrays(np.float64, (m, m), elements=finite))
    x = data.draw(hnp.arrays(np.float64, shape, elements=finite))
    g = numdiff.gradient(lambda x: x.ravel() @ A @ x.ravel(), x)
    assert g.shape == x.shape
    exact = ((A + A.T) @ x.ravel()).reshape(shape)
    np.testing.assert_allclose(g, exact, atol=1e-7 * (1 + np.abs(A).sum()))


@settings(max_examples=30, deadline=None)
@given(data=st.data(), shape=shapes, out=shapes)
def test_jacobian_of_linear_map(data, shape, out):
    A = data.draw(hnp.arrays(np.float64, out + shape, elements=finite))
    x = data.draw(hnp.arrays(np.float64, shape, elements=finite))
    axes = len(shape)
    f = lambda x: np.tensordot(A, x, axes=axes)  # noqa: E731
    for method in ("central", "complex"):
        J = numdiff.jacobian(f, x, method=method)
        assert J.shape == out + shape
        np.testing.assert_allclose(J, A, atol=1e-8 * (1 + np.abs(A).sum()))


@pytest.mark.parametrize("method", numdiff.METHODS)
def test_empty_x_gives_empty_derivatives_of_the_right_shape(method):
    f = Counted(lambda x: np.stack([np.sum(x), 1.0 + np.sum(x**2)]))
    J = numdiff.jacobian(f, np.zeros((2, 0)), method=method)
    assert J.shape == (2, 2, 0) and f.calls == 1  # f(x) alone, for the shape of the output
    if method != "complex":
        assert numdiff.hessian(lambda x: np.sum(x), np.zeros(0), method=method).shape == (0, 0)


# --- regressions found by an external audit against mpmath at 50 digits ---


def test_full_output_forward_step_reaches_the_optimum_for_log():
    # log at 1e-4: |f| is 9 times |x f'|, so the relative step is 12x too short; the second
    # step of the error estimate (4h) is returned instead: 5e-8, was 2.3e-7, still 3 calls.
    value, info = numdiff.derivative(np.log, 1e-4, method="forward", full_output=True)
    assert abs(value - 1e4) <= 1e-7 * 1e4 and abs(value - 1e4) <= info.error
    assert info.evaluations == 3 and info.h > 2e-12


@pytest.mark.parametrize(
    ("method", "tol"), [("forward", 1e-7), ("backward", 1e-7), ("central", 1e-9)]
)
def test_full_output_shortens_a_step_too_long_for_a_steep_function(method, tol):
    # exp(50x) at 0: x_c = 1 is 50x too long; the measured truncation error shortens the step
    value, info = numdiff.derivative(lambda x: np.exp(50 * x), 0.0, method=method, full_output=True)
    assert abs(value - 50) <= tol * 50 and abs(value - 50) <= info.error


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("method", ["forward", "central"])
def test_periodic_function_at_huge_x_has_an_honest_bound(method, n):
    # sin at 1e8: a step proportional to |x| spans many periods; the bound used to claim 1e-7
    # for a wrong answer (central n=2: 1.6e7 times too small); now the step is shortened.
    value, info = numdiff.derivative(np.sin, 1e8, n=n, method=method, full_output=True)
    exact = np.cos(1e8) if n == 1 else -np.sin(1e8)
    assert abs(value - exact) <= info.error <= 1e-2


@pytest.mark.parametrize("x", [1e-8, 1e-4, -1e-4])
@pytest.mark.parametrize("n", [1, 2])
def test_richardson_does_not_step_over_a_pole_near_a_tiny_x(x, n):
    # x^-3 at 1e-4: steps from 1/2 cross the pole at 0 and converge to a wrong value near 0
    # with a small absolute error estimate; the scan from |x|/2 wins on relative error.
    value, info = numdiff.derivative(
        lambda x: x**-3.0, x, n=n, method="richardson", full_output=True
    )
    exact = -3.0 * x**-4.0 if n == 1 else 12.0 * x**-5.0
    assert abs(value - exact) <= 1e-9 * abs(exact) and abs(value - exact) <= info.error


@pytest.mark.parametrize("x", [1e3, -1e3, 1e8])
def test_richardson_rescans_on_a_unit_scale_at_huge_x(x):
    # sin'' at 1e3: steps from 500 converged to -2e-5 with error "1.7e-7"; true -0.83
    value, info = numdiff.derivative(np.sin, x, n=2, method="richardson", full_output=True)
    assert abs(value + np.sin(x)) <= min(info.error, 1e-6)


def test_complex_step_bound_at_large_x_where_f_grows_off_the_real_line():
    # sin(x + iH) grows as cosh H: f'' measured at H = eps^(1/4) |x| alone overflowed beyond
    # x = 6e6 (a ValueError naming a probe far from x) and gave a bound of 2e39 at x = 1e6
    for x in (1e5, 1e6, 1e7, 1e10):
        value, info = numdiff.derivative(np.sin, x, method="complex", full_output=True)
        assert abs(value - np.cos(x)) <= info.error <= 1e-14 * x
    # where rounding f(x) swamps the shorter offset, the longer one measures f''
    value, info = numdiff.derivative(lambda x: x**3, 1e7, method="complex", full_output=True)
    assert abs(value - 3e14) <= info.error <= 1e-14 * 3e14


def test_complex_step_bound_covers_a_rounded_scaled_argument():
    # exp(50 x) rounds 50 x: f' errs by ~eps |50 x| relative, 5x the old bound 4 eps |f'|
    for x in (0.7, 1.4):
        value, info = numdiff.derivative(
            lambda x: np.exp(50 * x), x, method="complex", full_output=True
        )
        exact = 50 * np.exp(50.0 * x)  # exact enough: the same rounding of 50 x
        assert abs(value - exact) <= info.error <= 1e-12 * exact


@pytest.mark.parametrize(
    "f, df, x",
    [
        (np.exp, np.exp, -700.0),
        (lambda x: 1e-300 * np.sin(x), lambda x: 1e-300 * np.cos(x), 1e-3),
        (lambda x: 1e-295 * np.sin(x), lambda x: 1e-295 * np.cos(x), 1.0),
    ],
)
def test_complex_step_bound_covers_an_imaginary_part_that_underflows(f, df, x):
    # h f'(x) below the smallest normal float (1e-321 for e^x at -700) keeps a few digits only:
    # the value erred by 2e-3 relative under a bound of 6e-13
    value, info = numdiff.derivative(f, x, method="complex", full_output=True)
    assert abs(value - df(x)) <= info.error
    value, info = numdiff.gradient(
        lambda x: f(x[0]), np.array([x]), method="complex", full_output=True
    )
    assert abs(value[0] - df(x)) <= info.error[0]
    value, info = numdiff.derivative(f, x, method="complex", h=1e-17, full_output=True)
    assert abs(value - df(x)) <= info.error


def test_float32_values_from_f_raise_instead_of_a_wrong_zero():
    # f in float32 made the central difference 0.0 with an error bar of 4e-6 (true 0.54)
    with pytest.raises(ValueError, match="dtype float32.*float64"):
        numdiff.derivative(lambda x: np.sin(x).astype(np.float32), 1.0)
    assert numdiff.derivative(np.sin, np.float32(1.0)) == pytest.approx(np.cos(1.0), rel=1e-9)


def test_step_of_the_wrong_shape_names_both_shapes():
    with pytest.raises(ValueError, match=r"h must be a number or have x's shape \(3,\).*\(2,\)"):
        numdiff.derivative(np.exp, np.ones(3), h=[1e-3, 1e-3])


# --- regressions found by a second audit (mpmath at 50 digits, numdifftools) ---


def test_vector_valued_directional_derivative_probes_only_the_line():
    # full_output chose a step per output, and the next step was taken per output too: f was
    # probed at x + t * v with t an array, off the line (200.855 and -0.658, "error" 8e-11)
    f = lambda x: np.array([np.exp(10 * x[0]), np.sin(x[0] + x[1])])  # noqa: E731
    x, v = np.array([0.3, 0.2]), np.array([1.0, -1.0])
    probes = []
    value, info = numdiff.directional_derivative(
        lambda z: probes.append(z - x) or f(z), x, v, full_output=True
    )
    exact = np.array([10 * np.exp(3.0), 0.0])
    assert np.all(np.abs(value - exact) <= info.error) and abs(value[0] - exact[0]) <= 1e-6
    for d in probes:  # every probe is x + t v for one number t
        assert d[0] == pytest.approx(-d[1], rel=1e-6, abs=1e-300)


def test_jacobian_full_output_of_a_steep_vector_function():
    # used to raise "more dimensions than allowed by the axis remapping" (or a broadcast error
    # when f(x) and x differ in shape), the same per-output step reaching a batch of rows
    J, info = numdiff.jacobian(lambda x: np.exp(50 * x), np.zeros(2), full_output=True)
    err = np.abs(J - 50 * np.eye(2))
    assert np.all(err <= info.error) and err.max() < 1e-6
    f = lambda x: np.exp(50 * np.array([x.sum(), x[0]]))  # noqa: E731
    d, info = numdiff.directional_derivative(f, np.zeros(3), np.ones(3), full_output=True)
    assert np.all(np.abs(d - [150.0, 50.0]) <= info.error)


@pytest.mark.parametrize("method", ["central", "forward"])
def test_cancelling_function_is_not_a_zero_with_a_tiny_bound(method):
    # cos(x) - 1 and exp(x) - 1 round like 1, not like their tiny values: the step shrank until
    # every probe was equal, and 0.0 came back with a bound of 1e-3 (true -1) or 8e-5 (true 1)
    value, info = numdiff.derivative(
        lambda x: np.cos(x) - 1, 1e-3, n=2, method=method, full_output=True
    )
    assert abs(value + np.cos(1e-3)) <= min(info.error, 1e-4)
    value, info = numdiff.derivative(lambda x: np.exp(x) - 1, 1e-8, method=method, full_output=True)
    assert abs(value - np.exp(1e-8)) <= 1e-7
    if method == "central":  # forward: D(h) = D(4h) exactly on a staircase of step eps, bound 5e-15
        assert abs(value - np.exp(1e-8)) <= info.error


def test_cancelling_function_gradient_and_hessian_near_zero():
    f = lambda x: np.log(1 + x @ x)  # noqa: E731
    x = np.array([1e-8, 2e-8])
    g, info = numdiff.gradient(f, x, full_output=True)
    assert np.all(np.abs(g - 2 * x) <= info.error) and np.abs(g - 2 * x).max() <= 1e-10
    np.testing.assert_allclose(numdiff.hessian(f, x), 2 * np.eye(2), atol=1e-6)  # was all 0


@pytest.mark.parametrize("x", [1.0, 2.5, 10.0, 100.0])
def test_richardson_does_not_trust_aliased_large_steps(x):
    # sin(1000 x): steps 1/2, 1/8, 1/32 alias into entries that agree (-23.31 +- 0.18 at x = 1,
    # true -826880), and x >= 1 had no second scan
    value, info = numdiff.derivative(
        lambda x: np.sin(1e3 * x), x, n=2, method="richardson", full_output=True
    )
    exact = -1e6 * np.sin(1e3 * x)
    assert abs(value - exact) <= info.error <= 1e-4 * abs(exact)


def test_check_grads_passes_a_correct_gradient_of_a_fast_oscillation():
    import calcbook as cb

    # the finite difference was 14.23 +- 3e-4 against the correct -2007.4
    cb.check_grads(lambda x: np.sin(1e3 * x), (np.array([0.003323, 0.000226, -0.000353]),), seed=3)
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal(3)
        cb.check_grads(lambda x: np.tanh(1e4 * x) * x, (x,), order=1, seed=seed)


def test_complex_step_with_a_callers_step_bounds_its_truncation():
    # h = 1e-3: the truncation h^2 |f'''| / 6 = 1e-6 was left out of a bound of 5e-15
    value, info = numdiff.derivative(
        lambda x: x**3, 0.7, method="complex", h=1e-3, full_output=True
    )
    assert abs(value - 1.47) <= info.error <= 1e-4 and info.evaluations == 2
    f = Counted(lambda x: x**3)  # the default step, 1e-20 x_c, needs no truncation measured:
    value, info = numdiff.derivative(f, 0.7, method="complex", full_output=True)  # (one call for
    assert f.calls == info.evaluations == 2 and abs(value - 1.47) <= info.error  # f'', below)


def test_step_below_the_spacing_of_floats_raises():
    # x + h rounded to x: every probe was f(x), and nan came back silently
    with pytest.raises(ValueError, match=r"h=1e-12 is below the spacing of floats at x=1e\+08"):
        numdiff.derivative(np.sin, 1e8, h=1e-12, full_output=True)
    with pytest.raises(ValueError, match="below the spacing of floats at x=1e"):
        numdiff.gradient(lambda x: np.sum(np.sin(x)), np.array([1e8, 1.0]), h=1e-12)
    with pytest.raises(ValueError, match="below the spacing of floats"):
        numdiff.directional_derivative(np.sum, np.array([1e8, 1e8]), np.ones(2), h=1e-12)


def test_bad_direction_point_order_and_values_raise_clearly():
    f = lambda x: np.sum(x**2)  # noqa: E731
    for v in ([1.0, np.inf], [np.nan, 1.0]):  # returned nan
        with pytest.raises(ValueError, match="v must be finite"):
            numdiff.directional_derivative(f, np.array([1.0, 2.0]), np.array(v))
    with pytest.raises(TypeError, match="v must be real"):  # was "v is zero" and a warning
        numdiff.directional_derivative(f, np.array([1.0, 2.0]), np.array([1.0, 1j]))
    with pytest.raises(ValueError, match="x must be finite, got nan"):
        numdiff.derivative(np.sin, np.nan)
    with pytest.raises(TypeError, match="f must return numbers.*None"):
        numdiff.derivative(lambda x: None, 1.0)
    for n in (1.0, True):
        with pytest.raises(TypeError, match="n must be an integer"):
            numdiff.derivative(np.sin, 1.0, n=n)
    assert numdiff.derivative(lambda x: x * x, 10**30) == pytest.approx(2e30, rel=1e-9)
    # an integer past float64's range was "x must be real (bool, integer or float), got dtype
    # object"
    with pytest.raises(ValueError, match="x must be finite in float64, .* 401 digits"):
        numdiff.derivative(np.sin, 10**400)
    with pytest.raises(ValueError, match="v must be finite in float64, .* 310 digits"):
        numdiff.directional_derivative(np.sin, [1.0, 2.0], [1, -(10**309)])


def test_integer_values_of_f_are_differenced_as_floats():
    # a decreasing f with unsigned integer values: f(x + h) - f(x - h) wrapped around to about
    # 1.8e19, and the derivative came out 3e24 for -1e9 (forward 2.5e27)
    f = lambda z: np.asarray(1e9 * (2 - z)).astype(np.uint64)  # noqa: E731
    for method in ("central", "forward", "richardson"):
        assert numdiff.derivative(f, 1.0, method=method) == pytest.approx(-1e9, rel=0.1), method
    g = numdiff.gradient(lambda z: np.uint64(1e9 * (3 - z.sum())), np.array([1.0, 1.0]))
    np.testing.assert_allclose(g, [-1e9, -1e9], rtol=0.1)


def test_an_f_that_changes_its_argument_in_place_does_not_move_the_point():
    # f(x) was called on the point itself, from which the later probes were built: the central
    # gradient of sum((2 z)^2) came out twice the true one, the forward one 8e9
    def f(z):
        z *= 2.0
        return np.sum(z**2)

    x = np.array([1.0, 2.0])
    for method in ("central", "forward", "backward", "richardson"):
        np.testing.assert_allclose(numdiff.gradient(f, x, method=method), 8 * x, rtol=1e-5)
        np.testing.assert_allclose(numdiff.hessian(f, x, method=method), 8 * np.eye(2), atol=1e-3)
    d = numdiff.directional_derivative(f, x, np.array([1.0, 0.0]))
    assert d == pytest.approx(8.0, rel=1e-8)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_directional_derivative_along_a_huge_or_tiny_direction():
    # v @ v overflowed past |v| = 1e154: the step's origin was nan, and the error "f returned nan
    # at the probe point [nan nan]" blamed f; a subnormal v, whose step x_c / |v| overflows,
    # did the same; and the complex step's error bound raised Python's bare OverflowError,
    # "(34, 'Numerical result out of range')", from a curvature probe's H**2 (v = 1e-300)
    f = lambda x: np.sum(x**2)  # noqa: E731
    x = np.array([1.0, 2.0])
    for v in ([1e200, -1e200], [1e160, 3e159], [1e-300, 0.0], [1e-300, 1e-300]):
        v = np.array(v)
        for method in ("central", "forward", "richardson", "complex"):
            if method == "complex" and np.max(v) > 1:
                continue  # (its error bound's curvature step underflows there: it says so)
            d, info = numdiff.directional_derivative(f, x, v, method=method, full_output=True)
            assert abs(d - 2 * x @ v) <= info.error, (v, method, d, info)
    for v in ([1e-310, 0.0], [5e-324, 0.0]):
        with pytest.raises(ValueError, match="v is too small to step along"):
            numdiff.directional_derivative(f, x, np.array(v))


def test_directional_step_is_not_rounded_away_by_a_large_coordinate():
    # x + t v rounds each coordinate: the rounding floor counts the largest |x_i| / |v_i| (3
    # here), but the step itself must still resolve the smallest coordinate's scale (a step of 0
    # divided by zero)
    x = np.array([1e-9, 2.0, -3.0])
    f = lambda x: np.sum(np.exp(x) * x)  # noqa: E731
    for method in ("forward", "central"):
        d, info = numdiff.directional_derivative(f, x, np.ones(3), method=method, full_output=True)
        assert abs(d - np.sum((1 + x) * np.exp(x))) <= info.error <= 3e-5


def test_directional_error_bound_counts_the_rounding_of_a_large_coordinate():
    # z0 = 1e6 beside z1 = 1 along v = (1, 1): z0 + h rounds by up to ulp(1e6) ~ 1e-10, which a
    # floor measured on the small coordinate missed (Richardson's short steps then left z0 where
    # it was: the value 1.0, the z1 term alone, came with an error bound of 2e-4)
    f = lambda z: np.sin(z[0]) + z[1]  # noqa: E731
    v = np.array([1.0, 1.0])
    for z in (np.array([1e6, 1.0]), np.array([1e6, 1e-3])):
        for method in ("central", "forward", "richardson"):
            d, info = numdiff.directional_derivative(f, z, v, method=method, full_output=True)
            assert abs(d - (np.cos(1e6) + 1)) <= info.error, (z, method, d, info)


def test_richardson_second_derivative_of_an_offset_function_near_0():
    # cos(x) - 1 rounds like cos x (eps, not eps |f|): second differences at short steps are
    # exactly 0, which a check and a scan took for an estimate of 0 (the answer was 0.0 for -1)
    cases = [
        (lambda x: np.cos(x) - 1, 1e-5, -np.cos(1e-5)),
        (lambda x: np.cos(x) - 1, 1e-3, -np.cos(1e-3)),
        (lambda x: np.exp(x) - 1, 0.0, 1.0),
    ]
    for f, x, exact in cases:
        value = numdiff.derivative(f, x, n=2, method="richardson")
        assert abs(value - exact) <= 1e-9
    for f, x, exact in cases[1:]:
        value, info = numdiff.derivative(f, x, n=2, method="richardson", full_output=True)
        assert abs(value - exact) <= info.error <= 1e-8


def test_richardson_is_not_fooled_by_first_steps_that_all_alias_a_sinusoid():
    cases = [(1, 0.979, -118317.55236128268), (2, 0.783, -65866.86149735328)]
    rng = np.random.default_rng(7)
    cases += [
        (int(n), c, x)
        for n, c, x in zip(
            rng.integers(1, 3, 40), rng.uniform(0.3, 3, 40), rng.uniform(-2e5, 2e5, 40), strict=True
        )
    ]
    for n, c, x in cases:
        exact = c * np.cos(c * x) if n == 1 else -(c**2) * np.sin(c * x)
        value, info = numdiff.derivative(
            lambda t, c=c: np.sin(c * t), x, n=n, method="richardson", full_output=True
        )
        # (1e-9: the closed form itself rounds c * x, by about 1e-16 |c x|)
        assert abs(value - exact) <= info.error + 1e-9 and info.error <= 1e-4


def test_estimates_that_are_not_finite_raise_instead_of_returning_nan():
    calls = [
        lambda: numdiff.derivative(np.sin, 5e-324),  # the step underflows
        lambda: numdiff.derivative(  # f is nan at the second step, which measures truncation
            lambda x: np.where(x > 1 + 1e-5, np.nan, x**2), 1.0, full_output=True
        ),
        lambda: numdiff.derivative(lambda x: np.log(0 * x), 1.0, method="complex"),
        lambda: numdiff.derivative(np.sin, 1.0, method="complex", h=1e-320),  # subnormal
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()


def test_second_derivatives_at_a_tiny_x_are_finite():
    value, info = numdiff.derivative(np.cos, 1e-160, n=2, full_output=True)
    assert abs(value + 1.0) <= info.error <= 1e-5
    H = numdiff.hessian(lambda z: np.sum(np.cos(z)), np.array([1e-200, 1.0]))
    np.testing.assert_allclose(H, np.diag([-1.0, -np.cos(1.0)]), atol=1e-6)


@pytest.mark.parametrize("method", ["central", "forward", "complex", "richardson"])
def test_jacobian_of_an_empty_output(method):
    J, info = numdiff.jacobian(
        lambda z: z[:0], np.array([1.0, 2.0]), method=method, full_output=True
    )
    assert J.shape == info.error.shape == (0, 2) and info.h.shape == (2,)


def test_complex_step_bound_covers_an_argument_rounded_at_a_stationary_point():
    # cos(3x) at pi/3: f' is about 1e-15, and rounding 3x costs eps |x f''|, 1e15 times the old
    # bound 4 eps |f'| (which was 3e-31); f'' is measured from Re f(x + iH)
    x = np.pi / 3
    value, info = numdiff.derivative(lambda t: np.cos(3 * t), x, method="complex", full_output=True)
    exact = -1.0335e-15  # -3 sin(3x) at this float x, to 4 digits (mpmath, 50 digits)
    assert abs(value - exact) <= info.error <= 1e-13
    rng = np.random.default_rng(3)
    for c, x in zip(rng.uniform(0.5, 5, 50), rng.uniform(-30, 30, 50), strict=True):
        x = (np.round(c * x / np.pi - 0.5) + 0.5) * np.pi / c  # a stationary point of sin(c x)
        value, info = numdiff.derivative(
            lambda t, c=c: np.sin(c * t), x, method="complex", full_output=True
        )
        exact = float(c * np.cos(np.longdouble(c) * np.longdouble(x)))  # (c x rounded less)
        assert abs(value - exact) <= info.error


@pytest.mark.parametrize(
    "a, x", [(26.0, 12345.678), (3.3, -78400.3), (26.0, 310000.37), (3.3, -2199999.7)]
)
def test_complex_step_bound_measures_f2_locally_where_f_saturates_off_the_real_line(a, x):
    # atan(sin(a x)) rounds a x, an error of eps |x f''|; f'' was the less of the measurements at
    # H = eps^(1/4) |x| and at H = eps^(1/4), and at the long one atan saturates: 0.7 for 342,
    # bounds up to 24 times too small
    from fractions import Fraction

    hi = a * x
    lo = float(Fraction(a) * Fraction(x) - Fraction(hi))  # a x = hi + lo exactly
    s, c = np.sin(hi) + lo * np.cos(hi), np.cos(hi) - lo * np.sin(hi)
    f = lambda t: np.arctan(np.sin(a * t))  # noqa: E731
    value, info = numdiff.derivative(f, x, method="complex", full_output=True)
    assert abs(value - a * c / (1 + s * s)) <= info.error <= 1e-13 * a * abs(x)


def test_arguments_that_are_not_numbers_get_a_type_error_that_says_so():
    with pytest.raises(TypeError, match="n must be an integer"):
        numdiff.derivative(np.sin, 1.0, n="1")
    for x in (None, [1.0, None]):
        with pytest.raises(TypeError, match="x must be real numbers, got None"):
            numdiff.derivative(np.sin, x)
    with pytest.raises(TypeError, match="f must return numbers"):
        numdiff.derivative(lambda x: x > 0, 1.0)  # a step function: no derivative to estimate
    from fractions import Fraction

    assert abs(numdiff.derivative(np.sin, Fraction(1, 2)) - np.cos(0.5)) < 1e-9


def test_richardson_keeps_its_measured_estimate_for_a_function_that_rounds_like_its_terms():
    # The Jacobian of a gradient (computed by reverse mode, a sum of terms larger than itself):
    # its values round like those terms, not like eps |f|, which is what the rounding floors
    # assume. Outputs with small derivatives ask for the second scan on every line; its short
    # steps were noise whose floor looked small, and where it disagreed with the first scan
    # beyond both bounds it was taken: errors of 1.6e-8 under bounds of 7.9e-10.
    import calcbook as cb

    x = np.array([-0.519, -0.0197, -0.709, -0.206, -0.454, -0.260, -0.528, -0.628]).reshape(2, 2, 2)
    y = np.array([-0.455, 0.312, -0.147, 0.151, 0.124, 0.538, -0.643, 0.300]).reshape(2, 2, 2)

    def program(a, b):
        v = a + b
        for _ in range(3):
            v = v * np.tanh(v)
        v = cb.log_softmax(v + 1.0, axis=0)
        return np.einsum("...i,...i->...", v, v)

    def h(a):  # a gradient, scaled by a function of the point
        return cb.grad(lambda b: np.sum(np.sin(program(a, b))))(y) * np.tanh(np.sum(a))

    exact = cb.jacrev(h)(x)
    np.testing.assert_allclose(cb.jacfwd(h)(x), exact, rtol=1e-12, atol=1e-14)
    value, info = numdiff.jacobian(h, x, method="richardson", full_output=True)
    assert np.all(np.abs(value - exact) <= info.error + 1e-10 * np.max(np.abs(exact)))


OFFSET_CANCELLING = [  # f(0) = 0 by cancelling an offset of 1, and f''(0)
    ("log(1 + x^2)", lambda x: np.log(1 + x * x), 2.0),
    ("sqrt(1 + x^2) - 1", lambda x: np.sqrt(1 + x * x) - 1, 1.0),
    ("cosh(x) - 1", lambda x: np.cosh(x) - 1, 1.0),
    ("1 - cos(x)", lambda x: 1 - np.cos(x), 1.0),
    ("exp(x^2) - 1", lambda x: np.exp(x * x) - 1, 2.0),
]


@pytest.mark.parametrize(
    "f, exact", [c[1:] for c in OFFSET_CANCELLING], ids=[c[0] for c in OFFSET_CANCELLING]
)
def test_richardson_ignores_steps_below_what_f_resolves(f, exact):
    # Below h = 1e-8 every probe rounds to f(0) = 0 (1 + h^2 == 1), so the second difference is
    # exactly 0 at every shorter step, with a rounding floor of 0 (|f| = 0): the second scan
    # agreed on 0 with an error of 0 and won. Such rows now estimate nothing.
    value, info = numdiff.derivative(f, 0.0, n=2, method="richardson", full_output=True)
    assert abs(value - exact) <= info.error <= 1e-8
    constant, info = numdiff.derivative(
        lambda x: 0 * x + 5.0, 0.0, n=2, method="richardson", full_output=True
    )
    assert constant == 0 and info.error <= 1e-10  # (every step is 0 there: that is the derivative)
    # a line's second differences are rounding, sometimes exactly 0: its probes differ, so they
    # stay (taking "a difference of 0" for "probes equal" raised here)
    line, info = numdiff.derivative(
        lambda x: 2.4168182157741653 + 1.4168182157741653 * x, 0.0625, n=2,
        method="richardson", full_output=True,
    )  # fmt: skip
    assert abs(line) <= info.error <= 1e-9


def test_small_oscillation_on_a_huge_term_is_resolved_with_a_callers_step():
    # The module's docstring: at x = -7e5 the default steps miss sin 5x beside x^2 = 5e11 (their
    # bounds do not cover it); a caller's step, or the complex step, resolves it honestly.
    f = lambda x: x**2 + np.sin(5 * x)  # noqa: E731
    x = -7e5
    first, second = 2 * x + 5 * np.cos(5 * x), 2 - 25 * np.sin(5 * x)
    for n, exact, method, h in [
        (1, first, "central", 0.01),
        (1, first, "richardson", 0.5),
        (1, first, "complex", None),
        (2, second, "richardson", 0.5),
    ]:
        value, info = numdiff.derivative(f, x, n=n, method=method, h=h, full_output=True)
        assert abs(value - exact) <= info.error <= 0.25 * abs(exact), (n, method)
