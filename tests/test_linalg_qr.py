"""`np.linalg.qr`, `np.linalg.tensorsolve` and `np.linalg.tensorinv` on traced arrays.

Values and dtypes must be NumPy's to the last bit; derivatives are checked by `check_rule` (forward
and reverse mode against central differences, both second-order compositions, `jacfwd ==
jacrev`) and by `calcbook.check_grads`, for square, tall, wide and batched matrices in every
mode the rules support, and the refusals must say what to do instead.

The matrices are a random matrix plus 3 times a signed identity (`_matrix`): well conditioned,
with Householder pivots of both signs (so R has diagonal entries of both signs) and far from 0,
where NumPy's factors jump.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_rules import check_rule

import calcbook as cb
from calcbook.rules import supported

SETTINGS = settings(max_examples=10, deadline=None)
SIDES = st.integers(1, 4)
BATCH = st.sampled_from([(), (2,)])
SEEDS = st.integers(0, 2**32 - 1)


def _matrix(rng, shape, dtype=np.float64):
    m, n = shape[-2:]
    signs = rng.choice([-3.0, 3.0], size=n)
    return (rng.standard_normal(shape) + np.eye(m, n) * signs).astype(dtype)


def _mT(x):
    return np.swapaxes(x, -1, -2)


def _q(a):
    return np.linalg.qr(a).Q


def _r(a):
    return np.linalg.qr(a).R


def _r_alone(a):
    return np.linalg.qr(a, mode="r")


def _q_complete(a):
    return np.linalg.qr(a, mode="complete")[0]


def _both(a):  # a loss that uses Q and R together
    q, r = np.linalg.qr(a)
    return np.sum(np.sin(q) * np.cumsum(q, axis=-1)) + np.sum(r * r) * np.sum(np.tanh(r))


FUNCTIONS = {"Q": _q, "R": _r, "r": _r_alone, "complete_Q": _q_complete, "both": _both}


# --- values --------------------------------------------------------------------------------------
@SETTINGS
@given(
    batch=BATCH,
    m=SIDES,
    n=SIDES,
    mode=st.sampled_from(["reduced", "complete", "r"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=SEEDS,
)
def test_values_and_dtypes_are_numpys(batch, m, n, mode, dtype, seed):
    a = _matrix(np.random.default_rng(seed), batch + (m, n), dtype)
    expected = np.linalg.qr(a, mode=mode)
    seen = []

    def f(x):
        out = np.linalg.qr(x, mode=mode)
        seen.append(type(out).__name__)
        return out if mode == "r" else tuple(out)

    transforms = [lambda: cb.vjp(f, a)[0]]
    if not (mode == "complete" and m > n):  # (forward mode refuses that case: tested below)
        transforms.append(lambda: cb.jvp(f, (a,), (np.ones_like(a),))[0])
    for run in transforms:
        got = run()
        pairs = [(got, expected)] if mode == "r" else zip(got, expected, strict=True)
        for g, e in pairs:
            assert g.dtype == e.dtype == dtype and g.shape == e.shape
            np.testing.assert_array_equal(g, e)
    if mode == "r":  # (R alone, a traced array, as NumPy returns an array)
        assert all(name.endswith("Tracer") for name in seen)
    else:
        assert set(seen) == {"QRResult"}


@SETTINGS
@given(batch=BATCH, m=SIDES, n=SIDES, complete=st.booleans(), seed=SEEDS)
def test_traced_factors_are_orthonormal_and_triangular(batch, m, n, complete, seed):
    a = _matrix(np.random.default_rng(seed), batch + (m, n))

    def f(x):
        q, r = np.linalg.qr(x, mode="complete" if complete else "reduced")
        return _mT(q) @ q, q @ r, np.tril(r, -1)

    qtq, qr, below = cb.vjp(f, a)[0]
    np.testing.assert_allclose(qtq, np.broadcast_to(np.eye(qtq.shape[-1]), qtq.shape), atol=1e-14)
    np.testing.assert_allclose(qr, a, atol=1e-13)
    np.testing.assert_array_equal(below, 0)


def test_supported_lists_the_new_functions():
    names = supported()
    for name in ("numpy.linalg.qr", "numpy.linalg.tensorsolve", "numpy.linalg.tensorinv"):
        assert name in names


# --- derivatives ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Q", "R", "r", "complete_Q", "both"])
@settings(max_examples=20, deadline=None)
@given(batch=BATCH, m=SIDES, n=SIDES, seed=SEEDS)
def test_derivatives_against_finite_differences(name, batch, m, n, seed):
    """Square, tall and wide (the rule of A = [X | Y] with X square), stacks too."""
    if name == "complete_Q" and m > n:  # (refused for a tall matrix: tested below)
        m, n = n, m
    a = _matrix(np.random.default_rng(seed), batch + (m, n))
    check_rule(FUNCTIONS[name], a, seed=seed)


@pytest.mark.parametrize(
    "name, shape",
    [
        (name, shape)
        for name in FUNCTIONS
        for shape in [(3, 3), (4, 2), (2, 4), (2, 3, 2)]
        if name != "complete_Q" or shape[-2] <= shape[-1]  # (a tall one is refused: see below)
    ],
)
def test_check_grads_to_second_order(name, shape):
    a = _matrix(np.random.default_rng(7), shape)
    # (h given: where a derivative is 0, Q against A's last column, the computed gradient is
    # rounding noise, which the smallest default steps of the second-order differences amplify)
    cb.check_grads(FUNCTIONS[name], (a,), order=2)


@pytest.mark.parametrize("shape", [(3, 3), (4, 3), (2, 4)])
def test_hessian_in_all_four_compositions(shape):
    rng = np.random.default_rng(3)
    a = _matrix(rng, shape)
    h = cb.hessian(_both)(a)
    for other in (
        cb.jacrev(cb.jacrev(_both)),
        cb.jacfwd(cb.jacfwd(_both)),
        cb.jacrev(cb.grad(_both)),
    ):
        np.testing.assert_allclose(other(a), h, rtol=1e-12, atol=1e-12 * np.max(np.abs(h)))
    np.testing.assert_allclose(h, np.moveaxis(h, (0, 1), (2, 3)), atol=1e-12 * np.max(np.abs(h)))
    g, step, size = cb.grad(_both), 1e-5, a.size
    basis = np.eye(size).reshape((size,) + shape)
    h_fd = np.stack([(g(a + step * e) - g(a - step * e)) / (2 * step) for e in basis])
    np.testing.assert_allclose(
        np.moveaxis(h_fd.reshape((size,) + shape), 0, -1).reshape(h.shape), h, atol=1e-7
    )


@pytest.mark.parametrize("name", ["Q", "R", "r"])
def test_jacfwd_equals_jacrev(name):
    a = _matrix(np.random.default_rng(5), (2, 4, 3))
    jf, jr = cb.jacfwd(FUNCTIONS[name])(a), cb.jacrev(FUNCTIONS[name])(a)
    assert jf.shape == jr.shape == FUNCTIONS[name](a).shape + a.shape
    np.testing.assert_allclose(jf, jr, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 3, 3)])
def test_float32_gradients_are_float32(shape):
    a = _matrix(np.random.default_rng(8), shape)
    a32 = a.astype(np.float32)
    loss = lambda x: np.sum(_both(x))  # noqa: E731
    for transform in (cb.grad, cb.jacfwd, cb.hessian):
        got, exact = transform(loss)(a32), transform(loss)(a)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, exact, rtol=1e-3, atol=1e-3 * np.max(np.abs(exact)))


def test_a_rotation_of_the_columns_moves_q_and_not_r():
    # d/dt qr(expm(t K) A) at t = 0 for antisymmetric K: dQ = K Q, dR = 0
    rng = np.random.default_rng(9)
    a, k = _matrix(rng, (4, 3)), rng.standard_normal((4, 4))
    k = k - k.T
    (q, r), (dq, dr) = cb.jvp(lambda x: tuple(np.linalg.qr(x)), (a,), (k @ a,))
    np.testing.assert_allclose(dq, k @ q, atol=1e-13)
    np.testing.assert_allclose(dr, 0, atol=1e-13)


# --- complete mode of a tall matrix: the extra columns of Q -------------------------------------
def test_complete_tall_differentiates_the_first_columns_and_r_in_reverse_mode():
    rng = np.random.default_rng(4)
    a, w, v = _matrix(rng, (5, 3)), rng.standard_normal((5, 3)), rng.standard_normal((5, 3))

    def complete(x):
        q, r = np.linalg.qr(x, mode="complete")
        return np.sum(w * np.sin(q[:, :3])) + np.sum(v * r**2)

    def reduced(x):
        q, r = np.linalg.qr(x)
        return np.sum(w * np.sin(q)) + np.sum(v[:3] * r**2)

    np.testing.assert_allclose(complete(a), reduced(a), rtol=1e-14)
    np.testing.assert_allclose(cb.grad(complete)(a), cb.grad(reduced)(a), rtol=1e-13, atol=1e-14)
    cb.check_grads(complete, (a,), order=2, modes=("rev",))
    np.testing.assert_allclose(cb.jacrev(cb.grad(complete))(a), cb.hessian(reduced)(a), atol=1e-12)


def test_complete_tall_refuses_the_extra_columns():
    a = _matrix(np.random.default_rng(4), (2, 5, 3))
    with pytest.raises(ValueError, match=r"mode='complete'\) of a tall 5 x 3 .*last 2 columns"):
        cb.grad(lambda x: np.sum(np.linalg.qr(x, mode="complete").Q))(a)
    with pytest.raises(ValueError, match=r"mode='reduced'.*I - Q @ Q.T"):
        cb.grad(lambda x: np.sum(np.linalg.qr(x, mode="complete").Q[..., 3:] ** 2))(a)
    only_r = lambda x: np.sum(np.linalg.qr(x, mode="complete").R)  # noqa: E731
    for transform in (cb.jacfwd, cb.hessian, lambda f: lambda x: cb.jvp(f, (x,), (x,))):
        with pytest.raises(ValueError, match=r"forward mode \(jvp, jacfwd, hessian\)"):
            transform(only_r)(a)


# --- refusals and NumPy's errors -----------------------------------------------------------------
def test_modes_without_a_rule_and_bad_arguments():
    a = _matrix(np.random.default_rng(1), (3, 2))
    for mode in ("raw", "economic"):
        with pytest.raises(NotImplementedError, match=rf"mode='{mode}'.*mode='reduced'"):
            cb.grad(lambda x, mode=mode: np.sum(np.linalg.qr(x, mode=mode)[0]))(a)
    with pytest.raises(ValueError, match="Unrecognized mode 'thin'"):
        cb.grad(lambda x: np.sum(np.linalg.qr(x, mode="thin")[0]))(a)
    with pytest.raises(np.linalg.LinAlgError, match="1-dimensional array given"):
        cb.grad(lambda x: np.sum(np.linalg.qr(x)[0]))(np.ones(3))
    with pytest.warns(DeprecationWarning, match="'full' option is deprecated"):
        g = cb.grad(lambda x: np.sum(np.linalg.qr(x, mode="full")[1]))(a)
    np.testing.assert_allclose(g, cb.grad(lambda x: np.sum(np.linalg.qr(x)[1]))(a))


@pytest.mark.parametrize(
    "a",
    [
        np.array([[1.0, 2.0], [2.0, 4.0], [0.5, 1.0]]),
        np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 1.0]]),
        # dependent, and already 0 below the pivot: LAPACK's tau is 0 too (on some kernels the
        # first matrix's second column comes out so); the dependence is the reason given
        np.array([[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]]),
        np.array([[3.0, 6.0], [0.0, 0.0]]),
    ],
    ids=["tall", "wide", "tall-unreflected", "square-unreflected"],
)
def test_linearly_dependent_columns_are_refused(a):
    loss = lambda x: np.sum(np.linalg.qr(x)[0]) + np.sum(np.linalg.qr(x)[1])  # noqa: E731
    for transform in (cb.grad, cb.jacfwd):
        with pytest.raises(ValueError, match="linearly dependent.*no derivative"):
            transform(loss)(a)
    np.testing.assert_array_equal(cb.vjp(np.linalg.qr, a)[0].R, np.linalg.qr(a).R)  # (the value)


# --- tensorsolve, tensorinv ----------------------------------------------------------------------
def _square(rng, rows, cols):
    """An array of shape `rows + cols` that is a well-conditioned matrix reshaped."""
    size = int(np.prod(rows))
    return (4 * np.eye(size) + rng.standard_normal((size, size))).reshape(rows + cols)


TENSORSOLVE = {  # a's shape before the transpose `axes` asks for, b's shape, axes
    "matrix": ((4, 4), (4,), None),
    "no_axes": ((2, 3, 6), (2, 3), None),
    "b_3d": ((2, 1, 3, 3, 2), (2, 1, 3), None),
    "axes_one": ((2, 6, 3), (6,), (0, 2)),
    "axes_reordered": ((3, 2, 2, 3), (2, 3), (2, 0)),
    "axes_swapped": ((4, 2, 2), (4,), (2, 1)),
}


@pytest.mark.parametrize("name", list(TENSORSOLVE))
def test_tensorsolve(name):
    a_shape, b_shape, axes = TENSORSOLVE[name]
    rng = np.random.default_rng(11)
    if axes is None:
        a = _square(rng, a_shape[: len(b_shape)], a_shape[len(b_shape) :])
    else:  # a well-conditioned matrix after NumPy's transpose
        order = [i for i in range(len(a_shape)) if i not in axes] + list(axes)
        moved = _square(rng, tuple(a_shape[i] for i in order[: len(b_shape)]),
                        tuple(a_shape[i] for i in order[len(b_shape) :]))  # fmt: skip
        a = np.transpose(moved, np.argsort(order))
    b = rng.standard_normal(b_shape)
    f = lambda a, b: np.linalg.tensorsolve(a, b, axes=axes)  # noqa: E731
    expected = f(a, b)
    for got in (cb.vjp(f, a, b)[0], cb.jvp(f, (a, b), (a, b))[0]):
        assert got.shape == expected.shape and got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    check_rule(f, a, b)
    check_rule(lambda a: f(a, b), a)  # (b a constant)
    check_rule(lambda b: f(a, b), b)  # (a a constant)


@pytest.mark.parametrize(
    "shape, ind", [((3, 3), 1), ((6, 2, 3), 1), ((2, 3, 6), 2), ((2, 3, 3, 2), 2)]
)
def test_tensorinv(shape, ind):
    rng = np.random.default_rng(12)
    a = _square(rng, shape[:ind], shape[ind:])
    f = lambda a: np.linalg.tensorinv(a, ind=ind)  # noqa: E731
    expected = f(a)
    for got in (cb.vjp(f, a)[0], cb.jvp(f, (a,), (a,))[0]):
        assert got.shape == expected.shape == shape[ind:] + shape[:ind]
        np.testing.assert_array_equal(got, expected)
    check_rule(f, a)
    cb.check_grads(f, (a,), order=2)
    a32 = a.astype(np.float32)
    assert cb.grad(lambda a: np.sum(np.sin(f(a))))(a32).dtype == np.float32


@SETTINGS
@given(rows=st.lists(SIDES, min_size=1, max_size=3), flat=st.booleans(), seed=SEEDS)
def test_tensorsolve_and_tensorinv_of_random_shapes(rows, flat, seed):
    rng = np.random.default_rng(seed)
    rows = tuple(rows)
    cols = (int(np.prod(rows)),) if flat else rows[::-1]
    a, b = _square(rng, rows, cols), rng.standard_normal(rows)
    inv = lambda a: np.linalg.tensorinv(a, ind=len(rows))  # noqa: E731
    np.testing.assert_array_equal(
        cb.vjp(np.linalg.tensorsolve, a, b)[0], np.linalg.tensorsolve(a, b)
    )
    np.testing.assert_array_equal(cb.vjp(inv, a)[0], inv(a))
    check_rule(np.linalg.tensorsolve, a, b, seed=seed, second=False)
    check_rule(inv, a, seed=seed, second=False)


def test_tensorsolve_and_tensorinv_errors_are_numpys():
    a = _square(np.random.default_rng(13), (2, 3), (6,))
    with pytest.raises(ValueError, match="Invalid ind argument"):
        cb.grad(lambda a: np.sum(np.linalg.tensorinv(a, ind=0)))(a)
    with pytest.raises(np.linalg.LinAlgError, match="Input arrays must satisfy"):
        cb.grad(lambda a: np.sum(np.linalg.tensorsolve(a, np.ones(4))))(a)


def test_check_grads_is_not_fooled_by_rounding_noise_where_a_derivative_is_0():
    # Q of a square matrix does not depend on its last column: at second order those entries of
    # the derivative maps are 0 in exact arithmetic and rounding noise in floating point, which
    # the default (short) steps of the finite differences used to amplify into false failures,
    # and numdiff's step below what f resolves used to leave without any estimate at h=1e-4
    rng = np.random.default_rng(0)
    for seed in range(20):
        a = rng.standard_normal((3, 3))
        cb.check_grads(lambda a: np.linalg.qr(a)[0], (a,), order=2, seed=seed)
        cb.check_grads(lambda a: np.linalg.qr(a)[0], (a,), order=2, seed=seed, h=1e-4)


def test_qr_refuses_where_numpys_factors_jump():
    # LAPACK reflects nothing in a column that is already 0 below its pivot, and flips that
    # row's sign under any perturbation: R[0, 0] is 2 at the point and -2 next to it
    a = np.array([[2.0, 1.0], [0.0, 3.0]])
    assert np.linalg.qr(a).R[0, 0] == 2.0 and np.linalg.qr(a + [[0, 0], [1e-12, 0]]).R[0, 0] < 0
    for point in (a, np.eye(3), np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]), np.stack([a, a.T])):
        with pytest.raises(ValueError, match="already 0 below its pivot"):
            cb.grad(lambda m: np.sum(np.linalg.qr(m).R))(point)
        with pytest.raises(ValueError, match="already 0 below its pivot"):
            cb.jacfwd(lambda m: np.linalg.qr(m).Q)(point)
    near = a + [[0.0, 0.0], [1e-3, 0.0]]  # (off the jump: the derivative is that of the factors)
    cb.check_grads(lambda m: np.linalg.qr(m).R, (near,), order=2)
