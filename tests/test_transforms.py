"""The functional API: grad, value_and_grad, vjp, jvp, jacobians, hessian, hvp, check_grads."""

from __future__ import annotations

import gc
import re
import tracemalloc
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import calcbook as cb
from calcbook.tracing import TracerError


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosenbrock_hessian(x):
    """The analytic Hessian, entry by entry."""
    n = x.size
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        H[i + 1, i + 1] += 200
        H[i, i + 1] = H[i + 1, i] = -400 * x[i]
    return H


def central(f, x, h=1e-6):
    """Central-difference Jacobian of f at x, shape f(x).shape + x.shape (test reference)."""
    x = np.asarray(x, dtype=float)
    cols = []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = h
        e = e.reshape(x.shape)
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
    out_shape = np.shape(f(x))
    return np.moveaxis(np.array(cols), 0, -1).reshape(out_shape + x.shape)


# --- the README example -------------------------------------------------------------------------
def test_readme_example():
    def loss(W, x, y):
        p = 1 / (1 + np.exp(-(x @ W)))
        return np.mean((p - y) ** 2)

    rng = np.random.default_rng(0)
    W, x, y = rng.normal(size=(3, 2)), rng.normal(size=(5, 3)), rng.uniform(size=(5, 2))
    g = cb.grad(loss)(W, x, y)
    assert g.shape == W.shape
    p = 1 / (1 + np.exp(-(x @ W)))
    np.testing.assert_allclose(g, x.T @ (2 * (p - y) * p * (1 - p)) / y.size, rtol=1e-12)
    np.testing.assert_allclose(g, central(lambda W: loss(W, x, y), W), rtol=1e-7, atol=1e-10)


# --- grad and value_and_grad --------------------------------------------------------------------
@settings(max_examples=15, deadline=None)
@given(
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3), seed=st.integers(0, 99)
)
def test_grad_shape_equals_input_shape(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    g = cb.grad(lambda x: np.sum(np.sin(x) * x))(x)
    assert g.shape == x.shape and g.dtype == x.dtype
    np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x), rtol=1e-12)


def test_grad_argnums_int_tuple_and_value_and_grad():
    def f(a, b, c):
        return np.sum(a * b**2) + c

    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    np.testing.assert_array_equal(cb.grad(f)(a, b, 1.0), b**2)
    np.testing.assert_array_equal(cb.grad(f, argnums=1)(a, b, 1.0), 2 * a * b)
    ga, gc_ = cb.grad(f, argnums=(0, 2))(a, b, 1.0)
    np.testing.assert_array_equal(ga, b**2)
    assert gc_ == 1.0 and np.shape(gc_) == ()
    (only,) = cb.grad(f, argnums=(1,))(a, b, 1.0)
    np.testing.assert_array_equal(only, 2 * a * b)
    assert cb.grad(f, argnums=-1)(a, b, 1.0) == 1.0
    value, (g0, g1) = cb.value_and_grad(f, argnums=(0, 1))(a, b, 1.0)
    assert value == f(a, b, 1.0)
    np.testing.assert_array_equal(g1, 2 * a * b)
    assert cb.grad(f)(a, b, c=2.0).shape == (2,)  # keyword arguments pass through


def test_python_float_list_and_integer_inputs():
    g = cb.grad(lambda x: x**3)(2.0)
    assert np.shape(g) == () and g == 12.0
    g = cb.grad(lambda x: np.sum(x**2))([1, 2, 3])
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, [2.0, 4.0, 6.0])
    g = cb.grad(lambda x: np.sum(x**2))(np.arange(3))
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, [0.0, 2.0, 4.0])


def test_constant_function_gives_zeros_not_none():
    x = np.ones((2, 3))
    for f in (lambda x: 3.0, lambda x: np.float64(1.0), lambda x: np.sum(np.ones(3))):
        g = cb.grad(f)(x)
        assert isinstance(g, np.ndarray) and g.shape == x.shape and not g.any()
    g = cb.grad(lambda x, y: np.sum(y), argnums=0)(x, x)
    assert g.shape == x.shape and not g.any()
    np.testing.assert_array_equal(cb.jacfwd(lambda x: np.ones(2))(x), np.zeros((2, 2, 3)))
    np.testing.assert_array_equal(cb.jacrev(lambda x: np.ones(2))(x), np.zeros((2, 2, 3)))
    assert cb.jvp(lambda x: 2.0, (x,), (x,))[1] == 0.0


def test_float32_is_preserved_and_python_constants_do_not_upcast():
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    w = np.ones((3, 2), dtype=np.float32)

    def f(x):
        h = np.tanh(x @ w + 0.5) * 2.0 - 1
        return np.mean(h**2) / 3 + np.sum(np.ones(2, dtype=np.float32) * h[0])

    value, g = cb.value_and_grad(f)(x)
    assert value.dtype == np.float32 and g.dtype == np.float32
    assert cb.jacfwd(f)(x).dtype == np.float32
    assert cb.hessian(f)(x).dtype == np.float32
    assert cb.hvp(f, x, np.ones_like(x)).dtype == np.float32
    # a float64 constant upcasts the computation, but the gradient keeps the input's dtype
    assert cb.grad(lambda x: np.sum(x * np.float64(2.0)))(x).dtype == np.float32
    # ... and so do both Jacobians, including the blocks of constant outputs
    c64 = np.linspace(1, 2, 6).reshape(2, 3)
    for jac in (cb.jacfwd, cb.jacrev):
        J, Z = jac(lambda x: (x * c64, c64))(x)
        assert J.dtype == np.float32 and Z.dtype == np.float32, jac
        np.testing.assert_array_equal(J.reshape(6, 6), np.diag(c64.ravel()).astype(np.float32))


def test_gradients_are_fresh_writeable_arrays():
    x = np.ones(3)
    g = cb.grad(lambda x: np.sum(x))(x)  # the rule makes a broadcast
    assert g.flags.writeable and g.flags.owndata
    g[0] = 5.0  # must not corrupt anything
    np.testing.assert_array_equal(cb.grad(lambda x: np.sum(x))(x), [1.0, 1.0, 1.0])
    frozen = np.ones(3)
    frozen.flags.writeable = False  # a read-only cotangent passed through unchanged: copied
    (g,) = cb.vjp(lambda x: x, np.zeros(3))[1](frozen)
    assert g.flags.writeable and not np.shares_memory(g, frozen)
    g = cb.grad(lambda x: np.sum(x * frozen))(x)  # a read-only constant in the rule
    assert g.flags.writeable
    ga, gb = cb.grad(lambda a, b: np.sum(a + b), argnums=(0, 1))(x, x)  # one cotangent, twice
    assert ga.flags.writeable and gb.flags.writeable and not np.shares_memory(ga, gb)


