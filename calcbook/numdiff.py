r"""Numerical derivatives: finite differences, the complex step and Richardson extrapolation.

These functions only call `f`; they are the independent reference that automatic
differentiation is checked against, so every one can return an error bar
(`full_output=True`).

**Error model.** A difference quotient of order $p$ for the $n$-th derivative makes two errors.
*Truncation*, the Taylor terms it drops: about $C\,h^p |f^{(n+p)}|$. *Rounding*: every value of
$f$ carries a relative error of a few $\epsilon \approx 2.2\times 10^{-16}$ (machine epsilon,
$\varepsilon_{\text{mach}}$ on the Notation page; in this module $\epsilon$), and the quotient
divides it by $h^n$: about $\epsilon\,|f| \sum_k |w_k| / h^n$ for weights $w_k$. The sum is
smallest when the two balance, at

$$h^* \propto \epsilon^{1/(p+n)}\, x_c ,$$

where $x_c$ is the length over which $f$ changes appreciably. That is $\epsilon^{1/2}$ for a
one-sided first difference, $\epsilon^{1/3}$ for a central one and $\epsilon^{1/4}$ for a central
second difference, with a best relative error near $\epsilon^{p/(p+n)}$: about $10^{-8}$,
$10^{-11}$ and $10^{-8}$. The complex step has no subtraction, hence no rounding term, and
reaches $\epsilon$. Richardson extrapolation removes truncation terms one power at a time and
picks its step from the data, reaching $10^{-13}$ or so without knowing $x_c$.
The error bounds (`full_output=True`) rest on that model, with the rounding of the argument
along the line (below); an $f$ that rounds worse is outside it. One such is a sum inside $f$
whose largest term comes from another coordinate: $e^{0.1 x_0 - 2.5 x_1}$ at $x_1 = -35$ rounds
an exponent of 88 that a step in $x_0$ does not scale, and the bounds of $\partial f/\partial x_0$
are then up to 3 times too small (14 times for the complex step).

**Default step.** With `h=None` the difference methods take $x_c = |x|$ (and $1$ at $x = 0$),
so the step shrinks for $\log$ at $10^{-4}$ and grows for $x^2$ at $10^{8}$; the constant is half
the textbook one, which doubles the rounding error but helps steep functions such as $e^{50x}$.
A relative step is too small for a function dominated by an offset, like $1 + x$ at
$x = 10^{-10}$: the rounding floor computed from the values of $f$ just obtained then exceeds
$10^3$ times its expected size, and those entries are redone once with $x_c = \max(|x|, 1)$,
keeping the new value if it agrees with the first within the first one's rounding error. A
function that cancels an offset, like $\cos x - 1$ or $e^x - 1$ near 0, rounds like the offset
although its values are small, so its floor looks honest; it shows as an estimate that is exactly
0 (every probe equal), redone the same way and replaced, or with `full_output=True` as a
measured truncation $10^3$ times the expected error, redone and kept if its bound is smaller.
With `full_output=True` the truncation error is measured (below), and the step is chosen from
it: $D(h)$ or $D(4h)$, whichever has the smaller bound (a step too short, like that for $\log$ at
$10^{-4}$, whose values are large beside $x f'$), and where truncation still dominates the
rounding floor, up to 3 shorter steps at the balance of the two (a step too long, like that
for $e^{50x}$ at $0$ or $\sin$ at $10^8$, whose $x_c$ is not $|x|$). A shorter step is kept only
if it confirms the longer one or refutes it (`_rebalance`); one whose difference only grew
measured rounding the floor missed, which is added to the longer step's bound, scaled back.
A vector-valued $f$ gets one step per line (per coordinate, or along `v`), the least any
output wants, and each output keeps its own estimate.
Richardson scans 8 steps from $\max(|x|, 1)/2$ down to $3\times10^{-5}$ times that, and scans
12 more, from $\min(|x|, 1, \max(|x|, 1)/4^8)/2$, where its error estimate exceeds $10^{-9} |f'|$
or $10^{-7} |f''|$ (a singularity near a tiny $x$, a periodic $f$ at a huge one, an $f$ that
varies faster than the first steps resolve), keeping the smaller error estimate, or the smaller
*relative* one where it refutes the other: a scan that steps over the pole of $x^{-3}$ converges
to a wrong value near 0. Large steps can alias a fast function into entries that agree
($\sin 1000x$ at steps $1/2, 1/8, \dots$), so each entry errs by at least its distance to every
first-level entry of a shorter step, less that one's own error. Where every step of the first
scan is long beside the period ($\sin 0.979x$ at $x = -118317$: all are 3.6 or more, and their
entries agree on a wrong value), no entry shows it; so the result is also compared with one
central difference at the second scan's scale (2 calls), and errs by at least their distance
less twice that difference's rounding floor, which starts the second scan where it matters.
That check is blind, and no bound is kept, where the oscillation is small beside $f$ itself:
in $x^2 + \sin 5x$ at $|x| \geq 10^5$, a step short enough to resolve $\sin 5x$ sees it below
its rounding floor ($4\epsilon x^2$ over the step), and the long steps alias it, so every
difference method and Richardson return the derivative of $x^2$ alone, with bounds up to
$10^6$ times too small (Richardson's $f'$ at $x = -7 \times 10^5$ errs by 1.6 under a bound
of $2 \times 10^{-6}$). A caller who knows the scale of $f$ gives `h` (or uses the complex
step, which has no rounding floor). So do the Hessian's axes, whose scan stops once converged
to $10^{-8} |f''|$: a sinusoid whose $f''$ is below that, beside a quartic's, is aliased by the
long steps ($0.08 \sin 0.38 x_0 - 14 x_0^4$ at $x_0 = 48.6$: $H_{00} = -4 \times 10^5$ errs by
$4 \times 10^{-3}$ under a bound of $8 \times 10^{-9}$).
A step whose probes both return exactly $f(x)$, after a longer step's difference was not 0,
estimates nothing (they round to it, as $1 + h^2$ does to 1 below $h = 10^{-8}$, and the
rounding floor of $f = 0$ is 0): its entries, and those built on them, drop out, and such a
check is ignored.
On the Hessian's axes Richardson scans instead from $4 x_c$ down by
factors of 2, all axes together, until every axis's estimate has converged (below
$10^{-8} |f''|$) and grown for two steps since: a smooth function is best served by large
steps, a rough one gets small ones. Wherever the two scans (of a derivative or of an axis)
disagree by more than both their error estimates, the second (shorter steps) is kept: an axis
scanned from steps far longer than the period of a sinusoid can agree on a wrong value. Not
where the second's estimate is mostly its rounding floor: that assumes each value of $f$ errs by
a few $\epsilon |f|$, and an $f$ computed as a sum of larger terms (a gradient, say) rounds like
its terms, so the short steps' floor is too small and the first scan's measured estimate is the
better witness.
The complex step uses $h = 10^{-20} x_c$. Every difference step is
rounded so that the probe is exactly representable: $h \leftarrow (x + h) - x$; a caller's `h`
that this rounds to 0 (below the spacing of floats at $x$) raises a `ValueError`.

**Cost** in calls to `f`, $m$ = `x.size`. Entries that are redone cost the same again
(Richardson's second scan 24 or 25 calls), the
complex step 2 more calls where $\operatorname{Im} f(x + ih) = 0$ (to tell $f' = 0$ from a
dropped imaginary part); `info.evaluations` always holds the true count.

| method | `derivative` $n=1$ / $n=2$ | `gradient`, `jacobian` | `hessian` |
|---|---|---|---|
| `"forward"`, `"backward"` | 2 / 3 | $m + 1$ | $m^2 + m + 1$ |
| `"central"` | 3 / 3 | $2m + 1$ | $m^2 + m + 1$ |
| `"complex"` | 1 / not available | $m$ | not available |
| `"richardson"` | 19 / 19 | $18m + 1$ | $2m^2 + 2(K - 1)m + 1$ |

$K$ is the number of steps each axis of the Hessian scans: 4 or 5 on a quartic, at most 20.

With `full_output=True` a difference method is repeated at step $4h$ ($2h$ for a one-sided
second difference, which shares its probes) to estimate its truncation error: one more call
per line for `forward`/`backward` and for the complex step at a caller's `h` (its default
$10^{-20} x_c$ truncates by $10^{-40}$ relative: its one more call measures $f''$ instead,
two where $|x| > 1$, one of them at a shorter imaginary offset: see `_curvature`),
two for `central`, and as many again for each shorter step
(a line is the one point of `derivative` and `directional_derivative`, a coordinate of
`gradient`, `jacobian` and the diagonal of `hessian`, a pair of coordinates off the diagonal,
which keeps $2h$). Richardson's error comes
with its table, except off the Hessian's diagonal, where a third step costs 2 calls per pair.
Every method but the complex step evaluates $f(x)$ itself (the one call in each count above
that a first central difference does not use): where it is not finite, $f$ has no derivative,
and a `ValueError` names the point. (A central difference never sees $f(x)$: at the pole of an
even function, $1/x^2$ or $\log|x|$ at 0, it is exactly 0 at every step, with an error of 0.)
Floating-point warnings are silenced while `f` is probed; a value that is not finite raises a
`ValueError` naming the point instead (Richardson drops the steps whose probes are not finite),
as does an estimate or error bound that is not finite (a step whose square underflows, say: a
default second-difference step stops shrinking with $|x|$ below $x = 10^{-140}$ for that reason,
and a caller's complex step must be a normal float). `x` is promoted to float64 (integers,
bools, float32); an `f` that returns float32 values raises, since the rounding floors assume
float64 ones.
"""

