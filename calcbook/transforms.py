r"""The functional API of the array engine: `grad`, `vjp`, `jvp`, Jacobians, Hessians.

Each transform takes an ordinary Python function of NumPy arrays and returns a new function (or,
for `vjp`, `jvp` and `hvp`, a result). Inside, it opens a trace level, wraps its inputs in tracers
of that level, calls the function, and reads the derivative off the result: by walking the tape
backwards (reverse mode: `vjp`, `grad`, `jacrev`) or from the tangents carried forward (forward
mode: `jvp`, `jacfwd`). Transforms compose: `hessian` is `jacfwd(grad(f))` and `hvp` is the JVP
of the gradient, both *forward-over-reverse*.

Arguments may be arrays, Python numbers, lists (converted with `np.asarray`) or, for `grad`,
`value_and_grad`, `vjp` and `jvp`, nested tuples, lists and dicts of arrays. Integer (and
boolean) inputs are promoted to float64; gradients have the dtype and shape of their input.
Anything else (a string, None, an object array, a `Value`) is refused with a `TypeError`, as are
tangents and cotangents that are not numbers.

Outputs may be arrays, numbers, and tuples, lists and dicts of them (every list a container, None
an empty one). Other values come back beside the output with `has_aux=True`: f returns
`(output, aux)`, and only `output` is differentiated.
"""

from __future__ import annotations

import numbers
import weakref

import numpy as np

from . import rules  # noqa: F401 - fills the rule table
from .tracing import (
    LEAF,
    LEAF_ARRAY,
    FwdArrayInput,
    FwdInput,
    FwdTracer,
    RevTracer,
    Tracer,
    _is_complex,
    backward,
    close_level,
    complex_error,
    live,
    new_level,
    open_level,
    primal,
    release,
)

__all__ = [
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jvp",
    "value_and_grad",
    "vjp",
]


# --- small helpers: argument trees, argnums, inputs ---------------------------------------------
def _flatten(tree, lists_of_numbers=True):
    """Leaves of nested tuples/lists/dicts, and a description to rebuild the structure.

    A list of numbers is a leaf (an array to be), not a container: an input `[1.0, 2.0]` is one
    array. Outputs are flattened with `lists_of_numbers=False`: there every list is a container,
    so that the structure of an output does not depend on which of its entries are traced, and
    None is a container with no leaves (as in JAX): `(value, None)` keeps its None.
    """
    if tree is None and not lists_of_numbers:
        return [], _NONE
    if type(tree) is tuple:
        for t in tree:
            if isinstance(t, (tuple, list, dict)) or (t is None and not lists_of_numbers):
                break
        else:  # the common case: a flat tuple of arrays
            return list(tree), (tuple, None, [None] * len(tree))
    if isinstance(tree, tuple) or (
        isinstance(tree, list) and not (lists_of_numbers and _is_numbers(tree))
    ):
        parts = [_flatten(t, lists_of_numbers) for t in tree]
        return [leaf for p in parts for leaf in p[0]], (type(tree), None, [p[1] for p in parts])
    if isinstance(tree, dict):
        parts = [_flatten(tree[k], lists_of_numbers) for k in tree]
        return [leaf for p in parts for leaf in p[0]], (dict, list(tree), [p[1] for p in parts])
    return [tree], None


def _flatten_as(tree, treedef):
    """The leaves of `tree` where `treedef` (of `_flatten`) has its leaves, or None if `tree` has
    another structure. Dicts match by key, in any order; a leaf of `treedef` takes whatever is
    there (a list of numbers for an array, say)."""
    if treedef is None:
        return [tree]
    kind, keys, children = treedef
    if kind is type(None):
        return [] if tree is None else None
    if kind is dict:
        if not isinstance(tree, dict) or tree.keys() != set(keys):
            return None
        parts = [_flatten_as(tree[k], c) for k, c in zip(keys, children, strict=True)]
    else:
        if type(tree) is not kind or len(tree) != len(children):
            return None
        parts = [_flatten_as(t, c) for t, c in zip(tree, children, strict=True)]
    if any(p is None for p in parts):
        return None
    return [leaf for p in parts for leaf in p]


_NONE = (type(None), None, [])  # the structure of an output None: no leaves


def _departure(treedef, tree, name, like):
    """Where `tree` (called `name`) first departs from the structure `treedef` (of `like`), in
    words, for the error `_flatten_as` leads to: "tangents[0] is a dict with keys ['b'], where
    primals[0] is a dict with keys ['a']"."""
    if treedef is None:
        return None
    kind, keys, children = treedef
    if kind is type(None):
        return None if tree is None else _differs(name, tree, like, "None")
    if kind is dict:
        if not isinstance(tree, dict) or tree.keys() != set(keys):
            return _differs(name, tree, like, f"a dict with keys {keys}")
        at = [f"[{k!r}]" for k in keys]
        parts = [tree[k] for k in keys]
    else:
        if type(tree) is not kind or len(tree) != len(children):
            return _differs(name, tree, like, f"a {kind.__name__} of length {len(children)}")
        at, parts = [f"[{i}]" for i in range(len(children))], list(tree)
    for t, c, a in zip(parts, children, at, strict=True):
        found = _departure(c, t, name + a, like + a)
        if found:
            return found
    return None


def _differs(name, tree, like, expected):
    if tree is None:
        given = "None"
    elif isinstance(tree, dict):
        given = f"a dict with keys {list(tree)}"
    elif isinstance(tree, (tuple, list)):
        given = f"a {type(tree).__name__} of length {len(tree)}"
    elif isinstance(tree, (np.ndarray, np.generic, Tracer)):
        given = f"an array of shape {tree.shape}"
    else:
        given = f"a {type(tree).__name__}"
    return f"{name} is {given}, where {like} is {expected}"