def test_containers_of_arrays():
    params = {"W": np.ones((2, 2)), "b": [np.zeros(2), np.array(1.0)]}

    def loss(p, x):
        return np.sum((x @ p["W"] + p["b"][0]) ** 2) * p["b"][1]

    g = cb.grad(loss)(params, np.array([1.0, 2.0]))
    assert set(g) == {"W", "b"} and isinstance(g["b"], list)
    assert g["W"].shape == (2, 2) and g["b"][1].shape == ()
    np.testing.assert_allclose(g["b"][0], 2 * np.array([3.0, 3.0]))
    out, vjp_fn = cb.vjp(lambda a, b: (a * b, a + b), np.ones(2), np.full(2, 2.0))
    ga, gb = vjp_fn((np.ones(2), np.ones(2)))
    np.testing.assert_array_equal(ga, [3.0, 3.0])
    np.testing.assert_array_equal(gb, [2.0, 2.0])


# --- vjp and jvp --------------------------------------------------------------------------------
def test_vjp_function_can_be_called_many_times():
    A = np.arange(6.0).reshape(3, 2)
    out, vjp_fn = cb.vjp(lambda x: A @ np.sin(x), np.array([0.1, 0.2]))
    J = A * np.cos([0.1, 0.2])
    rows = [vjp_fn(e)[0] for e in np.eye(3)]
    np.testing.assert_allclose(np.array(rows), J, rtol=1e-14)
    np.testing.assert_allclose(vjp_fn(np.ones(3))[0], J.sum(axis=0), rtol=1e-14)
    (ct,) = vjp_fn(np.ones(3))
    np.testing.assert_allclose(ct, J.sum(axis=0), rtol=1e-14)


def test_jvp_is_forward_mode_and_matches_finite_differences():
    def f(x, y):
        return np.stack([np.sin(x) * y, np.exp(x - y)])

    x, y, vx, vy = np.array([0.3, 1.0]), np.array([2.0, -1.0]), np.ones(2), np.array([0.5, 2.0])
    out, t = cb.jvp(f, (x, y), (vx, vy))
    np.testing.assert_allclose(out, f(x, y))
    h = 1e-6
    fd = (f(x + h * vx, y + h * vy) - f(x - h * vx, y - h * vy)) / (2 * h)
    np.testing.assert_allclose(t, fd, rtol=1e-8)


def test_errors_name_both_shapes():
    out, vjp_fn = cb.vjp(lambda x: x * 2, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"cotangent shape \(3,\).*output shape \(2, 3\)"):
        vjp_fn(np.ones(3))
    with pytest.raises(ValueError, match=r"tangent shape \(2,\).*primal shape \(3,\)"):
        cb.jvp(np.sin, (np.ones(3),), (np.ones(2),))
    with pytest.raises(TypeError, match="tuples"):
        cb.jvp(np.sin, np.ones(3), np.ones(3))
    # NumPy's own matmul message gives only the two sizes; both modes, either operand traced
    a, b = np.ones((2, 3)), np.ones((4, 2))
    both = r"matmul: shapes \(2, 3\) and \(4, 2\) do not fit.*\(3\).*next-to-last axis \(4\)"
    for f, args in [(lambda w: a @ w, (b,)), (lambda v: v @ b, (a,)), (np.matmul, (a, b))]:
        with pytest.raises(ValueError, match=both):
            cb.vjp(f, *args)
        with pytest.raises(ValueError, match=both):
            cb.jvp(f, args, args)
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\).*only axis \(4\)"):
        cb.grad(lambda v: np.sum(a @ v))(np.ones(4))
    with pytest.raises(ValueError, match=r"shapes \(4,2\) \(3,\)"):  # (NumPy's names both)
        cb.grad(lambda w: np.sum(w + np.ones(3)))(b)


def test_grad_of_non_scalar_function_says_so():
    with pytest.raises(TypeError, match=r"scalar output.*shape \(3,\).*jacobian.*vjp"):
        cb.grad(np.sin)(np.ones(3))
    with pytest.raises(TypeError, match="scalar output"):
        cb.grad(lambda x: (x, x))(1.0)


def test_grad_of_a_function_returning_no_number_says_so():
    for f, what in [
        (lambda x: None, "NoneType"),
        (lambda x: "loss", "str"),
        (lambda x: True, "bool"),
        (lambda x: np.sum(x) > 0, "bool"),  # a comparison has no derivative to take
    ]:
        with pytest.raises(TypeError, match=rf"scalar output.*type {what}, not a number"):
            cb.grad(f)(np.ones(3))
    np.testing.assert_array_equal(cb.grad(lambda x: np.int64(2))(np.ones(2)), [0.0, 0.0])


def test_argnums_out_of_range():
    with pytest.raises(ValueError, match=r"argnums=2 is out of range.*2 positional"):
        cb.grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)
    with pytest.raises(ValueError, match="out of range"):
        cb.jacfwd(lambda x: x, argnums=(0, 1))(np.ones(2))
    with pytest.raises(ValueError, match="out of range"):
        cb.hessian(lambda x: x, argnums=-3)(1.0)
    for bad in (1.0, True, (0, 1.5), "0"):  # not positions: a TypeError that says what is
        with pytest.raises(TypeError, match=r"argnums must be an int or a tuple of ints"):
            cb.grad(lambda x, y: x * y, argnums=bad)(1.0, 2.0)
    for transform in (cb.grad, cb.value_and_grad, cb.jacrev, cb.jacfwd, cb.hessian):
        for nums in ((0, 0), (0, -1)):  # the same argument twice: refused, not a leaked tracer
            with pytest.raises(ValueError, match="names an argument twice"):
                transform(lambda a: np.sum(a**2), argnums=nums)(np.ones(3))


