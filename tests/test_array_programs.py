"""Random NumPy programs, differentiated whole: the rules must compose, not just work alone.

`test_rules.py` checks each rule by itself. Here hypothesis writes straight-line programs of
3 to 8 steps over one or two input arrays, mixing elementwise functions, reductions with axes and
keepdims, reshapes, indexing of every kind, joins, matrix products and solves, and reusing earlier
results (fan-out). Each program is run

- on plain arrays and on traced ones, which must give NumPy's values and dtypes;
- through `check_rule` (forward and reverse mode against central differences, the dot-product
  test, both second-order compositions, and `jacfwd == jacrev`);
- in float32, where every gradient must come back float32 as its input;
- inside another transform: a gradient in one variable that closes over the outer traced one
  (through `check_rule` again), and third derivatives, `jacfwd(hessian(f))` against
  `jacrev(jacrev(grad(f)))`, which must also be symmetric in their three axes.

Every operation keeps its arguments where it is smooth (logarithms of `1 + a**2`, solves with
`4 I + tanh(a)`, which is diagonally dominant), so a failure is a wrong derivative, not a kink.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_rules import check_rule

import calcbook as cb

SETTINGS = settings(max_examples=150, deadline=None)
MAX_SIZE = 36  # entries of any intermediate: keeps the Jacobians of check_rule small


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


# name -> function of one array; all smooth on the whole real line
ELEMENTWISE = {
    "tanh": np.tanh,
    "sin": np.sin,
    "sigmoid": _sigmoid,
    "log1p_sq": lambda a: np.log1p(a * a),
    "sqrt": lambda a: np.sqrt(1 + a**2),
    "arctan": np.arctan,
    "exp_tanh": lambda a: np.exp(np.tanh(a)),
    "rscale": lambda a: 0.5 - 0.7 * a,
    "rdiv": lambda a: 1.0 / (1 + np.square(a)),
    "a_tanh_a": lambda a: a * np.tanh(a),
    "pow": lambda a: (1 + a * a) ** 0.75,
    "rpow": lambda a: 2.0 ** np.tanh(a),
    "cosh": lambda a: np.cosh(np.tanh(a)),
}
# name -> function of two broadcastable arrays
BINARY = {
    "add": np.add,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1 + b * b),
    "hypot": lambda a, b: np.hypot(a, 1 + b * b),
    "powv": lambda a, b: (1 + a * a) ** np.tanh(b),
    "arctan2": lambda a, b: np.arctan2(a, 2 + np.tanh(b)),
}
REDUCTIONS = ["sum", "mean", "prod", "max", "min", "var", "std"]


def _axes(draw, ndim):
    """An axis argument: None, an int (maybe negative) or a tuple of distinct axes."""
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none" or ndim == 0:
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)


def _count(shape, axis):
    if axis is None:
        return int(np.prod(shape))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes]))


def _draw_step(draw, shapes, rng):  # noqa: C901 - one branch per kind of operation
    """One step: (description, function of the pool), for the pool of values of `shapes`."""
    last = len(shapes) - 1  # (the latest value half the time: long chains, not only fan-out)
    i = draw(st.one_of(st.just(last), st.integers(0, last)))
    s = shapes[i]
    nd = len(s)
    kind = draw(
        st.sampled_from(
            ["elementwise", "binary", "reduce", "shape", "index", "join", "product", "along",
             "more"]
        )
    )  # fmt: skip
    if kind == "more" and nd:
        name = draw(
            st.sampled_from(
                ["diff", "clip", "maximum", "where", "pad", "trace", "norm", "slogdet", "split",
                 "sort_by_argsort", "tensordot", "triu", "abs", "gradient", "partition", "block",
                 "nanquantile", "vander"]
            )
        )  # fmt: skip
        axis = draw(st.integers(-nd, nd - 1))
        if name == "diff":
            return f"diff(v{i}, axis={axis})", lambda p: np.diff(p[i], axis=axis)
        if name == "clip":  # (kinks at +-0.9 are met with probability ~1e-6)
            return f"clip(v{i}, -0.9, 0.9)", lambda p: np.clip(p[i], -0.9, 0.9)
        if name == "maximum":
            c = rng.uniform(-1, 1, size=s[-1:])
            return f"maximum(v{i}, c)", lambda p: np.maximum(p[i], c)
        if name == "where":
            mask = rng.random(s) < 0.5
            return f"where(mask, v{i}, sin(v{i}))", lambda p: np.where(mask, p[i], np.sin(p[i]))
        if name == "pad":
            mode = draw(st.sampled_from(["constant", "edge", "reflect", "wrap", "mean"]))
            if np.prod(np.add(s, 2)) <= MAX_SIZE:
                return f"pad(v{i}, 1, {mode!r})", lambda p: np.pad(p[i], 1, mode=mode)
        if name == "trace" and nd >= 2:
            return f"trace(v{i})", lambda p: np.trace(p[i])
        if name == "norm":
            return f"linalg.norm(v{i})", lambda p: np.linalg.norm(p[i])
        if name == "slogdet" and nd >= 2 and s[-1] == s[-2]:
            eye = 4 * np.eye(s[-1])
            logdet = lambda a: np.linalg.slogdet(eye + np.tanh(a))[1]  # noqa: E731
            return f"slogdet(4I + tanh(v{i}))[1]", lambda p: logdet(p[i])
        if name == "split" and s[axis] >= 2:
            return f"split(v{i}, [1], {axis})[1]", lambda p: np.split(p[i], [1], axis)[1]
        if name == "sort_by_argsort":
            return (
                f"take_along_axis(v{i}, argsort(v{i}, {axis}), {axis})",
                lambda p: np.take_along_axis(p[i], np.argsort(p[i], axis=axis), axis),
            )
        if name == "tensordot" and nd >= 2:
            w = rng.uniform(-1, 1, size=s[-2:])
            return f"tensordot(v{i}, W, 2)", lambda p: np.tensordot(p[i], w, 2)
        if name == "triu" and nd >= 2:
            return f"triu(v{i})", lambda p: np.triu(p[i])
        if name == "gradient" and s[axis] >= 2:
            return f"gradient(v{i}, 0.5, axis={axis})", lambda p: np.gradient(p[i], 0.5, axis=axis)
        if name == "partition":
            kth = draw(st.integers(0, s[axis] - 1))
            return (
                f"partition(v{i}, {kth}, {axis})",
                lambda p: np.partition(p[i], kth, axis=axis),
            )
        if name == "block" and 2 * np.prod(s) <= MAX_SIZE:
            return f"block([v{i}, 2 * v{i}])", lambda p: np.block([p[i], 2 * p[i]])
        if name == "nanquantile":
            return f"nanquantile(v{i}, 0.3, {axis})", lambda p: np.nanquantile(p[i], 0.3, axis)
        if name == "vander" and nd == 1 and 3 * s[0] <= MAX_SIZE:
            return f"vander(v{i}, 3)", lambda p: np.vander(p[i], 3)
        return f"abs(1 + v{i}**2)", lambda p: np.abs(1 + p[i] ** 2)
    if kind == "elementwise":
        name = draw(st.sampled_from(sorted(ELEMENTWISE)))
        return f"{name}(v{i})", lambda p: ELEMENTWISE[name](p[i])
    if kind == "binary":
        j = draw(st.integers(0, len(shapes) - 1))
        try:
            np.broadcast_shapes(s, shapes[j])
        except ValueError:
            j = i
        name = draw(st.sampled_from(sorted(BINARY)))
        if draw(st.booleans()):
            return f"{name}(v{i}, v{j})", lambda p: BINARY[name](p[i], p[j])
        c = rng.uniform(0.5, 1.5, size=draw(st.sampled_from([(), s[-1:], s])))
        return f"{name}(v{i}, c)", lambda p: BINARY[name](p[i], c)
    if kind == "reduce" and nd:
        name = draw(st.sampled_from(REDUCTIONS))
        axis, keep = _axes(draw, nd), draw(st.booleans())
        if name == "std" and _count(s, axis) < 2:
            name = "var"  # (std of one entry is 0: a kink)
        return f"{name}(v{i}, {axis}, {keep})", lambda p: getattr(np, name)(
            p[i], axis=axis, keepdims=keep
        )
    if kind == "along" and nd:
        axis = draw(st.integers(-nd, nd - 1))
        name = draw(
            st.sampled_from(["logsumexp", "softmax", "log_softmax", "cumsum", "cumprod", "sort"])
        )
        if name in ("cumsum", "cumprod", "sort"):
            return f"{name}(v{i}, {axis})", lambda p: getattr(np, name)(p[i], axis=axis)
        return f"cb.{name}(v{i}, {axis})", lambda p: getattr(cb, name)(p[i], axis=axis)
    if kind == "shape" and nd:
        name = draw(
            st.sampled_from(
                ["transpose", "ravel", "expand", "flip", "roll", "swap", "moveaxis", "T",
                 "broadcast", "tile", "repeat", "squeeze", "reshape2"]
            )
        )  # fmt: skip
        if name == "transpose":
            perm = tuple(draw(st.permutations(range(nd))))
            return f"transpose(v{i}, {perm})", lambda p: np.transpose(p[i], perm)
        if name == "ravel":
            return f"v{i}.ravel()", lambda p: p[i].ravel()
        if name == "expand":
            axis = draw(st.integers(-nd - 1, nd))
            return f"expand_dims(v{i}, {axis})", lambda p: np.expand_dims(p[i], axis)
        if name == "flip":
            axis = _axes(draw, nd)
            return f"flip(v{i}, {axis})", lambda p: np.flip(p[i], axis)
        if name == "roll":
            shift, axis = draw(st.integers(-3, 3)), _axes(draw, nd)
            if isinstance(axis, tuple):
                shift = (shift,) * len(axis)
            return f"roll(v{i}, {shift}, {axis})", lambda p: np.roll(p[i], shift, axis)
        if name == "swap":
            a, b = draw(st.integers(-nd, nd - 1)), draw(st.integers(-nd, nd - 1))
            return f"swapaxes(v{i}, {a}, {b})", lambda p: np.swapaxes(p[i], a, b)
        if name == "moveaxis":
            a, b = draw(st.integers(-nd, nd - 1)), draw(st.integers(-nd, nd - 1))
            return f"moveaxis(v{i}, {a}, {b})", lambda p: np.moveaxis(p[i], a, b)
        if name == "T":
            return f"v{i}.T", lambda p: p[i].T
        if name == "squeeze" and 1 in s:
            return f"squeeze(v{i})", lambda p: np.squeeze(p[i])
        if name == "reshape2" and nd >= 2:
            return f"v{i}.reshape({s[0]}, -1)", lambda p: p[i].reshape(s[0], -1)
        if np.prod(s) * 2 <= MAX_SIZE:
            if name == "broadcast":
                return f"broadcast_to(v{i}, (2, *{s}))", lambda p: np.broadcast_to(p[i], (2, *s))
            if name == "tile":
                return f"tile(v{i}, 2)", lambda p: np.tile(p[i], 2)
            axis = draw(st.integers(-nd, nd - 1))
            return f"repeat(v{i}, 2, {axis})", lambda p: np.repeat(p[i], 2, axis=axis)
        return f"-v{i}", lambda p: -p[i]
    if kind == "index" and nd:
        name = draw(st.sampled_from(["slice", "step", "fancy", "mask", "take", "ellipsis"]))
        if name == "slice":
            key = tuple(slice(draw(st.integers(0, 1)), None) for _ in range(nd))
            return f"v{i}[{key}]", lambda p: p[i][key]
        if name == "step":
            return f"v{i}[::-2]", lambda p: p[i][::-2]
        if name == "fancy":
            idx = rng.integers(0, s[0], size=draw(st.integers(1, 4)))  # repeats accumulate
            return f"v{i}[{idx.tolist()}]", lambda p: p[i][idx]
        if name == "mask":
            mask = rng.random(s) < 0.6
            return f"v{i}[mask]", lambda p: p[i][mask]
        if name == "take":
            axis = draw(st.integers(-nd, nd - 1))
            idx = rng.integers(0, s[axis], size=3)
            return f"take(v{i}, {idx.tolist()}, {axis})", lambda p: np.take(p[i], idx, axis)
        return f"v{i}[..., None, :1]", lambda p: p[i][..., None, :1]
    if kind == "join":
        j = draw(st.integers(0, len(shapes) - 1))
        if shapes[j] != s or np.prod(s) * 2 > MAX_SIZE:
            j = i
        if np.prod(s) * 2 <= MAX_SIZE:
            if nd and draw(st.booleans()):
                axis = draw(st.integers(-nd, nd - 1))
                return f"concatenate(v{i}, v{j}, {axis})", lambda p: np.concatenate(
                    [p[i], p[j]], axis
                )
            axis = draw(st.integers(-nd - 1, nd))
            return f"stack(v{i}, v{j}, {axis})", lambda p: np.stack([p[i], p[j]], axis)
        return f"v{i} + v{i}", lambda p: p[i] + p[i]
    if kind == "product" and nd:
        name = draw(st.sampled_from(["matmul", "gram", "einsum", "outer", "solve", "det", "inv"]))
        n = s[-1]
        square = nd >= 2 and s[-2] == n
        if name in ("solve", "det", "inv") and square:
            eye = 4 * np.eye(n)
            if name == "solve":
                b = rng.uniform(-1, 1, size=(n,))
                return f"solve(4I + tanh(v{i}), b)", lambda p: np.linalg.solve(
                    eye + np.tanh(p[i]), b
                )
            fun = np.linalg.det if name == "det" else np.linalg.inv
            return f"{name}(4I + tanh(v{i}))", lambda p: fun(eye + np.tanh(p[i]))
        if name == "gram" and nd >= 2:
            return f"v{i} @ swapaxes(v{i})", lambda p: p[i] @ np.swapaxes(p[i], -1, -2)
        if name == "einsum" and nd >= 1:
            return f"einsum('...i,...i->...', v{i}, v{i})", lambda p: np.einsum(
                "...i,...i->...", p[i], p[i]
            )
        if name == "outer" and np.prod(s) ** 2 <= MAX_SIZE:
            return f"outer(v{i}, v{i})", lambda p: np.outer(p[i], np.sin(p[i]))
        w = rng.uniform(-1, 1, size=(n, draw(st.integers(1, 3))))
        if draw(st.booleans()):
            return f"v{i} @ W", lambda p: p[i] @ w
        return f"dot(v{i}, W)", lambda p: np.dot(p[i], w)
    return f"tanh(v{i})", lambda p: np.tanh(p[i])


@st.composite
def programs(draw):
    """(description, function of the inputs, inputs) for a random program of 3 to 8 steps."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    inputs = [rng.uniform(-1, 1, size=shape)]
    if draw(st.booleans()):  # a second input, broadcastable against the first
        inputs.append(rng.uniform(-1, 1, size=draw(st.sampled_from([(), shape[-1:], shape]))))
    pool, steps, lines = list(inputs), [], []
    for _ in range(draw(st.integers(3, 8))):
        line, step = _draw_step(draw, [np.shape(v) for v in pool], rng)
        value = step(pool)
        if not 0 < np.size(value) <= MAX_SIZE:  # (empty arrays: test_rules.py covers them)
            continue
        pool.append(value)
        steps.append(step)
        lines.append(f"v{len(pool) - 1} = {line}")

    def program(*args):
        p = list(args)
        for step in steps:
            p.append(step(p))
        return p[-1]

    return "\n".join(lines), program, inputs