def _unflatten(treedef, leaves):
    return _build(treedef, iter(leaves))


def _build(treedef, leaves):
    if treedef is None:
        return next(leaves)
    kind, keys, children = treedef
    if kind is type(None):
        return None
    built = [_build(c, leaves) for c in children]
    if kind is dict:
        return dict(zip(keys, built, strict=True))
    return kind(*built) if hasattr(kind, "_fields") else kind(built)  # (a namedtuple: by field)


def _copied(tree):
    """`tree` with a copy of each of its NumPy arrays, laid out in memory as they are."""
    leaves, treedef = _flatten(tree)
    return _unflatten(treedef, [_copy_laid_out(x) if type(x) is np.ndarray else x for x in leaves])


def _copy_laid_out(x):
    """A copy of the array `x` with its strides, so that its flags (C- or Fortran-contiguous, or
    neither) are those of `x`: np.ravel(x, order="A") and "K" read them."""
    if x.flags.c_contiguous or x.flags.f_contiguous:
        return x.copy(order="K")
    # (a strided view: the same strides into a fresh buffer spanning what they reach)
    low = sum((n - 1) * s for n, s in zip(x.shape, x.strides, strict=True) if s < 0)
    high = sum((n - 1) * s for n, s in zip(x.shape, x.strides, strict=True) if s > 0)
    buffer = np.empty(high - low + x.itemsize, dtype=np.uint8)
    copy = np.ndarray(x.shape, x.dtype, buffer, offset=-low, strides=x.strides)
    copy[...] = x
    return copy


def _is_numbers(x):
    """Whether `x` is a (nested) list of numbers, to be converted with `np.asarray`."""
    if isinstance(x, list):
        return all(_is_numbers(a) for a in x)
    return isinstance(x, (int, float, complex, np.number, np.bool_))


def _is_tree(x):
    return isinstance(x, (tuple, list, dict)) and not (isinstance(x, list) and _is_numbers(x))


def _argnums(argnums, nargs):
    if type(argnums) is int and 0 <= argnums < nargs:
        return (argnums,), False
    multi = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if multi else (argnums,)
    for n in nums:
        if not isinstance(n, (int, np.integer)) or isinstance(n, (bool, np.bool_)):
            raise TypeError(
                f"argnums must be an int or a tuple of ints (positions of arguments), got "
                f"{argnums!r}"
            )
        if not -nargs <= n < nargs:
            raise ValueError(
                f"argnums={argnums!r} is out of range for a function called with {nargs} "
                f"positional argument{'s' * (nargs != 1)} (valid: 0 to {nargs - 1})."
            )
    nums = tuple(int(n) % nargs for n in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"argnums={argnums!r} names an argument twice: give each one once.")
    return nums, multi


def _prepare(x):
    """An input as a float array (integers promoted to float64); tracers are left alone."""
    if isinstance(x, Tracer):
        return live(x)
    if isinstance(x, np.matrix):  # (its * and ** are matrix products; a traced array's are not)
        raise TypeError(
            "an input of type numpy.matrix is refused: its * and ** are matrix products, which a "
            "traced array does not follow (f would compute something else); give np.asarray(x) "
            "and write @ for matrix products."
        )
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return x
    given, x = x, _numeric("an input", np.asarray(x), x)
    if x.dtype.kind != "f":
        if x.dtype.kind == "c":
            raise complex_error(f"a complex input of dtype {x.dtype}")
        x = x.astype(np.float64)
    # a number or a NumPy scalar stays a NumPy scalar, as NumPy computes on it: its arithmetic
    # (** above all) is NumPy's scalar math, not the loops of the ufuncs on 0-d arrays
    return x if x.ndim or isinstance(given, np.ndarray) else x[()]


def _numeric(what, x, given):
    """The array `x` (made from `given`), or a TypeError if it is not made of numbers.

    Complex numbers pass: each caller refuses them with the engine's own message.
    """
    if x.dtype.kind in "fiubc":
        return x
    from .dual import Dual  # (only on this error's path)
    from .value import Value

    if isinstance(given, (Value, Dual)):
        hint = (
            f"calcbook.{type(given).__name__} belongs to a scalar teaching engine, which "
            "differentiates by itself (.backward() for Value, the tangent for Dual); give the "
            "array engine a plain number"
        )
    else:
        hint = "give numbers or a numeric array (np.asarray(x, dtype=float) converts them)"
    if x.dtype == object and not isinstance(given, np.ndarray):
        described = f"of type {type(given).__name__}"
    else:
        described = f"of dtype {x.dtype}"
    raise TypeError(
        f"{what} {described} is not made of real numbers: the array engine differentiates "
        f"floats (integers and booleans are promoted to float64); {hint}."
    )


def _real_like(t, x, what, given):
    """A tangent or cotangent `t` (as `given`) for the real `x`: refused unless real, then cast."""
    if _numeric(f"a {what}", t, given).dtype.kind == "c":
        raise complex_error(f"a complex {what}")
    return t.astype(x.dtype)


def _shape(x):
    return x.shape if isinstance(x, (np.ndarray, np.generic, Tracer)) else np.shape(x)


def _dtype(x):
    if isinstance(x, numbers.Number) and not isinstance(x, (int, float, complex, np.generic)):
        return np.dtype(np.float64)  # (a Fraction, a Decimal: NumPy has no dtype for them)
    dtype = np.result_type(primal(x))
    return dtype if dtype.kind in "fc" else np.dtype(np.float64)


def _zeros_like(x):
    if isinstance(x, np.ndarray) and x.dtype.kind in "fc":
        return np.zeros(x.shape, dtype=x.dtype)
    return np.zeros(np.shape(x), dtype=_dtype(x))