# --- Jacobians ----------------------------------------------------------------------------------
FUNCTIONS = {
    "scalar->scalar": (lambda x: np.sin(x) * x, ()),
    "vector->scalar": (lambda x: np.sum(np.exp(x)), (3,)),
    "vector->vector": (lambda x: x[::-1] * x, (3,)),
    "matrix->vector": (lambda x: np.tanh(x).sum(axis=0), (2, 3)),
    "vector->matrix": (lambda x: np.outer(x, np.sin(x)), (3,)),
    "matrix->matrix": (lambda x: x @ x.T, (2, 3)),
    "scalar->matrix": (lambda x: x * np.ones((2, 2)) + x**2, ()),
}


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_jacobian_shapes_and_values(name):
    f, shape = FUNCTIONS[name]
    x = np.random.default_rng(0).uniform(0.5, 1.5, shape)
    expected_shape = np.shape(f(x)) + shape
    J_fd = central(f, x)
    for jac in (cb.jacfwd, cb.jacrev, cb.jacobian):
        J = jac(f)(x)
        assert J.shape == expected_shape, (jac.__name__, J.shape)
        np.testing.assert_allclose(J, J_fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(cb.jacfwd(f)(x), cb.jacrev(f)(x), rtol=1e-14, atol=1e-15)


def test_jacobian_argnums_tuple():
    def f(x, y):
        return x * y[0] + np.sin(y[1])

    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    for jac in (cb.jacfwd, cb.jacrev):
        jx, jy = jac(f, argnums=(0, 1))(x, y)
        np.testing.assert_allclose(jx, 3.0 * np.eye(2))
        np.testing.assert_allclose(jy, [[1.0, np.cos(4.0)], [2.0, np.cos(4.0)]])
    (H00, H01), (H10, H11) = cb.hessian(lambda x, y: np.sum(x**2 * y), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(H00, np.diag(2 * y))
    np.testing.assert_allclose(H01, np.diag(2 * x))
    np.testing.assert_allclose(H10, H01.T)
    np.testing.assert_allclose(H11, np.zeros((2, 2)))


SECONDARY = {  # (NumPy dispatches these functions on their first argument alone)
    "pad": lambda x, c: np.pad(x, 1, constant_values=c),
    "select": lambda x, c: np.select([x > 0], [2 * x], default=c),
    "full_like": lambda x, c: np.full_like(x, c) * x,
    "polyint": lambda x, c: np.polyint(x, k=c),
    "interp": lambda x, c: np.interp([-5.0, 0.3, 5.0], [-1.0, 0.5, 2.0], x, left=c, right=2 * c),
    "nan_to_num": lambda x, c: np.nan_to_num(x + np.array([0.0, np.inf, 0.0]), posinf=c),
}


@pytest.mark.parametrize("name", SECONDARY)
def test_jacfwd_traces_every_argnum_at_once(name):
    # jacfwd made one pass per argument, the others plain: an argument that NumPy does not
    # dispatch on (the fill of np.pad, the default of np.select) then met NumPy's own code traced
    # and was refused, where jacrev traces all of them; now one pass carries all of their tangents
    f, x, c = SECONDARY[name], np.array([0.5, -1.0, 2.0]), np.array(0.7)
    forward, reverse = cb.jacfwd(f, argnums=(0, 1))(x, c), cb.jacrev(f, argnums=(0, 1))(x, c)
    h = 1e-6
    fd_c = (f(x, c + h) - f(x, c - h)) / (2 * h)
    np.testing.assert_allclose(forward[1], fd_c, atol=1e-8)
    for a, b in zip(forward, reverse, strict=True):
        np.testing.assert_array_equal(a, b)
    s = lambda x, c: np.sum(f(x, c) ** 2)  # noqa: E731
    ((_, hxc), (_, hcc)) = cb.hessian(s, argnums=(0, 1))(x, c)
    grad_c = lambda x, c: cb.grad(s, (0, 1))(x, c)[1]  # noqa: E731
    np.testing.assert_allclose(hcc, (grad_c(x, c + h) - grad_c(x, c - h)) / (2 * h), atol=1e-7)
    np.testing.assert_allclose(hxc, cb.jacrev(grad_c)(x, c), atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
    argnums=st.sampled_from([(0, 1), (1, 2), (2, 0, 1), (1,)]),
    seed=st.integers(0, 2**32 - 1),
)
def test_jacfwd_of_several_broadcast_arguments_equals_jacrev(shapes, argnums, seed):
    # one forward pass for all of them: each argument's block sits in its own rows of the batch
    rng = np.random.default_rng(seed)
    args = [rng.uniform(0.5, 1.5, shape) for shape in shapes.input_shapes]

    def f(a, b, c):
        return {"p": np.tanh(a * b) + c**2, "s": np.sum(np.exp(a) * c) * b}

    forward, reverse = cb.jacfwd(f, argnums)(*args), cb.jacrev(f, argnums)(*args)
    for key in ("p", "s"):
        for n, jf, jr in zip(argnums, forward[key], reverse[key], strict=True):
            assert jf.shape == np.shape(f(*args)[key]) + args[n].shape
            np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-12)


def test_jacfwd_of_arguments_of_mixed_dtypes_and_sizes():
    x, y, z = np.float32([1.0, 2.0]), np.array([[3.0], [4.0]]), np.zeros(0)
    f = lambda x, y, z: x * y + np.sum(z)  # noqa: E731
    jx, jy, jz = cb.jacfwd(f, argnums=(0, 1, 2))(x, y, z)
    assert (jx.dtype, jy.dtype) == (np.float32, np.float64)
    assert (jx.shape, jy.shape, jz.shape) == ((2, 2, 2), (2, 2, 2, 1), (2, 2, 0))
    for a, b in zip((jx, jy, jz), cb.jacrev(f, argnums=(0, 1, 2))(x, y, z), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7)
        assert a.dtype == b.dtype


def test_empty_argnums_give_empty_tuples_in_the_output_structure():
    def f(x, y):
        return x * y, {"sum": np.sum(x)}

    x, y = np.ones(2), np.ones(2)
    for jac in (cb.jacfwd, cb.jacrev):  # (before, an internal StopIteration escaped)
        assert jac(f, argnums=())(x, y) == ((), {"sum": ()})
    assert cb.hessian(lambda x: np.sum(x**3), argnums=())(x) == ()
    assert cb.grad(lambda x: np.sum(x), argnums=())(x) == ()
    assert cb.value_and_grad(lambda x: np.sum(x), argnums=())(x) == (2.0, ())


# --- Hessians and higher order ------------------------------------------------------------------
def test_rosenbrock_100_hessian_is_exact():
    x = np.random.default_rng(3).uniform(-2, 2, 100)
    H = cb.hessian(rosenbrock)(x)
    assert H.shape == (100, 100)
    np.testing.assert_allclose(H, rosenbrock_hessian(x), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(H, H.T)
    np.testing.assert_allclose(cb.jacfwd(cb.jacrev(rosenbrock))(x), H, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cb.jacrev(cb.grad(rosenbrock))(x), H, rtol=0, atol=1e-12)


def test_hessian_of_softmax_cross_entropy_has_closed_form():
    z, y = np.array([0.5, -1.0, 2.0, 0.0]), np.array([0.0, 0.0, 1.0, 0.0])

    def loss(z):
        return -np.sum(y * cb.log_softmax(z))

    p = cb.softmax(z)
    np.testing.assert_allclose(cb.grad(loss)(z), p - y, rtol=1e-14, atol=1e-16)
    H = cb.hessian(loss)(z)
    np.testing.assert_allclose(H, np.diag(p) - np.outer(p, p), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-16)


def test_hessian_shapes_for_matrix_input():
    x = np.random.default_rng(0).standard_normal((2, 3))
    H = cb.hessian(lambda x: np.sum(x**3) + np.sum(x[0] * x[1]))(x)
    assert H.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(H.reshape(6, 6), H.reshape(6, 6).T)
    assert cb.hessian(lambda x: x**4)(2.0) == 48.0


def test_hvp_matches_hessian_vector_product():
    rng = np.random.default_rng(4)
    x, v = rng.uniform(-2, 2, 30), rng.standard_normal(30)
    hv = cb.hvp(rosenbrock, x, v)
    assert hv.shape == x.shape
    np.testing.assert_allclose(hv, rosenbrock_hessian(x) @ v, rtol=1e-12, atol=1e-10)
    m = rng.standard_normal((2, 3))
    f = lambda m: np.sum(np.tanh(m) ** 2)  # noqa: E731
    np.testing.assert_allclose(
        cb.hvp(f, m, m), np.einsum("ijkl,kl->ij", cb.hessian(f)(m), m), rtol=1e-12
    )


def test_grad_of_grad_and_third_derivatives():
    d1 = cb.grad(np.tanh)
    d2 = cb.grad(d1)
    d3 = cb.grad(d2)
    x = 0.7
    t = np.tanh(x)
    assert np.isclose(d1(x), 1 - t**2, rtol=1e-14)
    assert np.isclose(d2(x), -2 * t * (1 - t**2), rtol=1e-14)
    assert np.isclose(d3(x), -2 * (1 - t**2) * (1 - 3 * t**2), rtol=1e-13)
    fwd3 = cb.jacfwd(cb.jacfwd(cb.jacfwd(np.tanh)))
    assert np.isclose(fwd3(x), d3(x), rtol=1e-13)


def test_perturbation_confusion():
    assert cb.grad(lambda x: x * cb.grad(lambda y: x * y)(2.0))(1.0) == 2.0
    # the same with the inner derivative in forward mode
    inner = lambda x: cb.jvp(lambda y: x * y, (2.0,), (1.0,))[1]  # noqa: E731
    assert cb.grad(lambda x: x * inner(x))(1.0) == 2.0
    assert cb.jvp(lambda x: x * cb.grad(lambda y: x * y)(2.0), (1.0,), (1.0,))[1] == 2.0


def test_nested_closures_three_levels():
    def f(x):
        def g(y):
            def h(z):
                return x * y * z**2

            return cb.grad(h)(y) * x  # 2 x^2 y^2

        return cb.grad(g)(x)  # 4 x^3

    x = 1.5
    assert np.isclose(f(x), 4 * x**3)
    assert np.isclose(cb.grad(f)(x), 12 * x**2)


def test_long_chain_has_no_recursion_limit():
    def chain(x):
        for _ in range(100_000):
            x = x * 1.0000001
        return x

    g = cb.grad(chain)(1.0)
    assert np.isclose(g, 1.0000001**100_000)


def test_tape_is_released_after_grad():
    refs = []

    def f(x):
        y = np.sin(x) * 2.0
        refs.append(weakref.ref(y))
        refs.append(weakref.ref(cb.tracing.primal(y)))  # kept by the tape: the rule of ** reads it
        return np.sum(y**2)

    x = np.ones(1000)
    cb.grad(f)(x)
    assert all(r() is None for r in refs), "a tracer or an array of the tape outlived grad"
    gc.collect()
    cb.grad(f)(x)  # warm up
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(30):
            cb.grad(f)(x)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current - base < 50_000, f"memory grew by {current - base} bytes over 30 calls"
    assert peak - base < 40 * x.nbytes  # a handful of intermediates of 8 kB each, not 30 tapes


def test_grad_creates_no_reference_cycles():
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        cb.grad(lambda x: np.sum(np.tanh(x @ x.T)))(np.ones((3, 3)))
        cb.hessian(rosenbrock)(np.ones(5))
        assert gc.collect() == 0
    finally:
        gc.enable()
    del before


# --- bad input: clear errors --------------------------------------------------------------------
def test_unsupported_numpy_functions_are_named():
    with pytest.raises(NotImplementedError, match=r"numpy\.i0 .*Supported NumPy"):
        cb.grad(lambda x: np.sum(np.i0(x)))(np.ones(2))
    with pytest.raises(NotImplementedError, match=r"numpy\.add\.reduce"):
        cb.grad(lambda x: np.add.reduce(x))(np.ones(2))
    with pytest.raises(NotImplementedError, match=r"numpy\.exp.*numpy\.tanh"):
        cb.grad(lambda x: np.sum(np.fft.fft(x).real))(np.ones(2))


def test_in_place_mutation_is_refused():
    def setitem(x):
        x[0] = 1.0
        return np.sum(x)

    with pytest.raises(TypeError, match="in place"):
        cb.grad(setitem)(np.ones(2))
    with pytest.raises(TypeError, match="in place"):
        cb.grad(lambda x: np.sum(np.add(x, 1.0, out=x)))(np.ones(2))
    with pytest.raises(TypeError, match="in place"):
        cb.grad(lambda x: x.sort())(np.ones(2))
    with pytest.raises(TypeError, match="in place"):
        cb.grad(lambda x: x.fill(0.0))(np.ones(2))
    with pytest.raises(TypeError, match="in place"):
        cb.grad(lambda x: np.add.at(x, [0], 1.0))(np.ones(2))


@pytest.mark.parametrize(
    "call",
    [
        lambda: cb.grad(lambda x: np.abs(x[0] + 1j * x[1]))(np.array([3.0, 4.0])),
        lambda: cb.grad(lambda x: np.abs(np.sum(x * (1 + 1j))) ** 2)(np.array([1.0, 2.0])),
        lambda: cb.grad(lambda x: np.abs(np.array([1j, 2.0]) @ x))(np.ones(2)),
        lambda: cb.grad(lambda x: np.sum(np.abs(x.astype(complex))))(np.ones(2)),
        lambda: cb.grad(lambda x: np.abs(np.sum(np.where(x > 0, x, 1j))))(np.ones(2)),
        lambda: cb.grad(lambda z: np.sum(np.abs(np.exp(z))))(np.array([1 + 1j, -0.5])),
        lambda: cb.jacfwd(np.abs)(np.array([3 + 4j])),
        lambda: cb.jvp(np.abs, (np.array([3 + 4j]),), (np.array([1.0]),)),
        lambda: cb.jvp(lambda x: 2 * x, (np.ones(2),), (np.ones(2) * 1j,)),
        lambda: cb.vjp(lambda x: 2 * x, np.ones(2))[1](np.ones(2) * 1j),
    ],
)
def test_complex_numbers_are_refused_not_differentiated_wrongly(call):
    # the rules are written for reals (no conjugates): a complex value anywhere stops the trace
    with pytest.raises(NotImplementedError, match="complex numbers are not supported"):
        call()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cb.grad(lambda x: x * 2.0)(None), "an input of type NoneType"),
        (lambda: cb.grad(lambda x: x * 2.0)("1"), "an input of dtype <U1"),
        (lambda: cb.hessian(lambda x: x**3)("1.5"), "an input of dtype <U3"),
        (lambda: cb.jacfwd(lambda x: 2 * x)(np.array([1.0, None])), "an input of dtype object"),
        (lambda: cb.grad(lambda x: x * 2.0)(np.datetime64("2020-01-01")), "dtype datetime64"),
        (lambda: cb.grad(lambda x: x * 2.0)(cb.Value(1.0)), r"\.backward\(\) for Value"),
        (lambda: cb.jacrev(lambda x: x * 2.0)(cb.Dual(1.0, 1.0)), "calcbook.Dual belongs"),
        (lambda: cb.jvp(np.sin, (1.0,), ("1",)), "a tangent of dtype <U1"),
        (lambda: cb.jvp(np.sin, (1.0,), (None,)), "a tangent of type NoneType"),
        (lambda: cb.hvp(lambda x: np.sum(x**3), np.ones(2), np.array(["a", "b"])), "a tangent"),
        (lambda: cb.vjp(np.sin, 1.0)[1]("1"), "a cotangent of dtype <U1"),
        (lambda: cb.vjp(np.sin, 1.0)[1](None), "a cotangent of type NoneType"),
        (lambda: cb.check_grads(np.sin, (1.0, "1")), "check_grads: argument 1 of dtype <U1"),
    ],
)
def test_inputs_tangents_and_cotangents_that_are_not_real_numbers_are_refused(call, message):
    # (before, np.asarray(...).astype(float) turned "1" into 1.0, None into nan, a date into days)
    with pytest.raises(TypeError, match="is not made of real numbers") as error:
        call()
    assert re.search(message, str(error.value)), str(error.value)
    # integers and booleans are promoted (as calcbook.numdiff takes them), tangents cast
    assert cb.grad(lambda x: x**2)(3) == 6.0
    assert cb.grad(lambda x: x**2)(True) == 2.0
    np.testing.assert_array_equal(cb.hvp(lambda x: np.sum(x**3), np.ones(2), [True, False]), [6, 0])
    assert cb.jvp(np.sin, (0.0,), (2,))[1] == 2.0
    assert cb.vjp(np.sin, 0.0)[1](2) == (2.0,)


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_a_numpy_matrix_input_is_refused():
    # its * and ** are matrix products, a tracer's are elementwise: grad(lambda x: np.sum(x**2))
    # of a matrix crashed in a rule ("matrix.sum() got an unexpected keyword argument
    # 'keepdims'"), and jvp of x * x silently gave the elementwise square, not NumPy's m @ m
    m = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    for call in (
        lambda: cb.grad(lambda x: np.sum(x**2))(m),
        lambda: cb.grad(lambda x: np.sum(x * x.T))(m),
        lambda: cb.jacfwd(lambda x: x * 2.0)(m),
        lambda: cb.jvp(lambda x: x * x, (m,), (np.ones((2, 2)),)),
        lambda: cb.vjp(lambda x: x * x, m),
    ):
        with pytest.raises(TypeError, match="numpy.matrix is refused"):
            call()


