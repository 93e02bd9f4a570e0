r"""The array differentiation engine: traced arrays, nesting levels, the tape and the backward walk.

How it works, in five sentences.

1. Every call of a transform (`grad`, `vjp`, `jvp`, `jacfwd`, ...) opens a new **level**, an
   integer that is larger for transforms opened later, hence for inner (nested) ones.
2. Its inputs are wrapped in a **tracer** ("box") of that level: a `RevTracer` carries its
   place on the level's tape (reverse mode), a `FwdTracer` carries a tangent (forward mode).
   The primal value `_value` inside a box may itself be a box of an outer level.
3. NumPy hands every operation on a box to the box (`__array_ufunc__`, `__array_function__` and
   the Python operators), and all of them end in `apply(primitive, *args)`: it finds the box of
   the highest level among the arguments, whose `_lift` unwraps the boxes of that level, calls
   the primitive on the unwrapped values (which dispatches again if those are boxes of an outer
   level) and wraps the result at that level, with a tape entry or with a tangent computed by the
   primitive's JVP rule. Arguments that are not boxes of that level are constants there. (The
   operators and one- or two-argument ufuncs go straight to `_lift1` / `_lift2`, the same steps
   written out for one or two arguments: the hot path. A ufunc called there on values that are
   boxes of an outer level goes straight to their `_lift1` / `_lift2` as well.)
4. Each reverse level records one entry per operation on a **tape**, a list in recording
   order, which is a topological order; an entry names its parents by their places on the tape.
   `backward` loops over the tape in reverse (no recursion: a chain of $10^5$ operations is
   fine), keeping one cotangent per entry and releasing it as soon as the entry has passed it
   on. Nothing refers back from an entry to its box or tape and no rule is a closure stored on
   its entry, so there are no reference cycles: the tape and its intermediate arrays are freed
   by reference counting as soon as the transform returns. An entry keeps only
   what its primitive's VJP rules read (`ARGS_ONLY`, `ANS_ONLY`, `SHAPES_ONLY`, `READS`,
   `SHAPE_OF_ARGS` below), so an intermediate that no rule needs, such as a layer's
   pre-activation, the `s` of `3 * s` or what `np.sum` reduced, is freed even sooner.
5. The derivative rules live in a separate table (`calcbook.rules`) and are written with ordinary
   NumPy calls, so when the values they see are boxes of an outer level the rules are traced
   themselves: this is how `grad(grad(f))`, `jacfwd(grad(f))` and nested closures work.

Forward-mode tangents may carry leading **batch** axes: a tangent has shape
`batch_shape + primal.shape`, with `batch_shape == ()` for `jvp` and `(n,)` for `jacfwd`, which
pushes a whole identity matrix of tangents through the function in one pass.
"""

from __future__ import annotations

import itertools
import math
from operator import attrgetter

import numpy as np

__all__ = [
    "FwdArrayInput",
    "FwdInput",
    "FwdTracer",
    "JVP_BOTH",
    "LEAF",
    "LEAF_ARRAY",
    "READS",
    "RESIDUALS",
    "RevTracer",
    "SHAPE_OF_ARGS",
    "Shape",
    "Tracer",
    "apply",
    "backward",
    "complex_error",
    "hold",
    "live",
    "mark_view",
    "new_level",
    "open_level",
    "primal",
    "release",
    "unbroadcast",
]

# The tables filled in by `calcbook.rules`. The engine only reads them.
VJP_RULES: dict = {}  # primitive -> tuple with one rule per argument: rule(g, ans, *args, **params)
JVP_RULES: dict = {}  # primitive -> tuple of per-argument rules, or one rule(tangents, ans, *args)
BROADCASTING: set = set()  # elementwise primitives: cotangents are unbroadcast, tangents lifted
# Binary elementwise primitives whose tangent, where both arguments carry one, is one expression
# cheaper than the sum of the two per-argument terms: rule(tx, ty, ans, x, y) (`x - y`: tx - ty)
JVP_BOTH: dict = {}
UFUNCS: dict = {}  # numpy ufunc -> primitive
FUNCTIONS: dict = {}  # numpy function -> adapter called with the user's arguments
NONDIFF: set = set()  # numpy functions and ufuncs that see primal values and return constants
HINTS: dict = {}  # unsupported numpy function -> what to use instead
# generalised ufunc -> handler(ufunc, inputs, kwargs) of a call with `axes=` (core axes placed)
CORE_AXES: dict = {}
# What a primitive's VJP rules read, for the primitives whose rules read less than everything;
# the tape keeps only that, so intermediates no rule needs (the pre-activations `x @ W` and
# `x @ W + b` of a layer, say) are freed during the forward pass, as hand-written code frees them.
ARGS_ONLY: set = set()  # the rules read the arguments, never the result `ans`
ANS_ONLY: set = set()  # one-argument elementwise: the rules read `ans`, never the argument
SHAPES_ONLY: set = set()  # elementwise, rules read no values: keep only broadcast operands
# Binary elementwise primitives: per argument, what its rule reads of `(x, y, ans)`, three bools.
# The tape keeps what the rules of the traced arguments read: of `x * c` only c, of `x / c` only c,
# of `x ** c` x and c but not the result, of `c ** x` c and the result but not x.
READS: dict = {}
# one argument, whose rules read its shape and dtype alone (`np.sum`): the tape keeps a `Shape`
SHAPE_OF_ARGS: set = set()
# Fused functions (`calcbook.rules.fused`): they return `(value, residuals)` and the tape keeps
# the residuals in place of `ans` (what the forward pass computed and the VJP rules reuse).
RESIDUALS: set = set()

_OUT_AT = {np.round: 2, np.around: 2, np.fix: 1}  # where `out` is, given by position
# Plain arrays whose values a tape reads in the backward pass (the constant factor of `x * c`, the
# index array of `x[idx]`) are made read-only until the transform that recorded them is done, so
# that changing one after its use raises NumPy's "assignment destination is read-only" instead of
# giving a gradient computed from the new values.
_HELD: dict = {}  # id(array) -> [array, number of holds]
# The levels of the reverse-mode transforms running now (`open_level`), each with the `_HELD`
# entries of the arrays its tape holds, one per hold
_HOLDERS: dict = {}
_levels = itertools.count(1)
# The levels whose transform is still running, from `new_level` to `close_level`: a tracer of any
# other level escaped from the function its transform differentiated, and refuses to be used
_LIVE: set = set()
_NO_PARAMS: dict = {}  # shared by all leaves; never modified
LEAF = (None, (), _NO_PARAMS, None, ())  # the tape entry of an input: no primitive, no parents
# The entry of an input that was a 0-d NumPy array (not a number), which `x += 1` must not rebind
LEAF_ARRAY = (None, (), _NO_PARAMS, None, ())