@SETTINGS
@given(programs())
def test_random_programs_in_both_modes_to_second_order(case):
    text, program, inputs = case
    expected = program(*inputs)
    seen = []

    def traced(*args):
        out = program(*args)
        seen.append(cb.tracing.primal(out))
        return out

    cb.jvp(traced, tuple(inputs), tuple(np.ones_like(x) for x in inputs))
    np.testing.assert_allclose(seen[0], expected, rtol=1e-13, atol=1e-15, err_msg=text)
    assert seen[0].dtype == np.asarray(expected).dtype, text
    try:
        check_rule(program, *inputs, seed=len(text))
    except AssertionError as error:
        raise AssertionError(f"program:\n{text}") from error


@SETTINGS
@given(programs())
def test_random_programs_keep_float32_and_give_numpys_values(case):
    text, program, inputs = case
    inputs32 = [x.astype(np.float32) for x in inputs]
    expected = program(*inputs32)

    def scalar(*args):
        return np.sum(program(*args))

    argnums = tuple(range(len(inputs32)))
    value, grads = cb.value_and_grad(scalar, argnums=argnums)(*inputs32)
    np.testing.assert_allclose(value, np.sum(expected), rtol=1e-6, atol=1e-6, err_msg=text)
    assert np.asarray(value).dtype == np.sum(expected).dtype, text
    grads64 = cb.grad(scalar, argnums=argnums)(*inputs)
    for g, g64, x in zip(grads, grads64, inputs32, strict=True):
        assert g.shape == x.shape and g.dtype == np.float32, text
        np.testing.assert_allclose(g, g64, rtol=2e-3, atol=2e-3, err_msg=text)