_ONES = {}  # dtype -> the scalar 1 of that dtype (immutable), the seed of a gradient


def _one(dtype):
    one = _ONES.get(dtype)
    if one is None:
        one = _ONES[dtype] = dtype.type(1) if dtype.kind in "fc" else np.float64(1)
    return one


def _zero(x):
    """The derivative 0 for `x`: an array of zeros, or a NumPy scalar for a 0-d `x` (as what a
    nonzero derivative of a 0-d `x` comes out as: NumPy's reductions give scalars)."""
    z = _zeros_like(x)
    return z[()] if not z.ndim else z


def _finish(g, x):
    """A gradient as returned to the user: the shape and dtype of `x`, a writeable array, or a
    NumPy scalar where `x` is 0-d (see `_zero`), whichever rule produced it."""
    if g is None:
        return _zero(x)
    if g.dtype != x.dtype:
        g = g.astype(x.dtype)
    return _writeable(g) if g.ndim else g[()]


def _distinct(arrays, given=()):
    """`arrays`, each one copied where it shares memory with an earlier one or with `given`.

    A rule such as that of `+` passes its cotangent on unchanged, so two gradients (or a gradient
    and the cotangent it was pulled back from) can be one array; an update of one in place
    (`g -= ...`) would change the other.
    """
    seen = {id(a if a.base is None else a.base) for a in given if type(a) is np.ndarray}
    out = []
    for a in arrays:
        if type(a) is np.ndarray:
            key = id(a if a.base is None else a.base)  # (the array that owns the memory)
            if key in seen:
                a = a.copy()
                key = id(a)
            seen.add(key)
        out.append(a)
    return out


def _writeable(a):
    """`a`, or a copy of it where it is a read-only view (a broadcast made by a rule, say)."""
    return a.copy() if type(a) is np.ndarray and not a.flags.writeable else a


def _array_0d(x):
    """Whether the caller gave `x` as a 0-d NumPy array (an array, not a number)."""
    return type(x) is np.ndarray and not x.ndim


def _split(out, level, numbers_only=True):
    """Per output leaf: the value (unwrapped at `level`) and its tracer, or None if constant.

    A tracer of another level is a constant here if its transform still runs (an outer one);
    one whose transform has returned escaped from it (kept in a cache, say) and is refused. So is
    a leaf that is no number (a string, an object), unless `numbers_only` is False (for `grad`,
    which says itself what it needs).
    """
    if isinstance(out, Tracer) and out._level == level:
        return [out._value], [out], None
    leaves, treedef = _flatten(out, lists_of_numbers=False)
    values, boxes = [], []
    for leaf in leaves:
        if isinstance(leaf, Tracer) and leaf._level != level:
            live(leaf)
        elif numbers_only and not isinstance(leaf, Tracer) and not _is_number_like(leaf):
            raise TypeError(
                f"the function returned a value of type {type(leaf).__name__} ({leaf!r:.40}) "
                "among its outputs; a differentiated output must be made of arrays and numbers "
                "(in tuples, lists and dicts). Return other values beside it with has_aux=True: "
                "f returns (output, aux)."
            )
        traced = isinstance(leaf, Tracer) and leaf._level == level
        values.append(leaf._value if traced else leaf)
        boxes.append(leaf if traced else None)
    return values, boxes, treedef


def _is_number_like(x):
    """Whether an untraced output leaf is a number or a numeric array (its derivative is 0)."""
    if isinstance(x, (np.ndarray, np.generic)):
        return x.dtype.kind in "biufc"
    return isinstance(x, numbers.Number)


def _what(value, shape, treedef, name="grad"):
    """Describe an output that `grad` (called as `name`) cannot differentiate, for its error
    message; hvp takes no has_aux to suggest."""
    pair = treedef is not None and treedef[0] in (tuple, list) and len(treedef[2]) == 2
    if pair and name != "hvp":
        return (
            f"a {treedef[0].__name__} of 2 items (if the second is auxiliary data, such as "
            "metrics, pass has_aux=True: f returns (value, aux))"
        )
    if treedef is not None:
        return "a container"
    if shape is None or not shape:  # None, a string, a bool, ...
        of = f" of dtype {value.dtype}" if isinstance(value, np.ndarray) else ""
        return f"a value of type {type(value).__name__}{of}, not a number"
    return f"an array of shape {shape}"


def _with_aux(out, name, level=None):
    """Split the output of an `f` given with `has_aux=True` into `(output, aux)`, the tracers of
    `level` in `aux` replaced by their values: plain results of that transform (a value may be
    a tracer of an outer transform, which keeps differentiating it)."""
    if type(out) in (tuple, list) and len(out) == 2:
        leaves, treedef = _flatten(out[1])
        plain = [a._value if isinstance(a, Tracer) and a._level == level else a for a in leaves]
        return out[0], _unflatten(treedef, plain)
    if type(out) in (tuple, list):
        got = f"a {type(out).__name__} of length {len(out)}"
    elif isinstance(out, (np.ndarray, np.generic, Tracer)):
        got = f"an array of shape {out.shape}"
    else:
        got = f"a value of type {type(out).__name__}"
    raise TypeError(
        f"{name}(f, has_aux=True) requires f to return a pair (output, aux), but it returned "
        f"{got}: return `out, aux` from f, or drop has_aux."
    )