def identity(g, ans, *args, **params):
    """The rule `g -> g` (of `+`, for instance): the engine skips calling it."""
    return g


def new_level() -> int:
    """Return a fresh trace level, larger than every level handed out before.

    Returns
    -------
    int
        The level; a transform opened inside another one gets a larger level.

    Examples
    --------
    ```python
    from calcbook.tracing import new_level

    outer = new_level()
    assert new_level() > outer
    ```
    """
    level = next(_levels)
    _LIVE.add(level)
    return level


def close_level(level):
    """Note that the transform of `level` has returned: its tracers may no longer be used."""
    _LIVE.discard(level)


def live(tracer):
    """Return `tracer`, or raise if its transform has returned (it escaped from its function)."""
    if tracer._level not in _LIVE:
        raise _escaped(tracer)
    return tracer


def _escaped(tracer) -> TracerError:
    return TracerError(
        f"a traced array (shape {np.shape(primal(tracer))}) was used after the transform that "
        "traced it (grad, vjp, jvp, jacfwd, ...) had returned: it escaped from the function being "
        "differentiated (kept in a list, a global, an attribute or a closure), and whatever is "
        "computed from it would have no derivative. Return what you need from that function "
        "instead (calcbook.tracing.primal(x) gives a traced array's plain value)."
    )


def primal(x):
    """Return the plain value under all tracers of `x` (non-tracers are returned unchanged).

    Parameters
    ----------
    x : object
        A tracer (of any level, possibly nested) or anything else.

    Returns
    -------
    object
        The innermost value: no derivative flows through it.

    Examples
    --------
    ```python
    import numpy as np
    from calcbook.tracing import RevTracer, new_level, primal

    x = RevTracer.leaf(np.array([1.0, 2.0]), new_level(), [])
    np.testing.assert_array_equal(primal(np.exp(x)), np.exp([1.0, 2.0]))
    assert primal(3.0) == 3.0
    ```
    """
    while isinstance(x, Tracer):
        x = x._value
    return x


def _primal_tree(x):
    if isinstance(x, Tracer):
        return primal(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_primal_tree(a) for a in x)
    if isinstance(x, dict):
        return {k: _primal_tree(v) for k, v in x.items()}
    return x


def _fullname(fun) -> str:
    if isinstance(fun, np.ufunc):
        return f"numpy.{fun.__name__}"
    module = getattr(fun, "__module__", None) or "numpy"
    return f"{module}.{getattr(fun, '__name__', repr(fun))}"


class TracerError(TypeError):
    """A traced array was used in a way that would lose or corrupt its derivative."""


# What to use instead of the methods of ufuncs (`np.add.reduce`, ...), which have no rules
_METHOD_HINTS = {
    ("add", "reduce"): "Use np.sum.",
    ("multiply", "reduce"): "Use np.prod.",
    ("maximum", "reduce"): "Use np.max.",
    ("minimum", "reduce"): "Use np.min.",
    ("add", "accumulate"): "Use np.cumsum.",
    ("multiply", "outer"): "Use np.outer.",
}


def unsupported(fun, detail: str = "") -> NotImplementedError:
    """Build the error raised for a NumPy function that has no derivative rule."""
    from .rules import supported  # the list is computed from the rule table

    name = _fullname(fun)
    hint = HINTS.get(fun, "")
    if detail == ".outer" and not hint:
        hint = _METHOD_HINTS.get((fun.__name__, "outer")) or (
            f"Broadcast instead: np.{fun.__name__}(a[..., None], b)."
        )
    elif detail in (".reduce", ".accumulate", ".reduceat"):
        hint = _METHOD_HINTS.get((fun.__name__, detail[1:]), "") or (
            "Use the reductions np.sum, np.prod, np.max, np.min, np.cumsum, or a loop."
        )
    return NotImplementedError(
        f"{name}{detail} is not supported on traced arrays by calcbook's differentiation engine."
        + (f" {hint}" if hint else "")
        + " If no derivative is needed through it, apply it to values outside the differentiated"
        + " function. Supported NumPy functions: "
        + ", ".join(supported())
        + "."
    )


def complex_error(what: str) -> NotImplementedError:
    """The error for complex numbers: the derivative rules are written for real arrays."""
    return NotImplementedError(
        f"{what}: complex numbers are not supported by calcbook's differentiation engine, whose "
        "derivative rules are written for real arrays. Carry the real and imaginary parts as two "
        "real arrays instead."
    )


_ARRAYS = (np.ndarray, np.generic)


def _is_complex(c):
    return type(c) is complex or (isinstance(c, _ARRAYS) and c.dtype.kind == "c")


# NumPy functions whose adapters call the user's functions: a refusal is not retried on plain values
CALLS_BACK: set = set()


def _refusal(func, args, kwargs, error):
    """The error to raise where the adapter of `func` refused its arguments with `error`.

    Bad input should be refused as NumPy refuses it, with NumPy's error and message, not with
    one from inside the adapter (whose reshapes and concatenations the user never wrote). So
    `func` is called on the plain values: if NumPy refuses them too, its error is the one to
    raise (naming the arguments' shapes where its message gives only sizes); if NumPy accepts
    them, the refusal is calcbook's own (a traced array used where NumPy converts it, say) and
    `error` stands. Not retried: calcbook's own errors, functions that call the user's
    functions (`CALLS_BACK`), and calls with an `out` array that NumPy would write into.
    """
    if isinstance(error, TracerError) or func in CALLS_BACK or kwargs.get("out") is not None:
        return error
    try:
        func(*_primal_tree(args), **_primal_tree(kwargs))
    except (ValueError, TypeError, IndexError) as numpy_error:
        message = str(numpy_error)
        if type(numpy_error) is ValueError and "mismatch in its core dimension" in message:
            shapes = [str(np.shape(a)) for a in _primal_tree(args) if _is_array(a)]
            shapes = ", ".join(shapes[:-1]) + " and " + shapes[-1] if len(shapes) > 1 else shapes
            return ValueError(f"{message}: the arguments have shapes {shapes}")
        return numpy_error
    except Exception:  # noqa: BLE001 - (any other failure of NumPy's: the adapter's error stands)
        return error
    return error


