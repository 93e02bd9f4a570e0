"""Tests for calcbook.Dual: closed forms, the other mode (Value), and central differences."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scalar_programs import Floats, central_difference, programs, run, sigmoid

from calcbook import Dual, Value
from calcbook import dual as dm

# name, f written with dm's functions (so it runs on floats and Duals), f', points.
# `value` says whether calcbook.Value supports it too (for the comparison with reverse mode).
CASES = [
    ("x + 2", lambda x: x + 2, lambda x: 1.0, [-1.3, 0.7], True),
    ("2 + x", lambda x: 2 + x, lambda x: 1.0, [-1.3, 0.7], True),
    ("x - 2", lambda x: x - 2, lambda x: 1.0, [-1.3, 0.7], True),
    ("2 - x", lambda x: 2 - x, lambda x: -1.0, [-1.3, 0.7], True),
    ("x * 3", lambda x: x * 3, lambda x: 3.0, [-1.3, 0.7], True),
    ("3 * x", lambda x: 3 * x, lambda x: 3.0, [-1.3, 0.7], True),
    ("x / 4", lambda x: x / 4, lambda x: 0.25, [-1.3, 0.7], True),
    ("4 / x", lambda x: 4 / x, lambda x: -4 / x**2, [-1.3, 0.7], True),
    ("x ** 3", lambda x: x**3, lambda x: 3 * x**2, [-1.3, 0.7], True),
    ("x ** -2", lambda x: x**-2, lambda x: -2 * x**-3, [-1.3, 0.7], True),
    ("x ** 0.5", lambda x: x**0.5, lambda x: 0.5 * x**-0.5, [0.3, 2.5], True),
    ("x ** 0", lambda x: x**0, lambda x: 0.0, [-1.3, 0.7], True),
    ("2 ** x", lambda x: 2**x, lambda x: 2**x * math.log(2), [-1.3, 0.7], True),
    ("x ** x", lambda x: x**x, lambda x: x**x * (math.log(x) + 1), [0.3, 1.7], True),
    ("-x", lambda x: -x, lambda x: -1.0, [-1.3, 0.7], True),
    ("x * x", lambda x: x * x, lambda x: 2 * x, [-1.3, 0.7], True),
    ("exp", dm.exp, math.exp, [-1.3, 0.7], True),
    ("log", dm.log, lambda x: 1 / x, [0.3, 2.0], True),
    ("tanh", dm.tanh, lambda x: 1 - math.tanh(x) ** 2, [-1.3, 0.7], True),
    (
        "sigmoid",
        dm.sigmoid,
        lambda x: sigmoid(x) * (1 - sigmoid(x)),
        [-30.0, -1.3, 0.7, 30.0],
        True,
    ),
    ("relu", dm.relu, lambda x: float(x > 0), [-1.3, 0.7], True),
    ("sin", dm.sin, math.cos, [-1.3, 0.7], False),
    ("cos", dm.cos, lambda x: -math.sin(x), [-1.3, 0.7], False),
    ("sqrt", dm.sqrt, lambda x: 0.5 / math.sqrt(x), [0.3, 2.5], True),
]


class OnValue:
    """dm's functions, spelled as Value methods (for the reverse-mode comparison)."""

    exp, log, tanh, sigmoid, relu = Value.exp, Value.log, Value.tanh, Value.sigmoid, Value.relu

    @staticmethod
    def sqrt(v):
        return v**0.5


def on_value(name, f):
    method = getattr(OnValue, name, None)
    return method if method is not None else f


@pytest.mark.parametrize("name, f, df, points, value", CASES, ids=[c[0] for c in CASES])
def test_tangent_rules_match_closed_form_central_difference_and_reverse_mode(
    name, f, df, points, value
):
    for x in points:
        out = f(Dual(x, 1.0))
        assert out.value == pytest.approx(f(x), rel=1e-15, abs=1e-300)
        assert out.tangent == pytest.approx(df(x), rel=1e-14, abs=1e-300), (name, x)
        assert f(Dual(x, -2.5)).tangent == pytest.approx(-2.5 * df(x), rel=1e-14, abs=1e-300)
        assert f(Dual(x)).tangent == 0.0  # a constant has no tangent
        estimate, error = central_difference(f, x)
        assert abs(out.tangent - estimate) <= error, (name, x, out.tangent, estimate, error)
        if value:
            v = Value(x)
            on_value(name, f)(v).backward()
            assert out.tangent == pytest.approx(v.grad, rel=1e-14, abs=1e-300)


