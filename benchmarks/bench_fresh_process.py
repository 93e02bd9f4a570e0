"""Gradients and Hessian-vector products in a fresh process: what a user's own script sees.

The other benchmarks interleave their contestants in one long process, so that each one meets
the same allocator history. A user's script has a history of its own, and glibc's malloc decides
from it whether the memory freed at the end of a call is given back to the operating system
(and touched again, page by page, in the next call) or kept. A reverse-mode engine frees its
whole tape when a call returns, so it meets that decision on every call, where hand-written code
that frees its temporaries as it goes may not.

Each figure here comes from a process of its own that runs only one contestant on the
Rosenbrock function (see `bench_second_order.py`): 20 untimed calls, then `CALLS` timed one by
one, their median; `REPEATS` such processes per figure, the median of their medians. Every
result is checked against the closed form first. Two allocator settings:

- `default`: glibc's defaults, as a user's script runs;
- `MALLOC_TOP_PAD_=64 MiB`: glibc keeps up to 64 MiB free at the top of the heap instead of
  trimming it (an environment variable, nothing in the code changes).

Section written to `benchmarks/results/autodiff.json`: `fresh_process`.

    .venv-bench/bin/python benchmarks/bench_fresh_process.py            # full run, writes the JSON
    .venv-bench/bin/python benchmarks/bench_fresh_process.py --quick    # fewer calls, prints only
"""

import common  # noqa: I001  (first: pins the BLAS / OpenMP threads before NumPy loads)

# isort: split
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

SIZES = (10_000, 30_000)
CALLS, REPEATS = 200, 3
SETTINGS = {"default": {}, "MALLOC_TOP_PAD_=64 MiB": {"MALLOC_TOP_PAD_": str(64 * 2**20)}}
CONTESTANTS = (
    "NumPy f",
    "hand-written gradient",
    "calcbook grad",
    "calcbook hvp",
    "PyTorch grad",
    "PyTorch double backward",
)
HAVE_TORCH = importlib.util.find_spec("torch") is not None


def child(name, n, calls):
    """Run in the child process: time `name` at size `n`, print the median in milliseconds."""
    from rosenbrock import point, rosenbrock, rosenbrock_grad, rosenbrock_hvp

    x = point(n)
    v = np.random.default_rng(1).standard_normal(n)
    if name.startswith("PyTorch"):
        from bench_second_order import torch, torch_grad, torch_hvp

        xt, vt = torch.tensor(x), torch.tensor(v)
        fn = (lambda: torch_grad(xt)) if name == "PyTorch grad" else (lambda: torch_hvp(xt, vt))
    elif name.startswith("calcbook"):
        import calcbook as cb

        grad = cb.grad(rosenbrock)
        fn = (lambda: grad(x)) if name == "calcbook grad" else (lambda: cb.hvp(rosenbrock, x, v))
    else:
        fn = {
            "NumPy f": lambda: rosenbrock(x),
            "hand-written gradient": lambda: rosenbrock_grad(x),
        }[name]
    if name != "NumPy f":
        second = name in ("calcbook hvp", "PyTorch double backward")
        exact = rosenbrock_hvp(x, v) if second else rosenbrock_grad(x)
        out = fn()
        out = out.numpy() if hasattr(out, "numpy") else out
        err = np.max(np.abs(out - exact)) / np.max(np.abs(exact))
        assert err < 1e-13, (name, err)
    for _ in range(20):
        fn()
    times = []
    clock = time.perf_counter
    for _ in range(calls):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    print(json.dumps({"ms": 1e3 * statistics.median(times)}))


def measure(name, n, setting, calls):
    env = {k: v for k, v in os.environ.items() if k not in common.MALLOC_VARIABLES}
    env.update(SETTINGS[setting])
    command = [sys.executable, __file__, "--child", name, str(n), str(calls)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])["ms"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls; print, don't save")
    parser.add_argument("--child", nargs=3, metavar=("NAME", "N", "CALLS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, n, calls = args.child
        return child(name, int(n), int(calls))
    calls, repeats = (30, 1) if args.quick else (CALLS, REPEATS)
    names = [c for c in CONTESTANTS if HAVE_TORCH or not c.startswith("PyTorch")]
    results = {}
    for n in SIZES:
        results[str(n)] = per_n = {}
        for setting in SETTINGS:
            per_n[setting] = {}
            for name in names:  # (the repeats of one figure are spread over the run)
                per_n[setting][name] = []
        for _ in range(repeats):
            for setting in SETTINGS:
                for name in names:
                    per_n[setting][name].append(measure(name, n, setting, calls))
        for setting in SETTINGS:
            per_n[setting] = {k: statistics.median(v) for k, v in per_n[setting].items()}
        print(f"\nRosenbrock n = {n:,}: median ms per call, each in a fresh process")
        common.print_table(
            ["contestant", *SETTINGS], [[k, *(per_n[s][k] for s in SETTINGS)] for k in names]
        )
    if args.quick:
        return
    record = {
        "provenance": common.provenance(),
        "results": {"calls": calls, "processes_per_figure": repeats, "ms": results},
    }
    path = common.RESULTS / "autodiff.json"
    common.merge_results(path, "fresh_process", record)
    print(f"\nwrote section fresh_process of {path.relative_to(common.ROOT)}")


if __name__ == "__main__":
    main()