def _function(func, *args, **kwargs):
    """`func(*args, **kwargs)` by its adapter (for the ndarray methods), refused as NumPy does."""
    try:
        return FUNCTIONS[func](*args, **kwargs)
    except (ValueError, TypeError, IndexError) as error:
        raise _refusal(func, args, kwargs, error) from None


def _is_array(a):
    return isinstance(a, (np.ndarray, np.generic, list))


def _set(name):
    instead = "x = x.reshape(shape)" if name == "shape" else "x = x.astype(dtype)"
    raise TracerError(
        f"setting x.{name} would change a traced array in place, which would corrupt its "
        f"derivative: make a new one, {instead}"
    )


def _mutation_error(what: str) -> TracerError:
    return TracerError(
        f"{what} would modify a traced array in place, which would corrupt its derivative. "
        "Build a new array instead, e.g. np.where(mask, new, x) or np.concatenate(...)."
    )


def _conversion_error(what: str, tracer) -> TracerError:
    if tracer._level not in _LIVE:
        return _escaped(tracer)
    return TracerError(
        f"{what} of a traced array: its value is being differentiated (inside grad, vjp, jvp, "
        "jacobian, hessian, ...), and converting it to a plain NumPy array or Python number would "
        "silently drop its derivative. Keep using NumPy functions on it (np.sum, np.exp, @, "
        "indexing, ...); use np.stack/np.concatenate instead of np.array([...]). "
        "(A plain array's method a.dot(x) converts x too: write a @ x or np.dot(a, x). So does "
        "a NumPy function given a traced value only in an argument it does not dispatch on, its "
        "array being plain: np.pad's constant_values, np.select's default, np.interp's left "
        "and right, np.nan_to_num's nan, ...; differentiate with respect to the array too, "
        "argnums=(0, 1), as the FAQ shows.)"
    )


def open_level(level):
    """Note that the reverse-mode transform of `level` runs: its tape may hold arrays."""
    _HOLDERS[level] = []


def hold(level, c):
    """Make the plain array `c` read-only while the tape of `level` reads it."""
    held = _HOLDERS.get(level)
    if held is None:  # a level no transform opened (a tape built by hand): nothing to give back
        return
    entry = _HELD.get(id(c))
    if entry is None:
        # (only arrays that own their memory: a view's flag could not always be given back, and
        # one that is read-only already has nothing to give back)
        if c.base is not None or not c.flags.writeable:
            return
        c.setflags(False)  # (write=False: positional, a third of the cost)
        entry = _HELD[id(c)] = [c, 0]
    entry[1] += 1
    held.append(entry)


def release(level):
    """Give write access back to the plain arrays the tape of `level` held (see `_HELD`)."""
    for entry in _HOLDERS.pop(level, ()):
        entry[1] -= 1
        if not entry[1]:
            c = entry[0]
            del _HELD[id(c)]
            c.setflags(True)  # (write=True)


def apply(prim, *args, **params):
    """Apply `prim` to `args`, tracing it at the highest level found among the arguments.

    Parameters
    ----------
    prim : callable
        A primitive of the rule table (a NumPy ufunc or function, or a calcbook primitive).
    *args
        Array arguments; tracers among them are differentiated, everything else is a constant.
    **params
        Static (non-differentiable) parameters such as `axis`, passed through unchanged.

    Returns
    -------
    The result, wrapped in a tracer of the highest level among the arguments (or plain if none).

    Examples
    --------
    ```python
    import numpy as np
    from calcbook.tracing import apply

    assert apply(np.add, 1.0, 2.0) == 3.0  # no tracer: just the primitive
    ```
    """
    if len(args) == 1:  # the common case of one array argument
        x = args[0]
        return x._lift1(prim, params) if isinstance(x, Tracer) else prim(x, **params)
    top = None
    for a in args:
        if isinstance(a, Tracer) and (top is None or a._level > top._level):
            top = a
    if top is None:
        return prim(*args, **params)
    if len(args) == 2 and not params:  # the hot path of two arguments
        return top._lift2(prim, *args)
    return top._lift(prim, args, params)


