r"""Numerical derivatives: accuracy, honesty of the error bars, and cost, against numdifftools.

1. Reference set: smooth functions at steep, tiny and huge arguments. For every method of
   `calcbook.numdiff.derivative` (and numdifftools' `Derivative` with its defaults), the relative
   error against a 50-digit reference (mpmath, when importable; else closed forms in float64),
   the reported error bound `info.error` relative to $|f'|$, whether it covers the true error,
   and the number of calls to f.
2. Hessian of the Rosenbrock function (n = 10 and 100), at a fixed random point with entries in
   [-1, 1] and at the classic start (-1.2, 1, -1.2, 1, ...): calls to f, max abs error against
   the closed form, and time; `numdiff.hessian` ("central" and "richardson") against
   numdifftools' `Hessian`, interleaved in one process, one thread.

Sections written to `benchmarks/results/numdiff.json`: `derivatives`, `hessian`.

    .venv-bench/bin/python benchmarks/bench_numdiff.py            # full run, writes the JSON
    .venv-bench/bin/python benchmarks/bench_numdiff.py --quick    # a few rounds, prints only
"""

import common  # noqa: I001  (first: pins the BLAS / OpenMP threads before NumPy loads)

# isort: split
import argparse

import numpy as np

from calcbook import numdiff

try:
    import numdifftools
except ImportError:
    numdifftools = None
try:
    import mpmath
except ImportError:
    mpmath = None

METHODS = ("forward", "central", "complex", "richardson")


def reference_set():
    """(name, x, f for NumPy, f for mpmath or None, f' in closed form)."""
    m = mpmath
    return [
        ("exp", 1.0, np.exp, m and m.exp, np.exp),
        ("sin", 1e-3, np.sin, m and m.sin, np.cos),
        ("x^-3", 0.1, lambda x: x**-3.0, lambda x: x**-3, lambda x: -3.0 * x**-4.0),
        ("log", 1e-4, np.log, m and m.log, lambda x: 1 / x),
        ("exp(50x)", 0.3, lambda x: np.exp(50 * x), m and (lambda x: m.exp(50 * x)),
         lambda x: 50 * np.exp(50 * x)),
        ("x^2", 1e8, lambda x: x * x, lambda x: x * x, lambda x: 2 * x),
        ("tanh", 0.7, np.tanh, m and m.tanh, lambda x: 1 / np.cosh(x) ** 2),
        ("(1+x)/(1+x^2)", 2.0, lambda x: (1 + x) / (1 + x * x), lambda x: (1 + x) / (1 + x * x),
         lambda x: (1 - 2 * x - x * x) / (1 + x * x) ** 2),
        ("sqrt", 1e-6, np.sqrt, m and m.sqrt, lambda x: 0.5 / np.sqrt(x)),
        ("arctan", -3.0, np.arctan, m and m.atan, lambda x: 1 / (1 + x * x)),
    ]  # fmt: skip


def exact_derivative(x, f_mp, closed_form):
    if mpmath is None:
        return float(closed_form(np.float64(x)))
    with mpmath.workdps(50):
        return float(mpmath.diff(f_mp, mpmath.mpf(x)))


class Counted:
    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, x):
        self.calls += 1
        return self.f(x)


