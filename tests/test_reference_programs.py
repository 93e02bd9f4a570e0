"""Programs from a differential test against reference AD systems, as regression tests.

Each defect that the comparison found has a test here, checked against finite differences
(`calcbook.numdiff`, or `check_grads`, which uses it) or a closed form, in both modes.
"""

from __future__ import annotations

import numpy as np
import pytest

import calcbook as cb
from calcbook import numdiff


def assert_jacobians(f, x, rtol=1e-7, atol=1e-8):
    """jacrev and jacfwd of `f` at `x` agree with the finite-difference Jacobian."""
    expected = numdiff.jacobian(lambda z: np.asarray(f(z), dtype=float), x, method="richardson")
    for jac in (cb.jacrev, cb.jacfwd):
        J = jac(f)(x)
        assert J.shape == np.shape(f(x)) + np.shape(x)
        np.testing.assert_allclose(J, expected, rtol=rtol, atol=atol, err_msg=jac.__name__)


# --- einsum with a repeated index in one operand (its diagonal) ---------------------------------
EINSUM_DIAGONALS = [
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ii->", [(3, 3)]),
    ("iij->j", [(2, 2, 3)]),
    ("iii->i", [(2, 2, 2)]),
    ("iji->j", [(2, 3, 2)]),
    ("ij,ii->j", [(3, 2), (3, 3)]),
    ("...ii->...i", [(2, 3, 3)]),
]


@pytest.mark.parametrize("spec, shapes", EINSUM_DIAGONALS, ids=[s for s, _ in EINSUM_DIAGONALS])
def test_einsum_with_a_repeated_index_has_a_reverse_mode(spec, shapes):
    rng = np.random.default_rng(0)
    args = tuple(rng.standard_normal(s) for s in shapes)
    cb.check_grads(lambda *a: np.einsum(spec, *a), args, order=2)
    x, rest = args[-1], args[:-1]
    assert_jacobians(lambda z: np.einsum(spec, *rest, z), x)


def test_gradient_of_the_einsum_trace_is_the_identity():
    g = cb.grad(lambda m: np.einsum("ii", m))(np.arange(9.0).reshape(3, 3))
    np.testing.assert_array_equal(g, np.eye(3))
    g32 = cb.grad(lambda m: np.einsum("ii->", m))(np.ones((2, 2), np.float32))
    assert g32.dtype == np.float32


# --- norms, std and hypot at 0: derivative 0 (as abs), not nan ---------------------------------
ZERO_NORMS = {
    "norm": lambda x: np.linalg.norm(x),
    "norm axis": lambda x: np.linalg.norm(x, axis=-1),
    "norm fro": lambda x: np.linalg.norm(x.reshape(2, 2), "fro"),
    "std": lambda x: np.std(x),
    "std ddof": lambda x: np.std(x, ddof=1),
    "hypot": lambda x: np.hypot(x[0], x[1]),
}


@pytest.mark.parametrize("name", list(ZERO_NORMS))
def test_norms_have_derivative_zero_at_zero(name):
    f = ZERO_NORMS[name]
    x = np.full(4, 0.5) if name.startswith("std") else np.zeros(4)  # std: no spread
    for jac in (cb.jacrev, cb.jacfwd):
        np.testing.assert_array_equal(jac(f)(x), np.zeros(np.shape(f(x)) + x.shape))
    assert not np.any(np.isnan(cb.hessian(lambda z: np.sum(f(z)))(x)))
    cb.check_grads(f, (np.array([0.3, -1.2, 0.7, 2.0]),), order=2)  # unchanged elsewhere


def test_std_over_one_entry_and_norm_of_a_zero_row():
    # std over an axis of size 1 (or over no axis) is identically 0, so is its derivative
    x = np.array([[1.0], [2.0], [-3.0]])
    np.testing.assert_array_equal(cb.jacrev(lambda z: np.std(z, axis=1))(x), np.zeros((3, 3, 1)))
    np.testing.assert_array_equal(cb.jacfwd(lambda z: np.std(z, axis=()))(x), np.zeros((3, 1) * 2))
    m = np.array([[0.0, 0.0], [3.0, 4.0]])
    g = cb.grad(lambda z: np.sum(np.linalg.norm(z, axis=1)))(m)
    np.testing.assert_allclose(g, [[0.0, 0.0], [0.6, 0.8]])


# --- x ** y: the derivative in y at x = 0 ------------------------------------------------------
def test_power_derivative_in_the_exponent_at_zero_base():
    x = np.array([0.0, 2.0, 0.0])
    y = np.array([2.0, 1.5, 0.5])
    expected = np.diag([0.0, 2.0**1.5 * np.log(2.0), 0.0])  # 0 ** y is 0 for every y > 0
    for jac in (cb.jacrev, cb.jacfwd):
        np.testing.assert_allclose(jac(lambda y: x**y)(y), expected)
        np.testing.assert_allclose(jac(lambda y: np.float_power(x, y))(y), expected)
    assert_jacobians(lambda y: x**y, y)