def _trace_reverse(f, args, kwargs, nums):
    """Call `f` with the arguments `nums` wrapped in reverse-mode tracers of a new level.

    Returns the level, the tape, the output of `f` and its differentiated inputs as a triple
    `(xs, places, trees)`: the prepared leaves, their places on the tape, and per argnum None
    (an array) or `(treedef, count)` (a container), `trees` being None when no argnum is one.
    """
    level, tape = new_level(), []
    open_level(level)
    try:  # (an error here or in f: give back what the tape held)
        args = list(args)
        xs, places, trees = [], [], None
        for k, n in enumerate(nums):
            arg = args[n]
            if type(arg) is np.ndarray and arg.dtype.kind == "f":  # the common case
                leaf = LEAF if arg.ndim else LEAF_ARRAY
            elif _is_tree(arg):
                if trees is None:
                    trees = [None] * k
                leaves, treedef = _flatten(arg)
                boxes = [RevTracer.leaf(_prepare(x), level, tape) for x in leaves]
                args[n] = _unflatten(treedef, boxes)
                trees.append((treedef, len(boxes)))
                for box in boxes:
                    xs.append(box._value)
                    places.append(box._index)
                continue
            else:
                leaf = LEAF_ARRAY if _array_0d(arg) else LEAF
                arg = _prepare(arg)
            tape.append(leaf)
            args[n] = RevTracer(arg, level, len(tape) - 1, tape)
            xs.append(arg)
            places.append(len(tape) - 1)
            if trees is not None:
                trees.append(None)
        out = f(*args, **kwargs)
    except BaseException:
        release(level)  # the plain arrays the tape held (see `calcbook.tracing.release`)
        raise
    finally:
        close_level(level)  # (the backward pass records nothing at this level)
    return level, tape, out, (xs, places, trees)


def _pull_back(tape, boxes, cotangents, inputs):
    """Cotangents of the inputs, one tree per argnum, for cotangents of the output leaves."""
    roots, cts = [], []
    for k, b in enumerate(boxes):
        if b is not None:
            roots.append(b._index)
            cts.append(cotangents[k])
    xs, places, trees = inputs
    grads = backward(tape, roots, cts, places) if roots else [None] * len(places)
    for k, g in enumerate(grads):
        x = xs[k]
        if (
            type(g) is not np.ndarray
            or not g.ndim  # (a 0-d array: a NumPy scalar for a 0-d input, as `_zero` gives)
            or (g.dtype is not x.dtype and g.dtype != x.dtype)
            or (g.base is not None and not g.flags.writeable)  # (a view: a broadcast, say)
        ):
            grads[k] = _finish(g, x)  # else it is ready: a writeable array of the input's dtype
    grads = _distinct(grads, cts)  # (which also copies a cotangent passed through unchanged)
    if trees is None:  # one array per argnum
        return grads
    return _group(grads, trees, _unflatten)


def _group(per_leaf, trees, rebuild):
    """Items per input leaf, grouped per argnum: an array's item as it is, the items of a
    container's leaves as `rebuild(treedef, items)`. `trees` has, per argnum, None for an array
    and `(treedef, number of leaves)` for a container (see `_trace_reverse`)."""
    grouped, k = [], 0
    for tree in trees:
        if tree is None:
            grouped.append(per_leaf[k])
            k += 1
        else:
            treedef, count = tree
            grouped.append(rebuild(treedef, per_leaf[k : k + count]))
            k += count
    return grouped


# --- reverse mode -------------------------------------------------------------------------------
def value_and_grad(f, argnums=0, has_aux=False):
    r"""Return a function computing both $f(x)$ and its gradient $\nabla f(x)$.

    Parameters
    ----------
    f : callable
        A function of NumPy arrays returning a scalar (shape `()`).
    argnums : int or tuple of int, default 0
        Which positional argument(s) to differentiate with respect to.
    has_aux : bool, default False
        If True, `f` returns a pair `(value, aux)`: only `value` is differentiated, and `aux`
        (anything: logits, an accuracy, a dict of metrics) comes back as computed, its arrays
        plain (not differentiated by this transform).

    Returns
    -------
    callable
        `(*args, **kwargs) -> (value, gradient)`, where `gradient` has the structure, shape and
        dtype of the differentiated argument, or is a tuple of those when `argnums` is a tuple.
        With `has_aux`: `((value, aux), gradient)`.

    Raises
    ------
    TypeError
        If `f` returns something other than a scalar (use `jacobian` or `vjp` then), or, with
        `has_aux`, something other than a pair.
    ValueError
        If `argnums` is out of range for the arguments given.

    Examples
    --------
    ```python
    import numpy as np
    import calcbook as cb

    value, g = cb.value_and_grad(lambda x: np.sum(x**2))(np.array([1.0, 2.0]))
    assert value == 5.0
    np.testing.assert_allclose(g, [2.0, 4.0])
    ```
    """
    return _value_and_grad_fn(f, argnums, has_aux, "value_and_grad")


def _value_and_grad_fn(f, argnums, has_aux, name):
    """`value_and_grad(f, argnums, has_aux)`, whose errors of `has_aux` name the transform the
    caller called (`grad`, `hessian`)."""
    normalised = {}  # number of arguments -> (argnums as a tuple, whether it was a tuple)

    def value_and_grad_f(*args, **kwargs):
        nums = normalised.get(len(args))
        if nums is None:
            nums = normalised[len(args)] = _argnums(argnums, len(args))
        nums, multi = nums
        level, tape, out, inputs = _trace_reverse(f, args, kwargs, nums)
        try:
            if not has_aux:
                return _value_and_grad(level, tape, out, inputs, multi, name)
            out, aux = _with_aux(out, name, level)
            value, g = _value_and_grad(level, tape, out, inputs, multi, name)
            return (value, aux), g
        finally:
            release(level)

    return value_and_grad_f


