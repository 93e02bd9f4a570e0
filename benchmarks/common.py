"""The timing harness shared by calcbook's benchmarks: import it before NumPy or PyTorch.

Importing this module pins BLAS, OpenMP and MKL to one thread (the variables must be set before
those libraries load, so a benchmark script imports `common` first). It then offers

- `interleave`: time several contestants in the same process, round by round (A, B, C, then C, A, B
  or another order: shuffled every round), with the cyclic garbage collector paused while timing
  and run, untimed, between rounds;
- `summarize`: per contestant the median time, and for each requested pair the median over rounds
  of the per-round ratio (not a ratio of medians: a slow round slows both members of a pair);
- `check_close`: the gradient check every contestant passes before it is timed;
- `provenance`: what a figure needs to be reproduced (date, CPU, versions, threads, BLAS core,
  allocator settings, the exact command, the git commit);
- `merge_results`: write one section of a results JSON file, keeping the other sections.

Run a benchmark from the repository root with the benchmark venv, e.g.
`.venv-bench/bin/python benchmarks/bench_mlp.py`; see `benchmarks/README.md`.
"""

from __future__ import annotations

import os

THREADS = "1"
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
for _var in THREAD_VARIABLES:
    os.environ[_var] = THREADS  # before NumPy / PyTorch are imported anywhere

import ctypes  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import glob  # noqa: E402
import importlib.metadata as metadata  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MALLOC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def pin_torch_threads():
    """Import PyTorch with one intra-op and one inter-op thread; return the module."""
    import torch

    torch.set_num_threads(int(THREADS))
    try:
        torch.set_num_interop_threads(int(THREADS))
    except RuntimeError:  # already set (or work already started): keep what is there
        pass
    return torch


def interleave(
    contestants: dict[str, Callable[[], object]],
    rounds: int,
    inner: int = 1,
    warmup: int = 3,
) -> dict[str, list[float]]:
    """Time `contestants` round by round in this process; return seconds per call, per round.

    Parameters
    ----------
    contestants : dict of str to callable
        Zero-argument callables, each doing one unit of work (one training step, one Hessian).
    rounds : int
        Number of rounds. In each round every contestant runs once, in an order shuffled anew
        (with a fixed seed), so that no contestant always follows the same neighbour: what one
        contestant leaves in the caches and the allocator is charged to each of the others
        alike. (A rotated order would keep the cyclic order, and with it each one's
        predecessor.)
    inner : int
        Calls per contestant per round, timed together (their mean is the round's time); use
        more than one when a call lasts well under a millisecond.
    warmup : int
        Untimed calls of each contestant before the first round.
    """
    names = list(contestants)
    for name in names:
        for _ in range(warmup):
            contestants[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    order, shuffle = list(names), random.Random(0).shuffle
    gc.collect()
    gc.freeze()  # objects alive now are never scanned again: the collections below stay cheap
    enabled = gc.isenabled()
    gc.disable()
    clock = time.perf_counter
    try:
        for _ in range(rounds):
            gc.collect()  # untimed: each round starts from a clean heap
            shuffle(order)
            for name in order:
                fn = contestants[name]
                t0 = clock()
                for _ in range(inner):
                    fn()
                times[name].append((clock() - t0) / inner)
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()
    return times


def summarize(
    times: dict[str, list[float]], pairs: dict[str, tuple[str, str]]
) -> dict[str, dict[str, float]]:
    """Median milliseconds per contestant and median per-round ratio for each (num, den) pair."""
    out: dict[str, dict[str, float]] = {}
    for name, ts in times.items():
        out[name] = {
            "ms_median": 1e3 * statistics.median(ts),
            "ms_min": 1e3 * min(ts),
            "rounds": len(ts),
        }
    for label, (num, den) in pairs.items():
        ratios = [a / b for a, b in zip(times[num], times[den], strict=True)]
        q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
        out[label] = {
            "ratio_median": statistics.median(ratios),
            "ratio_q1": q1,
            "ratio_q3": q3,
            "of": f"{num} / {den}",
        }
    return out


def check_close(name: str, got, want, rtol: float) -> float:
    """Assert that arrays `got` match `want` to `rtol` of their scale; return the worst error.

    The error of each array is measured relative to its largest entry (`atol = rtol * max|want|`),
    so gradient entries that happen to be near zero do not demand an impossible relative accuracy.
    """
    worst = 0.0
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        g, w = np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64)
        assert g.shape == w.shape, f"{name}: array {i} has shape {g.shape}, expected {w.shape}"
        scale = float(np.max(np.abs(w))) or 1.0
        err = float(np.max(np.abs(g - w))) / scale
        assert err <= rtol, f"{name}: array {i} differs by {err:.3g} of its scale (rtol {rtol:g})"
        worst = max(worst, err)
    return worst


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _openblas_core() -> str | None:
    """The kernel family OpenBLAS picked at run time (NumPy's wheels load scipy-openblas)."""
    libs = glob.glob(str(Path(np.__file__).parent.parent / "numpy.libs" / "libscipy_openblas*.so"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            for symbol in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename"):
                fn = getattr(lib, symbol, None)
                if fn is not None:
                    fn.restype = ctypes.c_char_p
                    return fn().decode()
        except OSError:
            continue
    return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance() -> dict:
    """Everything needed to read (and re-run) a figure: machine, versions, settings, command."""
    torch = sys.modules.get("torch")
    # (the results files themselves do not count: a run rewrites them one script after another)
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ":!benchmarks/results")
    try:
        python = Path(sys.executable).relative_to(ROOT)
    except ValueError:
        python = Path(sys.executable)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            p: _version(p) for p in ("numpy", "calcbook", "torch", "autograd", "numdifftools")
        },
        "threads": {
            **{v: os.environ.get(v) for v in THREAD_VARIABLES},
            "torch_intra_op": torch.get_num_threads() if torch else None,
            "torch_inter_op": torch.get_num_interop_threads() if torch else None,
        },
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "openblas_core_in_use": _openblas_core(),
        "malloc_env": {v: os.environ.get(v) for v in MALLOC_VARIABLES},
        "gc": "paused while timing; gc.collect() untimed before every round",
        "command": shlex.join([str(python), *sys.argv]),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }


def merge_results(path: Path, section: str, record: dict) -> None:
    """Set `record` as `section` of the JSON file at `path`, keeping its other sections."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[section] = record
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def print_table(headers: list[str], rows: list[list]) -> None:
    """Print rows as an aligned plain-text table (floats with 3 significant digits)."""

    def cell(x):
        if isinstance(x, float):
            return f"{x:.3g}" if abs(x) < 1e4 else f"{x:,.0f}"
        return str(x)

    body = [[cell(x) for x in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in body:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