import functools
import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["Info", "derivative", "directional_derivative", "gradient", "hessian", "jacobian"]

EPS_MACH = float(np.finfo(np.float64).eps)  # machine epsilon; `eps` names stability constants
METHODS = ("forward", "backward", "central", "complex", "richardson")
_ORDER = {"forward": 1, "backward": 1, "central": 2, "complex": 2}  # truncation order p
_ROUNDING = 4 * EPS_MACH  # relative error assumed for each value of f: a few ulps
_TINY, _SUBNORMAL = float(np.finfo(np.float64).tiny), float(np.finfo(np.float64).smallest_subnormal)
# Richardson tables: (first step / x_c, most steps, levels, ratio of steps, patience)
_TABLE = (0.5, 8, 4, 4.0, None)  # derivatives: 8 steps down to 3e-5 x_c, up to O(h^10)
_RESCAN = (0.5, 12, 4, 4.0, None)  # derivatives' second scan: 12 steps, down to 1e-7 x_c
_AXIS_TABLE = (4.0, 20, 1, 2.0, 2)  # Hessian axes: O(h^4) like the pairs, scanned until it pays
_CONVERGED = 1e-8  # Richardson with a patience: stop only below this relative error
_RETRY = {1: 1e-9, 2: 1e-7}  # Richardson: scan again from the other scale above this relative error
_RATIO = {  # full_output: the second step, r h, that measures truncation (one-sided n=2: shared)
    ("forward", 1): 4.0, ("backward", 1): 4.0, ("central", 1): 4.0, ("central", 2): 4.0,
    ("forward", 2): 2.0, ("backward", 2): 2.0, ("complex", 1): 4.0,
}  # fmt: skip
_REBALANCE = 3  # full_output: at most this many shorter steps where truncation dominates
_CURVE = EPS_MACH ** (1 / 4)  # full_output, complex step: Re f(x + iH) measures f'' at H = this x_c


@dataclass(frozen=True)
class Info:
    r"""What `full_output=True` returns beside the value.

    Attributes
    ----------
    error : numpy.ndarray or float
        An estimated bound on the absolute error of each entry of the value: twice the
        truncation error measured with a second step (see "Cost"; Richardson: the distance to
        the neighbouring entry of its table), plus the rounding floor
        $4\epsilon \sum_k |w_k| (|f(x + k h)| + |x f'|) / h^n$.
        The complex step reports $4\epsilon$ times the larger of $|f'| (1 + |x f'^2 / f|)$ (the
        last ratio capped at $|x| / (\epsilon^{1/3} x_c)$) and $|f'| + |x f''|$, with $f''$
        measured from $\operatorname{Re} f(x + iH)$ at $H = \epsilon^{1/4} |x|$ or
        $\epsilon^{1/4}$ (`_curvature`): an $f$ that
        rounds a scaled argument errs by about $\epsilon |x f''|$, which matters where $f'$ is
        small ($\cos 3x$ at $\pi/3$). Where $\operatorname{Im} f(x + ih)$ is below the smallest
        normal float ($h f' = 10^{-321}$ for $e^x$ at $-700$), it has lost digits to gradual
        underflow, and $4 \cdot 5 \times 10^{-324} / h$ (4 spacings of the subnormals) is
        added: an honest bound, but a poor one, 3% for $e^x$ at $-700$. At a caller's `h` its
        truncation is measured with $4h$ and added, as for the differences.
    evaluations : int
        Number of calls to `f`.
    h : numpy.ndarray or float
        Step used along each coordinate, shaped like `x` (`directional_derivative`: the step
        along `v`, a float). For `"richardson"`, the smallest step of the extrapolation chosen.
    """

    error: np.ndarray | float
    evaluations: int
    h: np.ndarray | float


def _scales(x):
    r"""The lengths $x_c$ a default step is proportional to, per entry of `x`.

    Relative $|x|$, absolute $\max(|x|, 1)$, and small $\min(|x|, 1)$ (Richardson's second scan;
    kept above $2^{20}\epsilon |x|$); all three are 1 where $x = 0$.
    """
    a = np.abs(x)
    small = np.maximum(np.where(a > 0, np.minimum(a, 1.0), 1.0), 2**20 * EPS_MACH * a)
    return np.where(a > 0, a, 1.0), np.maximum(a, 1.0), small