def _value_and_grad(level, tape, out, inputs, multi, name="grad"):
    """`value_and_grad` once `f` has been traced: check its output, then pull back 1."""
    if isinstance(out, Tracer) and out._level == level:  # the common case, as `_split`
        value, boxes, treedef = out._value, [out], None
    else:
        values, boxes, treedef = _split(out, level, numbers_only=False)
        if treedef is _NONE:  # (None: not a container for grad's message)
            values, treedef = [None], None
        value = values[0]
    if treedef is None and isinstance(value, (np.ndarray, np.generic, Tracer)):
        shape, dtype = value.shape, value.dtype
    elif treedef is None and isinstance(value, numbers.Number) and type(value) is not bool:
        shape, dtype = (), _dtype(value)
    else:
        shape = dtype = None
    if shape != () or dtype.kind not in "iufc":  # (a bool, a 0-d array of strings, dates)
        raise TypeError(
            f"grad requires a function with a scalar output, but the function returned "
            f"{_what(value, shape, treedef, name)}. For a non-scalar output use cb.jacobian (the "
            "whole Jacobian) or cb.vjp (vector-Jacobian products)."
        )
    grads = _pull_back(tape, boxes, [_ONES.get(dtype) or _one(dtype)], inputs)
    return value, tuple(grads) if multi else grads[0]


def grad(f, argnums=0, has_aux=False):
    r"""Return the gradient function $x \mapsto \nabla f(x)$ of a scalar-valued function.

    Parameters
    ----------
    f : callable
        A function of NumPy arrays returning a scalar (shape `()`).
    argnums : int or tuple of int, default 0
        Which positional argument(s) to differentiate with respect to.
    has_aux : bool, default False
        If True, `f` returns a pair `(value, aux)`; only `value` is differentiated, and the
        gradient function returns `(gradient, aux)` (see `value_and_grad`).

    Returns
    -------
    callable
        A function with the signature of `f` returning the gradient: same shape (and dtype) as
        the argument, `grad(f)(x).shape == x.shape`; a tuple of gradients if `argnums` is a tuple.

    Raises
    ------
    TypeError
        If `f` does not return a scalar.
    ValueError
        If `argnums` is out of range.

    Examples
    --------
    ```python
    import numpy as np
    import calcbook as cb


    def loss(W, x, y):
        p = 1 / (1 + np.exp(-(x @ W)))
        return np.mean((p - y) ** 2)


    rng = np.random.default_rng(0)
    W, x, y = rng.normal(size=3), rng.normal(size=(5, 3)), rng.uniform(size=5)
    g = cb.grad(loss)(W, x, y)
    assert g.shape == W.shape
    p = 1 / (1 + np.exp(-(x @ W)))  # the same gradient by hand
    np.testing.assert_allclose(g, x.T @ (2 * (p - y) * p * (1 - p)) / 5)
    assert cb.grad(cb.grad(np.sin))(1.0) == -np.sin(1.0)
    ```
    """
    return _grad(f, argnums, has_aux, "grad")


def _grad(f, argnums, has_aux, name):
    """`grad(f, argnums, has_aux)`, its errors of `has_aux` naming the transform `name`."""
    value_and_grad_f = _value_and_grad_fn(f, argnums, has_aux, name)
    if has_aux:

        def grad_aux_f(*args, **kwargs):
            (_, aux), g = value_and_grad_f(*args, **kwargs)
            return g, aux

        return grad_aux_f

    def grad_f(*args, **kwargs):
        return value_and_grad_f(*args, **kwargs)[1]

    return grad_f


def vjp(f, *primals, has_aux=False):
    r"""Evaluate `f` and return a function for its vector-Jacobian products $u \mapsto u^\top J$.

    Parameters
    ----------
    f : callable
        A function of NumPy arrays; its output may be an array or a tuple/list/dict of arrays.
    *primals
        The arguments at which to evaluate `f` (all are differentiated).
    has_aux : bool, default False
        If True, `f` returns a pair `(out, aux)`; only `out` is differentiated, and `aux` is
        returned third, its arrays plain.

    Returns
    -------
    out
        `f(*primals)` (its first item with `has_aux`).
    vjp_fn : callable
        `vjp_fn(cotangent)` returns a tuple with one cotangent per primal, each of the primal's
        shape. `cotangent` must have the structure and shapes of `out`. `vjp_fn` keeps the tape
        and can be called any number of times. Changing an array afterwards cannot change its
        result: `f` is evaluated on copies of the primal arrays, and while `vjp_fn` exists the
        other plain arrays the tape reads (constants of `f`) are read-only.
    aux
        Only with `has_aux`: the second item of `f`'s output.

    Raises
    ------
    ValueError
        From `vjp_fn`, if a cotangent's shape differs from the output's (both are named), or
        its structure from the output's (where it departs is named).

    Examples
    --------
    ```python
    import numpy as np
    import calcbook as cb

    A = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    out, vjp_fn = cb.vjp(lambda x: A @ np.sin(x), np.array([0.5, 1.0]))
    (ct,) = vjp_fn(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_allclose(ct, (A[0] - A[2]) * np.cos([0.5, 1.0]))
    ```
    """
    nums = tuple(range(len(primals)))
    primals = tuple(_copied(p) for p in primals)  # (the caller may change theirs later)
    level, tape, out, inputs = _trace_reverse(f, primals, {}, nums)
    try:
        if has_aux:
            out, aux = _with_aux(out, "vjp", level)
        values, boxes, treedef = _split(out, level)
        out_value = _unflatten(treedef, values)
    except BaseException:
        release(level)
        raise

    def vjp_fn(cotangent):
        cts = _flatten_as(cotangent, treedef)
        if cts is None:
            raise ValueError(
                "the cotangent must have the same structure as the output of f: "
                + _departure(treedef, cotangent, "cotangent", "output")
            )
        given, cts = cts, [live(ct) if isinstance(ct, Tracer) else np.asarray(ct) for ct in cts]
        for ct, v, c in zip(cts, values, given, strict=True):
            if not isinstance(ct, Tracer):
                _numeric("a cotangent", ct, c)
            if np.shape(ct) != np.shape(v):
                raise ValueError(
                    f"cotangent shape {np.shape(ct)} does not match the output shape "
                    f"{np.shape(v)} of f; the cotangent must have the output's shape."
                )
            if _is_complex(ct):
                raise complex_error("a complex cotangent")
        return tuple(_pull_back(tape, boxes, cts, inputs))

    weakref.finalize(vjp_fn, release, level)  # the tape's plain arrays, while vjp_fn lives
    if has_aux:
        return out_value, vjp_fn, aux
    return out_value, vjp_fn


