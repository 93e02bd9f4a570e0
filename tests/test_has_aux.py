"""`has_aux=True`: f returns `(output, aux)`; only the output is differentiated.

Each transform is checked against the same transform of the function without aux, the aux against
the plain evaluation of f, and aux arrays are plain NumPy (the transform's tracers unwrapped), while
an outer transform still differentiates what the aux holds.
"""

import numpy as np
import pytest

import calcbook as cb
from calcbook.tracing import Tracer

rng = np.random.default_rng(0)
W = rng.standard_normal((3, 2))
X = rng.standard_normal((4, 3))
Y = np.eye(2)[[0, 1, 1, 0]]


def loss(W, x, y):
    z = x @ W
    return cb.cross_entropy(z, y)


def loss_aux(W, x, y):
    z = x @ W
    accuracy = np.mean(np.argmax(z, axis=1) == np.argmax(y, axis=1))
    return cb.cross_entropy(z, y), {"logits": z, "accuracy": accuracy, "note": "ok", "n": 4}


def assert_plain(tree, like):
    """`tree` has the structure and values of `like`, and no tracers."""
    if isinstance(like, dict):
        assert tree.keys() == like.keys()
        for k in like:
            assert_plain(tree[k], like[k])
    elif isinstance(like, (tuple, list)):
        assert type(tree) is type(like) and len(tree) == len(like)
        for a, b in zip(tree, like, strict=True):
            assert_plain(a, b)
    else:
        assert not isinstance(tree, Tracer)
        if isinstance(like, (np.ndarray, np.generic)):
            assert np.shape(tree) == np.shape(like) and np.result_type(tree) == like.dtype
            np.testing.assert_array_equal(tree, like)
        else:
            assert tree == like


def test_value_and_grad_and_grad():
    (value, aux), g = cb.value_and_grad(loss_aux, has_aux=True)(W, X, Y)
    want_value, want_g = cb.value_and_grad(loss)(W, X, Y)
    assert value == want_value
    np.testing.assert_array_equal(g, want_g)
    assert_plain(aux, loss_aux(W, X, Y)[1])
    g2, aux2 = cb.grad(loss_aux, has_aux=True)(W, X, Y)
    np.testing.assert_array_equal(g2, want_g)
    assert_plain(aux2, aux)
    (gw, gx), _ = cb.grad(loss_aux, argnums=(0, 1), has_aux=True)(W, X, Y)
    for got, want in zip((gw, gx), cb.grad(loss, argnums=(0, 1))(W, X, Y), strict=True):
        np.testing.assert_array_equal(got, want)


def test_float32_keeps_its_dtype():
    W32, X32, Y32 = (a.astype(np.float32) for a in (W, X, Y))
    g, aux = cb.grad(loss_aux, has_aux=True)(W32, X32, Y32)
    assert g.dtype == aux["logits"].dtype == np.float32
    assert_plain(aux, loss_aux(W32, X32, Y32)[1])


def test_vjp_and_jvp():
    f = lambda x: (np.sin(x) * x, (np.cos(x), [x.sum(), "label"]))  # noqa: E731
    x, v = rng.standard_normal(5), rng.standard_normal(5)
    out, vjp_fn, aux = cb.vjp(f, x, has_aux=True)
    out0, vjp0 = cb.vjp(lambda x: f(x)[0], x)
    np.testing.assert_array_equal(out, out0)
    np.testing.assert_array_equal(vjp_fn(v)[0], vjp0(v)[0])
    assert_plain(aux, f(x)[1])
    out, tangent, aux = cb.jvp(f, (x,), (v,), has_aux=True)
    np.testing.assert_array_equal(out, f(x)[0])
    np.testing.assert_allclose(tangent, (np.cos(x) * x + np.sin(x)) * v, rtol=1e-14)
    assert_plain(aux, f(x)[1])


@pytest.mark.parametrize("transform", [cb.jacrev, cb.jacfwd])
def test_jacobians(transform):
    f = lambda a, b: (np.tanh(a[:, None] * b), {"b2": b**2, "a": a})  # noqa: E731
    a, b = rng.standard_normal(3), rng.standard_normal(2)
    for argnums in (0, 1, (0, 1), ()):
        jac, aux = transform(f, argnums, has_aux=True)(a, b)
        want = transform(lambda a, b: f(a, b)[0], argnums)(a, b)
        if argnums == (0, 1):
            for got, w in zip(jac, want, strict=True):
                np.testing.assert_array_equal(got, w)
        elif argnums == ():
            assert jac == want == ()
        else:
            np.testing.assert_array_equal(jac, want)
        assert_plain(aux, f(a, b)[1])
    # a container as the argument: each of its leaves is differentiated in its own pass
    p = {"a": a, "b": b}
    jac, aux = transform(lambda p: (np.sum(p["a"]) * p["b"], p["a"] * 2), has_aux=True)(p)
    np.testing.assert_allclose(jac["a"], np.outer(b, np.ones(3)))
    np.testing.assert_allclose(jac["b"], np.sum(a) * np.eye(2))
    assert_plain(aux, a * 2)


