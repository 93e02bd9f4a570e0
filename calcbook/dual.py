r"""Forward-mode differentiation with dual numbers.

A dual number $a + \dot a\,\varepsilon$ carries a value $a$ and a *tangent* $\dot a$, with the
rule $\varepsilon^2 = 0$. Expanding any operation to first order gives its derivative for free:

$$f(a + \dot a\,\varepsilon) = f(a) + f'(a)\,\dot a\,\varepsilon.$$

So each operation below computes its value and, beside it, the tangent by the chain rule.
Seeding an input with tangent 1 makes the output's tangent the derivative with respect to that
input; seeding several inputs with a direction $v$ gives the directional derivative
$\nabla f \cdot v$ in one pass. That is forward mode: one pass per input direction, where
reverse mode (`calcbook.Value`) needs one pass per output.

The functions `exp`, `log`, `sin`, ... of this module accept floats or `Dual`s, so the same
code runs on plain numbers and on dual numbers.
"""

import math
import operator
from numbers import Real

__all__ = ["Dual", "exp", "log", "sin", "cos", "tanh", "sigmoid", "relu", "sqrt"]


def _real(x, what):
    if isinstance(x, bool) or not isinstance(x, Real):
        raise TypeError(f"Dual needs a real {what}, got {type(x).__name__}: {x!r}")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"Dual needs a finite {what}, got {x}")
    return x


class Dual:
    r"""A value with a tangent: the number $a + \dot a\,\varepsilon$ where $\varepsilon^2 = 0$.

    Parameters
    ----------
    value : float
        The point $a$.
    tangent : float, optional
        The derivative $\dot a$ of this number along the chosen direction (default 0: a
        constant).

    Notes
    -----
    `==` is identity, as for any Python object, and ordering is not defined: compare
    `.value` (and `.tangent`) for numbers. An operation whose result or tangent overflows
    raises `OverflowError`.

    Examples
    --------
    ```python
    import math

    from calcbook import Dual

    x = Dual(0.5, 1.0)  # seed: dx/dx = 1
    y = x * x.sin() + 2 ** x
    expected = math.sin(0.5) + 0.5 * math.cos(0.5) + 2**0.5 * math.log(2)
    assert math.isclose(y.tangent, expected, rel_tol=1e-15)
    ```
    """

    __slots__ = ("value", "tangent")

    def __init__(self, value, tangent=0.0):
        self.value = _real(value, "value")
        self.tangent = _real(tangent, "tangent")

    def __repr__(self):
        return f"Dual(value={self.value!r}, tangent={self.tangent!r})"

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """Let `np.float64(2) * d` and `np.sin(d)` work; other NumPy functions say what to use."""
        if ufunc.__name__ in _IDENTITY and all(getattr(x, "ndim", 0) == 0 for x in inputs):
            return (inputs[0] is inputs[1]) == _IDENTITY[ufunc.__name__]  # (np.float64(1) == d)
        op = _NUMPY.get(ufunc.__name__)
        if op is not None and (method != "__call__" or kwargs):  # (np.sin(d) itself works)
            how = f".{method}" if method != "__call__" else f"(..., {', '.join(kwargs)}=...)"
            raise TypeError(
                f"numpy.{ufunc.__name__}{how} does not take a Dual: only the plain call "
                f"numpy.{ufunc.__name__}(...) does, without keyword arguments"
            )
        if op is None:
            raise TypeError(
                f"numpy.{ufunc.__name__} does not take a Dual: use the operators + - * / ** "
                "and the functions of calcbook.dual (exp, log, sin, cos, tanh, sigmoid, relu, sqrt)"
            )
        return op(*map(_lift, inputs))

    # Each operation: Dual(forward value, tangent by the chain rule).
    def __add__(self, other):
        other = _lift(other)
        return _out(self.value + other.value, self.tangent + other.tangent, "+")

    def __sub__(self, other):
        other = _lift(other)
        return _out(self.value - other.value, self.tangent - other.tangent, "-")

    def __mul__(self, other):
        other = _lift(other)
        t = self.tangent * other.value + self.value * other.tangent
        return _out(self.value * other.value, t, "*")

    def __truediv__(self, other):
        other = _lift(other)
        a, b = self.value, other.value
        if b == 0.0:
            raise ZeroDivisionError(f"division by a Dual with value 0.0 (numerator {a})")
        q = a / b  # (a' b - a b') / b^2, written (a' - q b') / b: b * b under- or overflows
        return _out(q, (self.tangent - q * other.tangent) / b, "/")

    def __pow__(self, other):
        a = self.value
        if isinstance(other, Dual):  # d(a^b) = b a^(b-1) da + a^b log(a) db needs a > 0
            b = other.value
            if a <= 0.0:
                raise ValueError(f"Dual ** Dual needs a positive base, got base {a}")
            try:
                out = a**b
                t = b * a ** (b - 1.0) * self.tangent + out * math.log(a) * other.tangent
            except OverflowError:  # (Python's own message says only "Numerical result ...")
                raise OverflowError(f"{a} ** {b} or its derivative overflows float64") from None
            return _out(out, t, "**")
        b = _real(other, "exponent")
        if a < 0.0 and not b.is_integer():
            raise ValueError(f"negative base {a} ** non-integer exponent {b} is not real")
        if a == 0.0 and b < 1.0 and b != 0.0:
            what = "value" if b < 0.0 else "derivative"
            raise ValueError(f"0.0 ** {b:g}: the {what} is infinite")
        try:
            return _out(a**b, b * a ** (b - 1.0) * self.tangent if b != 0.0 else 0.0, f"**{b:g}")
        except OverflowError:
            raise OverflowError(f"{a} ** {b:g} or its derivative overflows float64") from None

    def __neg__(self):
        return Dual(-self.value, -self.tangent)

    def __radd__(self, other):  # other + self, where other is a number
        return _lift(other) + self

    def __rsub__(self, other):
        return _lift(other) - self

    def __rmul__(self, other):
        return _lift(other) * self

    def __rtruediv__(self, other):
        return _lift(other) / self

    def __rpow__(self, other):
        return _lift(other) ** self

    def exp(self):
        try:
            out = math.exp(self.value)
        except OverflowError:
            raise OverflowError(f"exp({self.value}) overflows float64") from None
        return _out(out, out * self.tangent, "exp")

    def log(self):
        if self.value <= 0.0:
            raise ValueError(f"log needs a positive argument, got {self.value}")
        return _out(math.log(self.value), self.tangent / self.value, "log")

    def sin(self):
        return _out(math.sin(self.value), math.cos(self.value) * self.tangent, "sin")

    def cos(self):
        return _out(math.cos(self.value), -math.sin(self.value) * self.tangent, "cos")

    def tanh(self):
        t = math.tanh(self.value)
        return _out(t, (1.0 - t * t) * self.tangent, "tanh")

    def sigmoid(self):
        s = _sigmoid(self.value)
        return _out(s, s * (1.0 - s) * self.tangent, "sigmoid")

    def relu(self):  # derivative 0 at the kink, as in `Value`
        return Dual(self.value, self.tangent) if self.value > 0.0 else Dual(0.0, 0.0)

    def sqrt(self):  # the derivative 1 / (2 sqrt a) is infinite at a = 0
        if self.value <= 0.0:
            raise ValueError(f"sqrt needs a positive argument, got {self.value}")
        r = math.sqrt(self.value)
        return _out(r, self.tangent / (2.0 * r), "sqrt")


