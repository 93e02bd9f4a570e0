r"""A scalar reverse-mode engine small enough to read in one sitting.

Every operation on a `Value` creates a new node that stores its number `data`, the one or two
nodes it was computed from (`_a`, `_b`), the *local* derivatives of its result with respect to
them, evaluated during the forward computation (`_da`, `_db`), and the operation's name (`_op`,
for drawing). A node never refers to the nodes computed from it and stores no closure, so a
graph has no reference cycles: Python frees it by reference counting as soon as the last name
for it goes away, without waiting for the cyclic garbage collector.

`backward()` applies the chain rule. It lists the nodes the output depends on in *topological
order* (every node after its parents; found with an explicit stack, so a chain of a million
operations needs no recursion), seeds the output with $\partial L / \partial L = 1$, and walks
the list backwards. Each node passes its gradient to each parent, times the local derivative:

$$\bar{p} \mathrel{+}= \frac{\partial\,\text{node}}{\partial p}\,\overline{\text{node}}.$$

The `+=` is essential: a node used twice receives the sum over both uses (the multivariable
chain rule), which is why `x * x` has gradient $2x$.
"""

import math
import operator
from numbers import Real

__all__ = ["Value"]


class Value:
    r"""A scalar that remembers how it was computed, so it can be differentiated.

    Parameters
    ----------
    data : float
        A finite real number (ints and NumPy scalars are converted to `float`).
    label : str, optional
        A name shown by `calcbook.draw_graph` (anything else is converted with `str`).

    Notes
    -----
    Gradients *accumulate* in the leaves (the nodes you created, with no parents), as in
    PyTorch: a second `backward()` adds to `.grad`, so call `zero_grad()` between training
    steps. Intermediate nodes are reset at the start of every `backward()`, so their `.grad` is
    always $\partial\,\text{root} / \partial\,\text{node}$ for the latest call and is never
    counted twice. An operation whose result overflows raises `OverflowError`.

    `==` is identity, as for any Python object (so that nodes can be kept in sets); compare
    numbers through `.data`. Ordering (`<`, `>`) is not defined: `a.data < b.data` says what
    is meant.

    Examples
    --------
    ```python
    from calcbook import Value

    x = Value(3.0, label="x")
    y = x * x + 2 * x  # dy/dx = 2x + 2 = 8
    y.backward()
    assert (y.data, x.grad) == (15.0, 8.0)
    y.backward()  # leaves accumulate ...
    assert x.grad == 16.0
    y.zero_grad()  # ... until reset
    assert x.grad == 0.0
    ```
    """

    __slots__ = ("data", "grad", "label", "_op", "_a", "_b", "_da", "_db")

    def __init__(self, data, label=""):
        if type(data) is not float:
            if isinstance(data, bool) or not isinstance(data, Real):
                raise TypeError(f"Value needs a real number, got {type(data).__name__}: {data!r}")
            data = float(data)
        if not math.isfinite(data):
            raise ValueError(f"Value needs a finite number, got {data}")
        if type(label) is not str:
            label = str(label)
        self.data, self.grad, self.label, self._op = data, 0.0, label, ""
        self._a = self._b = None
        self._da = self._db = 0.0

    def __repr__(self):
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """Let `np.float64(2) * v` and `np.exp(v)` work; other NumPy functions say what to use."""
        if ufunc.__name__ in _IDENTITY and all(getattr(x, "ndim", 0) == 0 for x in inputs):
            return (inputs[0] is inputs[1]) == _IDENTITY[ufunc.__name__]  # (np.float64(1) == v)
        op = _NUMPY.get(ufunc.__name__)
        if op is not None and (method != "__call__" or kwargs):  # (np.exp(v) itself works)
            how = f".{method}" if method != "__call__" else f"(..., {', '.join(kwargs)}=...)"
            raise TypeError(
                f"numpy.{ufunc.__name__}{how} does not take a Value: only the plain call "
                f"numpy.{ufunc.__name__}(...) does, without keyword arguments"
            )
        if op is None:
            raise TypeError(
                f"numpy.{ufunc.__name__} does not take a Value: use the operators + - * / ** "
                "and the methods exp, log, tanh, sigmoid, relu"
            )
        return op(*(x if isinstance(x, Value) else Value(x) for x in inputs))

    # Each operation returns _node(result, name, parent a, d result/d a, parent b, d result/d b).
    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return _node(self.data + other.data, "+", self, 1.0, other, 1.0)

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return _node(self.data * other.data, "*", self, other.data, other, self.data)

    def __sub__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return _node(self.data - other.data, "-", self, 1.0, other, -1.0)

    def __truediv__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        a, b = self.data, other.data
        if b == 0.0:
            raise ZeroDivisionError(f"division by a Value with data 0.0 (numerator {a})")
        q = a / b  # d(a/b)/db = -a/b^2, written -q/b: b * b under- or overflows for extreme b
        da, db = 1.0 / b, -q / b
        if da - da != 0.0 or db - db != 0.0:  # (the only local derivatives that can overflow,
            _derivative_overflows("/", da, db)  # with those of log and **)
        return _node(q, "/", self, da, other, db)

    def __pow__(self, other):
        a = self.data
        if isinstance(other, Value):  # d(a^b)/db = a^b log a needs a > 0
            b = other.data
            if a <= 0.0:
                raise ValueError(f"Value ** Value needs a positive base, got base {a}")
            try:
                out, da = a**b, b * a ** (b - 1.0)
            except OverflowError:  # (Python's own message says only "Numerical result ...")
                raise OverflowError(f"{a} ** {b} or its derivative overflows float64") from None
            db = out * math.log(a)
            if da - da != 0.0 or db - db != 0.0:
                _derivative_overflows("**", da, db)
            return _node(out, "**", self, da, other, db)
        b = Value(other).data  # checks the exponent
        if a < 0.0 and not b.is_integer():
            raise ValueError(f"negative base {a} ** non-integer exponent {b} is not real")
        if a == 0.0 and b < 1.0 and b != 0.0:
            what = "value" if b < 0.0 else "derivative"
            raise ValueError(f"0.0 ** {b:g}: the {what} is infinite")
        try:
            out, da = a**b, b * a ** (b - 1.0) if b != 0.0 else 0.0
        except OverflowError:
            raise OverflowError(f"{a} ** {b:g} or its derivative overflows float64") from None
        if da - da != 0.0:
            _derivative_overflows(f"**{b:g}", da)
        return _node(out, f"**{b:g}", self, da)

    def __neg__(self):
        return _node(-self.data, "neg", self, -1.0)

    def __radd__(self, other):  # other + self, where other is a number
        return Value(other) + self

    def __rmul__(self, other):
        return Value(other) * self

    def __rsub__(self, other):
        return Value(other) - self

    def __rtruediv__(self, other):
        return Value(other) / self

    def __rpow__(self, other):
        return Value(other) ** self

    def exp(self):
        try:
            out = math.exp(self.data)
        except OverflowError:
            raise OverflowError(f"exp({self.data}) overflows float64") from None
        return _node(out, "exp", self, out)

    def log(self):
        if self.data <= 0.0:
            raise ValueError(f"log needs a positive argument, got {self.data}")
        d = 1.0 / self.data
        if d - d != 0.0:
            _derivative_overflows("log", d)
        return _node(math.log(self.data), "log", self, d)

    def tanh(self):
        t = math.tanh(self.data)
        return _node(t, "tanh", self, 1.0 - t * t)

    def sigmoid(self):
        a = self.data  # two forms, so that exp never overflows
        s = 1.0 / (1.0 + math.exp(-a)) if a >= 0.0 else math.exp(a) / (1.0 + math.exp(a))
        return _node(s, "sigmoid", self, s * (1.0 - s))

    def relu(self):
        if self.data > 0.0:
            return _node(self.data, "relu", self, 1.0)
        return _node(0.0, "relu", self, 0.0)  # derivative 0 at the kink, like micrograd, PyTorch

    @property
    def parents(self):
        """The one or two Values this one was computed from; `()` for a leaf."""
        return () if self._a is None else (self._a,) if self._b is None else (self._a, self._b)

    def topological_order(self):
        """The nodes this one depends on, itself last, each after all of its parents."""
        order, seen, stack = [], set(), [self]
        finish, push, pop, visit = order.append, stack.append, stack.pop, seen.add  # fast locals
        while stack:
            node = pop()
            if node is _FINISHED:  # the node below the marker has all its parents in order
                finish(pop())
            elif node not in seen:
                visit(node)
                a, b = node._a, node._b
                if a is None:  # a leaf is finished at once
                    finish(node)
                    continue
                push(node)  # come back to `node` after its parents
                push(_FINISHED)
                if b is not None and b not in seen:
                    push(b)
                if a not in seen:
                    push(a)
        return order

    def backward(self, seed=1.0):
        r"""Backpropagate: add $s \, \partial\,\text{self} / \partial\,\text{leaf}$ to every leaf.

        The seed $s$ is $\partial L / \partial\,\text{self}$ when this node feeds a larger
        loss $L$ (default 1). Leaves accumulate across calls; intermediate nodes are reset
        first (see `Value`). A gradient that overflows float64 (where the data did not: a
        product of large local derivatives) raises `OverflowError`, naming a leaf it reached
        (an overflow at any node reaches a leaf as inf or nan: only leaves are checked).
        """
        seed = Value(seed).data  # checks it
        order = self.topological_order()
        for node in order:
            if node._a is not None:
                node.grad = 0.0
        self.grad += seed
        for node in reversed(order):
            a = node._a
            if a is not None:
                g = node.grad
                a.grad += node._da * g
                b = node._b
                if b is not None:
                    b.grad += node._db * g
            elif node.grad - node.grad != 0.0:  # inf - inf is nan: an overflow on the way here
                _gradient_overflows(node)

    def zero_grad(self):
        """Set `.grad` to 0 on this node and every node it depends on."""
        for node in self.topological_order():
            node.grad = 0.0