def bench_derivatives():
    rows, records = [], []
    for name, x, f, f_mp, closed_form in reference_set():
        exact = exact_derivative(x, f_mp, closed_form)
        contestants = {m: m for m in METHODS}
        if numdifftools is not None:
            contestants["numdifftools"] = None
        for label, method in contestants.items():
            g = Counted(f)
            if method is None:
                out = numdifftools.Derivative(g, full_output=True)(x)
                value, bound = float(out.estimate), float(out.error_estimate)
            else:
                value, info = numdiff.derivative(g, x, method=method, full_output=True)
                bound = float(info.error)
                assert info.evaluations == g.calls
            err = abs(value - exact)
            finite = np.isfinite(value) and np.isfinite(bound)  # numdifftools: nan at log(1e-4)
            rec = {
                "function": name,
                "x": x,
                "method": label,
                "relative_error": err / abs(exact) if finite else None,  # JSON has no NaN
                "relative_error_bound": bound / abs(exact) if finite else None,
                "bound_covers_error": bool(err <= bound),
                "evaluations": g.calls,
            }
            records.append(rec)
            rows.append([name, x, label, *list(rec.values())[3:]])
    headers = ["function", "x", "method", "rel. error", "rel. bound", "covers", "calls"]
    common.print_table(headers, rows)
    return records


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_hessian(x):
    m, i = len(x), np.arange(len(x) - 1)
    H = np.zeros((m, m))
    H[i, i] = 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    H[i + 1, i + 1] += 200.0
    H[i, i + 1] = H[i + 1, i] = -400.0 * x[:-1]
    return H


def bench_hessian(n, point, x, rounds):
    exact = rosenbrock_hessian(x)
    contestants = {
        "calcbook central": lambda f: numdiff.hessian(f, x),
        "calcbook richardson": lambda f: numdiff.hessian(f, x, method="richardson"),
    }
    if numdifftools is not None:
        contestants["numdifftools Hessian"] = lambda f: numdifftools.Hessian(f)(x)
    results = {}
    for name, run in contestants.items():  # checked (and counted) before timed
        f = Counted(rosenbrock)
        H = run(f)
        assert H.shape == (n, n) and np.allclose(H, exact, rtol=1e-3, atol=1e-3), name
        err = float(np.max(np.abs(H - exact)))
        results[name] = {"evaluations": f.calls, "max_abs_error": err}
        results[name]["max_rel_error"] = err / float(np.max(np.abs(exact)))
    times = common.interleave(
        {name: (lambda run=run: run(rosenbrock)) for name, run in contestants.items()},
        rounds=rounds,
        warmup=1,
    )
    pairs = {}
    if numdifftools is not None:
        pairs = {"time numdifftools / richardson": ("numdifftools Hessian", "calcbook richardson")}
    summary = common.summarize(times, pairs)
    for name in contestants:
        results[name]["ms_median"] = summary[name]["ms_median"]
    return {
        "n": n,
        "point": point,
        "contestants": results,
        "ratios": {k: summary[k] for k in pairs},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds; print, don't save")
    args = parser.parse_args()
    if numdifftools is None:
        print("numdifftools is not importable: skipping it (install it in .venv-bench)")
    print("reference:", "mpmath, 50 digits" if mpmath else "closed forms in float64")

    derivatives = bench_derivatives()

    hessians, rows = [], []
    rng = np.random.default_rng(0)
    for n, rounds in ((10, 20), (100, 3)):
        points = {
            "random in [-1, 1]": rng.uniform(-1, 1, n),
            "(-1.2, 1, ...)": np.tile([-1.2, 1.0], n // 2),
        }
        for point, x in points.items():
            r = bench_hessian(n, point, x, 2 if args.quick else rounds)
            hessians.append(r)
            for name, c in r["contestants"].items():
                rows.append(
                    [
                        n,
                        point,
                        name,
                        c["evaluations"],
                        c["max_abs_error"],
                        c["max_rel_error"],
                        c["ms_median"],
                    ]
                )
    print()
    common.print_table(
        ["n", "point", "contestant", "calls", "max abs error", "max rel error", "ms"], rows
    )

    if args.quick:
        return
    path = common.RESULTS / "numdiff.json"
    reference = "mpmath.diff at 50 digits" if mpmath else "closed forms in float64"
    provenance = common.provenance()
    provenance["versions"]["mpmath"] = getattr(mpmath, "__version__", None)
    common.merge_results(
        path,
        "derivatives",
        {"reference": reference, "results": derivatives, "provenance": provenance},
    )
    common.merge_results(
        path, "hessian", {"function": "Rosenbrock", "results": hessians, "provenance": provenance}
    )
    print(f"\nwrote {path.relative_to(common.ROOT)}")


if __name__ == "__main__":
    main()
