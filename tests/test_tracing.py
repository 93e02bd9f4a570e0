"""The engine: levels, constants, NumPy dispatch, the tape and its walk, conversions."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

import calcbook as cb
from calcbook.tracing import (
    FwdTracer,
    RevTracer,
    Tracer,
    TracerError,
    apply,
    backward,
    new_level,
    primal,
    unbroadcast,
)


def leaf(x, tape=None):
    tape = [] if tape is None else tape
    return RevTracer.leaf(np.asarray(x, dtype=float), new_level(), tape), tape


def test_levels_increase_and_apply_without_tracers_is_plain():
    a, b = new_level(), new_level()
    assert b > a
    assert apply(np.multiply, 2.0, 3.0) == 6.0
    assert not isinstance(apply(np.exp, np.zeros(2)), Tracer)


def test_operations_record_one_node_each_and_constants_are_not_parents():
    x, tape = leaf([1.0, 2.0])
    y = np.exp(x) * np.array([3.0, 4.0]) + 1.0
    assert isinstance(y, RevTracer) and len(tape) == 1 + 3  # the leaf and three operations
    prim, vals, params, ans, parents = tape[2]
    assert prim is np.multiply and parents == ((0, 1),)  # the constant factor is no parent
    np.testing.assert_allclose(primal(y), np.exp([1.0, 2.0]) * [3, 4] + 1)


def test_ndarray_on_the_left_dispatches_to_the_tracer():
    x, tape = leaf([1.0, 2.0])
    c = np.array([2.0, 5.0])
    for y in (c + x, c - x, c * x, c / x, c**x, c @ x, np.float64(2.0) * x, 3 - x, 2**x):
        assert isinstance(y, RevTracer)
    (g,) = backward(tape, [(c * x)._index], [np.ones(2)], [x._index])
    np.testing.assert_array_equal(g, c)


def test_the_highest_level_wins_and_lower_levels_are_constants():
    outer, _ = leaf(2.0)
    inner, tape = leaf(3.0)
    y = outer * inner
    assert y._level == inner._level
    assert isinstance(y._value, RevTracer) and y._value._level == outer._level
    (g,) = backward(tape, [y._index], [np.float64(1.0)], [inner._index])
    assert isinstance(g, RevTracer) and primal(g) == 2.0  # d(outer*inner)/d inner = outer, traced


def test_forward_tracer_carries_a_batched_tangent():
    x = np.array([1.0, 2.0, 3.0])
    box = FwdTracer(x, new_level(), np.eye(3))
    y = np.sin(box) * 2.0
    np.testing.assert_allclose(y._tangent, np.diag(2 * np.cos(x)))
    s = np.sum(box[1:] * box[:-1])
    np.testing.assert_allclose(s._tangent, [2.0, 4.0, 2.0])
    m = np.reshape(box, (3, 1)) + np.zeros((1, 2))  # broadcasting: tangent filled to (3, 3, 2)
    assert m._tangent.shape == (3, 3, 2)


def test_comparisons_and_shape_queries_return_plain_values():
    x, _ = leaf([[1.0, -2.0, 3.0]])
    for r in (x > 0, x <= 1.0, np.greater(x, 0), x == x, np.isfinite(x), np.sign(x)):
        assert isinstance(r, np.ndarray) and not isinstance(r, Tracer)
    assert np.shape(x) == (1, 3) and np.ndim(x) == 2 and np.size(x) == 3 and len(x) == 1
    assert x.shape == (1, 3) and x.ndim == 2 and x.size == 3 and x.dtype == np.float64
    assert np.argmax(x) == 2 and x.argmin() == 1
    assert isinstance(np.zeros_like(x), np.ndarray)
    assert bool(x[0, 0] > 0) and bool(x[0, 0])


def test_conversions_raise_a_clear_error():
    x, _ = leaf([1.0, 2.0])
    for convert in (np.asarray, np.array, float, int, lambda t: t[0].item(), lambda t: t.tolist()):
        with pytest.raises(TracerError, match="being differentiated"):
            convert(x[0] if convert in (float, int) else x)


def test_unsupported_functions_name_themselves_and_list_the_supported_ones():
    x, _ = leaf([1.0, 2.0])
    with pytest.raises(NotImplementedError, match=r"numpy\.fft\.fft .*Supported NumPy functions: "):
        np.fft.fft(x)
    with pytest.raises(NotImplementedError, match=r"numpy\.divmod .*np\.floor_divide"):
        np.divmod(x, 2.0)
    with pytest.raises(NotImplementedError, match=r"numpy\.maximum\.accumulate"):
        np.maximum.accumulate(x)
    with pytest.raises(NotImplementedError, match="keyword"):
        np.exp(x, dtype=np.float32, casting="unsafe")
    # a ufunc's mask, with out= or not, names the alternative
    for call in (
        lambda: np.exp(x, where=np.array([True, False])),
        lambda: np.add(x, 1.0, out=np.zeros(2), where=np.array([True, False])),
        lambda: np.multiply(x, x, out=x * 1.0, where=x > 1.0),
    ):
        with pytest.raises(NotImplementedError, match=r"where=mask\) .*np\.where\(mask, numpy\."):
            call()
    # the methods of ufuncs, and arguments the adapters do not take, say what to use instead
    for call, hint in [
        (lambda: np.add.reduce(x), r"numpy\.add\.reduce .*Use np\.sum\."),
        (lambda: np.maximum.reduce(x), r"Use np\.max\."),
        (lambda: np.add.accumulate(x), r"Use np\.cumsum\."),
        (lambda: np.subtract.outer(x, x), r"np\.subtract\(a\[\.\.\., None\], b\)"),
        (lambda: np.clip(x, 0, 1, where=x > 1.0), r"where=\.\.\.\) .*np\.where instead\.$"),
    ]:
        with pytest.raises(NotImplementedError, match=hint):
            call()


def test_ndarray_methods_of_traced_arrays_match_the_numpy_functions():
    x = np.array([[1.0, -2.5, 3.0], [0.5, 4.0, -1.0], [2.0, 0.0, 1.5]])
    w = np.arange(1.0, 10.0).reshape(3, 3)
    methods = [
        (lambda z: z.cumsum(axis=1), lambda z: np.cumsum(z, axis=1)),
        (lambda z: z.diagonal(1), lambda z: np.diagonal(z, 1)),
        (lambda z: z.trace(), np.trace),
        (lambda z: z.repeat(2, axis=0), lambda z: np.repeat(z, 2, axis=0)),
        (lambda z: z.take([2, 0, 2]), lambda z: np.take(z, [2, 0, 2])),
        (lambda z: z.conj() + z.conjugate() + z.real, lambda z: 3 * z),
        (lambda z: z.compress([True, False, True], axis=0), lambda z: z[[0, 2]]),
        (lambda z: z.flat[[7, 0, 7]], lambda z: np.reshape(z, -1)[[7, 0, 7]]),
        (lambda z: z.flat[1:8:3], lambda z: np.reshape(z, -1)[1:8:3]),
        (lambda z: z.flat[-1], lambda z: z[-1, -1]),
        (lambda z: np.stack(list(z.flat)), lambda z: np.reshape(z, -1)),
    ]
    for method, function in methods:
        got = cb.grad(lambda z, m=method: np.sum(m(z) * np.sum(w)))(x)
        want = cb.grad(lambda z, f=function: np.sum(f(z) * np.sum(w)))(x)
        np.testing.assert_array_equal(got, want)
        assert np.any(got != 0)
    np.testing.assert_array_equal(cb.grad(lambda z: np.sum(z.round()))(x), np.zeros((3, 3)))
    z, _ = leaf(x)
    assert z.any() and not z.all() and z.nonzero()[0].tolist() == np.nonzero(x)[0].tolist()
    np.testing.assert_array_equal(z.argsort(axis=0), np.argsort(x, axis=0))
    np.testing.assert_array_equal(z.argpartition(1, axis=1), np.argpartition(x, 1, axis=1))
    s, _ = leaf(np.sort(x[0]))
    assert s.searchsorted(0.0) == np.searchsorted(np.sort(x[0]), 0.0)
    assert len(z.flat) == 9 and z.flat[[1, 2]].shape == (2,)
    with pytest.raises(IndexError, match="flat iterator is 1-dimensional"):  # as NumPy's
        z.flat[x > 0]
    with pytest.raises(TracerError, match=r"x\.flat\[\.\.\.\] = value would modify"):
        z.flat[0] = 1.0


def test_floor_division_is_a_constant_and_the_remainder_is_traced():
    x, _ = leaf([1.0, 2.5])
    for op in (lambda t: t // 2, lambda t: 2 // t, lambda t: divmod(t, 2)[0]):
        assert type(op(x)) is np.ndarray  # piecewise constant, as np.floor
    for op in (
        lambda t: t % 2,
        lambda t: 7 % t,
        lambda t: divmod(t, 2)[1],
        lambda t: divmod(7, t)[1],
    ):
        assert isinstance(op(x), Tracer)


def test_a_plain_arrays_dot_method_error_shows_the_operator_instead():
    with pytest.raises(TracerError, match=r"a @ x or np\.dot\(a, x\)"):
        cb.grad(lambda z: np.sum(np.ones((2, 3)).dot(z)))(np.ones(3))


def test_the_tape_keeps_only_what_the_rules_read():
    rng = np.random.default_rng(0)
    x, W, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=5)
    freed = []

    def loss(W, b):
        z = x @ W  # the rules of @ read x and W, of + only shapes, of tanh only its result:
        a = z + b  # so z and a (the pre-activations) are not needed by the backward pass
        h = np.tanh(a)
        refs = [weakref.ref(primal(z)), weakref.ref(primal(a))]
        del z, a
        freed.append([r() is None for r in refs])
        return np.sum(h * h)

    gW, gb = cb.grad(loss, argnums=(0, 1))(W, b)
    assert freed == [[True, True]]
    h = np.tanh(x @ W + b)
    d = 2 * h * (1 - h * h)
    np.testing.assert_allclose(gW, x.T @ d, rtol=1e-13)
    np.testing.assert_allclose(gb, d.sum(axis=0), rtol=1e-13)


def test_the_tape_drops_what_scalings_reductions_and_views_do_not_read():
    x, v = np.linspace(0.1, 1.2, 12), np.linspace(-1.0, 1.0, 12)
    freed = []

    def f(x):  # the rule of 3 * s reads 3, those of reshape, [1:] and sum only shapes: the
        s = np.sin(x)  # backward pass needs neither s nor t, nor the views of t (nor, under
        t = 3.0 * s  # jvp, their tangents)
        u = t.reshape(3, 4)[1:]
        refs = [weakref.ref(s._value), weakref.ref(t._value), weakref.ref(u._value)]
        del s, t, u
        freed.append([r() is None for r in refs])
        return np.sum(np.sin(x).reshape(3, 4)[1:] * 3.0)

    expected = np.where(np.arange(12) >= 4, 3.0 * np.cos(x), 0.0)
    np.testing.assert_allclose(cb.grad(f)(x), expected, rtol=1e-14)
    assert freed.pop() == [True, True, True]
    hv = cb.hvp(f, x, v)  # (the values inside grad are then forward-mode tracers)
    assert freed.pop() == [True, True, True]
    np.testing.assert_allclose(hv, np.where(np.arange(12) >= 4, -3.0 * np.sin(x) * v, 0.0))


@pytest.mark.parametrize(
    ("op", "s_freed", "t_freed"),
    [
        (lambda s: s / 3.0, True, True),  # the rule reads 3 alone
        (lambda s: s**3.5, False, True),  # s and 3.5, not the result
        (lambda s: 2.0**s, True, False),  # the result (and 2), not s
        (lambda s: s % 0.7, True, True),  # slope 1: nothing
        (lambda s: np.copysign(s, 2.0), False, True),
        (lambda s: 3.0 / s, False, False),  # the result and s
    ],
)
def test_the_tape_keeps_what_the_rule_of_the_traced_operand_reads(op, s_freed, t_freed):
    x, v = np.linspace(0.1, 1.2, 12), np.linspace(-1.0, 1.0, 12)
    freed = []

    def f(x):
        s = np.sin(x) + 1.5  # (the rules of sin and + read neither s nor its tangent)
        t = op(s)
        refs = [weakref.ref(s._value), weakref.ref(t._value)]
        del s, t
        freed.append([r() is None for r in refs])
        return np.sum(op(np.sin(x) + 1.5) * 2.0)

    for g, want in [
        (cb.grad(f)(x), cb.jacfwd(lambda x: np.sum(op(np.sin(x) + 1.5) * 2.0))(x)),
        (cb.hvp(f, x, v), cb.hessian(lambda x: np.sum(op(np.sin(x) + 1.5) * 2.0))(x) @ v),
    ]:
        assert freed.pop() == [s_freed, t_freed]
        np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "prim", [np.multiply, np.true_divide, np.power, np.float_power, np.remainder, np.copysign]
)
@pytest.mark.parametrize("traced", [0, 1])
@pytest.mark.parametrize(("shape", "other"), [((2, 3), (2, 3)), ((2, 1), (1, 3)), ((3,), (2, 3))])
def test_binary_rules_with_one_operand_constant_to_third_order(prim, traced, shape, other):
    # the tape drops what the traced operand's rule does not read (`READS`): checked against
    # finite differences up to the third derivative, both modes, with broadcasting either way
    rng = np.random.default_rng(3)
    a, c = rng.uniform(0.6, 1.8, shape), rng.uniform(0.6, 1.8, other)
    if prim is np.copysign:
        c = c * np.where(rng.random(other) < 0.5, -1.0, 1.0)

    def f(a):
        u = np.sin(a) + 1.5  # (no operand is an input of the transform)
        return np.cos(prim(u, c) if traced == 0 else prim(c, u))

    cb.check_grads(f, (a,), order=3)


def test_mutation_is_refused():
    x, _ = leaf([1.0, 2.0])
    with pytest.raises(TracerError, match="in place"):
        x[0] = 3.0
    with pytest.raises(TracerError, match=r"numpy\.multiply\(\.\.\., out=\.\.\.\)"):
        np.multiply(x, 2.0, out=x)
    with pytest.raises(TracerError, match=r"out=plain\) would store a traced result"):
        np.multiply(x, 2.0, out=np.zeros(2))
    with pytest.raises(TracerError, match=r"numpy\.sum\(\.\.\., out=\.\.\.\)"):
        np.sum(x, out=np.zeros(()))
    for method in ("sort", "fill", "resize", "put", "partition"):
        with pytest.raises(TracerError, match=f"ndarray.{method}"):
            getattr(x, method)(0)


def test_numpys_writing_functions_are_refused_and_the_suggested_rewrite_works():
    x = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    idx = np.array([[2], [0]])
    writers = [  # (NumPy's in-place call on a plain copy, the rewrite the message suggests)
        (
            lambda a, v: np.put(a, [1, 4], v),
            lambda a, v: np.where(np.isin(np.arange(a.size), [1, 4]).reshape(a.shape), v, a),
        ),
        (lambda a, v: np.putmask(a, a > 0, v), lambda a, v: np.where(a > 0, v, a)),
        (lambda a, v: np.place(a, a > 0, v), lambda a, v: np.where(a > 0, v, a)),
        (
            lambda a, v: np.put_along_axis(a, idx, v, axis=1),
            lambda a, v: np.where(_along_mask(a.shape, idx), v, a),
        ),
        (
            lambda a, v: np.fill_diagonal(a, v),
            lambda a, v: np.where(np.eye(*a.shape, dtype=bool), v, a),
        ),
    ]
    v = np.array(7.0)
    for in_place, rewrite in writers:
        name = in_place.__code__.co_names[-1]
        with pytest.raises(TracerError, match=rf"numpy\.{name}\(traced, \.\.\.\) would modify"):
            cb.grad(lambda a, ip=in_place: np.sum(ip(a, 7.0) or a))(x)
        stored = rf"numpy\.{name}\(plain, \.\.\., traced\) would store"
        if name == "fill_diagonal":  # (NumPy does not dispatch on its value: it converts it)
            stored = r"numpy\.asarray / numpy\.array of a traced array"
        with pytest.raises(TracerError, match=stored):
            cb.grad(lambda v, ip=in_place: np.sum(ip(x.copy(), v) or v))(v)
        expected = x.copy()
        in_place(expected, 7.0)
        np.testing.assert_array_equal(rewrite(x, 7.0), expected)
        g = cb.grad(lambda a, v, rw=rewrite: np.sum(rw(a, v) ** 2), argnums=(0, 1))(x, v)
        changed = expected != x
        np.testing.assert_array_equal(g[0], np.where(changed | (expected == 7.0), 0, 2 * x))
        assert g[1] == 2 * 7.0 * np.count_nonzero(rewrite(x, 1e9) == 1e9)


def _along_mask(shape, idx):
    mask = np.zeros(shape, dtype=bool)
    np.put_along_axis(mask, idx, True, axis=1)
    return mask


def _aliased(x):  # `y` is another name for `z`: NumPy's in-place update changes both
    z = x * 1.0
    y = z
    y += x
    y *= 3.0
    y -= 0.5
    y /= 2.0
    y **= 2
    return np.sum(z * x)


def _accumulated(x):  # the loop every NumPy user writes: `total` starts as a Python float
    total = 0.0
    for i in range(x.shape[0]):
        total += x[i] ** 3
    h = x[:, None] @ x[None, :]
    h @= np.eye(x.shape[0])
    return total + np.sum(h)


@pytest.mark.parametrize("f", [_aliased, _accumulated])
def test_augmented_assignment_updates_in_place_as_numpy_does(f):
    x = np.array([0.5, -1.0, 2.0])
    value, g = cb.value_and_grad(f)(x)
    assert value == f(x.copy())  # the same number as NumPy's in-place code
    h = 1e-6  # against central differences of the plain NumPy function
    e = np.eye(3)
    fd = [(f(x + h * e[i]) - f(x - h * e[i])) / (2 * h) for i in range(3)]
    np.testing.assert_allclose(g, fd, rtol=1e-7)
    np.testing.assert_allclose(cb.jacfwd(f)(x), g, rtol=1e-12)
    hess = cb.hessian(f)(x)
    np.testing.assert_allclose(hess, cb.jacrev(cb.grad(f))(x), rtol=1e-12)


def test_augmented_assignment_keeps_dtype_and_shape_as_numpy_does():
    def f(x):
        y = x * 1
        y += np.ones(3)  # float64 into float32: cast back with 'same_kind', as NumPy does
        return y

    x32 = np.ones(3, np.float32)
    assert cb.vjp(f, x32)[0].dtype == np.float32
    assert cb.jvp(f, (x32,), (x32,))[1].dtype == np.float32

    def grow(x):
        y = x * 1
        y += np.ones((2, 3))
        return y

    with pytest.raises(ValueError, match=r"output operand with shape \(3,\).*\(2, 3\)"):
        cb.vjp(grow, np.ones(3))


def test_augmented_assignment_is_refused_on_inputs_and_views():
    def input_(x):
        y = x  # NumPy would change the caller's array
        y += 1.0
        return np.sum(x * y)

    views = [
        lambda x: x[:2],
        lambda x: x.T,
        lambda x: x.reshape(3, 1),
        lambda x: np.broadcast_to(x, (2, 3)),
    ]
    for transform in (cb.grad, cb.jacfwd):
        with pytest.raises(TracerError, match=r"input of the transform, a view"):
            transform(input_)(np.ones(3))
        for view in views:

            def f(x, view=view):
                v = view(x * 1.0)
                v *= 2.0
                return np.sum(v)

            with pytest.raises(TracerError, match=r"x \*= \.\.\."):
                transform(f)(np.ones((1, 3)))


def test_augmented_assignment_is_refused_once_a_view_was_taken():
    def f(x):
        z = x * 2.0
        v = z[:2]  # in NumPy a view: it would see the update of z
        z *= 3.0
        return np.sum(v)

    for transform in (cb.grad, cb.jacfwd):
        with pytest.raises(TracerError, match="an array a view was taken of"):
            transform(f)(np.ones(3))


def _running_history(x):  # 0-d results are NumPy scalars: `s += ...` rebinds `s`
    s = 0.0
    history = []
    for i in range(x.shape[0]):
        s += x[i] ** 2
        history.append(s)
    start = np.sum(x)
    total = start
    total -= np.mean(x)
    return sum(history) + start * total


def test_augmented_assignment_on_0d_results_rebinds_as_on_numpy_scalars():
    x = np.array([1.0, 2.0, 3.0])
    value, g = cb.value_and_grad(_running_history)(x)
    assert value == _running_history(x.copy())
    h, e = 1e-6, np.eye(3)
    fd = [
        (_running_history(x + h * e[i]) - _running_history(x - h * e[i])) / (2 * h)
        for i in range(3)
    ]
    np.testing.assert_allclose(g, fd, rtol=1e-7)
    np.testing.assert_allclose(cb.jacfwd(_running_history)(x), g, rtol=1e-12)

    def scalar_input(x):
        x += 1.0  # a Python float in NumPy code: rebinding, not mutation
        return x * x

    assert cb.grad(scalar_input)(2.0) == 6.0


@pytest.mark.parametrize(
    "fn, shares",
    [
        (lambda z: z.flatten(), False),
        (lambda z: np.clip(z, None, None), False),
        (lambda z: z.conj(), True),  # ndarray.conj of a real array is the array itself
        (lambda z: np.einsum("i->i", z), True),  # a view: refused
        (lambda z: np.einsum("i,i->i", z, z), False),
        (lambda z: z[:], True),  # basic indexing: a view
        (lambda z: z[::-1], True),
        (lambda z: z[[0, 1, 2]], False),  # integer-array and boolean indexing: a copy
        (lambda z: z[np.array([2, 0])], False),
        (lambda z: z[z > 1.5], False),
    ],
)
def test_copies_and_views_follow_numpy(fn, shares):
    def f(x):
        z = x * 1.0
        y = fn(z)
        y += 100.0
        return np.sum(z)

    x = np.array([1.0, 2.0, 3.0])
    expected = f(x.copy())
    assert expected == (306.0 if shares else 6.0)
    try:
        value = cb.value_and_grad(f)(x)[0]
    except TracerError:
        assert shares  # a refusal is allowed where NumPy would write through
    else:
        assert value == expected


def test_an_array_indexed_by_integer_arrays_may_still_be_updated_in_place():
    def f(x):
        z = x * 1.0
        picked = z[[0, 2]]  # a copy: z shares no memory with it
        z += 1.0
        picked *= 10.0
        return np.sum(z * z) + np.sum(picked)

    x = np.array([1.0, 2.0, 3.0])
    value, g = cb.value_and_grad(f)(x)
    assert value == f(x.copy())
    np.testing.assert_allclose(g, 2 * (x + 1) + 10 * np.array([1.0, 0.0, 1.0]), rtol=1e-15)
    v = np.array([0.5, -1.0, 2.0])
    assert cb.jvp(f, (x,), (v,)) == (value, pytest.approx(g @ v, rel=1e-15))


def test_0d_views_and_0d_arrays_follow_numpy_and_scalars_rebind():
    x = np.array([0.3, 0.7, -0.4])

    def zero_d_view(x):
        y = x * 1.0
        v = y[..., 1]  # a 0-d view in NumPy (y[1] would be a scalar): v += 10 changes y
        v += 10.0
        return np.sum(y**2)

    for transform in (cb.grad, cb.jacfwd):
        with pytest.raises(TracerError, match="a view"):
            transform(zero_d_view)(x)

    def zero_d_copy(x):  # ndarray.copy of a 0-d array is a 0-d array: updated in place
        y = x.copy()
        z = y
        y *= 3.0
        return z

    assert zero_d_copy(np.array(2.0)) == 6.0
    assert cb.value_and_grad(zero_d_copy)(np.array(2.0)) == (6.0, 3.0)
    assert cb.jacfwd(zero_d_copy)(np.array(2.0)) == 3.0

    def scalar_grows(x):  # a NumPy scalar += an array rebinds the name to the array
        y = np.sum(x)
        y += x
        return np.sum(y)

    value, g = cb.value_and_grad(scalar_grows)(x)
    assert value == scalar_grows(x.copy())
    np.testing.assert_allclose(g, [4.0, 4.0, 4.0])


@pytest.mark.parametrize(
    "call",
    [
        lambda z: np.round(z, out=z),
        lambda z: np.around(z, 0, z),
        lambda z: np.fix(z, z),
        lambda z: z.round(0, z),
    ],
)
def test_rounding_into_a_traced_array_is_refused(call):
    def f(x):
        z = x * 1.0
        call(z)  # would overwrite z's value behind the tape's back
        return np.sum(z)

    with pytest.raises(TracerError, match=r"out=\.\.\.\) would modify a traced array"):
        cb.grad(f)(np.array([0.3, 0.7]))
    np.testing.assert_array_equal(cb.grad(lambda x: np.sum(x.round(1) * x))(np.ones(2)), [1, 1])


def test_plain_arrays_the_tape_reads_are_read_only_until_the_transform_is_done():
    x = np.ones(3)

    def reuses_a_buffer(x):
        mask, total = np.zeros(3), 0.0
        for i in range(3):
            mask[:] = 0.0  # the previous x * mask reads this mask in the backward pass
            mask[i] = i + 1.0
            total = total + np.sum(x * mask)
        return total

    for transform in (cb.grad, cb.jacrev, cb.hessian):
        with pytest.raises(ValueError, match="read-only"):
            transform(reuses_a_buffer)(x)
    np.testing.assert_array_equal(cb.jacfwd(reuses_a_buffer)(x), [1, 2, 3])

    W, frozen = np.ones((2, 3)), np.ones(3)
    frozen.flags.writeable = False
    cb.grad(lambda x: np.sum(W @ x) + np.sum(frozen * x))(x)
    assert W.flags.writeable and not frozen.flags.writeable  # given back; left as it was
    with pytest.raises(NameError):
        cb.grad(lambda x: np.sum(W * x) + undefined)(x)  # noqa: F821
    assert W.flags.writeable  # also after an error
    out, vjp_fn = cb.vjp(lambda x: W * x, x)
    assert not W.flags.writeable  # held while vjp_fn can still read it
    del vjp_fn
    assert W.flags.writeable
    view = W[0]  # views are not made read-only (their flag cannot always be given back)
    cb.grad(lambda x: np.sum(view * x))(x)
    assert view.flags.writeable and W.flags.writeable


@pytest.mark.parametrize(
    "make, pick",
    [
        (lambda: np.array([0, 1]), lambda x, i: x[i]),
        (lambda: np.array([True, True, False]), lambda x, m: x[m]),
        (lambda: np.array([0, 1]), lambda x, i: np.take(x, i)),
        (lambda: np.array([0, 1]), lambda x, i: x[None, i][0]),
    ],
)
def test_index_arrays_the_tape_reads_are_read_only_too(make, pick):
    # the backward pass of x[idx] reads idx: changing it after use would move the gradient
    def changes_its_index(x):
        index = make()
        y = pick(x, index)
        index[:] = index[::-1]
        return np.sum(y * np.array([1.0, 2.0]))

    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(cb.jacfwd(changes_its_index)(x), [1.0, 2.0, 0.0])
    for transform in (cb.grad, cb.jacrev):
        with pytest.raises(ValueError, match="read-only"):
            transform(changes_its_index)(x)
    index = make()
    cb.grad(lambda x: np.sum(pick(x, index)))(x)
    assert index.flags.writeable  # given back


def test_holds_are_given_back_when_vjp_fails_and_skipped_for_stale_tracers():
    import collections

    pair = collections.namedtuple("pair", "a b")  # (an output kind rebuilt field by field)
    c = np.arange(1.0, 4.0)
    out, pullback = cb.vjp(lambda x: pair(x * c, np.sum(x)), np.ones(3))
    assert type(out) is pair and type(cb.jacrev(lambda x: pair(x * c, x))(np.ones(3))) is pair

    assert not c.flags.writeable  # (held while the pullback lives)
    del out, pullback
    c = np.arange(1.0, 4.0)

    def fails(x):
        x * c  # (holds c)
        raise RuntimeError("in f")

    with pytest.raises(RuntimeError):
        cb.vjp(fails, np.ones(3))
    assert c.flags.writeable
    leaked = []
    cb.grad(lambda x: (leaked.append(x), np.sum(2 * x))[1])(np.ones(3))
    d = np.arange(3.0)
    with pytest.raises(TracerError, match="escaped"):  # after its transform returned
        leaked[0] * d
    assert d.flags.writeable


def test_a_0d_array_input_is_an_array_and_a_number_input_a_number():
    def f(x):
        y = x
        x += 1.0  # rebinds a number; would change the caller's 0-d array in NumPy
        return x * y

    for number in (1.5, np.float64(1.5)):
        assert cb.value_and_grad(f)(number) == (3.75, 4.0)
        assert cb.jacfwd(f)(number) == 4.0
    for transform in (cb.grad, cb.jacfwd):
        with pytest.raises(TracerError, match="input of the transform"):
            transform(f)(np.array(1.5))
    plain = np.zeros(2)  # rounding into a plain array is fine: the result is a constant
    g = cb.grad(lambda x: np.sum(np.round(x, out=plain) + x))(np.array([0.3, 0.6]))
    np.testing.assert_array_equal(g, [1, 1])
    np.testing.assert_array_equal(plain, [0, 1])


def test_copies_are_new_arrays_for_augmented_assignment():
    for copy in (np.copy, lambda x: x.copy(), lambda x: +x, lambda x: x.astype(x.dtype)):

        def f(x, copy=copy):
            y = copy(x)
            y += 1.0  # leaves x as it is, as in NumPy
            return np.sum(x * y)

        x = np.array([1.0, 2.0, 3.0])
        value, g = cb.value_and_grad(f)(x)
        assert value == f(x.copy()) == 20.0
        np.testing.assert_array_equal(g, 2 * x + 1)


def test_ndarray_attributes_of_traced_arrays():
    def f(x):
        assert x.mT.shape == (3, 2) and x.itemsize == 8 and x.nbytes == 48
        np.testing.assert_array_equal(x.imag, np.zeros((2, 3)))
        np.testing.assert_array_equal(round(x), np.round(primal(x)))
        assert not hasattr(x, "ctypes") and hasattr(x, "flat")
        with pytest.raises(AttributeError, match=r"ndarray\.view is not supported"):
            x.view(np.float32)
        with pytest.raises(AttributeError, match="no attribute 'bogus'"):
            x.bogus  # noqa: B018
        return np.sum(x.mT * x.mT)

    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(cb.grad(f)(x), 2 * x)


def test_backward_accumulates_over_fan_out_and_can_be_walked_twice():
    x, tape = leaf(2.0)
    y = x * x + np.sin(x) * x  # x used four times
    expected = 2 * 2.0 + np.sin(2.0) + 2.0 * np.cos(2.0)
    for _ in range(2):
        (g,) = backward(tape, [y._index], [np.float64(1.0)], [x._index])
        assert np.isclose(g, expected)
    (g2,) = backward(tape, [y._index], [np.float64(3.0)], [x._index])
    assert np.isclose(g2, 3 * expected)


def test_backward_checks_one_cotangent_per_root():
    x, tape = leaf([1.0, 2.0])
    y = x * 2.0
    with pytest.raises(ValueError, match="one per root"):
        backward(tape, [y._index], [], [x._index])


def test_an_operand_used_twice_gets_both_contributions():
    # `+` has the rule g -> g for both operands: the engine passes the same cotangent object to
    # the same parent twice, and must still add the two contributions
    x = np.array([1.0, -2.0])
    for f, dx in [
        (lambda x: x + x, 2.0),
        (lambda x: x - x, 0.0),
        (lambda x: (x + x) + x, 3.0),
        (lambda x: np.add(x, x) * 1.5, 3.0),
        (lambda x: +x + x.T, 2.0),
    ]:
        np.testing.assert_array_equal(cb.grad(lambda x, f=f: np.sum(f(x)))(x), [dx, dx])
        np.testing.assert_array_equal(cb.jvp(f, (x,), (np.ones(2),))[1], [dx, dx])
        np.testing.assert_array_equal(cb.jacfwd(f)(x), dx * np.eye(2))


def test_mixed_levels_in_binary_operations():
    # the operand of the inner (higher) level records the operation, whichever side it is on
    def f(x):
        def g(y):
            return np.sum(x * y + y * x - x / y + y**2 * x)

        return cb.grad(g)(np.array([2.0, 3.0]))

    x = np.array([0.5, -1.0])
    y = np.array([2.0, 3.0])
    np.testing.assert_allclose(f(x), 2 * x + x / y**2 + 2 * y * x)
    expected = np.diag(2 + 1 / y**2 + 2 * y)
    np.testing.assert_allclose(cb.jacfwd(f)(x), expected)
    np.testing.assert_allclose(cb.jacrev(f)(x), expected)


def test_backward_skips_branches_that_do_not_reach_the_output():
    x, tape = leaf([1.0, 2.0])
    unused = np.exp(x)  # recorded, but not an ancestor of y
    y = x * 2.0
    (g,) = backward(tape, [y._index], [np.ones(2)], [x._index])
    np.testing.assert_array_equal(g, [2.0, 2.0])
    assert tape[unused._index][0] is np.exp


def test_unbroadcast_sums_leading_and_size_one_axes():
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(unbroadcast(g, (3, 4)), g.sum(axis=0))
    np.testing.assert_array_equal(unbroadcast(g, (3, 1)), g.sum(axis=(0, 2))[:, None])
    np.testing.assert_array_equal(unbroadcast(g, ()), g.sum())
    assert unbroadcast(g, (2, 3, 4)) is g


def test_nested_levels_through_the_public_api():
    # d/dx [x * d/dy (x * y^2)] at y = 3: x * 2xy -> 4xy = 12x... at x = 2: 4 * 2 * 3 = 24
    def f(x):
        return x * cb.grad(lambda y: x * y**2)(3.0)

    assert cb.grad(f)(2.0) == 24.0
    assert cb.jacfwd(f)(2.0) == 24.0


LOWER_PRECISION_CONSTANTS = [  # f(x, c) with a constant c whose value the derivative reads
    ("c ** x", lambda x, c: c**x),
    ("x ** c", lambda x, c: x**c),
    ("np.power(c, x)", lambda x, c: np.power(c, x)),
    ("arctan2(x, c)", lambda x, c: np.arctan2(x, c)),
    ("hypot(c, x)", lambda x, c: np.hypot(c, x)),
    ("logaddexp(x, c)", lambda x, c: np.logaddexp(x, c)),
    ("x / c", lambda x, c: x / c),
]


@pytest.mark.parametrize(
    "f", [c[1] for c in LOWER_PRECISION_CONSTANTS], ids=[c[0] for c in LOWER_PRECISION_CONSTANTS]
)
@pytest.mark.parametrize("c32", [np.float32(2.7), np.array([0.7, 1.3], dtype=np.float32)])
def test_a_float32_constant_meeting_float64_is_differentiated_in_float64(f, c32):
    # NumPy computes np.float32(2.7) ** x in float64 where x is float64; the rules read the
    # constant (log 2.7, or the exponent less 1), and read it in float32 before: errors of 3e-8
    x = np.array([0.3, 1.9])
    c64 = np.asarray(c32, dtype=np.float64)[()]  # the same number, in float64
    for jac, g in [(cb.jacrev, f), (cb.jacfwd, f), (cb.hessian, lambda x, c: np.sum(f(x, c)))]:
        got, expected = jac(lambda x: g(x, c32))(x), jac(lambda x: g(x, c64))(x)  # noqa: B023
        np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0, err_msg=jac.__name__)
    y, t = cb.jvp(lambda x: f(x, c32), (x,), (np.ones(2),))
    np.testing.assert_array_equal(y, f(x, c32))  # NumPy's value, and its dtype
    assert y.dtype == t.dtype == np.float64


def test_a_format_spec_formats_the_value_as_numpy_does():
    # print(f"{loss:.4f}") inside a differentiated function: "unsupported format string passed
    # to RevTracer.__format__" before; a string carries no derivative to lose
    x = np.array([1.5, -2.25])
    seen = []

    def f(x):
        loss = np.sum(x**2)
        seen.append((f"{loss:.3f}", f"{loss:>9.2e}", f"{loss}"))
        with pytest.raises(TypeError, match="unsupported format string"):
            f"{x:.3f}"  # noqa: B018 - (NumPy refuses a spec for a 1-d array, so does a tracer)
        return loss

    plain = np.sum(x**2)
    for transform in (cb.grad(f), cb.jacfwd(f), cb.hessian(f)):
        seen.clear()
        transform(x)
        assert seen[0][:2] == (format(plain, ".3f"), format(plain, ">9.2e"))
        assert seen[0][2].startswith(("RevTracer(", "FwdTracer("))
    np.testing.assert_array_equal(cb.grad(f)(x), 2 * x)