def test_grad_refuses_a_0d_output_that_is_not_a_number_and_takes_any_number():
    # a 0-d array of strings, objects or dates passed for a scalar and gave zeros; a Fraction or
    # a Decimal (numbers, constant) raised NumPy's "Cannot interpret 'Fraction(1, 3)' as a data
    # type"
    from decimal import Decimal
    from fractions import Fraction

    x = np.array([1.0, 2.0])
    for out in (np.array("a"), np.array(1.0, dtype=object), np.datetime64("2020-01-01")):
        with pytest.raises(TypeError, match="grad requires a function with a scalar output"):
            cb.grad(lambda x, out=out: out)(x)
    for number in (Fraction(1, 3), Decimal(1)):
        np.testing.assert_array_equal(cb.grad(lambda x, n=number: n)(x), [0.0, 0.0])
        _, t = cb.jvp(lambda x, n=number: n, (x,), (x,))
        assert t == 0.0


def test_converting_a_traced_array_is_refused():
    with pytest.raises(TypeError, match="silently drop"):
        cb.grad(lambda x: float(x))(1.0)
    with pytest.raises(TypeError, match="silently drop"):
        cb.grad(lambda x: np.sum(np.asarray(x)))(np.ones(2))
    with pytest.raises(TypeError, match="np.stack"):
        cb.grad(lambda x: np.sum(np.array([x[0], x[1]])))(np.ones(2))