def _out(value, tangent, op):
    """The result of the operation `op` on finite Duals; OverflowError where it overflows (a
    `Dual` is finite: Dual(inf) would say that the caller gave an infinite number)."""
    for what, x in (("result", value), ("tangent", tangent)):
        if x - x != 0.0:  # inf - inf and nan - nan are nan
            raise OverflowError(f"the {what} of {op} overflows float64: {x}")
    out = _new(Dual)  # skips __init__: both are finite floats
    out.value, out.tangent = value, tangent
    return out


_new = object.__new__


def _lift(x):
    """A `Dual` as is; a number becomes a constant (tangent 0)."""
    return x if isinstance(x, Dual) else Dual(x)


_IDENTITY = {"equal": True, "not_equal": False}  # `==` is identity, for NumPy scalars too
_NUMPY = {"add": operator.add, "subtract": operator.sub, "multiply": operator.mul}
_NUMPY |= {"true_divide": operator.truediv, "divide": operator.truediv, "power": operator.pow}
_NUMPY |= {"negative": operator.neg, "exp": Dual.exp, "log": Dual.log, "sin": Dual.sin}
_NUMPY |= {"cos": Dual.cos, "tanh": Dual.tanh, "sqrt": Dual.sqrt}


def _sigmoid(a):
    """$1 / (1 + e^{-a})$, in a form whose exp cannot overflow."""
    return 1.0 / (1.0 + math.exp(-a)) if a >= 0.0 else math.exp(a) / (1.0 + math.exp(a))


# The same functions for floats and Duals.
def exp(x):
    return x.exp() if isinstance(x, Dual) else math.exp(x)


def log(x):
    return x.log() if isinstance(x, Dual) else math.log(x)


def sin(x):
    return x.sin() if isinstance(x, Dual) else math.sin(x)


def cos(x):
    return x.cos() if isinstance(x, Dual) else math.cos(x)


def tanh(x):
    return x.tanh() if isinstance(x, Dual) else math.tanh(x)


def sigmoid(x):
    return x.sigmoid() if isinstance(x, Dual) else _sigmoid(_number(x, "sigmoid"))


def relu(x):
    return x.relu() if isinstance(x, Dual) else max(_number(x, "relu"), 0.0)


def _number(x, name):
    """`x` as a float for the functions written here (the others are math's, which check)."""
    if not isinstance(x, Real):  # (float("1.5") would make a string a number)
        raise TypeError(f"{name} needs a real number or a Dual, got {type(x).__name__}: {x!r}")
    return float(x)


def sqrt(x):
    return x.sqrt() if isinstance(x, Dual) else math.sqrt(x)