class Tracer:
    """Base class of the traced array types: NumPy dispatch and Python operators."""

    # `_shared` is set on a view and on the array it views (`mark_view`): NumPy would let an
    # in-place update of either reach the other, so `x op= ...` refuses both
    __slots__ = ("_value", "_level", "_shared", "__weakref__")
    __array_priority__ = 1000.0

    # --- what NumPy calls -------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and not kwargs:
            prim = UFUNCS.get(ufunc)
            if prim is not None:
                n = len(inputs)
                if n == 1:  # then `self` is the input
                    return self._lift1(prim)
                if n == 2:
                    return self._lift2(prim, *inputs)  # `self` is one of them
                return apply(prim, *inputs)
        if method == "__call__" and ufunc in CORE_AXES and kwargs.get("axes") is not None:
            return CORE_AXES[ufunc](ufunc, inputs, kwargs)
        if method == "__call__" and ufunc in FUNCTIONS:  # a generalised ufunc, composed (vecdot)
            try:
                return FUNCTIONS[ufunc](*inputs, **kwargs)
            except (ValueError, TypeError, IndexError) as error:
                raise _refusal(ufunc, inputs, kwargs, error) from None
        if "where" in kwargs and method == "__call__" and ufunc not in NONDIFF:
            raise NotImplementedError(
                f"{_fullname(ufunc)}(..., where=mask) is not supported on traced arrays: NumPy "
                "leaves the entries the mask does not select uninitialised, or with out= as they "
                f"were, in place; write np.where(mask, {_fullname(ufunc)}(...), fallback) instead."
            )
        out = kwargs.get("out")
        if out is not None:
            if not any(isinstance(o, Tracer) for o in out):  # `plain += traced`, say
                raise TracerError(
                    f"{_fullname(ufunc)}(..., out=plain) would store a traced result in a plain "
                    "array, dropping its derivative (as plain += traced does): write "
                    "plain = plain + traced, a new traced array, instead."
                )
            raise _mutation_error(f"{_fullname(ufunc)}(..., out=...)")
        if method == "at":
            raise _mutation_error(f"{_fullname(ufunc)}.at")
        if ufunc in NONDIFF and method == "__call__":
            return ufunc(*_primal_tree(inputs), **kwargs)
        if method != "__call__":
            raise unsupported(ufunc, f".{method}")
        if ufunc in UFUNCS and kwargs.keys() == {"dtype"}:  # computed in that dtype
            want = ufunc(*_primal_tree(inputs), **kwargs).dtype  # (NumPy's checks of the casts)
            cast = [
                x.astype(want) if isinstance(x, Tracer) else np.asarray(x).astype(want)
                for x in inputs
            ]
            return ufunc(*cast)
        if ufunc in UFUNCS:
            raise NotImplementedError(
                f"{_fullname(ufunc)} on traced arrays takes no keyword arguments but dtype, "
                f"got {sorted(kwargs)}; use np.where for masks."
            )
        raise unsupported(ufunc)

    def __array_function__(self, func, types, args, kwargs):
        adapter = FUNCTIONS.get(func)
        if adapter is not None:
            try:
                return adapter(*args, **kwargs)
            except (ValueError, TypeError, IndexError) as error:  # (free when nothing is raised)
                raise _refusal(func, args, kwargs, error) from None
        if func in NONDIFF:
            k = _OUT_AT.get(func, len(args))
            out = kwargs.get("out", args[k] if len(args) > k else None)
            if isinstance(out, Tracer):  # (into a plain array is fine: the result is a constant)
                raise _mutation_error(f"{_fullname(func)}(..., out=...)")
            return func(*_primal_tree(args), **_primal_tree(kwargs))
        raise unsupported(func)

    def __array__(self, dtype=None, copy=None):
        raise _conversion_error("numpy.asarray / numpy.array", self)

    def __float__(self):
        raise _conversion_error("float()", self)

    def __int__(self):
        raise _conversion_error("int()", self)

    def __complex__(self):
        raise _conversion_error("complex()", self)

    def item(self, *args):
        raise _conversion_error(".item()", self)

    def tolist(self):
        raise _conversion_error(".tolist()", self)

    def __bool__(self):  # control flow on values is fine: it has no derivative to lose
        return bool(primal(self))

    # --- read-only attributes (not traced) --------------------------------------------------
    # (setting x.shape or x.dtype changes the array in place, as NumPy does: refused too)
    shape = property(attrgetter("_value.shape"), lambda self, v: _set("shape"))
    ndim = property(attrgetter("_value.ndim"))
    size = property(attrgetter("_value.size"))
    dtype = property(attrgetter("_value.dtype"), lambda self, v: _set("dtype"))

    def __len__(self):
        return len(self._value)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        return f"{type(self).__name__}(level={self._level}, value={primal(self)!r})"

    def __format__(self, spec):  # f"{loss:.4f}" in a traced function: a string of the value,
        return format(primal(self), spec) if spec else str(self)  # as NumPy formats that array

    # --- arithmetic: straight to the tracer's `_lift2`, the hot path -----------------------
    def __add__(self, other):
        return self._lift2(np.add, self, other)

    def __radd__(self, other):
        return self._lift2(np.add, other, self)

    def __sub__(self, other):
        return self._lift2(np.subtract, self, other)

    def __rsub__(self, other):
        return self._lift2(np.subtract, other, self)

    def __mul__(self, other):
        return self._lift2(np.multiply, self, other)

    def __rmul__(self, other):
        return self._lift2(np.multiply, other, self)

    def __truediv__(self, other):
        return self._lift2(np.true_divide, self, other)

    def __rtruediv__(self, other):
        return self._lift2(np.true_divide, other, self)

    def __pow__(self, other):
        if type(other) is int and other == 2:  # like ndarray.__pow__: the fast square
            return self._lift1(np.square)
        return self._lift2(power_operator, self, other)

    def __rpow__(self, other):
        return self._lift2(power_operator, other, self)

    def __matmul__(self, other):
        return self._lift2(np.matmul, self, other)

    def __rmatmul__(self, other):
        return self._lift2(np.matmul, other, self)

    def __neg__(self):
        return self._lift1(np.negative)

    def __pos__(self):  # (a copy, as NumPy's `+x` is)
        return self._lift1(np.positive)

    def __abs__(self):
        return self._lift1(np.absolute)

    def __getitem__(self, index):
        return FUNCTIONS["getitem"](self, index)

    # floor division gives a constant (as np.floor); the remainder has a rule
    def __floordiv__(self, other):
        return np.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return np.floor_divide(other, self)

    def __mod__(self, other):
        return np.remainder(self, other)

    def __rmod__(self, other):
        return np.remainder(other, self)

    def __divmod__(self, other):  # (np.divmod, a ufunc of two outputs, has no rule)
        return np.floor_divide(self, other), np.remainder(self, other)

    def __rdivmod__(self, other):
        return np.floor_divide(other, self), np.remainder(other, self)

    # comparisons have no derivative: they return plain boolean arrays
    def __lt__(self, other):
        return primal(self) < primal(other)

    def __le__(self, other):
        return primal(self) <= primal(other)

    def __gt__(self, other):
        return primal(self) > primal(other)

    def __ge__(self, other):
        return primal(self) >= primal(other)

    def __eq__(self, other):
        return primal(self) == primal(other)

    def __ne__(self, other):
        return primal(self) != primal(other)

    __hash__ = None

    # --- in-place mutation is refused --------------------------------------------------------
    def __setitem__(self, index, value):
        raise _mutation_error("Item assignment x[...] = value")

    def _refuse(name):  # noqa: N805 - builds methods at class creation
        def method(self, *args, **kwargs):
            raise _mutation_error(f"ndarray.{name}()")

        method.__name__ = name
        return method

    # --- augmented assignment: NumPy's in-place update, for every name of the array ----------
    def _inplace(self, prim, other, op):
        """`x op= other` as NumPy does it: `x` itself (every name bound to it) takes the result.

        A NumPy scalar (what arithmetic and reductions return for 0-d results) is immutable, and
        so is a number given to the transform: the name is rebound, as in NumPy. Refused where
        NumPy would write through to another array or where a view would see the change: on an
        input array of the transform (the caller's array), on a view (`x[:2]`, `x[..., 0]`, `x.T`,
        `x.reshape(...)`, ...) and on an array a view has been taken of.
        """
        r = self._lift2(prim, self, other)
        if self.ndim == 0 and (self._is_number_input() or not isinstance(primal(self), np.ndarray)):
            return r
        if not isinstance(r, Tracer) or r._level != self._level:  # `other` is traced deeper
            raise TracerError(
                f"x {op}= y where y is traced by an inner transform than x: write x = x {op} y."
            )
        if self._shares_memory():
            raise TracerError(
                f"x {op}= ... on a traced array that is an input of the transform, a view of "
                "another array or an array a view was taken of: in NumPy the change would "
                f"reach the other array too, which calcbook cannot follow. Write x = x {op} ... "
                "(a new array) instead."
            )
        if r.shape != self.shape:
            raise ValueError(
                f"non-broadcastable output operand with shape {self.shape} doesn't match the "
                f"broadcast shape {r.shape}"
            )
        if r.dtype != self.dtype:  # NumPy keeps the dtype of x, casting with 'same_kind'
            if not np.can_cast(r.dtype, self.dtype, "same_kind"):
                raise TypeError(
                    f"Cannot cast the result of x {op}= ... from {r.dtype} to x's dtype "
                    f"{self.dtype} with casting rule 'same_kind'"
                )
            r = FUNCTIONS["astype"](r, self.dtype)
        self._become(r)
        return self

    def __iadd__(self, other):
        return self._inplace(np.add, other, "+")

    def __isub__(self, other):
        return self._inplace(np.subtract, other, "-")

    def __imul__(self, other):
        return self._inplace(np.multiply, other, "*")

    def __itruediv__(self, other):
        return self._inplace(np.true_divide, other, "/")

    def __ipow__(self, other):
        return self._inplace(np.power, other, "**")

    def __imatmul__(self, other):
        return self._inplace(np.matmul, other, "@")

    sort = _refuse("sort")
    fill = _refuse("fill")
    resize = _refuse("resize")
    put = _refuse("put")
    partition = _refuse("partition")
    itemset = _refuse("itemset")
    setfield = _refuse("setfield")
    del _refuse

    # --- ndarray methods that are traced ----------------------------------------------------
    T = property(lambda self: _function(np.transpose, self))

    def sum(self, axis=None, dtype=None, out=None, keepdims=False, **kw):  # (initial, where)
        return _function(np.sum, self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kw)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False, **kw):  # (where)
        return _function(np.mean, self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kw)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
        return _function(np.prod, self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kw)

    def max(self, axis=None, out=None, keepdims=False, **kw):
        return _function(np.max, self, axis=axis, out=out, keepdims=keepdims, **kw)

    def min(self, axis=None, out=None, keepdims=False, **kw):
        return _function(np.min, self, axis=axis, out=out, keepdims=keepdims, **kw)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):  # (where)
        return _function(
            np.var, self, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, **kw
        )

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):  # (where)
        return _function(
            np.std, self, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, **kw
        )

    def reshape(self, *shape, order="C"):
        if not shape:
            raise TypeError("reshape() takes exactly 1 argument (0 given)")
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = shape[0]
        return _function(np.reshape, self, shape, order=order)

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = axes[0]
        return _function(np.transpose, self, axes or None)

    def swapaxes(self, axis1, axis2):
        return _function(np.swapaxes, self, axis1, axis2)

    def squeeze(self, axis=None):
        return _function(np.squeeze, self, axis)

    def ravel(self, order="C"):
        return _function(np.ravel, self, order)

    def flatten(self, order="C"):  # (a copy, not a view)
        return FUNCTIONS["copy"](_function(np.ravel, self, order))

    def clip(self, min=None, max=None):  # noqa: A002 - ndarray's names
        return _function(np.clip, self, min, max)

    def dot(self, other):
        return _function(np.dot, self, other)

    def astype(self, dtype, copy=True):
        if copy and np.dtype(dtype) == self.dtype:  # a copy, as NumPy's
            return FUNCTIONS["copy"](self)
        return FUNCTIONS["astype"](self, dtype)

    def copy(self, order="C"):  # a new array: an in-place update of it leaves `self` alone
        return FUNCTIONS["copy"](self, order=order)

    def cumsum(self, axis=None, dtype=None, out=None):
        return np.cumsum(self, axis=axis, dtype=dtype, out=out)

    def cumprod(self, axis=None, dtype=None, out=None):
        return np.cumprod(self, axis=axis, dtype=dtype, out=out)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return np.diagonal(self, offset, axis1, axis2)

    def trace(self, offset=0, axis1=0, axis2=1, dtype=None, out=None):
        return np.trace(self, offset, axis1, axis2, dtype, out)

    def repeat(self, repeats, axis=None):
        return np.repeat(self, repeats, axis)

    def take(self, indices, axis=None, out=None, mode="raise"):
        return np.take(self, indices, axis, out, mode)

    def round(self, decimals=0, out=None):
        return np.round(self, decimals, out)

    def conj(self):  # (of a real array: the array itself, as ndarray.conj)
        return self if self.dtype.kind != "c" else np.conjugate(self)

    conjugate = conj

    @property
    def real(self):
        if self.dtype.kind == "c":
            raise unsupported(np.real)
        return self

    @property
    def imag(self):  # of a real array: zeros, a constant
        if self.dtype.kind == "c":
            raise unsupported(np.imag)
        return np.zeros_like(primal(self))

    mT = property(lambda self: _function(np.matrix_transpose, self))
    itemsize = property(attrgetter("_value.itemsize"))
    nbytes = property(attrgetter("_value.nbytes"))

    def __round__(self, ndigits=None):  # round(x): a constant, as np.round
        return np.round(primal(self), ndigits or 0)

    def any(self, axis=None, out=None, keepdims=False):
        return np.any(primal(self), axis=axis, out=out, keepdims=keepdims)

    def all(self, axis=None, out=None, keepdims=False):
        return np.all(primal(self), axis=axis, out=out, keepdims=keepdims)

    def argsort(self, axis=-1, kind=None, order=None):
        return np.argsort(primal(self), axis=axis, kind=kind, order=order)

    def argpartition(self, kth, axis=-1, kind="introselect", order=None):
        return np.argpartition(primal(self), kth, axis=axis, kind=kind, order=order)

    def searchsorted(self, v, side="left", sorter=None):
        return np.searchsorted(self, v, side, sorter)

    def compress(self, condition, axis=None, out=None):
        return np.compress(condition, self, axis, out)

    def choose(self, choices, out=None, mode="raise"):
        return np.choose(self, choices, out, mode)

    @property
    def flat(self):  # (read: x.flat[k] as NumPy reads it; x.flat[k] = v is refused)
        return _Flat(self)

    def nonzero(self):
        return np.nonzero(primal(self))

    def argmax(self, axis=None, out=None, *, keepdims=False):
        return np.argmax(primal(self), axis=axis, out=out, keepdims=keepdims)

    def argmin(self, axis=None, out=None, *, keepdims=False):
        return np.argmin(primal(self), axis=axis, out=out, keepdims=keepdims)