# --- check_grads --------------------------------------------------------------------------------
def test_check_grads_passes_on_correct_derivatives_to_order_three():
    rng = np.random.default_rng(0)
    W, x = rng.standard_normal((3, 2)), rng.standard_normal((4, 3))
    cb.check_grads(lambda W, x: np.tanh(x @ W), (W, x), order=2)
    cb.check_grads(lambda x: cb.logsumexp(x, axis=0), (x,), order=3, modes=("rev",))
    cb.check_grads(rosenbrock, (rng.uniform(-1, 1, 5),), order=2, modes=("fwd",))
    cb.check_grads(lambda a, b: (a * b, np.sin(a)), (x, x), order=1)
    # boolean and integer outputs are piecewise constant: derivative 0, checked as such
    cb.check_grads(lambda x: (x > 0, np.sum(x**2)), (x,), order=2)
    cb.check_grads(lambda x: np.argmax(x, axis=0), (x,), order=1)


def test_check_grads_catches_a_wrong_rule(monkeypatch):
    from calcbook import tracing

    wrong = (lambda g, ans, x: g * np.cos(x) * 1.001,)  # a wrong derivative of sin
    monkeypatch.setitem(tracing.VJP_RULES, np.sin, wrong)
    monkeypatch.setitem(tracing.JVP_RULES, np.sin, wrong)
    with pytest.raises(AssertionError, match=r"forward mode.*exceeds the tolerance"):
        cb.check_grads(np.sin, (np.array([0.3, 1.0]),), order=1)
    # (the second measurement, at a longer step, does not forgive it either)
    with pytest.raises(AssertionError, match=r"at a longer step it differs by 0\.000\d+, est"):
        cb.check_grads(np.sin, (np.array([0.3, 1.0]),), order=1)
    with pytest.raises(AssertionError, match=r"reverse mode.*exceeds the tolerance"):
        cb.check_grads(np.sin, (np.array([0.3, 1.0]),), order=1, modes=("rev",))
    # a huge second argument does not stretch the second measurement's step for the first (where
    # a difference over a huge step is about 0, as a derivative wrongly 0 would be)
    zero = (lambda g, ans, x: 0.0 * g,)
    monkeypatch.setitem(tracing.VJP_RULES, np.sin, zero)
    monkeypatch.setitem(tracing.JVP_RULES, np.sin, zero)
    with pytest.raises(AssertionError, match=r"forward mode.*exceeds the tolerance"):
        cb.check_grads(lambda x, s: np.sin(x) + 1e-30 * s, (np.array([0.3, 1.0]), np.array(1e15)))


def test_check_grads_passes_arguments_of_very_different_sizes():
    # one line through (1e6, 1): a step that suits 1 is rounded away at 1e6 unless each
    # coordinate moves in proportion to its own size
    cb.check_grads(lambda x, y: np.sin(x) + y, (np.array([1e6]), np.array([1.0])), order=1)
    cb.check_grads(lambda x, y: np.sum(np.sin(x)) * y, (np.array([1e6, 3e5]), np.array(1e-3)))
    cb.check_grads(lambda x: np.sum(np.sin(x)) * x, (np.array([1e6, 1.0]),), order=2)


