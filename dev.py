"""One entry point for working on the book: set-up, serve, build, test.

    python3 dev.py serve   # install the book's tools into .venv, serve it at http://127.0.0.1:8000
    python3 dev.py test    # install the test tools into .venv, then lint and run every test
    python3 dev.py build   # build the static site into site/ (serve it: see README)

Needs only Python >= 3.11 with venv. The virtual environment lives in .venv and is (re)installed
whenever pyproject.toml changes. Extra arguments after `test` go to pytest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    code = subprocess.call(
        [str(a) for a in args], cwd=ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    )
    if code:
        sys.exit(code)


def ensure_env(extra: str) -> None:
    """Create .venv and install calcbook with `extra`, unless pyproject.toml is unchanged since."""
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py may be run by an older python3)
        sys.exit(f"calcbook needs Python >= 3.11, this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        venv.create(VENV, with_pip=True)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{extra}-{digest}"
    if not stamp.exists():
        run(
            PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", f".[{extra}]"
        )
        stamp.touch()


def main(argv: list[str]) -> None:
    command = argv[0] if argv else "help"
    if command == "serve":
        ensure_env("docs")
        run(PYTHON, "-m", "mkdocs", "serve", "--dev-addr", "127.0.0.1:8000", *argv[1:])
    elif command == "build":
        ensure_env("docs")
        run(PYTHON, "-m", "mkdocs", "build", "--strict", "--site-dir", "site")
        print(f"built {ROOT / 'site'}; view it with: {PYTHON} -m http.server -d site 8000")
    elif command == "test":
        ensure_env("test")
        run(PYTHON, "-m", "ruff", "check", ".")
        run(PYTHON, "-m", "ruff", "format", "--check", ".")
        run(PYTHON, "-m", "pytest", *argv[1:])
    else:
        print(__doc__)
        sys.exit(0 if command in ("help", "-h", "--help") else 2)


if __name__ == "__main__":
    main(sys.argv[1:])