class _Flat:
    """`x.flat` of a traced `x`: its entries in C order, indexed as NumPy's `flatiter` (a copy)."""

    __slots__ = ("_x",)

    def __init__(self, x):
        self._x = x

    def __getitem__(self, index):  # (NumPy itself says which entries: those of an arange)
        return np.take(np.reshape(self._x, -1), np.arange(self._x.size).flat[index])

    def __setitem__(self, index, value):
        raise _mutation_error("Item assignment x.flat[...] = value")

    def __len__(self):
        return self._x.size

    def __iter__(self):
        return iter(np.reshape(self._x, -1))


def _unsupported_attribute(name):
    def get(self):  # (an AttributeError, so that hasattr(x, name) is False)
        raise AttributeError(
            f"ndarray.{name} is not supported on traced arrays by calcbook's differentiation "
            "engine; see calcbook.rules.supported() for the NumPy functions that are."
        )

    return property(get)


# ndarray's other public attributes say so when used. (Properties, not a `__getattr__`, which
# would slow down every attribute access of a tracer: CPython specialises only the generic one.)
for _name in dir(np.ndarray):
    if not _name.startswith("_") and not hasattr(Tracer, _name):
        setattr(Tracer, _name, _unsupported_attribute(_name))
del _name


class RevTracer(Tracer):
    """A traced array of a reverse-mode level: its value, the level's tape and its place on it.

    The tape is a list of entries `(prim, vals, params, ans, parents)`, one per operation in the
    order they were recorded: `vals` are the unwrapped arguments (constants included, since the
    rules need them, and None where no rule reads them), `ans` the unwrapped result (or None),
    and `parents` the pairs `(argnum, index)` of the arguments traced at this level, `index`
    being the argument's place on the tape. A leaf (an input of the transform) is an entry with
    no primitive and no parents. Plain tuples keep recording cheap and the tape walk a loop over
    a list.
    """

    __slots__ = ("_index", "_tape")

    def __init__(self, value, level, index, tape):
        self._value = value
        self._level = level
        self._index = index
        self._tape = tape

    def _is_number_input(self):  # (an input given as a number, not as an array)
        return self._tape[self._index] is LEAF

    def _shares_memory(self):  # an input (a leaf: the caller's array), a view or viewed
        return self._tape[self._index][0] is None or getattr(self, "_shared", False)

    def _become(self, other):
        self._value, self._index = other._value, other._index

    @classmethod
    def leaf(cls, value, level, tape):
        """Wrap an input `value` of the transform running at `level`, recording on `tape`."""
        tape.append(LEAF)
        return cls(value, level, len(tape) - 1, tape)

    def _lift(self, prim, args, params):
        level = self._level
        if level not in _LIVE:
            raise _escaped(self)
        vals = list(args)
        parents = []
        for i, a in enumerate(args):
            if isinstance(a, Tracer) and a._level == level:
                vals[i] = a._value
                parents.append((i, a._index))
            elif type(a) is np.ndarray and a.dtype.kind != "c":  # (the common constant)
                hold(level, a)
            elif _is_complex(a):
                raise complex_error(f"a complex argument of {_fullname(prim)}")
        ans = prim(*vals, **params)
        if prim in RESIDUALS:
            ans, kept = ans
        else:
            kept = None if prim in ARGS_ONLY else ans
        tape = self._tape
        tape.append((prim, vals, params, kept, parents))
        return RevTracer(ans, level, len(tape) - 1, tape)

    def _lift1(self, prim, params=_NO_PARAMS):  # the hot path of one argument: `self`
        if self._level not in _LIVE:
            raise _escaped(self)
        x = self._value
        ans = _call1(prim, x, params)
        parents = ((0, self._index),)
        tape = self._tape
        if prim in ANS_ONLY or prim in SHAPES_ONLY:  # (elementwise: x has the shape of ans)
            tape.append((prim, (None,), params, None if prim in SHAPES_ONLY else ans, parents))
        elif prim in SHAPE_OF_ARGS:
            tape.append((prim, (Shape(x),), params, None, parents))
        else:
            tape.append((prim, (x,), params, None if prim in ARGS_ONLY else ans, parents))
        return RevTracer(ans, self._level, len(tape) - 1, tape)

    def _lift2(self, prim, a, b):  # the hot path of binary operators: `self` is `a` or `b`
        level = self._level
        other = b if a is self else a
        traced = isinstance(other, Tracer)
        if traced and other._level > level:  # it belongs to an inner transform: it records
            return other._lift2(prim, a, b)
        if level not in _LIVE:
            raise _escaped(self)
        if traced and other._level == level:
            x, y, parents = a._value, b._value, ((0, a._index), (1, b._index))
        elif a is self:
            x, y, parents = a._value, _constant(b, a._value), ((0, a._index),)
        else:
            x, y, parents = _constant(a, b._value), b._value, ((1, b._index),)
        ans = _call2(prim, x, y)
        tape = self._tape
        if prim in SHAPES_ONLY:  # the rules read no values: shapes at most, for the broadcasts
            x, y = _stand_in(x, ans), _stand_in(y, ans)
            tape.append((prim, (x, y), _NO_PARAMS, None, parents))  # (shapes: nothing to hold)
        else:
            kept = None if prim in ARGS_ONLY else ans
            reads = READS.get(prim)
            if reads is not None:
                if len(parents) == 1:
                    rx, ry, rans = reads[parents[0][0]]
                else:
                    (rx, ry, rans), (sx, sy, sans) = reads
                    rx, ry, rans = rx or sx, ry or sy, rans or sans
                if not rx:
                    x = _stand_in(x, ans)
                if not ry:
                    y = _stand_in(y, ans)
                if not rans:
                    kept = None
            tape.append((prim, (x, y), _NO_PARAMS, kept, parents))
            if len(parents) == 1:  # a constant operand, whose values the rules may read
                c = y if a is self else x
                if type(c) is np.ndarray:
                    hold(level, c)
        return RevTracer(ans, level, len(tape) - 1, tape)