def test_check_grads_catches_a_wrong_second_derivative(monkeypatch):
    from calcbook import tracing

    # first derivative right, but written with an untraced value: the second derivative is lost
    wrong = (lambda g, ans, x: g * np.cos(tracing.primal(x)),)
    monkeypatch.setitem(tracing.VJP_RULES, np.sin, wrong)
    monkeypatch.setitem(tracing.JVP_RULES, np.sin, wrong)
    cb.check_grads(np.sin, (np.array([0.3, 1.0]),), order=1)
    with pytest.raises(AssertionError, match="derivative of the"):
        cb.check_grads(np.sin, (np.array([0.3, 1.0]),), order=2)


def test_check_grads_validates_its_arguments():
    for kwargs, error, message in [
        ({"modes": None}, ValueError, "modes must be a non-empty subset"),
        ({"modes": 5}, ValueError, "modes must be a non-empty subset"),
        ({"atol": "1e-3"}, TypeError, "atol must be a number"),
        ({"rtol": [1e-3]}, TypeError, "rtol must be a number"),
    ]:
        with pytest.raises(error, match=message):
            cb.check_grads(np.sin, (np.ones(2),), order=1, **kwargs)
    with pytest.raises(ValueError, match="order"):
        cb.check_grads(np.sin, (1.0,), order=0)
    with pytest.raises(ValueError, match="modes"):
        cb.check_grads(np.sin, (1.0,), modes=("sideways",))


# --- tracers that escape their transform -----------------------------------------------------
def _escaping_inner(x):
    """d/dx sum(x * y) for a `y` kept from an inner grad: it must refuse, not give zeros."""
    kept = []
    cb.grad(lambda y: (kept.append(y), np.sum(x * y))[1])(np.ones(2))
    return np.sum(x * kept[0])


@pytest.mark.parametrize(
    "transform",
    [
        lambda f, x: cb.grad(f)(x),
        lambda f, x: cb.jacfwd(f)(x),
        lambda f, x: cb.jacrev(f)(x),
        lambda f, x: cb.jvp(f, (x,), (np.ones(2),)),
        lambda f, x: cb.vjp(f, x),
    ],
)
def test_a_tracer_kept_from_an_inner_transform_refuses_to_be_used(transform):
    with pytest.raises(TracerError, match="after the transform that traced it"):
        transform(_escaping_inner, np.array([1.0, 2.0]))


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_a_tracer_used_after_its_transform_returned_refuses(mode):
    kept = []
    f = lambda x: (kept.append(x), np.sum(x**2))[1]  # noqa: E731
    if mode == "rev":
        cb.grad(f)(np.array([1.0, 2.0]))
    else:
        cb.jvp(f, (np.array([1.0, 2.0]),), (np.ones(2),))
    (t,) = kept
    for use in (
        lambda: np.sin(t),
        lambda: t + 1.0,
        lambda: 1.0 + t,
        lambda: np.sum(t),
        lambda: t[0],
        lambda: cb.grad(lambda y: np.sum(y * t))(np.ones(2)),
        lambda: cb.jvp(lambda y: y * t, (np.ones(2),), (np.ones(2),)),
    ):
        with pytest.raises(TracerError, match="escaped"):
            use()
    assert (t > 0).tolist() == [True, True]  # comparisons have no derivative: they still work


def test_a_vjp_function_kept_past_the_outer_transform_it_closed_over_refuses():
    kept = []

    def outer(x):
        _, fn = cb.vjp(lambda y: x * y, np.ones(2))
        kept.append(fn)
        return np.sum(x**2)

    cb.grad(outer)(np.array([1.0, 2.0]))
    with pytest.raises(TracerError, match="escaped"):
        kept[0](np.ones(2))


def test_traced_arrays_inside_their_transforms_still_work_after_an_inner_one_returned():
    def f(x):
        inner = cb.grad(lambda y: np.sum(x * y**2))(np.ones(2))  # = 2x, traced at f's level
        return np.sum(inner * x)  # = 2 sum(x^2)

    x = np.array([1.0, -2.0])
    np.testing.assert_allclose(cb.grad(f)(x), 4 * x)
    np.testing.assert_allclose(cb.jacfwd(f)(x), 4 * x)
    np.testing.assert_allclose(cb.hessian(f)(x), 4 * np.eye(2))


# --- vjp reads copies of its primals --------------------------------------------------------
def test_changing_a_primal_after_vjp_does_not_change_vjp_fn():
    x = np.array([0.5, 1.0])
    _, fn = cb.vjp(lambda x: np.sin(x) * x, x)
    x[0] = 2.0  # still writeable
    (g,) = fn(np.ones(2))
    np.testing.assert_allclose(g, np.sin([0.5, 1.0]) + np.array([0.5, 1.0]) * np.cos([0.5, 1.0]))
    base = np.arange(6.0).reshape(2, 3)
    view, tree = base[:, 1], {"a": np.array([3.0, 4.0])}
    _, fn = cb.vjp(lambda v, t: v * v + t["a"] ** 2, view, tree)
    base[:] = 0.0
    tree["a"][:] = 0.0
    gv, gt = fn(np.ones(2))
    np.testing.assert_array_equal(gv, [2.0, 8.0])
    np.testing.assert_array_equal(gt["a"], [6.0, 8.0])


def test_vjp_takes_a_dict_cotangent_in_any_key_order():
    out, fn = cb.vjp(lambda x: {"u": 2 * x, "v": 3 * x}, np.ones(2))
    assert list(out) == ["u", "v"]
    (g,) = fn({"v": np.ones(2), "u": np.ones(2)})
    np.testing.assert_array_equal(g, [5.0, 5.0])
    with pytest.raises(ValueError, match="same structure"):
        fn({"u": np.ones(2), "w": np.ones(2)})


def test_structure_mismatches_say_where_the_structures_part():
    # (before: "the tangents must have the same structure as the primals", naming neither)
    x = np.ones(2)
    out, fn = cb.vjp(lambda x: (x, {"a": x, "b": (x,)}), x)
    for call, message in [
        (
            lambda: cb.jvp(lambda a, b: a * b, (x, x), (x,)),
            "tangents is a tuple of length 1, where primals is a tuple of length 2",
        ),
        (
            lambda: cb.jvp(lambda d: d["a"], ({"a": x},), ({"b": x},)),
            "tangents[0] is a dict with keys ['b'], where primals[0] is a dict with keys ['a']",
        ),
        (
            lambda: fn((x, {"a": x, "b": [x]})),
            "cotangent[1]['b'] is a list of length 1, where output[1]['b'] is a tuple of length 1",
        ),
        (
            lambda: cb.vjp(lambda x: (x, None), x)[1]((x, x)),
            "cotangent[1] is an array of shape (2,), where output[1] is None",
        ),
        (
            lambda: cb.hvp(lambda d: np.sum(d["a"] ** 3), {"a": x}, x),
            "hvp: v must have the structure of x: v is an array of shape (2,), where x is a dict",
        ),
    ]:
        with pytest.raises(ValueError, match="structure") as error:
            call()
        assert message in str(error.value), str(error.value)


