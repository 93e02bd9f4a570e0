"""Run every `benchmarks/bench_*.py`, one after the other, each in a fresh process.

Each script checks its contestants' results, times them, prints a table and writes its section(s)
of `benchmarks/results/*.json`. A fresh process per script keeps one benchmark's allocator and
cache history out of the next one's figures. Run from anywhere, with the benchmark venv:

    .venv-bench/bin/python benchmarks/run_all.py            # all of them; writes the JSON files
    .venv-bench/bin/python benchmarks/run_all.py --quick    # a few rounds each; writes nothing
    .venv-bench/bin/python benchmarks/run_all.py mlp value  # only bench_mlp.py and bench_value.py
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PINNED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="names to run, e.g. mlp (default: all)")
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script")
    args = parser.parse_args()

    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        stems = (name.removeprefix("bench_").removesuffix(".py") for name in args.only)
        wanted = {f"bench_{stem}.py" for stem in stems}
        missing = wanted - {s.name for s in scripts}
        if missing:
            parser.error(f"no such benchmark: {', '.join(sorted(missing))}")
        scripts = [s for s in scripts if s.name in wanted]
    env = {**os.environ, **PINNED}
    timings, failed = [], []
    start = time.perf_counter()
    for script in scripts:
        command = [sys.executable, str(script.relative_to(ROOT))] + ["--quick"] * args.quick
        print(f"\n=== {' '.join(command[1:])}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call(command, cwd=ROOT, env=env)
        timings.append((script.name, time.perf_counter() - t0, code))
        if code != 0:
            failed.append(script.name)
    total = time.perf_counter() - start

    print("\n=== summary")
    for name, seconds, code in timings:
        print(f"{name:28s} {seconds:7.1f} s  {'ok' if code == 0 else f'FAILED (exit {code})'}")
    print(f"{'total':28s} {total:7.1f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