@pytest.mark.parametrize(
    "f",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a * b,
        lambda a, b: a / b,
        lambda a, b: a**b,
        lambda a, b: b**a,
    ],
)
def test_two_inputs_give_both_partials_and_agree_with_value(f):
    x, y = 0.8, 1.7
    a, b = Value(x), Value(y)
    f(a, b).backward()
    assert f(Dual(x, 1.0), Dual(y)).tangent == pytest.approx(a.grad, rel=1e-14)
    assert f(Dual(x), Dual(y, 1.0)).tangent == pytest.approx(b.grad, rel=1e-14)
    both = f(Dual(x, 0.3), Dual(y, -2.0)).tangent  # a directional derivative
    assert both == pytest.approx(0.3 * a.grad - 2.0 * b.grad, rel=1e-13)


def test_module_functions_accept_floats_and_duals():
    for name in ["exp", "log", "sin", "cos", "tanh", "sigmoid", "relu", "sqrt"]:
        fn = getattr(dm, name)
        assert isinstance(fn(0.7), float)
        assert fn(Dual(0.7, 1.0)).value == fn(0.7)
    assert dm.sigmoid(-800.0) == 0.0 and dm.sigmoid(800.0) == 1.0
    assert dm.relu(-1) == 0.0 and dm.relu(Dual(-1.0, 1.0)).tangent == 0.0
    # not numbers: relu("1.5") was 1.5 (float() of the string), sigmoid("x") raised "'>=' not
    # supported between instances of 'str' and 'float'", relu(None) float()'s message
    for name, x in (("relu", "1.5"), ("relu", None), ("sigmoid", "x"), ("sigmoid", [1.0])):
        with pytest.raises(TypeError, match=f"{name} needs a real number or a Dual, got"):
            getattr(dm, name)(x)


@pytest.mark.parametrize("a, b", [(1e-170, 1e-170), (1e-300, 1e-160), (1e200, 1e200), (3.0, -4.0)])
def test_division_by_tiny_and_huge_values_keeps_its_tangent(a, b):
    # (a' b - a b') / b^2 must not be computed through b * b, which under- or overflows here
    assert (Dual(a, 1.0) / b).tangent == pytest.approx(1 / b, rel=1e-15)
    t = (Dual(a, 0.0) / Dual(b, 1.0)).tangent
    assert t == pytest.approx(-(a / b) / b, rel=1e-15) and t != 0.0
    assert (Dual(2.0, 1.0) / 1e-170).tangent == pytest.approx(1e170, rel=1e-15)


def test_numpy_scalars_and_ufuncs_on_duals():
    d = Dual(0.5, 1.0)
    for out, expected in [
        (np.float64(3.0) * d, (1.5, 3.0)),
        (np.float64(1.0) - d, (0.5, -1.0)),
        (np.float64(2.0) ** d, (2**0.5, 2**0.5 * math.log(2))),
        (np.sin(d), (math.sin(0.5), math.cos(0.5))),
        (np.sqrt(d), (math.sqrt(0.5), 0.5 / math.sqrt(0.5))),
    ]:
        assert isinstance(out, Dual) and (out.value, out.tangent) == pytest.approx(expected)
    with pytest.raises(TypeError, match="numpy.arctan does not take a Dual"):
        np.arctan(d)
    # (these said "numpy.sin does not take a Dual", which np.sin(d) does)
    with pytest.raises(TypeError, match=r"numpy.sin\(\.\.\., where=\.\.\.\) does not take"):
        np.sin(d, where=True)
    with pytest.raises(TypeError, match=r"numpy.add.outer does not take a Dual: only the plain"):
        np.add.outer(d, d)


def test_repr_and_slots():
    d = Dual(2, 1)
    assert repr(d) == "Dual(value=2.0, tangent=1.0)"
    with pytest.raises(AttributeError):
        d.other = 1
    assert d == d and d != Dual(2, 1) and d != 2.0  # identity: compare .value instead
    with pytest.raises(TypeError, match="'<' not supported"):
        d < Dual(3)  # noqa: B015