class _Line:
    """`f` along `t -> x + t * d`: counts calls, caches values, checks shapes.

    `d` is one direction (a number or an array shaped like `x`), or a batch of sparse ones,
    `(index, weight)` with rows `d_p = sum_k weight[p, k] e_{index[p, k]}`: then `t` has one
    entry per row, `f` is called once per row, and the values are stacked on a last axis, the
    Jacobian's layout. `x0` is the coordinate a step is measured on (to make `x0 + h` exact),
    `scale` the lengths $x_c$ the default step is proportional to (`_scales`), and `rounds` the
    $|x|$ whose rounding inside $f(x + t d)$ the rounding floors count (`x0` unless given: a
    direction whose coordinates differ in size rounds as its largest, relative to `d`, does).
    """

    def __init__(self, f, x, d, x0, shared, expect=None, scale=None, rounds=None):
        self.f, self.x, self.d, self.x0, self.shared, self.expect = f, x, d, x0, shared, expect
        self.scale = scale or _scales(x0)
        self.rounds = x0 if rounds is None else rounds
        self.cache = {}

    def exact(self, h):
        return (self.x0 + h) - self.x0

    def __call__(self, t):
        t = np.asarray(t)
        if t.size and not np.any(t):
            if "f(x)" not in self.shared:
                # (a copy: an f that changes its argument in place would move every later probe)
                self.shared["f(x)"] = self._values([self.x.copy()])[..., 0]
            value = self.shared["f(x)"]
            return value[..., None] if isinstance(self.d, tuple) else value
        if not isinstance(self.d, tuple):
            key = t.tobytes()
            if key not in self.cache:
                self.cache[key] = self._values([self.x + t * self.d])[..., 0]
            return self.cache[key]
        index, weight = self.d  # a batch: each row's value is cached on its own
        t = np.broadcast_to(t, index.shape[:1])
        if not len(t):  # no rows at all: f(x) gives the shape
            return self(0.0)[..., :0]
        keys = [(row, s.item()) for row, s in enumerate(t)]
        if any(s == 0 for _, s in keys):  # a row at x itself: f(x), shared
            zero = self(0.0)[..., 0]
            self.cache.update({(row, 0.0): zero for row in range(len(t))})
        todo = [key for key in keys if key not in self.cache]
        if todo:
            flat = self.x.astype(np.result_type(self.x, t)).ravel()
            points = []
            for row, s in todo:
                point = flat.copy()
                point[index[row]] += s * weight[row]
                points.append(point.reshape(self.x.shape))
            values = self._values(points)
            for j, key in enumerate(todo):
                self.cache[key] = values[..., j]
        return np.stack([self.cache[key] for key in keys], axis=-1)

    def _values(self, points):
        """f at each point, stacked on a last axis; shapes checked, a non-finite value noted."""
        values = [np.asarray(self.f(p)) for p in points]  # under _quiet: non-finite are named
        self.shared["calls"] += len(values)
        for value in values:
            if value.dtype.kind not in "iufc":  # (bools: a step function, no derivative)
                got = value.flat[0] if value.size else value
                raise TypeError(f"f must return numbers, but it returned {got!r} ({value.dtype})")
        shape, message = self.expect or (self.shared.setdefault("shape", values[0].shape), "")
        for value in values:
            if value.shape != shape:
                message = message or f"f(x) has shape {shape}, but f returned shape {{got}}"
                raise ValueError(message.format(got=value.shape))
        values = np.stack(values, axis=-1)
        if values.dtype.kind in "iu":  # (differences of unsigned integers wrap around)
            values = values.astype(np.float64)
        if values.dtype.kind in "fc" and np.finfo(values.dtype).eps > EPS_MACH:
            raise ValueError(
                f"f returned dtype {values.dtype}: the steps and error bounds assume float64 "
                f"values (eps {EPS_MACH:.1e}), so compute f in float64 (float32 input is promoted)"
            )
        finite = np.isfinite(values)
        if not np.all(finite) and "bad" not in self.shared:
            k = np.argmin(np.all(finite.reshape(-1, len(points)), axis=0))
            self.shared["bad"] = _describe(points[k], values[..., k])
        return values


def _axes(m):
    """The unit vectors e_0, ..., e_{m-1} as a batch of sparse directions for `_Line`."""
    return np.arange(m)[:, None], np.ones((m, 1))


def _describe(point, value):
    bad = ~np.isfinite(value)
    where = point[bad].flat[0] if value.shape == point.shape else np.array2string(point)
    return f"f returned {value[bad].flat[0]} at the probe point {where}"


def _forward(g, h, n):
    r"""Forward differences, truncation error $O(h)$:

    $$f'(x) = \frac{f(x+h) - f(x)}{h} + O(h), \qquad
      f''(x) = \frac{f(x+2h) - 2f(x+h) + f(x)}{h^2} + O(h).$$

    Like every formula here it returns the estimate and $\sum_k |w_k| (|f_k| + |x f'|) / h^n$,
    the size of the values whose rounding the quotient amplifies; $|x f'|$ is what rounding
    the argument inside $f$ costs (`exp(50 * x)` rounds `50 * x`).
    """
    if n == 1:
        f0, f1 = g(0.0), g(h)
        d = (f1 - f0) / h
        return d, (np.abs(f1) + np.abs(f0) + 2 * np.abs(g.rounds * d)) / np.abs(h)
    f0, f1, f2 = g(0.0), g(h), g(2 * h)
    d = np.abs(g.rounds * (f1 - f0) / h)
    return (f2 - 2 * f1 + f0) / h**2, (np.abs(f2) + 2 * np.abs(f1) + np.abs(f0) + 4 * d) / h**2


def _backward(g, h, n):
    r"""Backward differences, the forward ones with $-h$; truncation error $O(h)$:

    $$f'(x) = \frac{f(x) - f(x-h)}{h} + O(h), \qquad
      f''(x) = \frac{f(x) - 2f(x-h) + f(x-2h)}{h^2} + O(h).$$
    """
    return _forward(g, -h, n)


def _central(g, h, n):
    r"""Central differences, truncation error $O(h^2)$:

    $$f'(x) = \frac{f(x+h) - f(x-h)}{2h} + O(h^2), \qquad
      f''(x) = \frac{f(x+h) - 2f(x) + f(x-h)}{h^2} + O(h^2).$$

    Their error expansions hold only even powers of $h$, which Richardson extrapolation uses.
    """
    fp, fm = g(h), g(-h)
    d = (fp - fm) / (2 * h)
    if n == 1:
        return d, (np.abs(fp) + np.abs(fm) + 2 * np.abs(g.rounds * d)) / (2 * h)
    f0, d = g(0.0), np.abs(g.rounds * d)
    return (fp - 2 * f0 + fm) / h**2, (np.abs(fp) + 2 * np.abs(f0) + np.abs(fm) + 4 * d) / h**2


def _complex(g, h, n=1):
    r"""Complex step, truncation error $O(h^2)$ and no subtraction:

    $$f'(x) = \frac{\operatorname{Im} f(x + ih)}{h} + O(h^2)$$

    for $f$ analytic near real $x$ and real on the reals. With nothing to cancel, $h$ can be
    $10^{-20} x_c$ and the estimate is as accurate as $f$ itself.
    """
    value = g(1j * h)
    if not np.all(np.isfinite(value)):  # (the probe is x itself, in its real part)
        raise ValueError(g.shared["bad"] + "; numerical derivatives need f finite near x")
    if value.size and not np.iscomplexobj(value):
        raise ValueError(
            f"method='complex' needs f to return complex values for complex input, but f "
            f"returned dtype {value.dtype}: it drops the imaginary part (float(), abs, np.real, "
            f"a real output array). Use method='central' or 'richardson' instead."
        )
    slope = value.imag / h
    if np.any(value.imag == 0):  # f' = 0 there, or f dropped the imaginary part: look
        real, noise = _central(g, g.exact(EPS_MACH ** (1 / 3) * g.scale[1]), 1)
        if np.any((value.imag == 0) & (np.abs(real) > 1e3 * _ROUNDING * noise)):
            raise ValueError(
                "method='complex': Im f(x + ih) is exactly 0 where f is not constant, so f "
                "drops the imaginary part (abs, comparisons, np.real), or h f'(x) underflows. "
                "Use method='central' or 'richardson' instead."
            )
    # f may round a scaled argument (exp(50 x) rounds 50 x): f' then errs by eps |x f''|,
    # estimated as |x f'^2 / f| (f = Re f(x + ih)), at most |x f'| / (eps^(1/3) x_c)
    grow = np.minimum(np.abs(slope) / np.abs(value.real), 1 / (EPS_MACH ** (1 / 3) * g.scale[1]))
    # an Im f below the smallest normal float has lost digits to gradual underflow (h f' = 1e-321
    # for e^x at -700): it errs by a few spacings of the subnormals, not by a few eps |Im f|
    lost = np.where(np.abs(value.imag) < _TINY, _SUBNORMAL / (EPS_MACH * h), 0.0)
    return slope, np.abs(slope) * (1 + np.abs(g.rounds) * np.nan_to_num(grow)) + lost


