r"""Exact Hessians and Hessian-vector products of the Rosenbrock function: calcbook against peers.

$f(x) = \sum_{i<n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2$ has a tridiagonal Hessian in closed
form, so every contestant's Hessian is compared with it entry by entry (max absolute error, and
the same divided by the largest entry), at a fixed random point with entries in [-1, 1].

- Hessian, n = 10, 100, 500: `cb.hessian` (forward over reverse), `torch.func.hessian`
  (forward over reverse, vectorised with vmap), `torch.autograd.functional.hessian(vectorize=True)`
  and HIPS autograd's `hessian`, one thread, interleaved in one process.
- Hessian-vector product, n = 10^4 and n = 100: `cb.hvp` against `cb.grad` (the ratio the
  theory puts near 2 to 3; at n = 100 the per-operation overhead decides it), HIPS autograd's
  `hessian_tensor_product`, and PyTorch's double backward; each checked against the closed-form
  product before timing.

Section written to `benchmarks/results/autodiff.json`: `second_order` (results `hessian`, `hvp`
for n = 10^4 and `hvp_small` for n = 100).

    .venv-bench/bin/python benchmarks/bench_second_order.py            # full run, writes the JSON
    .venv-bench/bin/python benchmarks/bench_second_order.py --quick    # a few rounds, prints only
"""

import common  # noqa: I001  (first: pins the BLAS / OpenMP threads before NumPy loads)

# isort: split
import argparse

import autograd
import autograd.numpy as anp
import numpy as np
from rosenbrock import (
    point,
    rosenbrock,
    rosenbrock_grad,
    rosenbrock_hessian,
    rosenbrock_hvp,
)

import calcbook as cb

torch = common.pin_torch_threads()
torch.set_default_dtype(torch.float64)

HESSIAN_SIZES = {10: (100, 5), 100: (60, 2), 500: (15, 1)}  # n: (rounds, calls per round)
HVP_SIZES = {10_000: (100, 5), 100: (100, 20)}  # n: (rounds, calls per round)
HAVE_CALCBOOK = all(hasattr(cb, name) for name in ("hessian", "hvp", "grad"))


# --- the function, written once per library (NumPy's in rosenbrock.py) ---------------------
def rosenbrock_autograd(x):
    return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_torch(x):
    return torch.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


# --- contestants ------------------------------------------------------------------------------
torch_func_hessian = torch.func.hessian(rosenbrock_torch)
autograd_hessian = autograd.hessian(rosenbrock_autograd)
autograd_grad = autograd.grad(rosenbrock_autograd)
autograd_hvp = autograd.hessian_tensor_product(rosenbrock_autograd)


def torch_functional_hessian(xt):
    return torch.autograd.functional.hessian(rosenbrock_torch, xt, vectorize=True)


def torch_grad(xt):
    xt = xt.detach().requires_grad_()
    (g,) = torch.autograd.grad(rosenbrock_torch(xt), xt)
    return g


def torch_hvp(xt, vt):
    """Double backward: differentiate <grad f(x), v> once more."""
    xt = xt.detach().requires_grad_()
    (g,) = torch.autograd.grad(rosenbrock_torch(xt), xt, create_graph=True)
    (hv,) = torch.autograd.grad(g, xt, grad_outputs=vt)
    return hv


def errors(h, exact):
    err = float(np.max(np.abs(np.asarray(h) - exact)))
    return {"max_abs_error": err, "max_rel_error": err / float(np.max(np.abs(exact)))}


def bench_hessian(n, quick):
    rounds, inner = HESSIAN_SIZES[n]
    rounds = 3 if quick else rounds
    x = point(n)
    xt = torch.tensor(x)
    exact = rosenbrock_hessian(x)
    contestants = {}
    if HAVE_CALCBOOK:
        cb_hessian = cb.hessian(rosenbrock)
        contestants["calcbook hessian"] = lambda: cb_hessian(x)
    contestants["torch.func.hessian"] = lambda: torch_func_hessian(xt)
    contestants["torch.autograd.functional.hessian"] = lambda: torch_functional_hessian(xt)
    contestants["HIPS autograd hessian"] = lambda: autograd_hessian(x)
    accuracy = {}
    for name, fn in contestants.items():
        h = fn()
        h = h.numpy() if isinstance(h, torch.Tensor) else h
        assert h.shape == (n, n), (name, h.shape)
        accuracy[name] = errors(h, exact)
        assert accuracy[name]["max_rel_error"] < 1e-13, (name, accuracy[name])
    times = common.interleave(contestants, rounds=rounds, inner=inner)
    pairs = {}
    if HAVE_CALCBOOK:
        pairs = {f"{k} / calcbook": (k, "calcbook hessian") for k in contestants}
    summary = common.summarize(times, pairs)
    return {
        "n": n,
        "rounds": rounds,
        "calls_per_round": inner,
        "accuracy": accuracy,
        "ms": {k: summary[k]["ms_median"] for k in contestants},
        "ratio_to_calcbook": {k: summary[p]["ratio_median"] for p, (k, _) in pairs.items()},
    }