_FINISHED = object()  # a marker on the stack of `topological_order`
_new = object.__new__
_IDENTITY = {"equal": True, "not_equal": False}  # `==` is identity, for NumPy scalars too
_NUMPY = {"add": operator.add, "subtract": operator.sub, "multiply": operator.mul}
_NUMPY |= {"true_divide": operator.truediv, "divide": operator.truediv, "power": operator.pow}
_NUMPY |= {"negative": operator.neg, "exp": Value.exp, "log": Value.log, "tanh": Value.tanh}


def _derivative_overflows(op, *derivatives):
    raise OverflowError(f"the local derivative of {op} overflows float64: {derivatives}")


def _gradient_overflows(leaf):
    label = f" {leaf.label!r}" if leaf.label else ""
    raise OverflowError(
        f"backward: the gradient of the leaf{label} (data {leaf.data}) overflows float64: "
        f"{leaf.grad}; "
        "the leaves' .grad may hold part of this pass, so call zero_grad() before the next one"
    )


def _node(data, op, a, da, b=None, db=0.0):
    """The result `data` of operation `op` on parents `a` (and `b`), with local derivatives."""
    if data - data != 0.0:  # inf - inf and nan - nan are nan
        raise OverflowError(f"the result of {op} overflows float64: {data}")
    out = _new(Value)  # skips __init__: `data` came from finite Values
    out.data = data
    out.grad = 0.0
    out.label = ""
    out._op = op
    out._a = a
    out._da = da
    out._b = b
    out._db = db
    return out