_FORMULAS = {"forward": _forward, "backward": _backward, "central": _central, "complex": _complex}


def _richardson(g, h, n, table=_TABLE):
    r"""Richardson extrapolation of central differences over the steps $h_k = h / r^k$.

    A central difference has the error expansion $D(h) = f^{(n)}(x) + c_1 h^2 + c_2 h^4 + \dots$;
    combining two steps cancels the leading term, level by level, a row per step:

    $$T_{k,0} = D(h_k), \qquad
      T_{k,j} = \frac{r^{2j}\, T_{k,j-1} - T_{k-1,j-1}}{r^{2j} - 1} = f^{(n)}(x) + O(h_k^{2j+2}).$$

    The error of an entry is estimated as $|T_{k,j} - T_{k-1,j}|$, the distance to the entry
    with the next larger steps (which errs more), plus its rounding floor, carried through the
    same recurrence (a level with a single entry: $|T_{k,j} - T_{k,j-1}|$, its correction).
    Per element, the entry with the smallest estimate wins. Steps whose probes are not finite
    (a large step stepping over a singularity) drop out. `table` is (first step / x_c, most
    steps, levels, $r$, patience): with a patience $p$ the scan stops once the best estimate of
    each of $p$ successive rows exceeds twice the best so far, as in Ridders' method (Ridders,
    1982): past the optimal step rounding only grows. Returns the value, its error, its rounding
    floor and its step.
    """
    _, steps, levels, r, patience = table
    rows, floors, found, rising = [], [], [], 0
    f0 = g(0.0)  # (cached, as are the probes: `_level` asks for them again at no cost)
    changed = blind = False  # per entry: a longer step's difference was not 0; a row's since was
    for k in range(steps):
        hk = g.exact(h / r**k)
        d, noise = _central(g, hk, n)
        # (probes that round to f(x), 1 + h**2 == 1; or a difference exactly 0 after one that
        # was not: the probes are quantised by a rounding larger than eps |f|, cos(x) - 1 at 1e-5)
        blind = blind | (changed & (_level(g, hk, f0) | (d == 0)))
        changed = changed | (d != 0)
        row, floor = [np.asarray(d)], [_ROUNDING * np.asarray(noise)]
        for j in range(1, min(k, levels) + 1):
            c = r ** (2 * j)
            row.append((c * row[-1] - rows[-1][j - 1]) / (c - 1))
            floor.append((c * floor[-1] + floors[-1][j - 1]) / (c - 1))
        new = [
            (row[j], floor[j] + np.abs(row[j] - rows[-1][j]), floor[j], hk)
            for j in range(min(k, levels + 1))
        ]
        if k + 1 == steps and k <= levels:  # the last level has one entry: its correction
            new.append((row[k], floor[k] + np.abs(row[k] - row[k - 1]), floor[k], hk))
        # a row whose probes round to f(x), after a longer step's difference was not 0, estimates
        # nothing, and neither do the entries built on it: its step is below what f resolves
        new = [(v, np.where(blind, np.inf, e), fl, s, e) for v, e, fl, s in new]
        rows.append(row)
        floors.append(floor)
        if patience and found and new:  # stop once converged and past the optimal step
            error = [np.nan_to_num(c[1], nan=np.inf) for c in found]
            i = np.argmin(error, axis=0)[None]
            best = np.take_along_axis(np.asarray(error), i, axis=0)[0]
            value = np.take_along_axis(np.asarray([c[0] for c in found]), i, axis=0)[0]
            worse = np.min([np.nan_to_num(c[1], nan=np.inf) for c in new], axis=0) > 2 * best
            converged = best <= _CONVERGED * np.abs(value)
            rising = rising + 1 if np.all(worse & converged) else 0
        found += [(*c, k) for c in new]
        if rising == patience:
            break
    # a large step can alias a function that varies on a shorter scale into entries that agree
    # (sin(1000 x) at steps 1/2, 1/8, ...): each entry errs by at least its distance to every
    # later first-level entry, less that one's own error (its distance to the one before)
    level = np.asarray([r[0] for r in rows])
    spread = np.abs(np.diff(level, axis=0)) + np.asarray([f[0] for f in floors])[1:]
    for i, (value, error, floor, hk, raw, k) in enumerate(found):
        gap = np.abs(value - level[k + 1 :]) - spread[k:]
        gap = np.max(np.where(np.isnan(gap), -np.inf, gap), axis=0, initial=0)
        found[i] = value, np.maximum(error, gap), floor, hk, np.maximum(raw, gap)
    cands, errors, rounding, at, raw = (np.asarray(a) for a in zip(*found, strict=True))
    errors = np.where(np.isnan(errors), np.inf, errors)
    # an entry whose every row is blind (rounding noise of larger terms, as an entry 0 in exact
    # arithmetic: it varies by an ulp at one step and not at a shorter one) keeps the estimates
    errors = np.where(
        np.all(np.isinf(errors), axis=0), np.where(np.isnan(raw), np.inf, raw), errors
    )
    best = np.argmin(errors, axis=0)[None]
    pick = [np.take_along_axis(a, best, axis=0)[0] for a in (cands, errors, rounding)]
    at = at.reshape(at.shape[:1] + (1,) * (errors.ndim - at.ndim) + at.shape[1:])  # outputs
    at = np.broadcast_to(at, errors.shape)
    return (*pick, np.take_along_axis(at, best, axis=0)[0])


def _level(g, h, f0):
    """Where both probes of a central difference at step `h` are exactly f(x)."""
    return (g(h) == f0) & (g(-h) == f0)