# --- mean over an empty axis: forward mode gives 0, not nan ------------------------------------
def test_mean_over_an_empty_axis_has_zero_tangent():
    x, v = np.zeros((0, 3)), np.zeros((0, 3))
    with np.errstate(invalid="ignore", divide="ignore"):  # the value itself is nan
        _, t = cb.jvp(lambda z: np.mean(z, axis=0), (x,), (v,))
    np.testing.assert_array_equal(t, np.zeros(3))


# --- constants given as Python lists, as NumPy accepts them ------------------------------------
LIST_CONSTANTS = {
    "list @ x": (lambda x: [[1.0, 2.0], [3.0, -1.0]] @ x, (2, 3)),
    "x @ list": (lambda x: x @ [1.0, 2.0, 0.5], (2, 3)),
    "matmul(list, x)": (lambda x: np.matmul([1.0, -2.0], x), (2, 3)),
    "x ** list": (lambda x: x ** [1.0, 2.0, 0.5], (2, 3)),
    "float_power(x, list)": (lambda x: np.float_power(x, [1.0, 2.0, 0.5]), (2, 3)),
    "arctan2": (lambda x: np.arctan2(x, [1.0, 2.0, 0.5]) + np.arctan2([1.0, -2.0, 0.5], x), (3,)),
    "outer(list, x)": (lambda x: np.outer([1.0, 2.0], x), (3,)),
    "dot(list, x)": (lambda x: np.dot([1.0, 2.0], x), (2, 3)),
    "stack([x, list])": (lambda x: np.stack([x, [1.0, 2.0, 3.0]], axis=-1), (3,)),
    "solve(x, list)": (lambda x: np.linalg.solve(x + 3 * np.eye(2), [1.0, 2.0]), (2, 2)),
}


@pytest.mark.parametrize("name", list(LIST_CONSTANTS))
def test_list_constants_are_arrays(name):
    f, shape = LIST_CONSTANTS[name]
    x = np.random.default_rng(1).uniform(0.5, 2.0, shape)
    assert_jacobians(f, x)
    cb.check_grads(f, (x,), order=2)


# --- more ufuncs ---------------------------------------------------------------------------------
def test_fabs_and_conjugate():
    x = np.array([-1.5, 0.5, 2.0])
    np.testing.assert_array_equal(cb.grad(lambda z: np.sum(np.fabs(z)))(x), np.sign(x))
    cb.check_grads(lambda z: np.fabs(z) * np.conj(z) + np.conjugate(z) ** 2, (x,), order=2)


# --- check_grads: dict outputs, and arguments that are not a tuple -------------------------------
def test_check_grads_accepts_dict_outputs_and_catches_their_errors(monkeypatch):
    x = np.array([0.5, 1.0])
    cb.check_grads(lambda z: {"a": np.sin(z), "b": np.sum(z**3)}, (x,), order=2)
    from calcbook import tracing

    monkeypatch.setitem(tracing.VJP_RULES, np.sin, (lambda g, ans, x: g,))  # wrong: not cos
    with pytest.raises(AssertionError, match="reverse mode"):
        cb.check_grads(lambda z: {"a": np.sin(z)}, (x,), order=1, modes=("rev",))


def test_check_grads_wants_a_tuple_of_arguments():
    with pytest.raises(TypeError, match=r"as a tuple, e\.g\. check_grads\(f, \(x,\)\)"):
        cb.check_grads(np.sin, np.ones(2))


# --- whole programs, as a reviewer would write them ---------------------------------------------
def attention(q, k, v):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    p = cb.softmax(s, axis=-1)
    return p @ v


def layer_norm(x, g, b):
    mu = np.mean(x, axis=-1, keepdims=True)
    return g * (x - mu) / np.sqrt(np.var(x, axis=-1, keepdims=True) + 1e-5) + b


def mlp_loss(W1, b1, W2, x):
    return np.sum((np.tanh(x @ W1 + b1) @ W2) ** 2) / x.shape[0]


PROGRAMS = {
    "attention": (attention, [(2, 3, 4), (2, 5, 4), (2, 5, 2)]),
    "layer_norm": (layer_norm, [(3, 4), (4,), (4,)]),
    "mlp_loss": (mlp_loss, [(3, 4), (4,), (4, 2), (5, 3)]),
    "indexing": (lambda x: x[::-2, None, [0, 0, 2]][..., 1:] * x[x > 0][:2].sum(), [(4, 3)]),
    "einsum_three": (
        lambda a, b, c: np.einsum("bij,bjk,bkl->bil", a, b, c),
        [(2, 2, 3), (2, 3, 4), (2, 4, 2)],
    ),
    "sort_cumsum_norm": (
        lambda x: np.linalg.norm(np.cumsum(np.sort(x, axis=0), axis=-1), axis=(0, 1)),
        [(3, 4, 2)],
    ),
    "std_ddof_where_clip": (
        lambda x: np.std(np.where(x > 0, x, np.clip(x, -0.5, 0.5)), axis=(0, -1), ddof=1),
        [(2, 3, 4)],
    ),
}


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_reference_programs(name):
    f, shapes = PROGRAMS[name]
    rng = np.random.default_rng(2)
    args = tuple(rng.standard_normal(s) for s in shapes)
    if name == "std_ddof_where_clip":  # away from the kinks of where/clip
        args = (np.sign(args[0]) * (0.6 + np.abs(args[0])),)
    cb.check_grads(f, args, order=2)