class FwdTracer(Tracer):
    """A traced array of a forward-mode level: its value and its (possibly batched) tangent."""

    __slots__ = ("_tangent",)

    def __init__(self, value, level, tangent):
        self._value = value
        self._level = level
        self._tangent = tangent

    def _is_number_input(self):
        return False  # (`FwdInput` says True)

    def _shares_memory(self):  # a view or viewed (`FwdInput`: also an input)
        return getattr(self, "_shared", False)

    def _become(self, other):
        self._value, self._tangent = other._value, other._tangent

    def _lift1(self, prim, params=_NO_PARAMS):  # the hot path of one argument: `self`
        if self._level not in _LIVE:
            raise _escaped(self)
        x, t = self._value, self._tangent
        ans = _call1(prim, x, params)
        rule = JVP_RULES[prim]
        if not isinstance(rule, tuple):
            return FwdTracer(ans, self._level, rule([t], ans, x, **params))
        # (unlike in `_lift`, nothing to lift or fill: an elementwise function of one argument
        # maps a tangent of the argument's full shape to one of the result's, the same shape)
        return FwdTracer(ans, self._level, rule[0](t, ans, x, **params))

    def _lift2(self, prim, a, b):  # the hot path of binary operators: `self` is `a` or `b`
        level = self._level
        other = b if a is self else a
        traced = isinstance(other, Tracer)
        if traced and other._level > level:  # it belongs to an inner transform
            return other._lift2(prim, a, b)
        if level not in _LIVE:
            raise _escaped(self)
        if traced and other._level == level:
            x, y, tx, ty = a._value, b._value, a._tangent, b._tangent
        elif a is self:
            x, y, tx, ty = a._value, _constant(b, a._value), a._tangent, None
        else:
            x, y, tx, ty = _constant(a, b._value), b._value, None, b._tangent
        ans = _call2(prim, x, y)
        rule = JVP_RULES[prim]
        if not isinstance(rule, tuple):
            return FwdTracer(ans, level, rule([tx, ty], ans, x, y))
        elementwise = prim in BROADCASTING
        if elementwise:  # (a tangent of an operand broadcast to more axes is lifted to them)
            if tx is not None and x.ndim < ans.ndim:
                tx = _lift_tangent(tx, x, ans)
            if ty is not None and y.ndim < ans.ndim:
                ty = _lift_tangent(ty, y, ans)
        if tx is not None and ty is not None and prim in JVP_BOTH:
            out = JVP_BOTH[prim](tx, ty, ans, x, y)
        else:
            out = None
            if tx is not None:
                out = tx if rule[0] is identity else rule[0](tx, ans, x, y)
            if ty is not None:
                t = ty if rule[1] is identity else rule[1](ty, ans, x, y)
                out = t if out is None else out + t
        if elementwise and out.shape != ans.shape:  # broadcast operands, or batch axes
            out = _fill_tangent(out, ans)
        return FwdTracer(ans, level, out)

    def _lift(self, prim, args, params):
        level = self._level
        if level not in _LIVE:
            raise _escaped(self)
        if len(args) == 1:  # `self` is the argument
            vals, tangents = (self._value,), (self._tangent,)
        else:
            vals = list(args)
            tangents = [None] * len(args)
            for i, a in enumerate(args):
                if isinstance(a, Tracer) and a._level == level:
                    vals[i] = a._value
                    tangents[i] = a._tangent
                elif _is_complex(a):
                    raise complex_error(f"a complex argument of {_fullname(prim)}")
        ans = prim(*vals, **params)
        rule = JVP_RULES[prim]
        if not isinstance(rule, tuple):
            return FwdTracer(ans, level, rule(tangents, ans, *vals, **params))
        elementwise = prim in BROADCASTING
        out = None
        for i, t in enumerate(tangents):
            if t is not None:
                if elementwise:
                    t = _lift_tangent(t, vals[i], ans)
                t = rule[i](t, ans, *vals, **params)
                out = t if out is None else out + t
        if elementwise:
            out = _fill_tangent(out, ans)
        return FwdTracer(ans, level, out)