def _estimate(g, method, n, h, full, table=_TABLE, choose=False):
    r"""One estimate at step `h`: value, error bound, step, rounding floor, truncation estimate.

    With `full` a difference method (and the complex step at a caller's `h`) is repeated at the
    step $r h$ ($r$ = `_RATIO`), which measures the leading truncation term:
    $D(rh) - D(h) \approx (r^p - 1)\,c\,h^p$. The bound
    of $D(h)$ is twice that term (taken as $|D(rh) - D(h)| / (r - 1)$, generous for $p = 2$)
    plus both rounding floors. With `choose` (the step is the default, not the caller's),
    $D(rh)$ is returned instead where its own bound, $2 r^p |D(rh) - D(h)| / (r^p - 1)$ plus
    its floor and the rounding $D(h)$ brings into that difference, is the smaller: a default
    step that is too short for $f$ (rounding-bound, like $\log$ at $10^{-4}$) costs nothing more.
    The default complex step, $10^{-20} x_c$, is evaluated once: its truncation is negligible.
    `h` has one entry per line (`x`'s shape, or none); the step returned has one per value.
    """
    if method == "richardson":
        value, error, floor, step = _richardson(g, g.exact(h), n, table)
        return value, error, step, floor, error - floor
    if method == "complex" and choose:
        value, noise = _complex(g, h)
        if full:  # rounding a scaled argument costs eps |x f''|: f'' from Re f(x + iH)
            noise = np.maximum(noise, np.abs(value) + np.abs(g.rounds) * _curvature(g, h))
        return value, _ROUNDING * noise, h, _ROUNDING * noise, 0 * noise
    formula = _FORMULAS[method]
    h = h if method == "complex" else g.exact(h)  # an imaginary step needs no exact probe
    value, noise = formula(g, h, n)
    floor = _ROUNDING * noise + EPS_MACH * np.abs(value)
    if not full:
        return value, floor, h, floor, np.zeros_like(floor)
    r = _RATIO[method, n]
    big = r * h if method == "complex" else g.exact(r * h)
    other, noise2 = formula(g, big, n)
    floor2 = _ROUNDING * noise2 + EPS_MACH * np.abs(other)
    c = (big / h) ** _ORDER[method]  # r^p, for the steps as rounded
    change = np.abs(value - other)
    trunc = change / (big / h - 1)
    error = 2 * trunc + floor + floor2
    if not choose:
        return value, error, h, floor, trunc
    trunc2 = change * c / (c - 1)
    error2 = 2 * trunc2 + floor2 + floor * c / (c - 1) / 4
    take = error2 < error
    pick = lambda a, b: np.where(take, b, a)  # noqa: E731
    return (
        pick(value, other),
        pick(error, error2),
        pick(np.broadcast_to(h, np.shape(take)), np.broadcast_to(big, np.shape(take))),
        pick(floor, floor2),
        pick(trunc, trunc2),
    )


def _curvature(g, h):
    r"""$|f''|$ from $\operatorname{Re} f(x + iH) = f(x) - H^2 f''(x) / 2 + O(H^4)$, for the
    complex step's error bound: the one at the shorter offset where it exceeds its rounding
    ($f$ can saturate at the longer one), else the less of two measurements, at
    $H = \epsilon^{1/4} x_c$ with the relative length $|x|$ (where rounding $f(x)$ would swamp
    a shorter one: $x^3$ at $10^7$) and with the small one, $\min(|x|, 1)$ (where $f$ grows off
    the real line: $\sin(x + iH)$ grows as $\cosh H$, and overflows for $H = \epsilon^{1/4} |x|$
    beyond $|x| = 6 \cdot 10^6$).
    A probe that overflows there is no fault of $f$ near $x$: it only drops its measurement.
    """
    fine = "bad" not in g.shared
    curve = np.inf
    for length in (g.scale[0], g.scale[2]):  # (one call if they are equal: the probes are cached)
        H = _CURVE * length  # (a float: H**2 would raise OverflowError where H * H is inf)
        c = 2 * np.abs(g(1j * h).real - g(1j * H).real) / (H * H)
        curve = np.minimum(curve, np.where(np.isfinite(c), c, np.inf))
    # the short one (the last), where it exceeds its rounding, is local: at the long one f can
    # saturate (atan(sin 26x) at x = 12345.678 measured 0.7 there for |f''| = 342)
    floor = 4 * _ROUNDING * np.abs(g(1j * h).real) / (H * H)
    curve = np.where(np.isfinite(c) & (c > floor), c, curve)
    if fine and np.all(np.isfinite(curve)):
        g.shared.pop("bad", None)
    return np.where(np.isfinite(curve), curve, np.nan)  # (nan: no measurement, the bound too)


def _step(method, n, scale, table=_TABLE):
    if method == "complex":
        return np.maximum(1e-20 * scale, 1e-280)
    if method == "richardson":
        return table[0] * scale  # the largest step of the sequence
    if n == 2:  # (h^2 must not underflow: below x = 1e-140 the step stops shrinking with |x|)
        scale = np.maximum(scale, 1e-140)
    return 0.5 * EPS_MACH ** (1 / (_ORDER[method] + n)) * scale


def _finite_at_x(g):
    """Raise unless f is finite at x itself, where a derivative needs it to be.

    Central differences of f' never evaluate f(x): at a pole of an even function (1/x**2 or
    log|x| at 0) every one of them is exactly 0, and so would be the estimate and its error.
    """
    if not np.all(np.isfinite(g(0.0))):  # (one call; the other formulas reuse it)
        raise ValueError(g.shared["bad"] + "; f has no derivative where it is not finite")


def _along(g, method, n, h, full, table=_TABLE, rescan=_RESCAN):
    """The n-th derivative of `t -> g(t)` at 0: value, error bound, step; see "Default step"."""
    if method != "complex":  # (its probe's real part is f(x): `_complex` checks it)
        _finite_at_x(g)
    if h is not None:
        if method == "complex" and np.any(h < np.finfo(np.float64).tiny):
            raise ValueError(
                f"h={np.min(h):g} is subnormal: the complex step h f'(x) loses its digits; use "
                f"h >= {np.finfo(np.float64).tiny:.3g} (the default is 1e-20 x_c)"
            )
        if method != "complex" and np.any(g.exact(h) == 0):
            k = np.argmax(np.broadcast_to(g.exact(h) == 0, np.shape(g.x0)))
            x, step = np.ravel(g.x0)[k], np.ravel(np.broadcast_to(h, np.shape(g.x0)))[k]
            raise ValueError(
                f"h={step:g} is below the spacing of floats at x={x:g}: x + h rounds to x, "
                f"so every probe is f(x); use h >= {np.spacing(np.abs(x)):.2g}"
            )
        return _estimate(g, method, n, h, full, table)[:3]
    rich = method == "richardson"
    first, second = (g.scale[1], g.scale[2]) if rich else g.scale[:2]
    if rich and rescan is not table:  # the second scan also reaches below the first one's steps
        second = np.minimum(second, first * table[0] / (rescan[0] * table[3] ** table[1]))
    base = _step(method, n, first, table)
    out = _estimate(g, method, n, base, full, table, choose=True)
    value, error, _, floor, trunc = out
    outputs = tuple(range(np.ndim(value) - np.ndim(first)))  # one step for all of an output
    if rich and rescan is not table:  # steps of x_c may all alias (sin 0.979x at x = -118317):
        # a central difference at the second scan's scale that disagrees beyond its rounding
        # sets a floor under the error, which starts the second scan
        at = g.exact(_step("central", n, second))
        check, noise = _central(g, at, n)
        gap = np.abs(value - check) - 2 * _ROUNDING * noise
        # (a blind check: its probes round to f(x), or its difference is exactly 0, the values
        # of f quantised by a rounding larger than the eps |f| of the floor: cos(x) - 1 at 1e-5)
        blind = np.isnan(gap) | _level(g, at, g(0.0)) | ((check == 0) & (value != 0))
        gap = np.where(blind, 0.0, gap)
        if np.any(gap > 0):  # confirmed at twice the step, or it was rounding noise too
            again, noise2 = _central(g, g.exact(2 * at), n)
            gap = np.where(np.abs(check - again) > 8 * _ROUNDING * (noise + noise2), 0.0, gap)
        error = np.maximum(error, gap)
        out = (value, error, *out[2:])
    if rich:  # its error estimate is reliable: redo where it is poor (or not finite)
        redo = ~(error <= _RETRY[n] * np.abs(value))
    else:  # redo where rounding (or the truncation measured) is 1000x its expected size, or 0
        p = _ORDER[method]
        expected = EPS_MACH ** (p / (p + n)) * np.abs(value)
        redo = (np.maximum(floor, trunc) > 1e3 * expected) | (value == 0)
    redo = np.any(redo, axis=outputs) & (first != second)
    if np.any(redo):
        if rich:  # a step of 0 leaves a row of a batch alone (no calls); its entries are nan
            again = np.where(redo, _step(method, n, second, rescan), 0.0)
        else:  # a batch evaluates the other rows' probes again, cached
            again = np.where(redo, _step(method, n, second, table), base)
        new = _estimate(g, method, n, again, full, rescan if rich else table, True)
        v2, e2 = new[:2]
        if rich:  # the smaller error, or the smaller relative one where it refutes the first:
            ok, ok2 = np.isfinite(value) & np.isfinite(error), np.isfinite(v2) & np.isfinite(e2)
            relative = (e2 * np.abs(value) < error * np.abs(v2)) & (np.abs(v2 - value) > e2)
            better = ok2 & (~ok | (e2 < error) | relative)  # a scan over a pole looks converged
            # Where the scans disagree beyond both bounds, one bound is wrong: the first's, whose
            # large steps can alias a sinusoid into entries that agree (Hessian axes); unless the
            # second's is mostly the rounding floor it assumes, eps |f| (an f computed with
            # cancellation, such as a gradient, rounds like its terms): the first's was measured
            disagree = ok & ok2 & (np.abs(v2 - value) > e2 + error)
            better |= disagree & ~(new[3] > 0.5 * e2)
        elif full:  # the smaller bound; and a 0 where f is not constant was no estimate
            better = (e2 < error) | ((value == 0) & np.isfinite(e2))
        else:  # agreement within the first one's rounding, or the first was a 0 (all probes equal)
            better = np.isfinite(v2) & ((np.abs(v2 - value) <= 2 * floor) | (value == 0))
        take = redo & (better if rich else np.all(better, axis=outputs))
        base = np.where(take, again, base)
        out = tuple(np.where(take, b, a) for a, b in zip(out, new, strict=True))
    if full and not rich and method != "complex":  # a measured truncation: balance the step
        out = _rebalance(g, method, n, out, base, outputs, table)
    return out[:3]