def test_equality_with_numpy_scalars_is_identity_too():
    # NumPy's scalars compare through the ufunc np.equal, which reaches Dual.__array_ufunc__
    d = Dual(1.0, 1.0)
    one = np.float64(1.0)
    assert not (d == one) and not (one == d) and d != one and one != d
    assert not (d == np.float32(1.0)) and not (np.int64(1) == d)
    assert d in [one, d] and [one, d].index(d) == 1 and np.equal(d, d)
    with pytest.raises(TypeError, match="numpy.less does not take a Dual"):
        one < d  # noqa: B015


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: Dual("a"), TypeError, ["real value", "str"]),
        (lambda: Dual(1.0, "b"), TypeError, ["real tangent", "str"]),
        (lambda: Dual(True), TypeError, ["bool"]),
        (lambda: Dual(math.nan), ValueError, ["finite value", "nan"]),
        (lambda: Dual(1.0, math.inf), ValueError, ["finite tangent", "inf"]),
        (lambda: Dual(-1.0, 1.0).log(), ValueError, ["positive", "-1.0"]),
        (lambda: Dual(0.0, 1.0).sqrt(), ValueError, ["positive", "0.0"]),
        (lambda: Dual(-2.0) ** Dual(2.0), ValueError, ["positive base", "-2.0"]),
        (lambda: (-2.0) ** Dual(0.5), ValueError, ["positive base", "-2.0"]),
        (lambda: Dual(-8.0) ** (1 / 3), ValueError, ["-8.0", "not real"]),
        (lambda: Dual(0.0) ** -1, ValueError, ["value is infinite"]),
        (lambda: Dual(0.0) ** 0.5, ValueError, ["derivative is infinite"]),
        (lambda: Dual(1.0) / 0.0, ZeroDivisionError, ["0.0"]),
        (lambda: Dual(1000.0).exp(), OverflowError, ["exp(1000.0)"]),
        # (an overflow was "ValueError: Dual needs a finite value, got inf", as if the caller
        # had given inf; Value and Dual's own exp and ** raise OverflowError)
        (lambda: Dual(1e200) * 1e200, OverflowError, ["result of *", "overflows", "inf"]),
        (lambda: Dual(1.0, 1e308) * 10.0, OverflowError, ["tangent of *", "overflows"]),
        (lambda: Dual(2.0, 1.0) / 1e-320, OverflowError, ["result of /", "overflows"]),
        (lambda: Dual(1.0, 1.0) / Dual(1e-200, 1.0), OverflowError, ["tangent of /"]),
        (lambda: Dual(1.7e308) + 1.7e308, OverflowError, ["result of +"]),
        (lambda: Dual(700.0, 1e300).exp(), OverflowError, ["tangent of exp"]),
        (lambda: Dual(5e-324, 1.0).log(), OverflowError, ["tangent of log"]),
        (lambda: Dual(1.0, 1e308) ** 2, OverflowError, ["1.0 ** 2 or its derivative overflows"]),
        (lambda: Dual(10.0, 1.0) ** 1000, OverflowError, ["10.0 ** 1000", "overflows"]),
        (lambda: Dual(10.0) ** Dual(1e3), OverflowError, ["10.0 ** 1000.0", "overflows"]),
    ],
)
def test_bad_input_raises_a_clear_error(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value)


# Random compositions, run three ways: on floats (for central differences), on Duals (forward
# mode, seeded with a direction) and on Values (reverse mode). Every step keeps log, ** and /
# inside their domains.
Duals = dm  # the module-level functions take Duals


@settings(max_examples=150, deadline=None)
@given(
    programs,
    st.lists(st.floats(-2, 2), min_size=3, max_size=3),
    st.lists(st.floats(-1, 1), min_size=3, max_size=3),
)
def test_random_compositions_forward_equals_reverse_equals_finite_difference(
    program, point, direction
):
    def along(t):  # f(point + t * direction), on floats
        try:
            pool = run(program, Floats, [p + t * d for p, d in zip(point, direction, strict=True)])
        except (OverflowError, ValueError, ZeroDivisionError, AssertionError):
            assume(False)
        assume(max(map(abs, pool)) < 1e3)
        return pool[-1]

    expected = along(0.0)
    tangents = run(program, Duals, [Dual(p, d) for p, d in zip(point, direction, strict=True)])
    forward = tangents[-1]
    xs = [Value(p) for p in point]
    out = run(program, OnValue, xs)[-1]
    out.backward()
    reverse = sum(x.grad * d for x, d in zip(xs, direction, strict=True))

    assert forward.value == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert out.data == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # The two modes round differently; their difference is a few ulps of the largest tangent
    # met on the way (an output tangent can cancel to far below it).
    scale = max(abs(d.tangent) for d in tangents) + sum(abs(x.grad) for x in xs)
    assert abs(forward.tangent - reverse) <= 1e-12 * scale
    estimate, error = central_difference(along, 0.0)
    assert abs(forward.tangent - estimate) <= 2 * error + 1e-9 * abs(estimate)
