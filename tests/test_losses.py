"""`cb.cross_entropy` and the fused functions of the engine (`calcbook.rules.fused`).

The fused loss is checked against three independent things: the same loss composed from
`log_softmax` (whose rules are tested in test_rules), central differences at first and second
order in both modes (`check_rule`), and the closed forms of its gradient and Hessian.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_rules import check_rule

import calcbook as cb
from calcbook.tracing import RevTracer, new_level

SETTINGS = settings(max_examples=30, deadline=None)
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
REDUCTIONS = ("mean", "sum", "none")


def composed(z, y, axis, reduction):
    """The loss written with `log_softmax`: the reference the fused function must agree with."""
    per = -np.sum(y * cb.log_softmax(z, axis=axis), axis=axis)
    return {"mean": np.mean, "sum": np.sum, "none": lambda p: p}[reduction](per)


def problem(shape, seed):
    """Logits, class indices, their one-hot array and soft (unnormalised) targets, and an axis."""
    rng = np.random.default_rng(seed)
    axis = int(rng.integers(-len(shape), len(shape)))
    z = 3 * rng.standard_normal(shape)
    classes = shape[axis]
    labels = rng.integers(
        0, classes, size=shape[: axis % len(shape)] + shape[axis % len(shape) + 1 :]
    )
    onehot = np.moveaxis(np.eye(classes)[labels], -1, axis)
    soft = rng.uniform(0.1, 1.0, size=shape)  # rows need not sum to 1
    return z, labels, onehot, soft, axis


@SETTINGS
@given(shape=SHAPES, seed=st.integers(0, 2**32 - 1), reduction=st.sampled_from(REDUCTIONS))
def test_values_and_gradients_match_the_composed_loss(shape, seed, reduction):
    z, labels, onehot, soft, axis = problem(shape, seed)
    for targets, dense in ((labels, onehot), (onehot, onehot), (soft, soft)):
        got = cb.cross_entropy(z, targets, axis=axis, reduction=reduction)
        want = composed(z, dense, axis, reduction)
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)

        def weighted(z, y=targets):  # a scalar that weighs each per-example loss differently
            out = cb.cross_entropy(z, y, axis=axis, reduction=reduction)
            return np.sum(np.sin(out))

        def weighted_ref(z, y=dense):
            return np.sum(np.sin(composed(z, y, axis, reduction)))

        np.testing.assert_allclose(cb.grad(weighted)(z), cb.grad(weighted_ref)(z), atol=1e-12)
        np.testing.assert_allclose(
            cb.hessian(weighted)(z), cb.hessian(weighted_ref)(z), rtol=1e-10, atol=1e-12
        )


@SETTINGS
@given(shape=SHAPES, seed=st.integers(0, 2**32 - 1), reduction=st.sampled_from(REDUCTIONS))
def test_against_finite_differences_both_modes_second_order(shape, seed, reduction):
    z, labels, _, soft, axis = problem(shape, seed)
    check_rule(lambda z, y: cb.cross_entropy(z, y, axis=axis, reduction=reduction), z, soft)
    check_rule(lambda z: cb.cross_entropy(z, labels, axis=axis, reduction=reduction), z)


def test_gradient_and_hessian_closed_forms():
    rng = np.random.default_rng(3)
    z, labels = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    g = cb.grad(cb.cross_entropy)(z, labels)
    np.testing.assert_allclose(g, (p - np.eye(5)[labels]) / 6, atol=1e-15)
    y = rng.uniform(size=(6, 5))  # soft targets: the gradient is p * sum(y) - y
    g = cb.grad(cb.cross_entropy)(z, y)
    np.testing.assert_allclose(g, (p * y.sum(axis=1, keepdims=True) - y) / 6, atol=1e-15)
    np.testing.assert_allclose(cb.grad(cb.cross_entropy, 1)(z, y), -np.log(p) / 6, atol=1e-15)
    # one example: the Hessian in the logits is diag(p) - p p^T, times sum(y)
    z1, y1 = z[0], y[0]
    p1 = p[0]
    h = cb.hessian(lambda z: cb.cross_entropy(z, y1))(z1)
    np.testing.assert_allclose(h, (np.diag(p1) - np.outer(p1, p1)) * y1.sum(), atol=1e-15)


def test_one_tape_entry_for_the_whole_loss():
    tape = []
    z = RevTracer.leaf(np.ones((4, 3)), new_level(), tape)
    loss = cb.cross_entropy(z, np.array([0, 1, 2, 0]))
    assert len(tape) == 2 and loss._index == 1
    tape = []
    z = RevTracer.leaf(np.ones((4, 3)), new_level(), tape)
    cb.cross_entropy(z, np.full((4, 3), 1 / 3))
    assert len(tape) == 2


def test_stable_for_huge_and_infinite_logits():
    z = np.array([[1e30, 0.0], [0.0, -1e30]])
    np.testing.assert_allclose(cb.cross_entropy(z, np.array([1, 0]), reduction="none"), [1e30, 0])
    masked = np.array([[0.0, -np.inf, 1.0], [2.0, 1.0, -np.inf]])  # -inf: a class ruled out
    loss, g = cb.value_and_grad(cb.cross_entropy)(masked, np.array([2, 0]))
    assert np.isfinite(loss) and np.all(np.isfinite(g))
    np.testing.assert_allclose(g[:, 1], [0.0, 1 / (1 + np.e) / 2])  # (softmax - onehot) / 2
    assert g[0, 1] == 0.0 and g[1, 2] == 0.0


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("infinite", [False, True])
def test_probability_targets_reduced_agree_with_the_per_example_losses(reduction, infinite):
    # "mean" and "sum" take a shorter path than "none"; it must give the same numbers, also
    # where a logit is infinite (the shorter path then falls back to the clamped shift)
    rng = np.random.default_rng(11)
    t = rng.dirichlet(np.ones(4), size=5)
    z = np.where(np.eye(5, 4) > 0, np.inf, 0.0) if infinite else rng.standard_normal((5, 4))
    with np.errstate(invalid="ignore"):  # (inf - inf: NumPy warns of the NaN it makes)
        per_example = cb.cross_entropy(z, t, reduction="none")
        got = cb.cross_entropy(z, t, reduction=reduction)
        g = cb.grad(lambda z: cb.cross_entropy(z, t, reduction=reduction))(z)
        g_want = cb.grad(lambda z: np.sum(cb.cross_entropy(z, t, reduction="none")))(z)
    want = per_example.mean() if reduction == "mean" else per_example.sum()
    np.testing.assert_allclose(got, want, rtol=1e-14)  # (NaN where want is NaN)
    np.testing.assert_allclose(g * (5 if reduction == "mean" else 1), g_want, rtol=1e-14)
    assert np.isnan(got) == infinite


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    z = np.arange(6, dtype=dtype).reshape(2, 3) / 4
    loss, g = cb.value_and_grad(cb.cross_entropy)(z, np.array([2, 1]))
    assert loss.dtype == dtype and g.dtype == dtype


def test_integer_logits_are_promoted_and_lists_accepted():
    loss = cb.cross_entropy([[1, 2, 3]], [2])
    np.testing.assert_allclose(loss, np.log(np.exp([1, 2, 3]).sum()) - 3)


def test_forward_mode_and_nested_closures():
    rng = np.random.default_rng(5)
    z, labels, v = rng.standard_normal((3, 4)), rng.integers(0, 4, 3), rng.standard_normal((3, 4))
    _, t = cb.jvp(lambda z: cb.cross_entropy(z, labels), (z,), (v,))
    np.testing.assert_allclose(t, np.vdot(cb.grad(cb.cross_entropy)(z, labels), v), rtol=1e-12)

    def outer(s):  # a closure over an outer traced scalar, differentiated inside
        inner = cb.grad(lambda w: cb.cross_entropy(s * w, labels))(z)
        return np.sum(inner * z)

    def outer_ref(s):
        inner = cb.grad(lambda w: composed(s * w, np.eye(4)[labels], -1, "mean"))(z)
        return np.sum(inner * z)

    np.testing.assert_allclose(cb.grad(outer)(0.7), cb.grad(outer_ref)(0.7), rtol=1e-12)
    np.testing.assert_allclose(
        cb.grad(cb.grad(lambda s: cb.cross_entropy(s * z, labels)))(0.7),
        cb.grad(cb.grad(lambda s: composed(s * z, np.eye(4)[labels], -1, "mean")))(0.7),
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda z: cb.cross_entropy(z, np.zeros(3, int)), r"targets \(3,\), logits \(4, 3\)"),
        (lambda z: cb.cross_entropy(z, np.zeros((4, 2))), r"targets \(4, 2\), logits \(4, 3\)"),
        (
            lambda z: cb.cross_entropy(z, np.array([0, 1, 3, 0])),
            r"\[0, 3\), got values from 0 to 3",
        ),
        (lambda z: cb.cross_entropy(z, np.array([0, -1, 2, 0])), r"\[0, 3\)"),
        (lambda z: cb.cross_entropy(z, np.zeros(4, int), reduction="avg"), "reduction must be"),
        (lambda z: cb.cross_entropy(z, np.zeros(3, int), axis=2), "axis=2 is out of range"),
        # (these were "axis=1.0 is out of range for logits of shape (4, 3)")
        (lambda z: cb.cross_entropy(z, np.zeros(4, int), axis=1.0), "axis must be an int, .*1.0"),
        (lambda z: cb.cross_entropy(z, np.zeros(4, int), axis=True), "axis must be an int"),
        (lambda z: cb.cross_entropy(z, np.zeros(4, int), axis=(1,)), "axis must be an int"),
        (lambda z: cb.cross_entropy(z, np.zeros(4, bool)), "integer class indices or float"),
        (lambda z: cb.cross_entropy(z[0, 0], np.zeros((), int)), "got a scalar"),
        (lambda z: cb.cross_entropy(z[:, :0], np.zeros((4, 0))), r"\(4, 0\) have none"),
        (lambda z: cb.cross_entropy(z[:, :0], np.zeros(4, int)), "at least one class"),
    ],
)
def test_bad_input_raises_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=message):  # and the same when traced
        cb.grad(lambda z: np.sum(call(z)))(np.zeros((4, 3)))


def test_an_empty_batch_sums_to_zero():
    for targets in (np.zeros((0, 3)), np.zeros(0, int)):
        loss = cb.cross_entropy(np.zeros((0, 3)), targets, reduction="sum")
        assert loss == 0.0 and not np.signbit(loss)  # +0, as PyTorch gives


def test_complex_logits_are_refused():
    with pytest.raises(ValueError, match="real logits"):
        cb.cross_entropy(np.zeros((4, 3)) + 0j, np.zeros(4, int))
    with pytest.raises(NotImplementedError, match="complex numbers are not supported"):
        cb.grad(lambda z: cb.cross_entropy(z + 0j, np.zeros(4, int)))(np.zeros((4, 3)))


def test_float_targets_shaped_as_class_indices_are_named_as_such():
    z = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"fit class indices, but their dtype is float64"):
        cb.cross_entropy(z, np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"fit class indices"):
        cb.cross_entropy(np.zeros(3), np.float64(1.0))
    np.testing.assert_allclose(cb.cross_entropy(z, np.array([0, 1, 2, 1])), np.log(3.0))


def test_the_stable_helpers_refuse_input_that_is_not_numbers():
    # None in a list became NaN (an object array cast to float)
    for bad in ([None, 1.0], None, ["a"]):
        for helper in (cb.softmax, cb.log_softmax, cb.logsumexp):
            with pytest.raises(TypeError, match="expected numbers"):
                helper(bad)
    np.testing.assert_allclose(cb.softmax([True, False]), cb.softmax([1.0, 0.0]))


def test_logsumexp_refuses_a_keepdims_that_is_not_a_bool():
    # keepdims="no" kept the dimensions (bool("no") is True), and None dropped them; NumPy's
    # reductions raise TypeError for both
    x = np.ones((2, 3))
    for bad in ("no", None, np.array([True, False])):
        with pytest.raises(TypeError, match="keepdims must be a bool, got"):
            cb.logsumexp(x, axis=1, keepdims=bad)
    assert cb.logsumexp(x, axis=1, keepdims=np.True_).shape == (2, 1)
    assert cb.logsumexp(x, axis=1, keepdims=0).shape == (2,)