def _rebalance(g, method, n, out, base, outputs, table):
    r"""Shorten the step where the measured truncation error dominates the rounding floor.

    With truncation $T (s/h)^p$ and rounding $F (h/s)^n$ the bound is least at
    $s = h\,(nF / pT)^{1/(p+n)}$; where that is below $h/2$ for some output ($e^{50x}$ with
    $x_c = 1$) the line is redone at the least such $s$, at most `_REBALANCE` times. An output
    keeps the new estimate if it confirms the old one (within its bound) with a smaller bound,
    or if the old bound misses it and its own measured truncation is smaller (the long step was
    outside the range where its leading term dominates). A shorter step whose difference only
    grew found rounding, not truncation (the floor of $\cos x - 1$ is $\epsilon$, not
    $\epsilon |f|$); one that makes every probe equal, a 0 where $f$ is not constant, is no
    estimate. `base` is each line's step (`_estimate`'s returns one per output).
    """
    value, error, step, floor, trunc = out
    p = _ORDER[method]
    for _ in range(_REBALANCE):
        ratio = np.where(trunc > 0, n * floor / (p * np.where(trunc > 0, trunc, 1)), np.inf)
        target = ratio ** (1 / (p + n)) * step  # the optimal step of each output
        redo = np.any(target < 0.5 * step, axis=outputs)
        if not np.any(redo):
            break
        h = np.where(redo, np.min(target, axis=outputs), base)  # one step per line
        new = _estimate(g, method, n, h, True, table, True)
        v2, e2, _, _, t2 = new
        miss = np.abs(v2 - value) > error
        # missed: the old step was too long if it errs 1% or more, if the new one errs less
        # relatively, or if the new one's bound misses the old by 2x too
        longer = (trunc > 0.01 * np.abs(value)) | (t2 * np.abs(value) < trunc * np.abs(v2))
        longer |= np.abs(v2 - value) > 2 * e2
        consistent = np.where(miss, longer, e2 < error)
        take = redo & consistent & ((v2 != 0) | (value == 0)) & ((t2 > 0) | (trunc == 0))
        noise = redo & miss & ~take  # rounding the floor missed, scaled back to the longer step
        error = np.where(noise, error + 2 * np.abs(v2 - value) * (h / step) ** n, error)
        if not np.any(take):
            break
        base = np.where(np.any(take, axis=outputs), h, base)
        value, error, step, floor, trunc = (
            np.where(take, b, a)
            for a, b in zip((value, error, step, floor, trunc), new, strict=True)
        )
    return value, error, step, floor, trunc


def _real(name, a):
    """`a` as a finite float64 array: bools and integers (even past int64) are promoted."""
    a = np.asarray(a)
    if a.dtype.kind == "O":  # a Python int too large for int64, say (None is no number)
        bad = [v for v in a.flat if not isinstance(v, numbers.Real)]
        if bad:
            raise TypeError(f"{name} must be real numbers, got {bad[0]!r}")
        try:
            a = a.astype(np.float64)
        except OverflowError:  # (an int past float64's range: not "not real")
            digits = max(len(str(abs(v))) for v in a.flat if isinstance(v, numbers.Integral))
            raise ValueError(
                f"{name} must be finite in float64, got an integer of {digits} digits"
            ) from None
        except (TypeError, ValueError):
            pass
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be real (bool, integer or float), got dtype {a.dtype}")
    a = a.astype(np.float64)  # integers are promoted, never truncated
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {a[~np.isfinite(a)].flat[0]}")
    return a


def _checked(method, n, h, x):
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(map(repr, METHODS))}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"n must be an integer (1 or 2), got {n!r}")
    if n not in (1, 2) or (method == "complex" and n != 1):
        orders = "n=1 only" if method == "complex" else "n=1 and n=2"
        raise ValueError(f"n={n} is not supported by method={method!r}, which gives {orders}")
    x = _real("x", x)
    if h is not None:
        given = np.asarray(h)
        if given.dtype.kind not in "iuf":  # ("0.1" or True as a step is a mistake, not a step)
            raise TypeError(f"h must be a positive number (or one per entry of x), got {h!r}")
        h = given.astype(np.float64)
        if not np.all(np.isfinite(h) & (h > 0)):
            raise ValueError(f"h must be positive and finite, got {h}")
        if h.ndim and h.shape != x.shape:
            raise ValueError(f"h must be a number or have x's shape {x.shape}, got shape {h.shape}")
        h = np.broadcast_to(h, x.shape)
    return x, h


def _quiet(function):
    """Silence floating-point warnings, in f too: `_result` names a non-finite value's point."""

    @functools.wraps(function)
    def quiet(*args, **kwargs):
        with np.errstate(all="ignore"):
            return function(*args, **kwargs)

    return quiet