# --- forward mode -------------------------------------------------------------------------------
def jvp(f, primals, tangents, has_aux=False):
    r"""Evaluate `f` and its Jacobian-vector product $J v$ in one forward pass.

    This is true forward mode: each operation's JVP rule pushes the tangent along with the value.

    Parameters
    ----------
    f : callable
        A function of NumPy arrays; its output may be an array or a tuple/list/dict of arrays.
    primals : tuple
        The arguments of `f`.
    tangents : tuple
        One tangent per primal, each of the primal's shape.
    has_aux : bool, default False
        If True, `f` returns a pair `(out, aux)`; only `out` is differentiated, and `aux` is
        returned third, its arrays plain.

    Returns
    -------
    out
        `f(*primals)` (its first item with `has_aux`).
    tangent_out
        $J v$, with the structure and shapes of `out`.
    aux
        Only with `has_aux`: the second item of `f`'s output.

    Raises
    ------
    ValueError
        If a tangent's shape differs from its primal's (both are named), or the tangents'
        structure from the primals' (where it departs is named).
    TypeError
        If a tangent is not made of real numbers (a string, None).

    Examples
    --------
    ```python
    import numpy as np
    import calcbook as cb

    x, v = np.array([0.0, 1.0]), np.array([1.0, 2.0])
    y, dy = cb.jvp(np.exp, (x,), (v,))
    np.testing.assert_allclose(dy, np.exp(x) * v)
    ```
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp takes primals and tangents as tuples: jvp(f, (x,), (v,))")
    p_leaves, p_def = _flatten(tuple(primals))
    t_leaves = _flatten_as(tuple(tangents), p_def)
    if t_leaves is None:
        raise ValueError(
            "the tangents must have the same structure as the primals: "
            + _departure(p_def, tuple(tangents), "tangents", "primals")
        )
    level = new_level()
    try:
        boxes = []
        for k, x in enumerate(p_leaves):
            box = FwdArrayInput if _array_0d(x) else FwdInput
            x, t = _prepare(x), t_leaves[k]
            t = live(t) if isinstance(t, Tracer) else _numeric("a tangent", np.asarray(t), t)
            if t.shape != x.shape:
                raise ValueError(
                    f"tangent shape {t.shape} does not match primal shape {x.shape}; "
                    "each tangent must have the shape of its primal."
                )
            if t.dtype != x.dtype:
                t = _real_like(t, x, "tangent", t_leaves[k])
            boxes.append(box(x, level, t))
        out = f(*_unflatten(p_def, boxes))
    finally:
        close_level(level)
    if has_aux:
        out, aux = _with_aux(out, "jvp", level)
        return (*_jvp_out(out, level, t_leaves), aux)
    return _jvp_out(out, level, t_leaves)


def _jvp_out(out, level, t_leaves):
    """The output of `jvp`'s `f` (traced at `level`) and its tangents, unwrapped."""
    if isinstance(out, FwdTracer) and out._level == level:  # the common case, as `_split`
        return out._value, _distinct([_tangent_out(out._tangent, out._value)], t_leaves)[0]
    values, out_boxes, treedef = _split(out, level)
    tangents_out = [
        _zero(v) if b is None else _tangent_out(b._tangent, v)
        for v, b in zip(values, out_boxes, strict=True)
    ]
    tangents_out = _distinct(tangents_out, t_leaves)
    return _unflatten(treedef, values), _unflatten(treedef, tangents_out)


def _tangent_out(t, v):
    """The tangent of an output `v`, in `v`'s dtype (a float32 input combined with a float64
    constant gives a float64 result, whose tangent some rules leave in float32)."""
    dtype = np.result_type(primal(v))
    if np.result_type(primal(t)) != dtype:
        t = t.astype(dtype)
    return _writeable(t)


def _chunks(flat, like):
    """`flat` cut into lists of the lengths of the lists of `like`."""
    it = iter(flat)
    return [[next(it) for _ in part] for part in like]


def _per_output(out_def, per_arg, multi):
    """Arrange Jacobian blocks: the output's structure, with a tuple over argnums at each leaf."""
    if not multi:
        return _unflatten(out_def, per_arg[0])
    if not per_arg:  # argnums=(): an empty tuple of blocks at each output
        return _unflatten(out_def, [()] * _leaves(out_def))
    return _unflatten(out_def, [tuple(blocks) for blocks in zip(*per_arg, strict=True)])


def _leaves(treedef):
    """The number of leaves a structure described by `_flatten` holds."""
    return 1 if treedef is None else sum(_leaves(c) for c in treedef[2])