def mark_view(x, r):
    """Return `r`, which NumPy would make a view of `x` (`x[:2]`, `x.T`, a reshape, ...).

    The adapters of the viewing functions call it, so that no other operation pays: both arrays
    are noted as sharing memory, and `x op= ...` refuses them (see `Tracer._inplace`).
    """
    if isinstance(r, Tracer) and isinstance(x, Tracer):
        x._shared = r._shared = True
    return r


class FwdInput(FwdTracer):
    """An input of a forward-mode transform: NumPy would update the caller's array in place."""

    __slots__ = ()

    def _shares_memory(self):
        return True

    def _is_number_input(self):
        return True


class FwdArrayInput(FwdInput):
    """An input given as a 0-d NumPy array (not a number): `x += 1` must not rebind it."""

    __slots__ = ()

    def _is_number_input(self):
        return False


class Shape:
    """What a tape keeps of an argument whose rules read only its shape and dtype (`np.sum`'s)."""

    __slots__ = ("shape", "dtype")

    def __init__(self, x):
        self.shape, self.dtype = x.shape, x.dtype

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: math.prod(self.shape))


def _stand_in(v, ans):
    """What a tape keeps of an operand `v` whose values no rule reads: None where it has the
    result's shape (the backward pass sums no broadcast axes for it), else a `Shape`."""
    if type(v) is np.ndarray or isinstance(v, Tracer):
        return None if v.shape == ans.shape else Shape(v)
    return v  # (a Python number: nothing to free)


def _call1(prim, x, params):
    """`prim(x, **params)` on the unwrapped value `x` of a box, which may be a box of an outer
    level (then the primitive runs at that level). A ufunc goes straight to that box's `_lift1`,
    where NumPy's dispatch (through `__array_ufunc__`) would take it too, half a microsecond
    later; any other primitive is called, for what its adapter does besides (holds, views)."""
    if params:
        return prim(x, **params)
    if type(x) is not np.ndarray and type(prim) is np.ufunc and isinstance(x, Tracer):
        return x._lift1(prim)
    return prim(x)


def power_operator(x, y):
    """`x ** y` as NumPy's operator computes it: a NumPy scalar's power is its scalar math (the C
    library's `pow`), not `np.power`'s loop, which differs in the last bit in some calls."""
    return x**y


def _call2(prim, x, y):
    """`prim(x, y)` on unwrapped values, as `_call1`; a shape mismatch names both shapes."""
    try:
        if type(prim) is np.ufunc and (isinstance(x, Tracer) or isinstance(y, Tracer)):
            return (x if isinstance(x, Tracer) else y)._lift2(prim, x, y)
        return prim(x, y)
    except ValueError as e:  # (free when nothing is raised)
        raise _mismatch(prim, x, y, e) from None