def _result(value, error, shared, h, full_output):
    if not (np.all(np.isfinite(value)) and np.all(np.isfinite(error))):
        if "bad" in shared:
            raise ValueError(shared["bad"] + "; numerical derivatives need f finite near x")
        raise ValueError(
            f"the estimate is not finite although f was finite at every probe: a step (the "
            f"smallest is h={np.min(h, initial=np.inf):g}) underflows in the difference "
            "quotient, or the differences of f overflow; give a step h explicitly"
        )
    value = np.asarray(value)[()]
    if not full_output:
        return value
    return value, Info(error=np.asarray(error)[()], evaluations=shared["calls"], h=h)


@_quiet
def derivative(f, x, *, n=1, method="central", h=None, full_output=False):
    r"""Derivative of order `n` of a scalar function, elementwise over `x`.

    Parameters
    ----------
    f : callable
        Maps an array to an array of the same shape, element by element (a vectorised
        $\mathbb{R} \to \mathbb{R}$ function such as `np.sin`); called once per probe step.
    x : float or array_like
        Point(s); integers are promoted to float.
    n : {1, 2}
        Order of the derivative (`"complex"`: 1 only).
    method : {"central", "forward", "backward", "complex", "richardson"}
        Difference formula; `"complex"` needs `f` analytic and written for complex input.
    h : float or array_like, optional
        Step (for `"richardson"`: the largest one). Default: see the module's "Default step".
    full_output : bool
        Also return an `Info` with the error bound, the number of calls and the step.

    Returns
    -------
    value : float or numpy.ndarray
        $f^{(n)}(x)$, shaped like `x`.
    info : Info
        Only with `full_output=True`.

    Raises
    ------
    ValueError
        Unknown `method`; unsupported `n`; `x` not finite; `h` not positive, or below the
        spacing of floats at `x`; `f(x)` not shaped like `x`; `f` not finite at a probe point
        (named); `"complex"` with an `f` that drops the imaginary part.
    TypeError
        `n` not an integer, `x` not real, or `f` returning something other than numbers.

    Notes
    -----
    The central difference, the default, is
    $$f'(x) = \frac{f(x+h) - f(x-h)}{2h} + O(h^2), \qquad h = \tfrac12\,\epsilon^{1/3} x_c.$$

    Examples
    --------
    ```python
    import numpy as np
    from calcbook import numdiff

    x = np.array([0.5, 1.0, 2.0])
    d, info = numdiff.derivative(np.exp, x, method="richardson", full_output=True)
    np.testing.assert_allclose(d, np.exp(x), rtol=1e-12)
    assert np.all(np.abs(d - np.exp(x)) <= info.error) and info.evaluations == 19
    assert np.isclose(numdiff.derivative(np.sin, 1.0, n=2), -np.sin(1.0), rtol=1e-6)
    ```
    """
    x, h = _checked(method, n, h, x)
    message = f"derivative needs f elementwise: f(x) should have x's shape {x.shape}, not {{got}}"
    shared = {"calls": 0}
    g = _Line(f, x, 1.0, x, shared, expect=(x.shape, message + "; for f of a vector use jacobian"))
    value, error, step = _along(g, method, n, h, full_output)
    return _result(value, error, shared, np.asarray(step)[()], full_output)


@_quiet
def _jacobian(f, x, method, h, full_output, expect):
    x, h = _checked(method, 1, h, x)
    shared = {"calls": 0}
    g = _Line(f, x, _axes(x.size), x.ravel(), shared, expect)  # every column at once
    value, error, step = _along(g, method, 1, None if h is None else h.ravel(), full_output)
    shape = value.shape[:-1] + x.shape
    step = np.min(step, axis=tuple(range(np.ndim(step) - 1)), initial=np.inf)
    step = np.where(np.isinf(step), np.nan, step)  # (an empty output: no step taken)
    return _result(
        value.reshape(shape), error.reshape(shape), shared, step.reshape(x.shape), full_output
    )


def jacobian(f, x, *, method="central", h=None, full_output=False):
    r"""Jacobian of `f` at `x`: every partial derivative of every output.

    Parameters
    ----------
    f : callable
        Maps an array shaped like `x` to an array of any fixed shape; called once per probe.
    x : float or array_like
        Point; integers are promoted to float.
    method : {"central", "forward", "backward", "complex", "richardson"}
        Difference formula, applied along each coordinate.
    h : float or array_like, optional
        Step, one per coordinate if an array shaped like `x`. Default: the module's rule.
    full_output : bool
        Also return an `Info` (error bound shaped like the value).

    Returns
    -------
    value : numpy.ndarray
        Shape `f(x).shape + x.shape`.
    info : Info
        Only with `full_output=True`.

    Raises
    ------
    ValueError
        As `derivative`, and if `f` returns different shapes at different points.

    Notes
    -----
    Column $j$ is a derivative along the unit vector $e_j$:
    $$J_{:,j} = \frac{f(x + h_j e_j) - f(x - h_j e_j)}{2h_j} + O(h_j^2).$$

    Examples
    --------
    ```python
    import numpy as np
    from calcbook import numdiff

    A = np.arange(6.0).reshape(3, 2)
    J = numdiff.jacobian(lambda x: np.tanh(A @ x), np.array([0.1, -0.2]))
    exact = (1 - np.tanh(A @ [0.1, -0.2]) ** 2)[:, None] * A
    np.testing.assert_allclose(J, exact, rtol=1e-8, atol=1e-12)
    ```
    """
    return _jacobian(f, x, method, h, full_output, expect=None)


def gradient(f, x, *, method="central", h=None, full_output=False):
    r"""Gradient of a scalar-valued `f` at `x`, shaped like `x`.

    Parameters
    ----------
    f : callable
        Maps an array shaped like `x` to a scalar; called once per probe.
    x : float or array_like
        Point; integers are promoted to float.
    method : {"central", "forward", "backward", "complex", "richardson"}
        Difference formula, applied along each coordinate.
    h : float or array_like, optional
        Step, one per coordinate if an array shaped like `x`. Default: the module's rule.
    full_output : bool
        Also return an `Info` (error bound shaped like `x`).

    Returns
    -------
    value : numpy.ndarray
        $\nabla f(x)$, shape `x.shape`.
    info : Info
        Only with `full_output=True`.

    Raises
    ------
    ValueError
        If `f(x)` is not a scalar (use `jacobian`), and as `derivative`.

    Notes
    -----
    $$\frac{\partial f}{\partial x_j} = \frac{f(x + h_j e_j) - f(x - h_j e_j)}{2h_j} + O(h_j^2),$$
    $2\,$`x.size` calls for the central difference.

    Examples
    --------
    ```python
    import numpy as np
    from calcbook import numdiff

    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    g, info = numdiff.gradient(lambda x: np.sum(x**3), x, full_output=True)
    np.testing.assert_allclose(g, 3 * x**2, rtol=1e-9)
    assert g.shape == x.shape and np.all(np.abs(g - 3 * x**2) <= info.error)
    ```
    """
    message = "gradient needs a scalar-valued f, but f returned shape {got}; use jacobian instead"
    return _jacobian(f, x, method, h, full_output, expect=((), message))