def test_hvp_names_v_and_x_and_a_tangent_is_checked_for_numbers_before_its_shape():
    # (before: hvp's v was "tangent shape (3,) does not match primal shape (2,)", and a string
    # tangent or v of another shape than its primal "tangent shape () does not match ...")
    f = lambda x: np.sum(x**3)  # noqa: E731
    with pytest.raises(ValueError, match=r"hvp: v has shape \(3,\) but x has shape \(2,\)"):
        cb.hvp(f, np.ones(2), np.ones(3))
    for call, message in [
        (lambda: cb.hvp(f, np.ones(2), "ab"), "hvp: v, a tangent, of dtype <U2"),
        (lambda: cb.hvp(f, "ab", np.ones(2)), "an input of dtype <U2"),
        (lambda: cb.jvp(np.sin, (np.ones(2),), ("ab",)), "a tangent of dtype <U2"),
        (lambda: cb.jvp(np.sin, (np.ones(2),), (None,)), "a tangent of type NoneType"),
    ]:
        with pytest.raises(TypeError, match="is not made of real numbers") as error:
            call()
        assert message in str(error.value), str(error.value)


# --- dtypes and types of what comes back -----------------------------------------------------
@pytest.mark.parametrize(
    "f",
    [
        lambda x: x + np.float64(1.0),
        lambda x: x - np.ones(3),
        lambda x: np.float_power(x, 2.0),
        lambda x: np.where(x > 0, x, np.zeros(3)),
        lambda x: np.pad(x, 1) + np.float64(2.0),
        lambda x: x * np.float64(2.0),
        lambda x: (x + 1.0, x * np.ones(3)),
    ],
)
def test_jvp_tangent_has_the_dtype_of_its_output(f):
    x = np.array([1.0, 2.0, 3.0], np.float32)
    out, tangent = cb.jvp(f, (x,), (np.ones(3, np.float32),))
    outs, tangents = (out, tangent) if isinstance(out, tuple) else ((out,), (tangent,))
    for o, t in zip(outs, tangents, strict=True):
        assert t.dtype == o.dtype and t.shape == o.shape


def test_a_zero_derivative_of_a_number_has_the_type_of_a_nonzero_one():
    nonzero, zero = cb.grad(lambda x: x * x)(3.0), cb.grad(lambda x: 3.0)(3.0)
    assert type(zero) is type(nonzero) and zero == 0.0 and nonzero == 6.0
    g = cb.grad(lambda d: d["a"] * 2.0)({"a": 3.0, "b": 1.0})
    assert type(g["a"]) is type(g["b"]) and (g["a"], g["b"]) == (2.0, 0.0)
    _, t = cb.jvp(lambda x, y: (x * 2.0, 5.0), (1.0, 2.0), (1.0, 1.0))
    assert type(t[0]) is type(t[1]) and t == (2.0, 0.0)


def test_results_never_share_memory_with_each_other_or_with_given_arrays():
    c = np.array([1.0, 2.0])
    gx, gy = cb.grad(lambda x, y: np.sum((x + y) * c), argnums=(0, 1))(np.ones(2), np.ones(2))
    gx -= 100.0  # an update of one gradient in place ...
    np.testing.assert_array_equal(gy, c)  # ... leaves the other as it was
    gx, gy = cb.grad(lambda x, y: np.sum((x.reshape(4) + y) * np.arange(4.0)), argnums=(0, 1))(
        np.ones((2, 2)), np.ones(4)
    )
    assert not np.shares_memory(gx, gy)  # (a view of the other, not the same object)
    ct = np.ones(2)
    ga, gb = cb.vjp(lambda x, y: x + y, np.ones(2), np.ones(2))[1](ct)
    assert not (np.shares_memory(ga, ct) or np.shares_memory(gb, ct) or np.shares_memory(ga, gb))
    t = np.ones(2)
    _, tt = cb.jvp(lambda x: x + 1.0, (np.ones(2),), (t,))
    assert not np.shares_memory(tt, t)
    _, (t1, t2) = cb.jvp(lambda x: (x, x * 1.0), (np.ones(2),), (t,))
    assert not (np.shares_memory(t1, t) or np.shares_memory(t1, t2))
    ja, jb = cb.jacfwd(lambda x: (x, x))(np.ones(2))
    assert not np.shares_memory(ja, jb)


def test_check_grads_refuses_arguments_it_cannot_honour():
    cb.check_grads(np.sin, (1.0,), order=1, modes="fwd")  # one mode, given as a string
    with pytest.raises(TypeError, match="order must be an integer"):
        cb.check_grads(np.sin, (1.0,), order=1.5)
    with pytest.raises(ValueError, match="atol and rtol must be >= 0"):
        cb.check_grads(np.sin, (1.0,), atol=-1.0)


@pytest.mark.parametrize(
    ("f", "message"),
    [
        (lambda x: None, "f returned None"),  # (a `return` forgotten)
        (lambda x: "a", "an output of f of dtype <U1 is not made of real numbers"),
        (lambda x: (x, "a"), "an output of f of dtype <U1 is not made of real numbers"),
        (lambda x: np.array([object()]), "an output of f of dtype object is not made of real"),
    ],
)
def test_check_grads_refuses_an_output_of_f_that_is_not_made_of_numbers(f, message):
    # (before: None became nan, "f returned nan at the probe point"; a string raised NumPy's
    # "could not convert string to float"; an object array "float() argument must be ...")
    with pytest.raises(TypeError) as error:
        cb.check_grads(f, (np.array([1.0, 2.0]),), order=1)
    assert message in str(error.value), str(error.value)


def test_check_grads_reads_an_output_as_vjp_does():
    # every list a container and None an empty one, as for vjp (before: a None inside became
    # nan, "f returned nan", and [x[0], 2.0], plain numbers at the point, a leaf for the
    # cotangent but a list for vjp: "the cotangent must have the same structure")
    x = np.array([1.0, 2.0])
    for f in (lambda x: (np.sin(x), None), lambda x: {"a": x, "b": None}, lambda x: [x[0], 2.0]):
        cb.check_grads(f, (x,), order=2)
    from decimal import Decimal
    from fractions import Fraction

    for number in (Fraction(1, 3), Decimal(1)):  # numbers, if not NumPy's
        cb.check_grads(lambda x, n=number: (x, n), (x,), order=1)
    with pytest.raises(AssertionError, match="exceeds the tolerance"):  # still checked
        cb.check_grads(lambda x: [x[0] + (x[0] > 1.0), None], (x,), order=1)