def test_hessian():
    f = lambda x: (np.sum(x**3) + x[0] * x[1], {"x": x, "f": np.sum(x**3)})  # noqa: E731
    x = rng.standard_normal(3)
    H, aux = cb.hessian(f, has_aux=True)(x)
    np.testing.assert_allclose(H, np.diag(6 * x) + np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0.0]]))
    np.testing.assert_array_equal(H, cb.hessian(lambda x: f(x)[0])(x))
    assert_plain(aux, f(x)[1])


def test_outer_transforms_differentiate_the_aux():
    # the inner aux x * y at y = 3 is 3x: plain for the inner grad, traced for the outer one
    def inner_aux(x):
        return cb.grad(lambda y: (x * y**2, x * y), has_aux=True)(3.0)[1]

    assert cb.grad(inner_aux)(2.0) == 3.0
    y0 = rng.standard_normal(3)

    def aux_of_value_and_grad(x):
        return cb.value_and_grad(lambda y: (np.sum(y * x), x * y), has_aux=True)(y0)[0][1]

    np.testing.assert_allclose(cb.jacfwd(aux_of_value_and_grad)(np.ones(3)), np.diag(y0))
    np.testing.assert_allclose(cb.jacrev(aux_of_value_and_grad)(np.ones(3)), np.diag(y0))

    # jvp's aux inside grad: the tangent's level is stripped, the gradient's stays
    def via_jvp(x):
        return cb.jvp(lambda t: (t * x, np.sin(x) * t), (2.0,), (1.0,), has_aux=True)[2]

    np.testing.assert_allclose(cb.grad(via_jvp)(0.5), 2.0 * np.cos(0.5))


@pytest.mark.parametrize(
    "call",
    [
        lambda f: cb.grad(f, has_aux=True)(1.0),
        lambda f: cb.value_and_grad(f, has_aux=True)(1.0),
        lambda f: cb.vjp(f, 1.0, has_aux=True),
        lambda f: cb.jvp(f, (1.0,), (1.0,), has_aux=True),
        lambda f: cb.jacrev(f, has_aux=True)(1.0),
        lambda f: cb.jacfwd(f, has_aux=True)(1.0),
        lambda f: cb.jacfwd(f, (), has_aux=True)(1.0),
        lambda f: cb.hessian(f, has_aux=True)(1.0),
    ],
)
@pytest.mark.parametrize("f", [np.sin, lambda x: (x, x, x)], ids=["array", "triple"])
def test_not_a_pair_is_refused(call, f):
    with pytest.raises(TypeError, match=r"has_aux=True\) requires f to return a pair"):
        call(f)


def test_a_pair_without_has_aux_suggests_it():
    # (grad said only "returned a container. For a non-scalar output use cb.jacobian ...")
    for out in (lambda x: (x**2, {"acc": 1.0}), lambda x: [x**2, x]):
        with pytest.raises(TypeError, match="of 2 items .*pass has_aux=True"):
            cb.grad(out)(1.0)
    with pytest.raises(TypeError, match="returned a container"):
        cb.grad(lambda x: (x, x, x))(1.0)
    with pytest.raises(TypeError, match="returned a container") as error:  # (hvp has no has_aux)
        cb.hvp(lambda x: (x**3, 1.0), 1.0, 1.0)
    assert "has_aux" not in str(error.value)


def test_not_a_pair_names_the_transform_called():
    # (grad and hessian said "value_and_grad(f, has_aux=True) requires f to return a pair")
    for name in ("grad", "value_and_grad", "hessian", "jacrev", "jacfwd"):
        with pytest.raises(TypeError, match=rf"^{name}\(f, has_aux=True\) requires"):
            getattr(cb, name)(np.sin, has_aux=True)(1.0)


# --- output structure: every list of an output is a container; leaves must be numbers ----------
X2, Y2 = np.array([1.0, 2.0]), np.array([3.0, 4.0])


def with_constant_list(x, y):  # the list holds a scalar constant in x (a metric of the data)
    return x * 2, [np.sum(y**2)]