@_quiet
def directional_derivative(f, x, v, *, method="central", h=None, full_output=False):
    r"""Derivative of `f` at `x` along the direction `v`: by default from f(x) and two probes.

    Parameters
    ----------
    f : callable
        Maps an array shaped like `x` to an array of any fixed shape.
    x, v : array_like
        Point and direction, of the same shape; `v` is not normalised and must not be zero.
    method : {"central", "forward", "backward", "complex", "richardson"}
        Difference formula along the line $t \mapsto x + t v$.
    h : float, optional
        Step in $t$. Default: the module's rule, with $x_c$ the largest $t$ that moves no
        coordinate by more than its own scale, $\min_i x_{c,i} / |v_i|$. The rounding floor of
        the error bound takes the $|x f'|$ term with $\max_i |x_i| / |v_i|$ for $|x|$: the
        coordinate that rounds worst along $v$ (where coordinates differ in size, scale `v` by
        them, as `calcbook.check_grads` does).
    full_output : bool
        Also return an `Info`.

    Returns
    -------
    value : float or numpy.ndarray
        $J(x)\,v$, shaped like `f(x)`.
    info : Info
        Only with `full_output=True`.

    Raises
    ------
    ValueError
        If `v` is zero, not finite, or its shape differs from `x`'s (both named), if `h` moves
        no coordinate of `x`, if `v` is so small (subnormal) that the default step along it
        overflows, and as `derivative` (`TypeError` for a `v` that is not real).

    Notes
    -----
    $$\nabla_v f(x) = \frac{d}{dt} f(x + t v)\Big|_{t=0}
      = \frac{f(x + h v) - f(x - h v)}{2h} + O(h^2).$$

    Examples
    --------
    ```python
    import numpy as np
    from calcbook import numdiff

    x, v = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    d = numdiff.directional_derivative(lambda x: np.sum(np.sin(x)), x, v, method="complex")
    np.testing.assert_allclose(d, np.cos(x) @ v, rtol=1e-15)
    ```
    """
    x, _ = _checked(method, 1, None, x)
    v = _real("v", v)
    if v.shape != x.shape:
        raise ValueError(f"v must have x's shape {x.shape}, got shape {v.shape}")
    if not np.any(v):
        raise ValueError("v is zero: a direction must be nonzero")
    nz = v != 0
    scale = tuple(float(np.min(s[nz] / np.abs(v[nz]))) for s in _scales(x))
    if h is None and not np.isfinite(scale[1]):
        raise ValueError(
            f"v is too small to step along: its largest entry is {np.max(np.abs(v)):g}, and the "
            "step that moves x by its own scale, x_c / |v|, overflows; scale v up (the "
            "derivative is linear in v) or give h"
        )
    # `_Line.exact`'s origin; and the coordinate that rounds worst, relative to v: rounding
    # x + t v moves t by up to about eps |x_i| / |v_i|, the |x f'| of the rounding floors
    u = np.abs(v).ravel() / np.max(np.abs(v))  # (v / max|v|: v @ v overflows past 1e154)
    x0 = min(float(np.abs(x).ravel() @ u / (u @ u) / np.max(np.abs(v))), scale[0])
    rounds = float(np.max(np.abs(x[nz]) / np.abs(v[nz])))
    if h is not None:
        if np.ndim(h):  # (one step along v: x + h v)
            raise ValueError(f"h must be a number, the step along v, got shape {np.shape(h)}")
        h = _checked(method, 1, h, 0.0)[1][()]
        if method != "complex" and ((x0 + h) - x0 == 0 or np.array_equal(x + h * v, x)):
            raise ValueError(f"h={h:g} is below the spacing of floats at x: x + h v rounds to x")
    shared = {"calls": 0}
    g = _Line(f, x, v, x0, shared, scale=scale, rounds=rounds)
    value, error, step = _along(g, method, 1, h, full_output)
    return _result(value, error, shared, float(np.min(step)), full_output)


@_quiet
def hessian(f, x, *, method="central", h=None, full_output=False):
    r"""Hessian of a scalar-valued `f` at `x`, shape `x.shape + x.shape`, exactly symmetric.

    Parameters
    ----------
    f : callable
        Maps an array shaped like `x` to a scalar.
    x : float or array_like
        Point; integers are promoted to float.
    method : {"central", "forward", "backward", "richardson"}
        Formula for the second differences; the complex step gives first derivatives only.
    h : float or array_like, optional
        Step per coordinate (for `"richardson"`: the largest of each axis's sequence).
    full_output : bool
        Also return an `Info` (error bound shaped like the value).

    Returns
    -------
    value : numpy.ndarray
        $\nabla^2 f(x)$.
    info : Info
        Only with `full_output=True`.

    Raises
    ------
    ValueError
        If `f(x)` is not a scalar, `method="complex"`, and as `derivative`.

    Notes
    -----
    The diagonal is the second derivative along each axis, $H_{ii}$, with its own step $h_i$.
    Each pair then needs one second difference along $u = h_i e_i + h_j e_j$, since
    $u^\top H u = h_i^2 H_{ii} + 2 h_i h_j H_{ij} + h_j^2 H_{jj}$:
    $$H_{ij} = \frac{D^2_u - h_i^2 H_{ii} - h_j^2 H_{jj}}{2 h_i h_j}, \qquad
      D^2_u = f(x + u) - 2 f(x) + f(x - u) = u^\top H u + O(|u|^4),$$
    2 calls per pair for `"central"`, $O(h^2)$ overall. `"richardson"` extrapolates each axis
    to $O(h^4)$ over steps from $4\max(|x_i|, 1)$ down by factors of 2 until every axis's
    estimate has converged (4 or 5 steps on a quartic), which chooses $h_i$, then extrapolates
    $D^2_u$ over $2u$ and $u$: 4 calls per pair, $2m^2 + 2(K-1)m + 1$ in all for $K$ steps,
    where a Richardson table on every entry costs about $30m^2$. With `full_output=True` a
    third step, $4u$, checks each pair's extrapolation (2 more calls per pair).

    Examples
    --------
    ```python
    import numpy as np
    from calcbook import numdiff

    f = lambda x: x[0] ** 2 * x[1] + np.exp(x[1])
    H = numdiff.hessian(f, np.array([1.0, 0.5]), method="richardson")
    exact = np.array([[1.0, 2.0], [2.0, np.exp(0.5)]])
    np.testing.assert_allclose(H, exact, rtol=1e-9)
    assert np.array_equal(H, H.T)
    ```
    """
    x, h = _checked(method, 2, h, x)
    m, shared = x.size, {"calls": 0}
    expect = ((), "hessian needs a scalar-valued f; for vector-valued f use jacobian of jacobian")
    g = _Line(f, x, _axes(m), x.ravel(), shared, expect)  # the diagonal, every axis at once
    h = None if h is None else h.ravel()
    d, e, s = _along(g, method, 2, h, full_output, _AXIS_TABLE, _AXIS_TABLE)
    i, j = np.triu_indices(m, 1)  # then every pair at once, along u = s_i e_i + s_j e_j
    g = _Line(f, x, (np.stack([i, j], axis=1), np.stack([s[i], s[j]], axis=1)), 0.0, shared, expect)
    if method == "richardson":
        table = (4.0, 3, 1, 2.0, None) if full_output else (2.0, 2, 1, 2.0, None)
        d2, err, *_ = _richardson(g, table[0], 2, table)
    else:
        d2, err, *_ = _estimate(g, method, 2, 1.0, full_output)
    H, E, c = np.diag(d), np.diag(e), 2 * s[i] * s[j]
    H[i, j] = H[j, i] = (d2 - s[i] ** 2 * d[i] - s[j] ** 2 * d[j]) / c
    E[i, j] = E[j, i] = (err + s[i] ** 2 * e[i] + s[j] ** 2 * e[j]) / c
    shape = x.shape + x.shape
    return _result(H.reshape(shape), E.reshape(shape), shared, s.reshape(x.shape), full_output)