def _mismatch(prim, x, y, error):
    """`error` of `prim(x, y)`, naming both shapes where NumPy's message gives only sizes."""
    if prim is np.matmul and "mismatch in its core dimension" in str(error):
        a, b = np.shape(x), np.shape(y)
        which = "next-to-last" if len(b) > 1 else "only"
        return ValueError(
            f"matmul: shapes {a} and {b} do not fit: the first's last axis ({a[-1]}) must have "
            f"the length of the second's {which} axis ({b[-2] if len(b) > 1 else b[0]})"
        )
    return error


def _constant(c, x):
    """A constant operand of a binary operation whose other operand is (the value) `x`.

    A list or tuple becomes an array, and a float array or NumPy float of a lower precision than
    `x` takes `x`'s dtype (the same numbers: NumPy computes in the higher precision too), since
    the rules read it: the derivative of `np.float32(2.5) ** x` needs log 2.5 to float64
    precision where `x` is float64, that of `x ** np.float32(0.7)` the exponent less 1.
    """
    t = type(c)
    if t is np.ndarray:  # (the common cases first)
        if c.dtype.kind != "c":
            return c if c.dtype is x.dtype else _promoted(c, x)
    elif t is float or t is int:
        return c
    elif t is list or t is tuple:
        c = np.asarray(c)
    if _is_complex(c):
        what = repr(c) if type(c) is complex else f"array of shape {c.shape}"
        raise complex_error(f"a complex constant ({what}) combined with a traced array")
    return _promoted(c, x) if isinstance(c, (np.ndarray, np.floating)) else c


def _promoted(c, x):
    """`c` in the dtype of `x` where both are floats and `c`'s has fewer bits."""
    d, dx = c.dtype, x.dtype
    if d.kind == "f" and dx.kind == "f" and d.itemsize < dx.itemsize:
        return c.astype(dx)
    return c


def _lift_tangent(t, x, ans):
    """Insert size-1 axes after the batch axes of `t`, so that it broadcasts like `x` does."""
    nx, na = x.ndim, ans.ndim
    if nx >= na:
        return t
    shape = t.shape
    nb = len(shape) - nx
    return t.reshape(shape[:nb] + (1,) * (na - nx) + shape[nb:]) if nb else t


def _fill_tangent(t, ans):
    """Broadcast an elementwise tangent to its full shape `batch_shape + ans.shape`."""
    shape, target = t.shape, ans.shape
    nb = len(shape) - len(target)
    if shape[nb:] == target if nb >= 0 else False:
        return t
    full = shape[: max(nb, 0)] + target
    return np.broadcast_to(t, full)


def unbroadcast(g, shape):
    """Sum the cotangent `g` of a broadcast result back to an operand's `shape`.

    Parameters
    ----------
    g : array_like
        A cotangent whose shape is the broadcast of `shape` with other shapes.
    shape : tuple of int
        The shape of the operand.

    Returns
    -------
    array_like
        `g` summed over the leading axes and the size-1 axes that broadcasting created.

    Examples
    --------
    ```python
    import numpy as np
    from calcbook.tracing import unbroadcast

    g = np.ones((4, 2, 3))
    np.testing.assert_array_equal(unbroadcast(g, (2, 1)), np.full((2, 1), 12.0))
    ```
    """
    gshape = g.shape if isinstance(g, (np.ndarray, np.generic, Tracer)) else np.shape(g)
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    total = np.add.reduce if type(g) is np.ndarray else _method_sum
    if lead == 1 and gshape[1:] == shape:  # the common case, e.g. the bias of a layer
        return total(g, axis=0)
    if lead:
        g = total(g, axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1)
    if axes:
        g = total(g, axis=axes, keepdims=True)
    return g


def _method_sum(g, axis, keepdims=False):
    return g.sum(axis=axis, keepdims=keepdims)


def backward(tape, roots, cotangents, leaves):
    """Walk a tape backwards from `roots` and return the cotangents reaching `leaves`.

    The tape lists the entries of one level in the order they were recorded, which is a
    topological order, so one loop over it in reverse (no recursion) visits every entry after
    all its consumers. The cotangents live in a list beside the tape, one place per entry; each
    is dropped as soon as its entry has passed it on to its parents through its VJP rules, and
    entries that received none are skipped. The tape is not modified, so it can be walked
    again with other cotangents.

    Parameters
    ----------
    tape : list of tuple
        The recorded entries, in recording order (see `RevTracer`).
    roots : list of int
        The places on the tape of the outputs (`tracer._index`).
    cotangents : list of array_like
        One cotangent per root, with the root's shape.
    leaves : list of int
        The places on the tape of the inputs.

    Returns
    -------
    list
        The cotangent of each leaf, or None for a leaf that no root depends on.

    Examples
    --------
    ```python
    import numpy as np
    from calcbook.tracing import RevTracer, backward, new_level

    tape = []
    x = RevTracer.leaf(np.array([1.0, 2.0]), new_level(), tape)
    y = np.sin(x) * 3.0
    (gx,) = backward(tape, [y._index], [np.ones(2)], [x._index])
    np.testing.assert_allclose(gx, 3.0 * np.cos([1.0, 2.0]))
    ```
    """
    if len(roots) != len(cotangents):
        raise ValueError(f"{len(roots)} roots but {len(cotangents)} cotangents: give one per root")
    cts = [None] * len(tape)
    for k, root in enumerate(roots):
        g, prev = cotangents[k], cts[root]
        cts[root] = g if prev is None else prev + g
    # (entries before the first leaf cannot pass anything to a leaf: their parents come earlier)
    for k in range(max(roots, default=-1), min(leaves, default=-1), -1):
        g = cts[k]
        if g is None:
            continue
        prim, vals, params, ans, parents = tape[k]
        if prim is None:  # a leaf: its cotangent stays for the caller
            continue
        cts[k] = None
        rules = VJP_RULES[prim]
        elementwise = prim in BROADCASTING
        for i, parent in parents:
            rule = rules[i]
            if rule is identity:  # (no call for the most common rule)
                gi = g
            else:
                gi = rule(g, ans, *vals, **params) if params else rule(g, ans, *vals)
            if elementwise and vals[i] is not None and gi.shape != vals[i].shape:
                gi = unbroadcast(gi, vals[i].shape)  # (a dropped operand had the result's shape)
            prev = cts[parent]
            cts[parent] = gi if prev is None else prev + gi
    return [cts[k] for k in leaves]