@pytest.mark.parametrize("transform", [cb.jacrev, cb.jacfwd])
def test_a_list_of_constants_in_the_output_is_a_container(transform):
    jac = transform(with_constant_list)(X2, Y2)
    assert type(jac) is tuple and type(jac[1]) is list and jac[1][0].shape == (2,)
    np.testing.assert_array_equal(jac[0], 2 * np.eye(2))
    np.testing.assert_array_equal(jac[1][0], np.zeros(2))
    (jx, jy), [(lx, ly)] = transform(with_constant_list, argnums=(0, 1))(X2, Y2)
    np.testing.assert_array_equal(lx, np.zeros(2))
    np.testing.assert_array_equal(ly, 2 * Y2)  # d sum(y^2) / dy
    assert jx.shape == jy.shape == (2, 2)


def test_jvp_and_vjp_of_a_list_of_numbers_in_the_output():
    out, tangent = cb.jvp(lambda x: (x, [1.0, np.sum(x)]), (X2,), (Y2,))
    assert out[1] == [1.0, 3.0] and type(tangent[1]) is list
    assert tangent[1][0] == 0.0 and tangent[1][1] == 7.0
    out, vjp_fn = cb.vjp(lambda x: [np.sum(x), 2.0], X2)
    assert out == [3.0, 2.0]
    np.testing.assert_array_equal(vjp_fn([1.5, 1.0])[0], [1.5, 1.5])
    with pytest.raises(ValueError, match="same structure as the output"):
        vjp_fn(np.array([1.5, 1.0]))
    # an array output still takes a list of numbers as its cotangent
    _, vjp_fn = cb.vjp(np.sin, X2)
    np.testing.assert_allclose(vjp_fn([1.0, 0.0])[0], [np.cos(1.0), 0.0])


def test_tangent_dicts_match_by_key_not_by_order():
    p = {"a": np.array([1.0, 2.0]), "b": np.array(2.0)}
    t = {"b": np.array(1.0), "a": np.array([0.5, -1.0])}
    _, tangent = cb.jvp(lambda p: p["a"] * p["b"], (p,), (t,))
    np.testing.assert_array_equal(tangent, [2.0, 0.0])  # ta b + a tb
    hv = cb.hvp(lambda p: np.sum(p["a"] ** 2 * p["b"]), p, t)
    np.testing.assert_array_equal(hv["a"], [4.0, 0.0])  # 2 ta b + 2 a tb
    assert hv["b"] == -3.0  # 2 a . ta
    with pytest.raises(ValueError, match="same structure as the primals"):
        cb.jvp(lambda p: p["a"], (p,), ({"a": np.ones(2), "c": np.array(1.0)},))


@pytest.mark.parametrize(
    "call",
    [
        lambda f: cb.jvp(f, (X2,), (X2,)),
        lambda f: cb.vjp(f, X2),
        lambda f: cb.jacrev(f)(X2),
        lambda f: cb.jacfwd(f)(X2),
    ],
)
@pytest.mark.parametrize("label", ["train", "f4", object()])
def test_an_output_that_is_no_number_is_refused(call, label):
    with pytest.raises(TypeError, match="among its outputs.*has_aux=True"):
        call(lambda x: (np.sum(x**2), label))


def test_none_in_an_output_is_an_empty_container():
    f = lambda x: (np.sum(x**2), None, {"n": None})  # noqa: E731
    for jac in (cb.jacrev(f)(X2), cb.jacfwd(f)(X2)):
        np.testing.assert_array_equal(jac[0], 2 * X2)
        assert jac[1:] == (None, {"n": None})
    out, tangent = cb.jvp(f, (X2,), (Y2,))
    assert out[1:] == tangent[1:] == (None, {"n": None}) and tangent[0] == 22.0
    out, vjp_fn = cb.vjp(f, X2)
    np.testing.assert_array_equal(vjp_fn((1.0, None, {"n": None}))[0], 2 * X2)
    # a flat tuple (no other container beside the None) too
    flat = lambda x: (x**2, None)  # noqa: E731
    for jac in (cb.jacrev(flat)(X2), cb.jacfwd(flat)(X2)):
        np.testing.assert_array_equal(jac[0], np.diag(2 * X2))
        assert jac[1] is None
    out, tangent = cb.jvp(flat, (X2,), (Y2,))
    assert out[1] is None and tangent[1] is None
    np.testing.assert_array_equal(tangent[0], 2 * X2 * Y2)
    out, vjp_fn = cb.vjp(flat, X2)
    np.testing.assert_array_equal(vjp_fn((np.ones(2), None))[0], 2 * X2)