def bench_hvp(n, quick):
    rounds, calls = HVP_SIZES[n]
    x = point(n)
    v = np.random.default_rng(1).standard_normal(n)
    xt, vt = torch.tensor(x), torch.tensor(v)
    exact_g, exact_hv = rosenbrock_grad(x), rosenbrock_hvp(x, v)
    grads, hvps = {}, {}
    if HAVE_CALCBOOK:
        cb_grad = cb.grad(rosenbrock)
        grads["calcbook grad"] = lambda: cb_grad(x)
        hvps["calcbook hvp"] = lambda: cb.hvp(rosenbrock, x, v)
    grads["HIPS autograd grad"] = lambda: autograd_grad(x)
    hvps["HIPS autograd hvp"] = lambda: autograd_hvp(x, v)
    grads["PyTorch grad"] = lambda: torch_grad(xt)
    hvps["PyTorch double backward"] = lambda: torch_hvp(xt, vt)
    accuracy = {}
    for group, exact in ((grads, exact_g), (hvps, exact_hv)):
        for name, fn in group.items():
            out = fn()
            out = out.numpy() if isinstance(out, torch.Tensor) else out
            accuracy[name] = errors(out, exact)
            assert accuracy[name]["max_rel_error"] < 1e-13, (name, accuracy[name])
    contestants = {**grads, **hvps}
    rounds = 5 if quick else rounds
    times = common.interleave(contestants, rounds=rounds, inner=calls)
    pairs = {}
    for lib in ("calcbook", "HIPS autograd", "PyTorch"):
        hv = next((k for k in hvps if k.startswith(lib)), None)
        if hv is None:
            continue
        pairs[f"{lib}: hvp / grad"] = (hv, f"{lib} grad")
        if lib != "calcbook" and "calcbook hvp" in hvps:
            pairs[f"{hv} / calcbook hvp"] = (hv, "calcbook hvp")
    summary = common.summarize(times, pairs)
    return {
        "n": n,
        "rounds": rounds,
        "calls_per_round": calls,
        "accuracy": accuracy,
        "ms": {k: summary[k]["ms_median"] for k in contestants},
        "ratios": {k: summary[k]["ratio_median"] for k in pairs},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds; print, don't save")
    args = parser.parse_args()
    if not HAVE_CALCBOOK:
        print("calcbook.hessian / hvp are not available yet: calcbook is left out of this run")

    hessians = {}
    rows = []
    for n in HESSIAN_SIZES:
        hessians[n] = r = bench_hessian(n, args.quick)
        for name, ms in r["ms"].items():
            acc = r["accuracy"][name]
            ratio = r["ratio_to_calcbook"].get(name, float("nan"))
            rows.append([n, name, ms, ratio, acc["max_abs_error"]])
    print("\nRosenbrock Hessian, float64, 1 thread")
    common.print_table(["n", "contestant", "ms", "time / calcbook", "max abs error"], rows)

    hvps = {n: bench_hvp(n, args.quick) for n in HVP_SIZES}
    for hvp in hvps.values():
        print(f"\nRosenbrock n = {hvp['n']}: gradient and Hessian-vector product")
        common.print_table(
            ["contestant", "ms", "max rel error"],
            [[k, ms, hvp["accuracy"][k]["max_rel_error"]] for k, ms in hvp["ms"].items()],
        )
        common.print_table(["ratio", "median"], [[k, r] for k, r in hvp["ratios"].items()])

    if args.quick:
        return
    path = common.RESULTS / "autodiff.json"
    record = {
        "provenance": common.provenance(),
        "results": {
            "hessian": {str(n): r for n, r in hessians.items()},
            "hvp": hvps[10_000],
            "hvp_small": hvps[100],
        },
    }
    common.merge_results(path, "second_order", record)
    print(f"\nwrote section second_order of {path.relative_to(common.ROOT)}")


if __name__ == "__main__":
    main()