@settings(max_examples=60, deadline=None)
@given(programs())
def test_nested_transforms_of_random_programs(case):
    """A gradient in `y` that closes over the outer traced `x`, and third derivatives."""
    text, program, inputs = case
    x, y = inputs[0], inputs[-1]

    def inner_gradient(a):  # d/db at b = y of a function of (a, b), times a function of a
        if len(inputs) > 1:
            g = cb.grad(lambda b: np.sum(np.sin(program(a, b))))(y)
        else:  # (one input: b scales it)
            g = cb.grad(lambda b: np.sum(np.sin(program(a * b))))(np.full_like(x, 0.9))
        return g * np.tanh(np.sum(a))

    try:
        check_rule(inner_gradient, x, seed=len(text), second=False)
    except AssertionError as error:
        raise AssertionError(f"program:\n{text}") from error
    if x.size <= 6:  # third derivatives: one tensor by forward and by reverse mode, symmetric

        def scalar(a):
            return np.sum(np.cos(program(a, *inputs[1:])))

        t = cb.jacfwd(cb.hessian(scalar))(x)
        assert t.shape == 3 * x.shape, text
        np.testing.assert_allclose(t, cb.jacrev(cb.jacrev(cb.grad(scalar)))(x), 1e-9, 1e-9, text)
        t = t.reshape(3 * (x.size,))
        for axes in [(1, 0, 2), (0, 2, 1)]:
            np.testing.assert_allclose(t, t.transpose(axes), rtol=1e-9, atol=1e-9, err_msg=text)