def test_check_grads_leaves_the_callers_arrays_alone():
    # f was called on the caller's own array: one that changes its argument in place doubled it
    # (then the trace refused, as it should)
    x = np.array([1.0, 2.0])

    def f(z):
        z *= 2.0
        return z

    with pytest.raises(TypeError, match="on a traced array"):
        cb.check_grads(f, (x,), order=1)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_check_grads_names_the_argument_that_is_not_finite():
    # (before: numdiff's "x must be finite, got nan", for an x the caller never named)
    with pytest.raises(ValueError, match=r"check_grads: argument 1 is not finite \(inf\)"):
        cb.check_grads(lambda x, y: x * y, (np.ones(2), np.array([1.0, np.inf])), order=1)


def test_an_escaped_tracer_returned_or_given_to_a_transform_refuses():
    cache = {}

    def cached_loss(w):  # the second call returns the first call's traced result
        if "v" not in cache:
            cache["v"] = np.sum(np.tanh(w) ** 2)
        return cache["v"]

    w = np.ones(3)
    assert np.isclose(cb.value_and_grad(cached_loss)(w)[0], 3 * np.tanh(1.0) ** 2)
    kept = []
    cb.grad(lambda x: (kept.append(x), np.sum(x))[1])(np.ones(3))
    (old,) = kept
    for call in (
        lambda: cb.value_and_grad(cached_loss)(w),  # was: the tracer and zeros
        lambda: cb.hessian(cached_loss)(w),
        lambda: cb.jvp(lambda z: {"a": z, "b": cache["v"]}, (w,), (w,)),
        lambda: cb.vjp(lambda z: cache["v"], w),
        lambda: cb.vjp(lambda z: z + 1.0, w)[1](old),  # an escaped cotangent
        lambda: cb.jvp(lambda z: z, (w,), (old,)),  # an escaped tangent
        lambda: cb.vjp(lambda z: z, old),  # an escaped primal
        lambda: cb.jacfwd(lambda z: z)(old),
        lambda: np.asarray(old),  # (the escape is named, not "being differentiated")
    ):
        with pytest.raises(TracerError, match="escaped"):
            call()

    # a traced array of a transform that still runs is a constant to an inner one: fine
    def outer(x):
        (_, x_again), _ = cb.jvp(lambda z: (2 * z, x), (np.ones(3),), (np.ones(3),))
        return np.sum(x_again**2)

    np.testing.assert_array_equal(cb.grad(outer)(np.ones(3)), [2.0, 2.0, 2.0])


def _params():
    rng = np.random.default_rng(5)
    return {"W": rng.standard_normal((3, 2)), "b": [rng.standard_normal(2), np.float64(0.7)]}


def _flat_params(p):  # the same parameters as one vector, in the order of the leaves
    return np.concatenate([np.ravel(p["W"]), p["b"][0], [p["b"][1]]])


def _unflat_params(v):
    return {"W": v[:6].reshape(3, 2), "b": [v[6:8], v[8]]}


def _net(p, x):
    return {"out": np.tanh(x @ p["W"] + p["b"][0]) * p["b"][1], "norm": np.sum(p["W"] ** 2)}


@pytest.mark.parametrize("jac", [cb.jacrev, cb.jacfwd], ids=["jacrev", "jacfwd"])
def test_jacobians_with_respect_to_containers_have_their_structure_at_every_output(jac):
    p, x = _params(), np.random.default_rng(6).standard_normal((4, 3))
    J = jac(_net)(p, x)
    flat = cb.numdiff.jacobian(lambda v: _net(_unflat_params(v), x)["out"], _flat_params(p))
    for key, out_shape in (("out", (4, 2)), ("norm", ())):
        assert J[key]["W"].shape == out_shape + (3, 2) and J[key]["b"][0].shape == out_shape + (2,)
        assert J[key]["b"][1].shape == out_shape
    blocks = [J["out"]["W"].reshape(4, 2, 6), J["out"]["b"][0], J["out"]["b"][1][..., None]]
    np.testing.assert_allclose(np.concatenate(blocks, axis=-1), flat, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(J["norm"]["W"], 2 * p["W"], rtol=1e-14)
    # with argnums a tuple: a tuple over them at each output, a container's block a container
    both = jac(_net, argnums=(0, 1))(p, x)
    np.testing.assert_array_equal(both["out"][0]["b"][0], J["out"]["b"][0])
    assert both["out"][1].shape == (4, 2, 4, 3)
    assert jac(lambda d, x: x * 2)({}, np.ones(2)) == {}  # (no leaves: an empty container)


def test_hessian_with_respect_to_a_container_is_nested_containers_of_blocks():
    p = _params()

    def loss(p):
        return np.sum(np.sin(p["W"]) * p["b"][0]) * p["b"][1] ** 2

    H = cb.hessian(loss)(p)
    flat = cb.hessian(lambda v: loss(_unflat_params(v)))(_flat_params(p))
    assert H["W"]["b"][0].shape == (3, 2, 2) and H["b"][0]["W"].shape == (2, 3, 2)
    np.testing.assert_allclose(H["W"]["W"].reshape(6, 6), flat[:6, :6], rtol=1e-14)
    np.testing.assert_allclose(H["W"]["b"][0].reshape(6, 2), flat[:6, 6:8], rtol=1e-14)
    np.testing.assert_allclose(H["b"][1]["W"].ravel(), flat[8, :6], rtol=1e-14)
    np.testing.assert_allclose(H["b"][1]["b"][1], flat[8, 8], rtol=1e-14)
    np.testing.assert_allclose(H["b"][0]["W"], np.moveaxis(H["W"]["b"][0], -1, 0), rtol=1e-14)


def test_check_grads_takes_containers_as_arguments_and_nested_outputs():
    p = {"W": np.full((2, 2), 0.3), "b": [np.arange(2.0), 0.5]}

    def net(p, x):
        return {"a": [np.tanh(x @ p["W"]), p["b"][1] * x], "s": np.sum(p["b"][0] ** 3)}

    cb.check_grads(net, (p, np.ones((3, 2))), order=2)
    with pytest.raises(AssertionError, match="exceeds the tolerance"):  # a jump inside a dict
        cb.check_grads(lambda d: d["x"] + (d["x"] > 1.0), ({"x": np.array([1.0])},), order=1)


def test_hvp_of_a_function_of_a_container_has_its_structure():
    p = _params()
    v = {"W": np.ones((3, 2)), "b": [np.full(2, 0.5), np.float64(-1.0)]}

    def loss(p):
        return np.sum(np.sin(p["W"]) * p["b"][0]) * p["b"][1] ** 2

    hv = cb.hvp(loss, p, v)
    flat = cb.hessian(lambda z: loss(_unflat_params(z)))(_flat_params(p)) @ _flat_params(v)
    np.testing.assert_allclose(_flat_params(hv), flat, rtol=1e-13, atol=1e-15)