def _forward_blocks(f, args, kwargs, inputs, has_aux=False):
    """Jacobian blocks of `f`, per input leaf a list over the output leaves, in one forward pass.

    `inputs` lists `(n, treedef, leaves)` for each argument `n` differentiated (treedef None for
    an array). Every leaf is traced at once, with a batch of `N` tangents (N the total size of
    the leaves): leaf k's are the identity basis in its rows of the batch, zero in the others. So
    NumPy dispatches on every differentiated argument, as in reverse mode. Returns the blocks,
    the output's structure and, with `has_aux`, the aux output (else None).
    """
    xs = [_prepare(x) for _, _, leaves in inputs for x in leaves]
    sizes = [int(np.size(x)) for x in xs]
    ends = np.cumsum([0, *sizes]).tolist()
    level, k = new_level(), 0
    try:
        a = list(args)
        for n, treedef, leaves in inputs:
            boxed = []
            for leaf in leaves:
                basis = np.zeros((ends[-1], sizes[k]), dtype=xs[k].dtype)
                basis[ends[k] : ends[k + 1]] = np.eye(sizes[k], dtype=xs[k].dtype)
                box = FwdArrayInput if _array_0d(leaf) else FwdInput
                boxed.append(box(xs[k], level, basis.reshape((ends[-1], *np.shape(xs[k])))))
                k += 1
            a[n] = boxed[0] if treedef is None else _unflatten(treedef, boxed)
        out = f(*a, **kwargs)
    finally:
        close_level(level)
    aux = None
    if has_aux:
        out, aux = _with_aux(out, "jacfwd", level)
    values, boxes, out_def = _split(out, level)
    per_leaf = [[] for _ in xs]
    for v, b in zip(values, boxes, strict=True):
        v_shape = np.shape(v)
        for k, x in enumerate(xs):
            if b is None:
                per_leaf[k].append(np.zeros(v_shape + np.shape(x), dtype=x.dtype))
                continue
            rows = np.moveaxis(b._tangent[ends[k] : ends[k + 1]], 0, -1)
            # (in the input's dtype, as jacrev's: derivatives have the input's dtype)
            block = np.reshape(rows, v_shape + np.shape(x)).astype(x.dtype, copy=False)
            per_leaf[k].append(_writeable(block))
    return per_leaf, out_def, aux


def _regroup(per_arg, trees, outputs):
    """Jacobian blocks per input leaf (a list over the outputs each), regrouped per argnum: a
    container's blocks in its structure at every output leaf, as in JAX."""
    if all(t is None for t in trees):
        return per_arg
    return _group(
        per_arg,
        trees,
        lambda treedef, leaves: [
            _unflatten(treedef, [b[j] for b in leaves]) for j in range(outputs)
        ],
    )


def jacfwd(f, argnums=0, has_aux=False):
    r"""Return the Jacobian function of `f`, computed in forward mode.

    One forward pass pushes a batch of tangents, the whole identity basis of the input, through
    `f`; the JVP rules work on batched tangents, so this costs one pass, not `x.size` passes.
    With several arguments (or a container) the pass carries the basis of all of them, each
    argument's tangents zero in the others' part of the batch, as in JAX.

    Parameters
    ----------
    f : callable
        A function of NumPy arrays returning an array (or a tuple/list/dict of arrays).
    argnums : int or tuple of int, default 0
        The argument(s) to differentiate: arrays, numbers, or tuples/lists/dicts of them.
    has_aux : bool, default False
        If True, `f` returns a pair `(out, aux)`; only `out` is differentiated, and the Jacobian
        function returns `(jacobian, aux)`, the arrays of `aux` plain.

    Returns
    -------
    callable
        A function returning the Jacobian of shape `f(x).shape + x.shape` and the dtype of `x`
        (with a tuple over `argnums` when it is a tuple). For a container `x`, each output
        leaf gets `x`'s structure, with the block `out.shape + leaf.shape` at each of its leaves.

    Examples
    --------
    ```python
    import numpy as np
    import calcbook as cb

    x = np.array([1.0, 2.0, 3.0])
    J = cb.jacfwd(lambda x: x[:2] * x[1:])(x)
    np.testing.assert_allclose(J, [[2.0, 1.0, 0.0], [0.0, 3.0, 2.0]])
    ```
    """

    def jacfwd_f(*args, **kwargs):
        nums, multi = _argnums(argnums, len(args))
        inputs = []
        for n in nums:  # (a container: all of its leaves, in its structure)
            leaves, treedef = _flatten(args[n]) if _is_tree(args[n]) else ([args[n]], None)
            inputs.append((n, treedef, leaves))
        trees = [None if td is None else (td, len(leaves)) for _, td, leaves in inputs]
        per_arg, out_def, aux = [], None, None
        if any(leaves for _, _, leaves in inputs):
            per_arg, out_def, aux = _forward_blocks(f, args, kwargs, inputs, has_aux)
        if out_def is None:  # (argnums=() or only empty containers: the output's structure)
            out = f(*args, **kwargs)
            if has_aux:
                out, aux = _with_aux(out, "jacfwd")
            out_def = _flatten(out, lists_of_numbers=False)[1]
        if per_arg:
            per_arg = _chunks(_distinct([b for blocks in per_arg for b in blocks]), per_arg)
        jac = _per_output(out_def, _regroup(per_arg, trees, _leaves(out_def)), multi)
        return (jac, aux) if has_aux else jac

    return jacfwd_f


