"""MkDocs hooks: make figures drawn at build time deterministic.

matplotlib runs headless (Agg), SVG ids come from a fixed hash salt, and SOURCE_DATE_EPOCH pins
the date that matplotlib would otherwise write into the SVG metadata, so two builds of the book
produce byte-identical pages. `conftest.py` applies the same settings under pytest.

The BLAS and OpenMP thread pools are set to one thread, before any block imports NumPy, so that
the timings the pages print are single-threaded, as the benchmarks report them: on a busy machine
of few cores, a multi-threaded BLAS can make a small matrix product many times slower.
"""

import os
import re

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # (read once, when NumPy loads its BLAS)


def on_startup(command, dirty):
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "calcbook"
    matplotlib.rcParams["svg.fonttype"] = "path"


_PROLOG = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE svg[^>]*>\s*")


def on_page_content(html, page, config, files):
    """Inline SVG figures need no XML prolog or DOCTYPE (the DOCTYPE also names a remote DTD)."""
    return _PROLOG.sub("", html)