def jacrev(f, argnums=0, has_aux=False):
    r"""Return the Jacobian function of `f`, computed in reverse mode.

    One forward pass records the tape; then one backward walk per output element reuses it.

    Parameters
    ----------
    f : callable
        A function of NumPy arrays returning an array (or a tuple/list/dict of arrays).
    argnums : int or tuple of int, default 0
        The argument(s) to differentiate: arrays, numbers, or tuples/lists/dicts of them.
    has_aux : bool, default False
        If True, `f` returns a pair `(out, aux)`; only `out` is differentiated, and the Jacobian
        function returns `(jacobian, aux)`, the arrays of `aux` plain.

    Returns
    -------
    callable
        A function returning the Jacobian of shape `f(x).shape + x.shape` and the dtype of `x`
        (with a tuple over `argnums` when it is a tuple). For a container `x`, each output
        leaf gets `x`'s structure, with the block `out.shape + leaf.shape` at each of its leaves.

    Examples
    --------
    ```python
    import numpy as np
    import calcbook as cb

    x = np.array([1.0, 2.0, 3.0])
    J = cb.jacrev(lambda x: x[:2] * x[1:])(x)
    np.testing.assert_allclose(J, [[2.0, 1.0, 0.0], [0.0, 3.0, 2.0]])
    assert cb.jacobian is cb.jacrev
    ```
    """

    def jacrev_f(*args, **kwargs):
        nums, multi = _argnums(argnums, len(args))
        level, tape, out, inputs = _trace_reverse(f, args, kwargs, nums)
        try:
            if not has_aux:
                return _jacrev(level, tape, out, inputs, multi)
            out, aux = _with_aux(out, "jacrev", level)
            return _jacrev(level, tape, out, inputs, multi), aux
        finally:
            release(level)

    return jacrev_f


def _jacrev(level, tape, out, inputs, multi):
    """`jacrev` once `f` has been traced: one backward pass per entry of the output."""
    values, boxes, out_def = _split(out, level)
    xs, places, trees = inputs
    leaves = (xs, places, None)  # (cotangents per input leaf; containers regrouped at the end)
    zeros = [_zeros_like(v) for v in values]
    per_arg = [[] for _ in xs]
    for k, v in enumerate(values):
        rows = []
        for j in range(int(np.size(v))):
            onehot = np.zeros(np.size(v), dtype=zeros[k].dtype)
            onehot[j] = 1
            cts = zeros[:k] + [onehot.reshape(np.shape(v))] + zeros[k + 1 :]
            rows.append(_pull_back(tape, boxes, cts, leaves))
        for i, x in enumerate(xs):
            shape = np.shape(v) + np.shape(x)
            if rows:
                per_arg[i].append(np.reshape(np.stack([r[i] for r in rows]), shape))
            else:
                per_arg[i].append(np.zeros(shape, dtype=_dtype(x)))
    return _per_output(out_def, _regroup(per_arg, trees or [], len(values)), multi)


jacobian = jacrev


def hessian(f, argnums=0, has_aux=False):
    r"""Return the Hessian function of a scalar-valued `f`: forward-over-reverse, `jacfwd(grad(f))`.

    Parameters
    ----------
    f : callable
        A function of NumPy arrays returning a scalar.
    argnums : int or tuple of int, default 0
        The argument(s) to differentiate.
    has_aux : bool, default False
        If True, `f` returns a pair `(value, aux)`; the Hessian function returns
        `(hessian, aux)`, the arrays of `aux` plain.

    Returns
    -------
    callable
        A function returning the Hessian, of shape `x.shape + x.shape`
        (nested tuples of blocks `H[i][j]` when `argnums` is a tuple; for a container `x`,
        nested containers of blocks: `H["W"]["b"]` has the shape `W.shape + b.shape`).

    Examples
    --------
    ```python
    import numpy as np
    import calcbook as cb

    H = cb.hessian(lambda x: x[0] ** 2 * x[1])(np.array([1.0, 2.0]))
    np.testing.assert_allclose(H, [[4.0, 2.0], [2.0, 0.0]])
    ```
    """
    return jacfwd(_grad(f, argnums, has_aux, "hessian"), argnums, has_aux)


def hvp(f, x, v):
    r"""Hessian-vector product $\nabla^2 f(x)\, v$ without forming the Hessian.

    Computed forward-over-reverse, `jvp(grad(f), (x,), (v,))`: about the cost of two gradients.

    Parameters
    ----------
    f : callable
        A scalar-valued function of one array (or of one tuple/list/dict of arrays).
    x : array_like
        The point.
    v : array_like
        The direction, of the shape (or structure) of `x`.

    Returns
    -------
    ndarray
        $\nabla^2 f(x)\, v$, of the shape (or structure) of `x`.

    Raises
    ------
    ValueError
        If the shape (or structure) of `v` differs from that of `x` (both are named).
    TypeError
        If `f` does not return a scalar, or `v` is not made of real numbers.

    Examples
    --------
    ```python
    import numpy as np
    import calcbook as cb

    x, v = np.array([1.0, 2.0]), np.array([1.0, -1.0])
    f = lambda x: x[0] ** 2 * x[1]
    np.testing.assert_allclose(cb.hvp(f, x, v), cb.hessian(f)(x) @ v)
    ```
    """
    x_leaves, x_def = _flatten(x) if _is_tree(x) else ([x], None)
    v_leaves = _flatten_as(v, x_def)
    if v_leaves is None:
        raise ValueError(f"hvp: v must have the structure of x: {_departure(x_def, v, 'v', 'x')}")
    for a, b in zip(x_leaves, v_leaves, strict=True):
        if not isinstance(a, Tracer):
            _numeric("an input", np.asarray(a), a)
        if not isinstance(b, Tracer):
            _numeric("hvp: v, a tangent,", np.asarray(b), b)
        if _shape(b) != _shape(a):
            raise ValueError(
                f"hvp: v has shape {_shape(b)} but x has shape {_shape(a)}; v is a direction "
                "at x, of x's shape."
            )
    return jvp(_grad(f, 0, False, "hvp"), (x,), (v,))[1]
